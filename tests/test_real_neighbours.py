"""``python -m benchmarks.real_neighbours`` on synthetic images: the figure, the printed ranks, one-line errors."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the benchmarks package lives beside reid/ and tracker/
    sys.path.insert(0, str(REPO))

from benchmarks.real_neighbours import neighbour_table  # noqa: E402


def run(*args):
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=path)
    return subprocess.run([sys.executable, "-m", "benchmarks.real_neighbours", *args], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=120)


def patch():
    """A 40x40 pattern: the object (20x20 in its middle) and the 10 pixels the crop's margin takes around it."""
    tile = np.full((40, 40, 3), 230, np.uint8)
    cv2.rectangle(tile, (10, 10), (29, 29), (200, 30, 30), -1)
    cv2.circle(tile, (20, 20), 6, (250, 240, 20), -1)
    return tile


@pytest.fixture
def images(tmp_path):
    """Three 128x96 RGB images: the same patch in a.png and b.png at different places, other shapes elsewhere."""
    folder = tmp_path / "images"
    folder.mkdir()
    a = np.full((96, 128, 3), 40, np.uint8)
    b = np.full((96, 128, 3), 120, np.uint8)
    c = np.full((96, 128, 3), 200, np.uint8)
    a[10:50, 10:50] = patch()
    b[50:90, 70:110] = patch()
    cv2.rectangle(a, (80, 30), (110, 40), (20, 60, 220), -1)     # a blue bar
    cv2.rectangle(c, (20, 50), (60, 70), (30, 90, 240), -1)      # another, bigger blue bar
    cv2.circle(c, (95, 30), 15, (20, 200, 40), -1)               # a green disc
    for name, rgb in (("a.png", a), ("b.png", b), ("c.png", c)):
        cv2.imwrite(str(folder / name), np.ascontiguousarray(rgb[:, :, ::-1]))
    return folder


def write_boxes(path, boxes):
    path.write_text(json.dumps({"boxes": boxes}))
    return path


BOXES = [
    {"image": "a.png", "box": [20, 20, 20, 20], "object": "red square"},
    {"image": "b.png", "box": [80, 60, 20, 20], "object": "red square"},
    {"image": "a.png", "box": [80, 30, 31, 11], "object": "blue bar"},
    {"image": "c.png", "box": [20, 50, 41, 21], "object": "blue bar"},
    {"image": "c.png", "box": [80, 15, 31, 31], "object": "green disc"},
]


@pytest.mark.slow
def test_figure_and_ranks(tmp_path, images, tiny_checkpoint):
    boxes = write_boxes(tmp_path / "boxes.json", BOXES)
    out = tmp_path / "figs" / "neighbours.png"
    result = run("--images", str(images), "--boxes", str(boxes), "--out", str(out), "--reid", str(tiny_checkpoint),
                 "--top", "3", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert out.is_file() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cv2.imread(str(out)) is not None
    assert not [p for p in out.parent.iterdir() if p.name != out.name]  # no temporary file left
    lines = {int(m.group(1)): m.group(2) for m in re.finditer(r"^query +(\d+): (.*)$", result.stdout, re.M)}
    assert sorted(lines) == [0, 1, 2, 3, 4]
    # identical crops in two images: each is the other's nearest crop, at distance ~0
    for query, other, candidates in ((0, "b.png", 3), (1, "a.png", 4)):
        assert f"same object at rank 1 of {candidates};" in lines[query]
        assert re.search(rf"nearest red square in {re.escape(other)} \(d=0\.000\)$", lines[query]), lines[query]
    assert "same object at rank" in lines[2] and "same object at rank" in lines[3]
    assert "no other view of this object" in lines[4]
    assert "figure -> " in result.stdout


def test_neighbour_table_ranks():
    # unit rows at known angles; query 0's own object (label "x") is the 2nd and 4th nearest of the other images
    angles = np.radians([0, 10, 25, 30, 40, 5])
    features = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    images = ["p", "q", "r", "q", "s", "p"]          # box 5 shares query 0's image: never its neighbour
    labels = ["x", "y", "x", "z", "x", "x"]
    table = neighbour_table(features, images, labels)
    assert [j for j, _ in table[0]["order"]] == [1, 2, 3, 4]
    assert table[0]["same"] == [2, 4]
    assert table[0]["order"][0][1] == pytest.approx(1 - np.cos(np.radians(10)))
    assert table[1]["same"] == []                        # no other "y"
    assert [j for j, _ in table[1]["order"]] == [5, 0, 2, 4]   # box 3 shares image q with box 1
    # labels never change the order; unlabelled queries get no ranks
    plain = neighbour_table(features, images)
    assert [row["order"] for row in plain] == [row["order"] for row in table]
    assert all(row["same"] is None for row in plain)
    same = neighbour_table(np.stack([features[0], features[0]]), ["p", "q"], ["x", "x"])
    assert same[0]["order"][0][1] == pytest.approx(0, abs=1e-12) and same[0]["same"] == [1]


def test_missing_image(tmp_path, images):
    boxes = write_boxes(tmp_path / "boxes.json", BOXES + [{"image": "gone.png", "box": [1, 1, 5, 5]}])
    result = run("--images", str(images), "--boxes", str(boxes), "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "gone.png" in result.stderr and "not found" in result.stderr
    (images / "broken.png").write_text("not a PNG")
    boxes = write_boxes(tmp_path / "boxes.json", BOXES + [{"image": "broken.png", "box": [1, 1, 5, 5]}])
    result = run("--images", str(images), "--boxes", str(boxes), "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "broken.png" in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_box_outside_image(tmp_path, images):
    boxes = write_boxes(tmp_path / "boxes.json", BOXES + [{"image": "b.png", "box": [100, 80, 40, 20],
                                                           "object": "off the edge"}])
    result = run("--images", str(images), "--boxes", str(boxes), "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "box 5 (off the edge)" in result.stderr and "outside" in result.stderr and "b.png (128x96)" in result.stderr
    assert not (tmp_path / "x.png").exists()
