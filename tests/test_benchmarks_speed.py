"""``python -m benchmarks.speed`` smoke runs at tiny sizes: the JSON contract, positive finite figures."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reid.data.generate import generate_scene

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the benchmarks package lives beside reid/ and tracker/
    sys.path.insert(0, str(REPO))

from benchmarks import speed  # noqa: E402


def run(*args):
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=path)
    return subprocess.run([sys.executable, "-m", "benchmarks.speed", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300)


def tiny_embedder(variant="concat"):
    """A seeded, untrained tiny embedder on the CPU: the rows' contract, not speed."""
    import torch
    from reid.embedder import Embedder
    torch.manual_seed(0)
    return Embedder.from_variant(variant, device="cpu", img_size=32, embed_dim=16,
                                 trunk_kwargs=dict(depth=1, embed_dim=32, num_heads=2))


def positive(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def scene_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-speed")
    generate_scene(root, index=0, seed=5, frames=8, size=(96, 72))
    return root


@pytest.mark.slow
def test_quick_run_writes_the_speed_report(scene_root, tmp_path):
    out = tmp_path / "speed"
    result = run("--quick", "--out", str(out), "--live", "5", "20", "--gallery-sizes", "100", "1e3", "--frames", "3",
                 "--batch-sizes", "1", "4", "--min-objects", "4", "--scene", "scene0000_00", "--root", str(scene_root),
                 "--max-frames", "4", "--threads", "1")
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "speed.json").read_text())
    machine = report["machine"]
    assert machine["cpu_count"] >= 1 and machine["torch_threads"] == 1 and machine["device"] in ("cpu", "cuda")
    assert "CPUs" in result.stdout and "torch" in result.stdout

    tracker = report["tracker"]
    rows = tracker["rows"]
    assert {(r["live_tracks"], r["gallery_entries"]) for r in rows if r["index"] == "exact"} == \
        {(5, 100), (5, 1000), (20, 100), (20, 1000)}
    for row in rows:
        assert positive(row["ms_per_frame"]), row
        assert len(row["ms_per_frame_runs"]) == 2 and all(positive(v) for v in row["ms_per_frame_runs"])
        # the scenario is what it claims: every live object confirmed and matched in each timed frame
        assert row["confirmed_after_warmup"] == row["live_tracks"] == row["tracks_out_per_frame"]
        assert row["gallery_identities"] == math.ceil(row["gallery_entries"] / tracker["bank_size"])
        assert positive(row["ratio_to_smallest_gallery"]) and positive(row["ratio_to_fewest_tracks"])
    if not machine["faiss"]:
        assert any("faiss is not installed" in note for note in tracker["notes"])

    embedder = report["embedder"]
    assert [r["batch_size"] for r in embedder["rows"]] == [1, 4]
    assert embedder["images_per_object"] == 2  # concat (shipped or untrained fallback) reads fg + bg
    for row in embedder["rows"]:
        assert positive(row["objects_per_s"]) and positive(row["ms_per_batch"])
        assert row["images_per_s"] == pytest.approx(2 * row["objects_per_s"])

    training = report["training"]
    assert training["instances"] == 4 and training["views_per_instance"] == 2 and training["steps_per_run"] == 1
    assert positive(training["views_per_s"]) and len(training["views_per_s_runs"]) == 2
    assert training["steps_per_s"] == pytest.approx(training["views_per_s"] / 8)
    assert "training views/s" in result.stdout

    e2e = report["end_to_end"]
    assert e2e["scene"] == "scene0000_00" and e2e["frames"] == 4
    assert positive(e2e["frames_per_second"]) and 0 < e2e["embedding_share"] <= 1
    assert positive(e2e["update_ms_per_frame"]) and len(e2e["update_ms_runs"]) == 2
    assert e2e["detections_per_frame"] > 0
    png = (out / "speed.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_end_to_end_is_skipped_without_a_scene(tmp_path):
    result = run("--quick", "--out", str(tmp_path), "--skip", "tracker", "embedder", "training")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "speed.json").read_text())
    assert report["end_to_end"] == {"skipped": "no --scene given"}
    assert report["tracker"] == {"skipped": "--skip tracker"}


