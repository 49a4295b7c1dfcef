"""The ScanNet reader on a scene written by the test itself, including each bad case."""
import logging

import cv2
import numpy as np
import pytest

from reid.data.scannet import (EmptySceneError, FrameError, SceneNotFoundError, ScanNetScene, find_scene,
                               load_label_map)

COLOR_SIZE = (64, 48)
MASK_SIZE = (32, 24)


def write_matrix(path, matrix):
    np.savetxt(path, matrix)


def write_scene(folder, frames=4):
    """A ScanNet-layout scene: colour 64x48, depth and masks 32x24, a known pose per frame."""
    for sub in ("color", "depth", "pose", "intrinsic", "instance-filt", "label-filt"):
        (folder / sub).mkdir(parents=True)
    k_color = np.eye(4)
    k_color[:3, :3] = [[60, 0, 31.5], [0, 60, 23.5], [0, 0, 1]]
    k_depth = np.eye(4)
    k_depth[:3, :3] = [[30, 0, 15.5], [0, 30, 11.5], [0, 0, 1]]
    write_matrix(folder / "intrinsic" / "intrinsic_color.txt", k_color)
    write_matrix(folder / "intrinsic" / "intrinsic_depth.txt", k_depth)
    for i in range(frames):
        rgb = np.full((COLOR_SIZE[1], COLOR_SIZE[0], 3), 40 * i, np.uint8)
        rgb[:, :, 0] = 200  # red channel high: checks RGB order on reading
        cv2.imwrite(str(folder / "color" / f"{i}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        depth = np.full((MASK_SIZE[1], MASK_SIZE[0]), 1500 + i, np.uint16)
        cv2.imwrite(str(folder / "depth" / f"{i}.png"), depth)
        pose = np.eye(4)
        pose[:3, 3] = [i, 0, 1]
        write_matrix(folder / "pose" / f"{i}.txt", pose)
        instance = np.zeros((MASK_SIZE[1], MASK_SIZE[0]), np.uint8)
        instance[:, :16] = 3
        instance[:, 16:] = 7
        label = np.zeros_like(instance, dtype=np.uint16)
        label[:, :16] = 5    # chair
        label[:4, :16] = 40  # a few pixels of instance 3 labelled otherwise: the majority wins
        label[:, 16:] = 14   # desk
        cv2.imwrite(str(folder / "instance-filt" / f"{i}.png"), instance)
        cv2.imwrite(str(folder / "label-filt" / f"{i}.png"), label)
    return folder


@pytest.fixture
def scene_root(tmp_path):
    write_scene(tmp_path / "scans" / "scene0042_00")
    return tmp_path


def test_reads_every_part_at_its_own_size(scene_root):
    scene = ScanNetScene.open("scene0042_00", root=scene_root)
    assert scene.name == "scene0042_00" and len(scene) == 4 and scene.frame_ids == [0, 1, 2, 3]
    frame = scene.read_frame(2)
    assert frame.rgb.shape == (48, 64, 3) and frame.rgb.dtype == np.uint8
    assert abs(int(frame.rgb[10, 10, 0]) - 200) < 6 and abs(int(frame.rgb[10, 10, 2]) - 80) < 6  # RGB order
    assert frame.depth.shape == (24, 32) and frame.depth.dtype == np.float32
    assert frame.depth[5, 5] == pytest.approx(1.502)
    np.testing.assert_allclose(frame.pose[:3, 3], [2, 0, 1])
    np.testing.assert_allclose(frame.intrinsic_depth, [[30, 0, 15.5], [0, 30, 11.5], [0, 0, 1]])
    assert frame.intrinsic_color[0, 0] == 60
    # masks come resized to the colour size with nearest neighbour: no new ids appear
    assert frame.instance.shape == (48, 64) and set(np.unique(frame.instance)) == {3, 7}
    assert (frame.instance[:, :32] == 3).all() and (frame.instance[:, 32:] == 7).all()
    assert set(np.unique(frame.label)) == {5, 40, 14}
    assert frame.instance_labels() == {3: 5, 7: 14}
    assert scene.instance_classes() == {3: 5, 7: 14}


def test_root_with_or_without_scans_and_plain_path(tmp_path):
    write_scene(tmp_path / "scans" / "scene0001_00")
    write_scene(tmp_path / "other" / "scene0002_00")
    assert find_scene("scene0001_00", tmp_path) == tmp_path / "scans" / "scene0001_00"
    assert find_scene("scene0002_00", tmp_path / "other") == tmp_path / "other" / "scene0002_00"
    assert len(ScanNetScene.open(str(tmp_path / "other" / "scene0002_00"))) == 4


def test_missing_and_empty_scene(tmp_path):
    with pytest.raises(SceneNotFoundError, match="scene0099_00"):
        ScanNetScene.open("scene0099_00", root=tmp_path)
    (tmp_path / "scans" / "scene0003_00" / "color").mkdir(parents=True)
    with pytest.raises(EmptySceneError, match="no colour frames"):
        ScanNetScene.open("scene0003_00", root=tmp_path)


def test_unknown_pose_is_not_an_error(scene_root, caplog):
    folder = scene_root / "scans" / "scene0042_00"
    write_matrix(folder / "pose" / "1.txt", np.full((4, 4), -np.inf))
    scene = ScanNetScene(folder)
    with caplog.at_level(logging.WARNING, logger="reid.data"):
        frame = scene.read_frame(1)
    assert frame.pose is None and frame.depth is not None
    assert caplog.records == []


@pytest.mark.parametrize("damage, part", [
    ("corrupt_color", "color"), ("missing_depth", "depth"), ("eight_bit_depth", "depth"),
    ("corrupt_depth", "depth"), ("garbage_pose", "pose"), ("wrong_shape_pose", "pose"), ("nan_pose", "pose"),
    ("missing_pose", "pose"), ("missing_instance", "instance"), ("corrupt_label", "label"),
])
def test_bad_files_are_skipped_with_a_warning_naming_them(scene_root, caplog, damage, part):
    folder = scene_root / "scans" / "scene0042_00"
    bad = {"color": folder / "color" / "1.jpg", "depth": folder / "depth" / "1.png",
           "pose": folder / "pose" / "1.txt", "instance": folder / "instance-filt" / "1.png",
           "label": folder / "label-filt" / "1.png"}[part]
    if damage.startswith("missing"):
        bad.unlink()
    elif damage.startswith("corrupt"):
        bad.write_bytes(b"\x89PNG not really" if bad.suffix == ".png" else b"\xff\xd8 truncated jpeg")
    elif damage == "eight_bit_depth":
        cv2.imwrite(str(bad), np.full((24, 32), 15, np.uint8))
    elif damage == "garbage_pose":
        bad.write_text("this is not a pose\n")
    elif damage == "wrong_shape_pose":
        np.savetxt(bad, np.eye(3))
    elif damage == "nan_pose":
        pose = np.eye(4)
        pose[0, 3] = np.nan
        np.savetxt(bad, pose)
    scene = ScanNetScene(folder)
    with caplog.at_level(logging.WARNING, logger="reid.data"):
        frames = list(scene.frames())
    assert any(str(bad) in record.getMessage() for record in caplog.records), caplog.text
    if part == "color":
        assert [f.index for f in frames] == [0, 2, 3]  # the frame is dropped, the rest goes on
        with pytest.raises(FrameError, match="1.jpg"):
            scene.read_frame(1)
        return
    assert [f.index for f in frames] == [0, 1, 2, 3]
    frame = frames[1]
    if part == "depth":
        assert frame.depth is None and frame.pose is not None and frame.instance is not None
    elif part == "pose":
        assert frame.pose is None and frame.depth is not None
    else:
        assert frame.instance is None and frame.label is None and frame.depth is not None
    assert frames[2].depth is not None and frames[2].pose is not None and frames[2].instance is not None


def test_missing_intrinsics_warn(scene_root, caplog):
    folder = scene_root / "scans" / "scene0042_00"
    (folder / "intrinsic" / "intrinsic_depth.txt").unlink()
    with caplog.at_level(logging.WARNING, logger="reid.data"):
        scene = ScanNetScene(folder)
    assert scene.intrinsic_depth is None and scene.intrinsic_color is not None
    assert "intrinsic_depth.txt" in caplog.text


def test_colour_only_scene(tmp_path):
    folder = write_scene(tmp_path / "scene0005_00")
    for sub in ("depth", "pose", "instance-filt", "label-filt"):
        for file in (folder / sub).iterdir():
            file.unlink()
        (folder / sub).rmdir()
    frame = ScanNetScene(folder).read_frame(0)
    assert frame.depth is None and frame.pose is None and frame.instance is None and frame.instance_labels() == {}


def test_label_map_turns_scannet_ids_into_nyu40(scene_root, tmp_path):
    tsv = tmp_path / "labels.tsv"
    tsv.write_text("id\traw_category\tcategory\tcount\tnyu40id\tnyu40class\n"
                   "5\tchair\tchair\t1\t5\tchair\n14\tdesk\tdesk\t1\t14\tdesk\n40\tcup\tcup\t1\t40\totherprop\n"
                   "7\tbroken\tbroken\t1\t\t\n")
    mapping = load_label_map(tsv)
    assert mapping == {5: 5, 14: 14, 40: 40}
    remapped = {5: 9, 14: 9}  # two ScanNet ids onto one class; 40 is not in the map -> 0
    frame = ScanNetScene.open("scene0042_00", scene_root, label_map=remapped).read_frame(0)
    assert set(np.unique(frame.label)) == {0, 9}


def test_saturated_depth_reads_as_no_measurement(tmp_path):
    import cv2
    from reid.data.scannet import read_depth
    raw = np.array([[0, 1500], [65535, 4000]], dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "0.png"), raw)
    assert read_depth(tmp_path / "0.png").tolist() == [[0.0, 1.5], [0.0, 4.0]]
