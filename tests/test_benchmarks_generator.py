"""``python -m benchmarks.generator``: one row per room and setting, frames/s from the generator's own clock."""
import json

import pytest


@pytest.mark.slow  # python -m, four rooms
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


def test_rows_of_tiny_rooms_and_their_table_in_process(capsys):
    from benchmarks.generator import PROG, main, markdown, time_settings
    lines = []
    rows = time_settings(1, 1, (32, 24), 0, echo=lines.append)
    assert [r["setting"] for r in rows] == ["version 2", "train", "val", "val, perfect depth"] and len(lines) == 4
    assert all(r["frames"] == 1 and r["frames_per_second"] > 0 for r in rows)
    assert rows[0]["textures"] == "procedural (version 2)" and all(r["camera_preset"] for r in rows[1:])
    context = dict(rooms=1, frames=1, size="32x24", seed=0, pinning="not pinned", machine="test")
    table = markdown(rows, context)
    assert table.startswith("# Generator speed\n") and "| val, perfect depth | 1 |" in table
    with pytest.raises(SystemExit) as caught:
        main(["--out", "unused", "--core", "4096"])    # refused before anything is pinned or written
    assert caught.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{PROG}: error: cannot pin to core 4096"), lines