@pytest.mark.parametrize("args, message", [
    (["--skip", "tracker", "embedder", "training", "--scene", "scene0999_00", "--root", "{tmp}"], "scene0999_00"),
    (["--live", "0"], "--live"),
    (["--gallery-sizes", "1e3", "lots"], "lots"),
    (["--baseline", "{tmp}", "--skip", "embedder", "training", "end-to-end"], "no tracker package there"),
    (["--load", "1", "--scene", "scene0999_00", "--root", "{tmp}"], "scene0999_00"),
])
def test_bad_arguments_are_one_line(tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    with pytest.raises(SystemExit) as exit_:
        speed.main([*args, "--out", str(tmp_path / "out"), "--quick"])
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


@pytest.mark.slow  # four tracker.run processes, each importing torch
def test_load_mode_times_both_thread_policies_alone_and_loaded(scene_root, tmp_path):
    from benchmarks.report import is_speed, speed_tables
    out = tmp_path / "load"
    result = run("--load", "1", "--quick", "--max-frames", "3", "--scene", "scene0000_00", "--root", str(scene_root),
                 "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "speed.json").read_text())
    part = report["load"]
    assert part["load"] == 1 and part["repeats"] == 1
    assert {(r["policy"], r["busy_processes"]) for r in part["rows"]} == \
        {(policy, busy) for policy in speed.LOAD_POLICIES for busy in (0, 1)}
    for row in part["rows"]:
        assert row["frames"] == 3 and len(row["runs"]) == 1
        assert positive(row["wall_seconds"]) and positive(row["cpu_seconds"]) and positive(row["frames_per_second"])
        assert row["slowdown"] == 1.0 if row["busy_processes"] == 0 else positive(row["slowdown"])
    assert {tuple(r["arguments"]) for r in part["rows"]} == {("--threads", "0"), ()}
    assert report["tracker"] == {"skipped": "--load"} and "(a)" not in result.stdout
    table = (out / "load.md").read_text().splitlines()
    assert len(table) == 2 + 4 and table[0].startswith("| policy | busy processes | wall s | CPU s | frames/s |")
    assert "\n".join(table) in result.stdout
    assert is_speed(report) and any("(e) loaded machine" in line for line in speed_tables(report))


@pytest.mark.slow
def test_baseline_version_is_timed_alternately_and_compared(tmp_path):
    import shutil
    shutil.copytree(REPO / "tracker", tmp_path / "older" / "tracker",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "out"
    result = run("--out", str(out), "--live", "3", "--gallery-sizes", "100", "--frames", "2", "--repeats", "2",
                 "--skip", "embedder", "training", "end-to-end", "--baseline", str(tmp_path / "older"))
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "speed.json").read_text())
    assert report["settings"]["baseline"] == str(tmp_path / "older")
    assert Path(report["tracker"]["baseline"]) == tmp_path / "older"
    for row in report["tracker"]["rows"]:
        assert len(row["baseline_ms_per_frame_runs"]) == len(row["ms_per_frame_runs"]) == 2
        assert positive(row["baseline_ms_per_frame"]) and positive(row["ratio_to_baseline"])
    assert "baseline" in result.stdout and "ratio" in result.stdout


def test_baseline_package_is_the_other_versions(tmp_path):
    import shutil
    import sys as sys_module
    shutil.copytree(REPO / "tracker", tmp_path / "tracker", ignore=shutil.ignore_patterns("__pycache__"))
    older = speed.tracker_package(REPO)              # this checkout as a baseline: a second, separate package
    try:
        assert older.__name__ == "baseline_tracker" and older is not speed.tracker_package()
        gallery, _ = speed.build_gallery(50, dim=8, bank_size=10, package=older)
        assert type(gallery).__module__ == "baseline_tracker.gallery"
        frames = speed.make_frames(3, 2, 1, 8, package=older)
        assert type(frames[0][0]).__module__ == "baseline_tracker.detection"
        ms, facts = speed.time_tracker(gallery, n_live=3, frames=2, new_per_frame=1, dim=8, package=older)
        assert positive(ms) and facts["confirmed_after_warmup"] == 3
        with pytest.raises(ValueError, match="already loaded"):
            speed.tracker_package(tmp_path)          # another version while one is loaded
    finally:
        for name in [name for name in sys_module.modules if name.split(".")[0] == "baseline_tracker"]:
            del sys_module.modules[name]


def test_gallery_is_built_to_size_and_the_tracker_scenario_holds():
    gallery, seconds = speed.build_gallery(100, dim=8, bank_size=32)
    assert len(gallery) == 4 and speed.gallery_entries(gallery) == 100 and seconds >= 0
    features = gallery.features(1)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, rtol=1e-5)
    ms, facts = speed.time_tracker(gallery, n_live=6, frames=3, new_per_frame=2, dim=8)
    assert positive(ms) and facts["confirmed_after_warmup"] == 6 and facts["tracks_out_per_frame"] == 6
    assert len(gallery) == 4  # the benchmark works on a copy: the shared gallery is unchanged
    assert facts["nn_budget"] == 32      # one bank per identity: the gallery's
    _, facts = speed.time_tracker(gallery, n_live=6, frames=3, new_per_frame=2, dim=8, nn_budget=20)
    assert facts["nn_budget"] == 20 and facts["tracks_out_per_frame"] == 6


