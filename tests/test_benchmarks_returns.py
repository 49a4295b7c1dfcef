"""benchmarks.returns: the returns that lost their ID, read from a tracking benchmark's output folder."""
import numpy as np
import pytest

from benchmarks import returns


def sequence():
    """Three instances seen at frames 1-5 and again at 120-125; the tracker keeps instance 1's ID, gives
    instance 2 a new one and instance 3 instance 2's old one."""
    gt, tracks = [], []
    boxes = {1: (0, 0, 10, 10), 2: (50, 0, 10, 10), 3: (100, 0, 10, 10)}
    for frame in list(range(1, 6)) + list(range(120, 126)):
        for instance, box in boxes.items():
            gt.append((frame, instance) + box)
        before = frame < 100
        ids = {1: 7, 2: 8 if before else 9, 3: 5 if before else 8}
        for instance, box in boxes.items():
            tracks.append((frame, ids[instance]) + box)
    return np.array(gt, dtype=float), np.array(tracks, dtype=float)


def test_lost_returns_say_what_the_id_after_was():
    gt, tracks = sequence()
    score, lost = returns.lost_returns(gt, tracks)
    assert (score.kept, score.count) == (1, 3)
    kinds = {item["instance"]: (item["id_before"], item["id_after"], item["kind"]) for item in lost}
    assert kinds == {2: (8, 9, "new ID"), 3: (5, 8, "older ID")}
    _, none_before = returns.lost_returns(gt, tracks[tracks[:, 0] > 100])
    assert {item["kind"] for item in none_before} == {"no output before"}


def test_command_reads_an_output_folder(tmp_path, capsys):
    gt, tracks = sequence()
    (tmp_path / "gt").mkdir()
    (tmp_path / "tracks" / "ours").mkdir(parents=True)
    np.savetxt(tmp_path / "gt" / "scene0000_00.txt", np.hstack([gt, np.ones((len(gt), 3))]), delimiter=",")
    np.savetxt(tmp_path / "tracks" / "ours" / "scene0000_00.txt", tracks, delimiter=",")
    returns.main([str(tmp_path)])
    out = capsys.readouterr().out
    assert "scene0000_00: 1/3 returns kept" in out and "ID 5 -> 8 (older ID)" in out and "all: 1/3" in out
    with pytest.raises(SystemExit):
        returns.main([str(tmp_path), "--tracker", "deepsort"])
    assert "no tracks of 'deepsort'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        returns.main([str(tmp_path / "nowhere")])
    assert "no ground-truth files" in capsys.readouterr().err
