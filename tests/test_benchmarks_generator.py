"""``python -m benchmarks.generator``: one row per room and setting, frames/s from the generator's own clock."""
import json


def test_generator_speed_rows_and_table(tmp_path, run_module):
    out = tmp_path / "out"
    done = run_module("benchmarks.generator", "--out", str(out), "--rooms", "1", "--frames", "3", "--size", "64x48")
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "results.json").read_text())
    rows = result["rows"]
    assert [r["setting"] for r in rows] == ["version 2", "train", "val", "val, perfect depth"]
    assert [r["split"] for r in rows] == [None, "train", "val", "val"]
    assert all(r["frames_per_second"] > 0 and r["frames"] == 3 for r in rows)
    assert rows[0]["camera_preset"] is None and all(r["camera_preset"] for r in rows[1:])
    assert result["context"]["pinning"].startswith(("pinned to core 0", "not pinned"))
    table = (out / "results.md").read_text()
    assert "| version 2 | 1 |" in table and "| val, perfect depth | 1 |" in table
    bad = run_module("benchmarks.generator", "--out", str(tmp_path / "x"), "--core", "4096")
    assert bad.returncode == 2 and "cannot pin to core 4096" in bad.stderr