def test_the_tracker_scenario_without_world_positions_is_rgb_only():
    gallery, _ = speed.build_gallery(64, dim=8, bank_size=16, positions=False)
    assert all(gallery.world_position(track_id) is None for track_id in gallery.ids)
    frames = speed.make_frames(5, 2, 1, 8, positions=False)
    assert all(d.world_position is None for frame in frames for d in frame)
    placed = speed.make_frames(5, 2, 1, 8)
    assert all(d.world_position is not None for frame in placed for d in frame)
    for a, b in zip(frames[-1], placed[-1]):           # the same draws: only the positions differ
        np.testing.assert_array_equal(a.tlwh, b.tlwh)
        np.testing.assert_array_equal(a.feature, b.feature)
    ms, facts = speed.time_tracker(gallery, n_live=5, frames=3, new_per_frame=1, dim=8, positions=False)
    assert positive(ms) and facts["confirmed_after_warmup"] == 5 and facts["tracks_out_per_frame"] == 5


def test_scene_updates_replay_the_recorded_detections_on_fresh_trackers():
    frames = speed.make_frames(4, 8, 1, 8, seed=3)
    for detections in frames:
        detections[0].mask = np.ones((5, 5), dtype=bool)
    kept = [[(d.feature.copy(), d.mask) for d in detections] for detections in frames]
    runs, workload = speed.time_scene_updates(frames, repeats=3)
    assert len(runs) == 3 and all(positive(ms) for ms in runs)
    assert workload["detections_per_frame"] == 5
    assert workload["confirmed_tracks_per_frame"] == pytest.approx((6 * 4) / 8)   # 4 objects, confirmed from frame 3
    for detections, originals in zip(frames, kept):                                # the recording is left as it was
        for detection, (feature, mask) in zip(detections, originals):
            np.testing.assert_array_equal(detection.feature, feature)
            assert detection.mask is mask


def test_embedder_precisions_are_timed_side_by_side(monkeypatch):
    import reid.embedder
    monkeypatch.setattr(reid.embedder, "cpu_has_native_bfloat16", lambda: True)  # the rows' contract, not speed
    embedder = tiny_embedder()
    lines = []
    rows = speed.bench_embedder(embedder, [1, 3], repeats=3, min_objects=3, echo=lines.append,
                                precisions=["float32", "bfloat16"])
    assert [(r["batch_size"], r["precision"]) for r in rows] == \
        [(1, "float32"), (1, "bfloat16"), (3, "float32"), (3, "bfloat16")]
    for row in rows:
        assert len(row["objects_per_s_runs"]) == 3 and all(positive(v) for v in row["objects_per_s_runs"])
        assert row["objects_per_run"] == 3
    for first, second in zip(rows[::2], rows[1::2]):
        assert "ratio_to_first" not in first
        runs = [b / a for a, b in zip(first["objects_per_s_runs"], second["objects_per_s_runs"])]
        assert second["ratio_to_first"] == pytest.approx(float(np.median(runs)))
        assert 0.99 < second["min_cosine_to_first"] < 1.0  # bfloat16 ran, and stayed close
    assert embedder.precision == "float32"  # the caller's embedder is left as it was
    assert any("bfloat16" in line and "vs float32" in line for line in lines)
    with pytest.raises(ValueError, match="float16 runs on CUDA only"):
        speed.bench_embedder(embedder, [1], repeats=1, min_objects=1, precisions=["float16"])


@pytest.mark.slow
def test_compiled_rows_alternate_with_the_eager_ones():
    embedder = tiny_embedder()
    rows = speed.bench_embedder(embedder, [2], repeats=2, min_objects=2, echo=lambda line: None, compiled=True)
    assert [(r["precision"], r["compiled"]) for r in rows] == [("float32", False), ("float32", True)]
    assert positive(rows[1]["ratio_to_first"]) and rows[1]["min_cosine_to_first"] > 0.9999
    assert not embedder.compiled  # the caller's embedder is left as it was


def test_onnxruntime_rows_alternate_with_the_torch_ones():
    pytest.importorskip("onnxruntime")
    embedder = tiny_embedder("early-fusion")
    lines = []
    rows = speed.bench_embedder(embedder, [1, 4], repeats=2, min_objects=4, echo=lines.append,
                                backends=["torch", "onnxruntime"])
    assert [(r["batch_size"], r["backend"]) for r in rows] == \
        [(1, "torch"), (1, "onnxruntime"), (4, "torch"), (4, "onnxruntime")]
    for row in rows[1::2]:
        assert positive(row["ratio_to_first"]) and row["min_cosine_to_first"] > 0.9999
        assert speed.embedder_mode(row) == "float32 onnxruntime"
    assert any("float32 onnxruntime" in line and "vs float32," in line for line in lines)
    assert embedder.backend == "torch"  # the caller's embedder is left as it was


