"""``python -m benchmarks.reid`` on a tiny generated scene: the JSON contract, missing/skipped rows."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reid.checkpoint import save_checkpoint
from reid.data.generate import generate_scene
from reid.model import ReIDConfig, create_model

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the benchmarks package lives beside reid/ and tracker/
    sys.path.insert(0, str(REPO))

from benchmarks import reid as bench  # noqa: E402

RANK_KEYS = ("rank1", "rank5", "rank10", "rank20", "rank50")
ROW_KEYS = RANK_KEYS + ("mAP", "rank1_twins") + tuple(f"{k}_std" for k in RANK_KEYS + ("mAP", "rank1_twins")) + (
    "method", "status", "notes", "cmc", "queries")
VIEWS = ["--frame-step", "2", "--episode-gap", "5", "--min-side", "6", "--threads", "1"]


def run(*args, cwd=REPO):
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=path)
    env.pop("REID_TRUNK_DIR", None)
    return subprocess.run([sys.executable, "-m", "benchmarks.reid", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


@pytest.fixture(scope="module")
def scene_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-reid")
    generate_scene(root, index=0, seed=123, frames=40, size=(96, 72))
    return root


@pytest.fixture(scope="module")
def tiny_concat(tmp_path_factory):
    config = ReIDConfig(variant="concat", img_size=32, embed_dim=16,
                        trunk_kwargs={"depth": 1, "embed_dim": 32, "num_heads": 2})
    path = tmp_path_factory.mktemp("bench-model") / "concat.pt"
    __import__("torch").manual_seed(0)   # the same untrained weights in every session
    save_checkpoint(path, create_model(config), config, metadata={"epoch": 1})
    return path


@pytest.fixture(scope="module")
def benchmark_run(scene_root, tiny_concat, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-out")
    # run where no DINOv2 trunk file was made (python -m reid.trunk_import): the shipped heads cannot load
    result = run("--data", str(scene_root), "--out", str(out), "--checkpoint", f"concat={tiny_concat}",
                 "--methods", "concat", "full", "colour-histogram", "default", "no-train", "deepsort-mobilenetv2",
                 "early-fusion", *VIEWS, cwd=tmp_path_factory.mktemp("no-trunk-here"))
    return result, out


def _deepsort_imports():
    try:
        bench.deepsort_embedder()
        return True
    except bench.Skip:
        return False


@pytest.mark.slow
def test_rows_follow_the_contract(benchmark_run):
    result, out = benchmark_run
    assert result.returncode == 0, result.stderr
    rows = json.loads((out / "results.json").read_text())
    assert [r["method"] for r in rows] == ["concat", "full", "colour-histogram", "default", "no-train",
                                           "deepsort-mobilenetv2", "early-fusion"]
    by_method = {r["method"]: r for r in rows}
    for row in rows:
        assert set(ROW_KEYS) <= set(row), row["method"]
        assert row["status"] in ("ok", "missing", "skipped", "error")
    evaluated = ["concat", "colour-histogram"] + (["deepsort-mobilenetv2"] if _deepsort_imports() else [])
    for name in evaluated:
        row = by_method[name]
        assert row["status"] == "ok", row
        values = [row[k] for k in RANK_KEYS]
        assert all(isinstance(v, float) and math.isfinite(v) and 0 < v <= 1 for v in values), row
        assert values == sorted(values)  # CMC never decreases with rank
        assert 0 < row["mAP"] <= 1 and 0 <= row["rank1_twins"] <= 1
        assert all(math.isfinite(row[f"{k}_std"]) and row[f"{k}_std"] >= 0 for k in RANK_KEYS + ("mAP",))
        assert len(row["cmc"]) == 50 and row["cmc"][0] == row["rank1"] and row["cmc"][49] == row["rank50"]
        assert row["queries"] > 0
    # all rows on the same views
    assert len({by_method[n]["views"] for n in evaluated}) == 1
    assert len({by_method[n]["queries"] for n in evaluated}) == 1
    assert "checkpoint" in by_method["concat"]["notes"][0]
    # colour histograms tell this tiny scene's objects apart better than chance
    assert by_method["colour-histogram"]["rank1"] > 0.2


@pytest.mark.slow
def test_missing_and_skipped_rows_are_reported_not_faked(benchmark_run):
    result, out = benchmark_run
    by_method = {r["method"]: r for r in json.loads((out / "results.json").read_text())}
    missing = by_method["early-fusion"]
    assert missing["status"] == "missing"
    assert all(missing[k] is None for k in RANK_KEYS + ("mAP", "rank1_twins")) and missing["cmc"] is None
    assert "--checkpoint early-fusion=" in missing["notes"][0]
    # full: the shipped DINOv2 head, skipped without its trunk file, saying how to make it
    full = by_method["full"]
    assert full["status"] == "skipped" and full["rank1"] is None
    assert "dinov2-full" in full["notes"][0] and "python -m reid.trunk_import" in full["notes"][0]
    assert by_method["default"]["status"] in ("skipped", "ok")
    if by_method["default"]["status"] == "skipped":
        assert "shipped" in by_method["default"]["notes"][0]
    no_train = by_method["no-train"]
    assert no_train["status"] in ("skipped", "ok")
    if no_train["status"] == "skipped":
        assert "pretrained" in no_train["notes"][0] and no_train["rank1"] is None
    if not _deepsort_imports():
        assert by_method["deepsort-mobilenetv2"]["status"] == "skipped"
    assert "MISSING" in result.stdout and "paper, ScanNet (not this data)" in result.stdout
    table = (out / "results.md").read_text()
    assert "| method | status | rank-1 |" in table and "| early-fusion | missing |" in table
    assert "| concat | 0.839 | 0.946 | - | 0.994 | 1.000 | Tables 2, 4 |" in table   # the paper's row, labelled
    png = (out / "cmc.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_untrained_flag_and_broken_checkpoint(scene_root, tmp_path):
    folders = [scene_root / "scans" / "scene0000_00"]
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    rows = bench.run_benchmark(folders, ["concat-full", "early-fusion"], {"concat-full": str(broken)},
                               frame_step=2, episode_gap=5, min_side=6, echo=lambda line: None)
    assert rows[0]["status"] == "error" and rows[0]["rank1"] is None and "broken.pt" in rows[0]["source"]
    assert rows[1]["status"] == "missing"
    with pytest.raises(bench.Missing):
        bench.method_features("early-fusion", None, {}, untrained=False)


def test_paper_figures_are_labelled(monkeypatch):
    # the paper's Table 2 rows as it prints them (in %), labelled as not measured here
    lines = bench.paper_lines()
    assert lines[0].startswith("paper, ScanNet (not this data)")
    assert any(line.split()[:4] == ["paper", "no-train", "rank1", "0.687"] for line in lines)
    assert any(line.split()[:4] == ["paper", "concat", "rank1", "0.839"] for line in lines)
    table = bench.paper_table_lines()
    assert "| full | 0.758 | 0.880 | - | 0.912 | 0.963 | Table 2 |" in table
    assert "| deepSort | 0.496 | - | - | - | - | Table 3 |" in table
    monkeypatch.setattr(bench, "PAPER_FIGURES", {})
    assert bench.paper_lines() == ["paper figures: not available here"]


def test_default_rows_cover_every_registered_variant():
    from reid.model import list_variants
    methods = bench.default_methods({"concat-s1": "x.pt"})
    assert set(list_variants()) <= set(methods)
    assert {"default", "colour-histogram", "deepsort-mobilenetv2", "concat-s1"} <= set(methods)
    assert methods[:2] == ["concat", "full"]


@pytest.mark.parametrize("args, message", [
    (["--data", "{tmp}/nowhere", "--methods", "colour-histogram"], "nowhere"),
    (["--data", "{tmp}", "--methods", "colour-histogram"], "no scenes"),
    (["--data", "{tmp}", "--methods", "no-such-model"], "no-such-model"),
    (["--data", "{tmp}", "--checkpoint", "concat"], "NAME=PATH"),
    (["--data", "{tmp}", "--photometric", "-1"], "photometric level"),
])
def test_bad_arguments_are_one_line(tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    with pytest.raises(SystemExit) as exit_:
        bench.main([*args, "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "out" / "results.json").exists()


def test_seed_summary_is_mean_and_sample_sd_over_seeds():
    from benchmarks.reid import seed_summary

    def row(method, rank1, twins, status="ok"):
        return {"method": method, "status": status, "rank1": rank1, "rank5": 1.0, "mAP": None if rank1 is None else rank1 - 0.1,
                "rank1_twins": twins}

    rows = [row("full-s0", 0.8, 0.6), row("full-s1", 0.9, 0.7), row("full-s2", 0.7, None),
            row("concat-s0", 0.5, 0.4), row("concat-s1", None, None, status="error"), row("default", 0.95, 0.9)]
    summary = {entry["method"]: entry for entry in seed_summary(rows)}
    assert set(summary) == {"full", "concat"}
    assert summary["full"]["seeds"] == [0, 1, 2]
    assert summary["full"]["rank1"] == pytest.approx(0.8)
    assert summary["full"]["rank1_sd"] == pytest.approx(0.1)           # sample sd of 0.8, 0.9, 0.7
    assert summary["full"]["rank1_twins"] == pytest.approx(0.65)        # the missing value is left out
    assert summary["concat"]["seeds"] == [0] and summary["concat"]["rank1_sd"] == 0.0


def test_ablation_folder_lists_only_finished_runs(tmp_path):
    from benchmarks.reid import ablation_checkpoints
    for name in ("full-s0.pt", "full-s1.pt", "concat-s0.pt", "notes-s0.pt"):
        (tmp_path / name).write_bytes(b"")
    for name in ("full-s0.pt.done", "concat-s0.pt.done", "notes-s0.pt.done"):
        (tmp_path / name).write_bytes(b"")
    assert ablation_checkpoints(tmp_path) == [("concat-s0", str(tmp_path / "concat-s0.pt")),
                                              ("full-s0", str(tmp_path / "full-s0.pt"))]


def test_ablation_folder_lists_the_long_recipe_exports_per_stage(tmp_path):
    from benchmarks.reid import ablation_checkpoints
    for name in ("concat-s1-stage1-half", "concat-s1-stage2-half", "concat-s0-stage1-half", "concat-s1-stage1",
                 "notes-s0-stage1-half"):
        (tmp_path / f"{name}.pt").write_bytes(b"")
        (tmp_path / f"{name}.done").write_bytes(b"")
    (tmp_path / "full-s0-stage2-half.pt").write_bytes(b"")                   # still being written: no .done
    assert ablation_checkpoints(tmp_path) == [
        ("concat-long-stage1-s0", str(tmp_path / "concat-s0-stage1-half.pt")),
        ("concat-long-stage1-s1", str(tmp_path / "concat-s1-stage1-half.pt")),
        ("concat-long-stage2-s1", str(tmp_path / "concat-s1-stage2-half.pt"))]


def test_photometric_change_is_seeded_per_frame_with_the_documented_spread():
    import numpy as np
    from benchmarks.photometric import PhotometricChange
    rgb = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    assert PhotometricChange(0.0)("scene0000_00", 3, rgb) is rgb               # level 0: unchanged
    change = PhotometricChange(0.5, seed=1)
    first = change("scene0000_00", 3, rgb)
    assert first.dtype == np.uint8 and first.shape == rgb.shape
    np.testing.assert_array_equal(first, PhotometricChange(0.5, seed=1)("scene0000_00", 3, rgb))
    assert not np.array_equal(first, change("scene0000_00", 4, rgb))          # another frame
    assert not np.array_equal(first, change("scene0001_00", 3, rgb))          # another scene
    assert not np.array_equal(first, PhotometricChange(0.5, seed=2)("scene0000_00", 3, rgb))
    gains = np.log2([change.gains("scene0000_00", frame) for frame in range(4000)])
    exposure, red, blue = gains[:, 1], gains[:, 0] - gains[:, 1], gains[:, 2] - gains[:, 1]
    assert abs(exposure.std() - 0.5) < 0.03 and abs(exposure.mean()) < 0.03
    assert abs(red.std() - 0.125) < 0.01 and abs(blue.std() - 0.125) < 0.01
    bright = PhotometricChange(3.0)
    frame = next(f for f in range(100) if bright.gains("s", f)[1] > 4)
    assert (bright("s", frame, np.full((2, 2, 3), 200, np.uint8)) == 255).all()  # saturates, no wrap-around
    with pytest.raises(ValueError, match="level"):
        PhotometricChange(-0.1)


def test_photometric_change_reaches_every_method_and_hurts_the_histogram(scene_root):
    from benchmarks.photometric import PhotometricChange
    folders = bench.scene_folders([str(scene_root)])
    common = dict(folds=2, frame_step=2, episode_gap=5, min_side=6, echo=lambda line: None)
    clean = bench.run_benchmark(folders, ["colour-histogram"], {}, **common)[0]
    changed = bench.run_benchmark(folders, ["colour-histogram"], {}, frame_transform=PhotometricChange(1.5),
                                  **common)[0]
    assert clean["status"] == changed["status"] == "ok" and clean["views"] == changed["views"]
    assert changed["rank1"] < clean["rank1"] and changed["mAP"] < clean["mAP"]


@pytest.mark.slow
def test_masked_histograms_split_the_crop(scene_root, tmp_path):
    result = run("--data", str(scene_root), "--methods", "colour-histogram", "colour-histogram-foreground",
                 "colour-histogram-background", "--folds", "2", "--frame-step", "2", "--episode-gap", "5",
                 "--min-side", "6", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "results.json").read_text())
    assert [r["method"] for r in rows] == ["colour-histogram", "colour-histogram-foreground",
                                           "colour-histogram-background"]
    assert [r["status"] for r in rows] == ["ok"] * 3
    assert len({r["views"] for r in rows}) == 1 and len({r["queries"] for r in rows}) == 1  # the same views
    assert len({(r["rank1"], r["mAP"]) for r in rows}) == 3  # three different descriptors
    assert "foreground" in rows[1]["notes"][0] and "background" in rows[2]["notes"][0]


def test_a_precision_the_device_cannot_run_is_refused_before_any_view_is_loaded(scene_root, tmp_path, capsys,
                                                                               monkeypatch):
    monkeypatch.setattr(bench, "ViewCache", None)  # loading views would fail loudly
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--data", str(scene_root), "--methods", "default", "--precision", "float16", "--device", "cpu",
                    "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "float16 runs on CUDA only" in lines[-1], lines
    assert not (tmp_path / "out" / "results.json").exists()


def test_int8_rows_run_through_onnxruntime_and_say_so(scene_root, tiny_concat, tmp_path, capsys, monkeypatch):
    pytest.importorskip("onnxruntime")
    folders = bench.scene_folders([str(scene_root)])
    common = dict(folds=2, frame_step=2, episode_gap=5, min_side=6, echo=lambda line: None)
    rows = [bench.run_benchmark(folders, ["concat"], {"concat": str(tiny_concat)}, precision=p, backend=b, **common)[0]
            for p, b in [("float32", "torch"), ("int8", "onnxruntime")]]
    assert [r["status"] for r in rows] == ["ok", "ok"] and rows[0]["queries"] == rows[1]["queries"]
    assert "int8 (onnxruntime)" in rows[1]["notes"][0] and "float32" in rows[0]["notes"][0]
    monkeypatch.setattr(bench, "ViewCache", None)  # loading views would fail loudly
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--data", str(scene_root), "--methods", "default", "--precision", "int8",
                    "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "backend onnxruntime only" in lines[-1], lines


def test_machine_line_names_the_device_the_backend_runs_on(scene_root, tiny_concat, tmp_path, capsys, monkeypatch):
    pytest.importorskip("onnxruntime")
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # onnxruntime still runs on the CPU
    bench.main(["--data", str(scene_root), "--methods", "concat", "--checkpoint", f"concat={tiny_concat}",
                "--backend", "onnxruntime", "--out", str(tmp_path / "out"), *VIEWS])
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("re-ID benchmark on 1 scene(s)") and first.endswith("device cpu)"), first
    report = (tmp_path / "out" / "results.md").read_text()
    assert "device cpu" in report
    assert "device cuda" not in report


@pytest.mark.slow
def test_room_sets_are_scored_apart_and_side_by_side(scene_root, tmp_path):
    styled = tmp_path / "styled"
    generate_scene(styled, index=0, seed=123, frames=40, size=(96, 72), split="val")
    both = run("--data", f"in-style={scene_root}", f"unseen-style={styled}", "--out", str(tmp_path / "both"),
               "--methods", "colour-histogram", *VIEWS)
    assert both.returncode == 0, both.stderr
    alone = run("--data", str(styled), "--out", str(tmp_path / "alone"), "--methods", "colour-histogram", *VIEWS)
    assert alone.returncode == 0, alone.stderr
    rows = json.loads((tmp_path / "both" / "results.json").read_text())
    assert [(r["method"], r["rooms"]) for r in rows] == [("colour-histogram", "in-style"),
                                                          ("colour-histogram", "unseen-style")]
    single = json.loads((tmp_path / "alone" / "results.json").read_text())[0]
    assert single["rooms"] is None
    # each set is scored on its own views: the unseen-style row is the styled room's figure alone
    assert rows[1]["rank1"] == pytest.approx(single["rank1"]) and rows[1]["queries"] == single["queries"]
    assert rows[0]["queries"] != rows[1]["queries"]
    markdown = (tmp_path / "both" / "results.md").read_text()
    assert "## Room sets side by side" in markdown and "## Rooms `unseen-style`" in markdown
    change = rows[1]["rank1_twins"] - rows[0]["rank1_twins"]
    assert f"| colour-histogram | {rows[0]['rank1']:.3f}" in markdown and f"{change:+.3f} |" in markdown
    twin_classes = {name for r in rows for name, c in r["per_class"].items() if c.get("queries_twins")}
    assert twin_classes and "## Twins by class" in markdown
    assert all(name in markdown.split("## Twins by class")[1] for name in twin_classes)
    bad = run("--data", "=nowhere", "--out", str(tmp_path / "bad"), "--methods", "colour-histogram")
    assert bad.returncode == 2 and "expected ROOT or LABEL=ROOT" in bad.stderr


def test_an_ensemble_row_mixes_two_rows_squared_distances(scene_root, tiny_concat):
    folders = [scene_root / "scans" / "scene0000_00"]
    rows = bench.run_benchmark(folders, ["colour-histogram", "colour-histogram+colour-histogram:0.3", "concat",
                                         "concat+colour-histogram:0.8"], {"concat": str(tiny_concat)},
                               frame_step=2, episode_gap=5, min_side=6, echo=lambda line: None)
    single, same, concat, mixed = rows
    assert same["status"] == "ok" and mixed["status"] == "ok", (same, mixed)
    for key in RANK_KEYS + ("mAP", "rank1_twins"):      # a row mixed with itself ranks as the row alone
        assert same[key] == pytest.approx(single[key])
    assert mixed["queries"] == single["queries"] and mixed["dim"] == concat["dim"] + single["dim"]
    assert "0.8 x concat + 0.2 x colour-histogram" in mixed["notes"][0]
    with pytest.raises(ValueError, match="0 < W < 1"):
        bench.parse_ensemble("default+concat:1.5")
