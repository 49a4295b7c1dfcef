"""Ground-truth and file detectors."""
import json

import numpy as np
import pytest

from reid.data.scannet import ScanNetScene
from tracker.detection import Detection
from tracker.detectors import create_detector, save_detections
from tracker.detectors.file import DetectionFileError, decode_mask, encode_mask


def test_ground_truth_detector_gives_boxes_masks_classes_not_ids(tiny_scene):
    scene = ScanNetScene.open("scene0000_00", tiny_scene)
    frame = scene.read_frame(3)
    detections = create_detector("gt")(frame)
    classes = frame.instance_labels()
    assert detections
    seen = set()
    for detection in detections:
        assert not hasattr(detection, "instance_id") and not hasattr(detection, "track_id")
        ids = np.unique(frame.instance[detection.mask])
        assert len(ids) == 1  # one whole instance per mask
        seen.add(int(ids[0]))
        assert detection.label == classes[int(ids[0])] and detection.label not in (1, 2, 22)
        v, u = np.nonzero(detection.mask)
        np.testing.assert_allclose(detection.tlwh, [u.min(), v.min(), u.max() - u.min() + 1, v.max() - v.min() + 1])
    with_structure = create_detector("gt", include_structure=True)(frame)
    assert {d.label for d in with_structure} & {1, 2}
    # the order carries no instance id: it follows the image position
    tops = [(d.tlwh[1], d.tlwh[0]) for d in detections]
    assert tops == sorted(tops)


def test_rle_round_trip():
    rng = np.random.default_rng(0)
    for shape in [(5, 7), (1, 1), (12, 3)]:
        mask = rng.random(shape) > 0.5
        assert (decode_mask(encode_mask(mask)) == mask).all()
    mask = np.zeros((2, 3), bool)
    mask[0, 0] = True
    assert encode_mask(mask)["counts"] == [0, 1, 5]  # column-major, background run first


class FakeFrame:
    def __init__(self, index, size=(8, 6)):
        self.index = index
        self.rgb = np.zeros((size[1], size[0], 3), np.uint8)


def test_detections_file_round_trip_and_errors(tmp_path):
    mask = np.zeros((6, 8), bool)
    mask[1:4, 2:6] = True
    path = tmp_path / "dets.json"
    save_detections(path, {3: [Detection([2, 1, 4, 3], 0.9, 5, mask=mask), Detection([0, 0, 2, 2], 0.4, 14)]})
    detector = create_detector("file", path=path)
    detections = detector(FakeFrame(3))
    assert [d.label for d in detections] == [5, 14]
    assert (detections[0].mask == mask).all() and detections[1].mask is None
    assert detections[0].score == pytest.approx(0.9)
    assert detector(FakeFrame(4)) == []
    for text, message in [("not json", "not a JSON"), (json.dumps({"frames": {}}), "format"),
                          (json.dumps({"format": "tracker-detections/1", "frames": {"0": [{"tlwh": [1, 2]}]}}), "frame 0")]:
        path.write_text(text)
        with pytest.raises(DetectionFileError, match=message) as error:
            create_detector("file", path=path)
        assert str(path) in str(error.value)
    with pytest.raises(DetectionFileError, match="not found"):
        create_detector("file", path=tmp_path / "missing.json")


def test_maskrcnn_without_weights_says_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    from tracker.detectors.maskrcnn import WeightsNotFoundError
    with pytest.raises(WeightsNotFoundError, match="maskrcnn_resnet50_fpn"):
        create_detector("maskrcnn")
    with pytest.raises(WeightsNotFoundError, match="nothere.pth"):
        create_detector("maskrcnn", weights=tmp_path / "nothere.pth")