def test_int8_rows_run_on_onnxruntime_only():
    pytest.importorskip("onnxruntime")
    embedder = tiny_embedder("early-fusion")
    rows = speed.bench_embedder(embedder, [2], repeats=2, min_objects=2, echo=lambda line: None,
                                precisions=["float32", "int8"], backends=["torch", "onnxruntime"])
    assert [speed.embedder_mode(r) for r in rows] == ["float32", "float32 onnxruntime", "int8 onnxruntime"]
    assert rows[1]["min_cosine_to_first"] > 0.9999                 # the same float32 model
    assert 0.99 < rows[2]["min_cosine_to_first"] < 0.999999       # close, but quantised
    assert positive(rows[2]["ratio_to_first"])


@pytest.mark.slow
def test_cli_records_the_backend_and_times_int8(tiny_checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "out"
    result = run("--out", str(out), "--quick", "--skip", "tracker", "training", "end-to-end", "--model",
                 str(tiny_checkpoint), "--batch-sizes", "2", "--min-objects", "2", "--repeats", "1",
                 "--backend", "onnxruntime", "--precision", "int8")
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "speed.json").read_text())
    assert report["settings"]["backend"] == ["onnxruntime"] and report["settings"]["precision"] == ["int8"]
    assert [speed.embedder_mode(r) for r in report["embedder"]["rows"]] == ["int8 onnxruntime"]
    assert positive(report["embedder"]["rows"][0]["objects_per_s"])


def test_an_ensemble_is_timed_as_one_with_both_members_crops(monkeypatch):
    import torch
    import reid.embedder
    from reid.embedder import Embedder
    from reid.ensemble import EnsembleEmbedder, combine_features
    monkeypatch.setattr(reid.embedder, "cpu_has_native_bfloat16", lambda: True)  # the rows' contract, not speed
    torch.manual_seed(1)
    wide = Embedder.from_variant("full", device="cpu", img_size=48, embed_dim=8,
                                 trunk_kwargs=dict(depth=1, embed_dim=32, num_heads=2))
    pair = EnsembleEmbedder(tiny_embedder(), wide, 0.7)
    rng = np.random.default_rng(0)
    crops = speed.random_crops(pair, 3, rng)
    assert [sorted(c) for c in crops] == [["background", "foreground"], ["full"]]
    assert crops[0]["foreground"].shape == (3, 32, 32, 3) and crops[1]["full"].shape == (3, 48, 48, 3)
    features = speed.embed_random_crops(pair, crops)
    expected = combine_features(pair.members[0].embed_crops(crops[0]), wide.embed_crops(crops[1]), 0.7)
    np.testing.assert_allclose(features, expected, atol=1e-6)
    rows = speed.bench_embedder(pair, [1, 3], repeats=2, min_objects=3, echo=lambda line: None)
    assert [r["batch_size"] for r in rows] == [1, 3]
    for row in rows:
        assert positive(row["objects_per_s"]) and row["images_per_s"] == pytest.approx(3 * row["objects_per_s"])
    assert all(m.batch_size == 3 for m in pair.members)
    half = speed.with_precision(pair, "bfloat16")
    assert isinstance(half, EnsembleEmbedder) and half.weight == 0.7
    assert [m.precision for m in half.members] == ["bfloat16", "bfloat16"] and pair.precision == "float32"


@pytest.mark.slow
def test_cli_times_an_ensemble_end_to_end(tiny_checkpoint, scene_root, tmp_path):
    out = tmp_path / "out"
    result = run("--out", str(out), "--quick", "--skip", "tracker", "--model", f"{tiny_checkpoint}+{tiny_checkpoint}:0.5",
                 "--batch-sizes", "2", "--min-objects", "2", "--repeats", "1", "--scene", "scene0000_00",
                 "--root", str(scene_root), "--max-frames", "4")
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "speed.json").read_text())
    single = speed.load_embedder(str(tiny_checkpoint))[0]
    assert report["embedder"]["model"].startswith("ensemble ")
    assert report["embedder"]["images_per_object"] == 2 * len(single.crop_kinds)
    assert report["embedder"]["dim"] == 2 * single.dim
    assert "ensemble is not trained" in report["training"]["skipped"]
    assert report["end_to_end"]["frames"] == 4 and positive(report["end_to_end"]["frames_per_second"])
