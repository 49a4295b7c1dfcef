"""The README's library example for SLAM code runs as written (on a tiny scene and model)."""
import re
import shutil
from pathlib import Path

from reid.data.scannet import ScanNetScene
from tracker.detectors import create_detector

README = Path(__file__).resolve().parents[1] / "README.md"


def test_slam_example(tiny_scene, tiny_checkpoint, tmp_path, monkeypatch, capsys):
    text = README.read_text()
    example = re.search(r"In SLAM code:\n\n```python\n(.*?)```", text, re.S).group(1)
    (tmp_path / "runs").mkdir()
    shutil.copy(tiny_checkpoint, tmp_path / "runs" / "model.pt")
    scene = ScanNetScene.open("scene0000_00", tiny_scene)
    detector = create_detector("gt")
    stream = []
    for frame in scene.frames():
        detections = detector(frame)
        stream.append((frame.rgb, frame.depth, frame.pose, [d.tlwh for d in detections],
                       [d.mask for d in detections], [d.label for d in detections]))
    monkeypatch.chdir(tmp_path)
    exec(example, {"my_stream": stream, "K_color": scene.intrinsic_color, "K_depth": scene.intrinsic_depth})
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) >= 5  # the tiny scene turns fast: objects stay in view for a few frames only
    assert (tmp_path / "room.gallery.npz").exists()
    frames = {int(line.split()[0]) for line in printed}
    assert frames <= set(range(len(stream))) and len(frames) >= 3
    assert all("None" not in line for line in printed)  # depth and pose known: every track has a position
