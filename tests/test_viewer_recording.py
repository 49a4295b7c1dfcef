"""``python -m tracker.run --rerun``: a rerun.io recording, read back with rerun's own Python API."""
import subprocess
import sys
from collections import defaultdict
from types import SimpleNamespace

import numpy as np
import pytest

from reid.data.scannet import read_pose
from tracker.draw import track_colour
from tracker.io import read_mot


def read_recording(path):
    """Every logged component of an ``.rrd`` file: ``{entity: {component: {frame: value}}}``.

    Read with rerun's reader: ``rerun.chunk.RrdReader`` (rerun >= 0.29; components named
    ``Archetype:field``) or ``rerun.dataframe.load_recording`` (older; components named by type).
    Static values have frame None (or, through the dataframe, every frame).
    """
    pytest.importorskip("rerun")
    values = defaultdict(lambda: defaultdict(dict))
    try:
        from rerun.chunk import RrdReader
    except ImportError:
        dataframe = pytest.importorskip("rerun.dataframe")
        table = dataframe.load_recording(str(path)).view(index="frame", contents="/**").select().read_all()
        frames = table.column("frame").to_pylist()
        for name in table.column_names:
            entity, _, component = name.partition(":")
            if component:
                for frame, value in zip(frames, table.column(name).to_pylist()):
                    if value is not None:
                        values[entity][component][frame] = value
        return values
    for chunk in RrdReader(str(path)).stream():
        batch = chunk.to_record_batch()
        frames = batch.column("frame").to_pylist() if "frame" in batch.schema.names else [None] * batch.num_rows
        for name in batch.schema.names:
            if ":" in name:
                for frame, value in zip(frames, batch.column(name).to_pylist()):
                    values[chunk.entity_path][name][frame] = value
    return values


def read_views(path):
    """The layout a recording opens with: ``{view name: space origin}`` of its blueprint (rerun >= 0.29)."""
    from rerun.chunk import RrdReader           # importorskip'd by the caller
    reader = RrdReader(str(path))
    if not hasattr(reader, "blueprints"):
        pytest.skip("this rerun SDK reads no blueprint store")
    views = {}
    for chunk in reader.stream(store=reader.blueprints()[0]):
        batch = chunk.to_record_batch()
        if "ViewBlueprint:display_name" in batch.schema.names:
            views[batch.column("ViewBlueprint:display_name").to_pylist()[0][0]] = \
                batch.column("ViewBlueprint:space_origin").to_pylist()[0][0]
    return views


def component(values, entity, *names):
    """``{frame: value}`` of the first of ``names`` (one name per rerun version) logged at ``entity``."""
    for name in names:
        if name in values.get(entity, {}):
            return values[entity][name]
    raise AssertionError(f"{entity}: none of {names} in {sorted(values.get(entity, {}))}")


def packed_rgba(track_id):
    """rerun's stored colour (0xRRGGBBAA) of an ID's colour."""
    blue, green, red = track_colour(track_id)
    return (red << 24) | (green << 16) | (blue << 8) | 255


LABELS = ("Boxes2D:labels", "Text")
POINT_LABELS = ("Points3D:labels", "Text")


@pytest.fixture(scope="module")
def recorded_run(tiny_scene, tiny_checkpoint, tmp_path_factory):
    """tracker.run --rerun over the tiny scene: (scene folder, output folder, recording's values)."""
    pytest.importorskip("rerun")
    out = tmp_path_factory.mktemp("recorded")
    result = subprocess.run([sys.executable, "-m", "tracker.run", "scene0000_00", "--root", str(tiny_scene),
                             "--out", str(out), "--reid", str(tiny_checkpoint), "--quiet",
                             "--rerun", str(out / "scene0000_00.rrd")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return tiny_scene / "scans" / "scene0000_00", out, read_recording(out / "scene0000_00.rrd")


@pytest.mark.slow
def test_recording_holds_camera_images_boxes_identities_and_path(recorded_run):
    folder, out, values = recorded_run
    for entity in ("/world", "/world/camera", "/world/camera/image", "/world/camera/image/tracks",
                   "/world/camera/depth", "/world/camera_path"):
        assert entity in values, entity
    identities = [entity for entity in values if entity.startswith("/world/identities/")]
    assert identities
    # the camera of frame 12: its pose's translation and the colour intrinsics, with image and depth
    translation = component(values, "/world/camera", "Transform3D:translation", "Translation3D")[12]
    np.testing.assert_allclose(np.ravel(translation), read_pose(folder / "pose" / "12.txt")[:3, 3], atol=1e-5)
    intrinsics = component(values, "/world/camera/image", "Pinhole:image_from_camera", "PinholeProjection")[12]
    expected = np.loadtxt(folder / "intrinsic" / "intrinsic_color.txt")[:3, :3]
    np.testing.assert_allclose(np.reshape(intrinsics, (3, 3)).T, expected, rtol=1e-5)   # stored column-major
    assert len(component(values, "/world/camera/image", "EncodedImage:blob", "Blob")) == 30
    assert 12 in component(values, "/world/camera/depth", "DepthImage:buffer", "ImageBuffer")
    # the boxes of a frame: labelled "ID class", where the MOT file puts them, coloured by ID
    rows = read_mot(out / "scene0000_00.txt")
    frame = int(np.bincount(rows[:, 0].astype(int)).argmax())        # MOT frame with the most tracks
    mot = rows[rows[:, 0] == frame]
    labels = component(values, "/world/camera/image/tracks", *LABELS)[frame - 1]
    assert sorted(int(label.split()[0]) for label in labels) == sorted(mot[:, 1].astype(int).tolist())
    centres = component(values, "/world/camera/image/tracks", "Boxes2D:centers", "Position2D")[frame - 1]
    colours = component(values, "/world/camera/image/tracks", "Boxes2D:colors", "Color")[frame - 1]
    for label, centre, colour in zip(labels, centres, colours):
        track_id = int(label.split()[0])
        x, y, w, h = mot[mot[:, 1] == track_id][0, 2:6]
        np.testing.assert_allclose(centre, [x + w / 2, y + h / 2], atol=0.01)     # the MOT file rounds to 0.01
        assert colour == packed_rgba(track_id)
    # each identity: one colour and one class all along, its label starting with its ID
    for entity in identities:
        track_id = int(entity.rsplit("/", 1)[1])
        colours = component(values, entity, "Points3D:colors", "Color").values()
        assert {tuple(c) for c in colours} == {(packed_rgba(track_id),)}
        names = {tuple(label) for label in component(values, entity, *POINT_LABELS).values()}
        assert len(names) == 1 and next(iter(names))[0].startswith(f"{track_id} ")
    # the camera path: every frame's camera position
    path = next(iter(component(values, "/world/camera_path", "LineStrips3D:strips", "LineStrip3D").values()))
    assert len(path[0]) == 30
    np.testing.assert_allclose(path[0][12], np.ravel(translation), atol=1e-6)
    # it opens on the world, the colour image with the boxes and the depth image
    pytest.importorskip("rerun.chunk")
    assert read_views(out / "scene0000_00.rrd") == {"world": "world", "colour + tracks": "world/camera/image",
                                                     "depth": "world/camera/depth"}


def test_returned_identities_are_marked_and_2d_only_frames_log_no_world(tmp_path):
    pytest.importorskip("rerun")
    from viewer.recording import SceneRecording

    def track(track_id, from_gallery, position):
        return SimpleNamespace(track_id=track_id, label=5, from_gallery=from_gallery, world_position=position,
                               to_tlwh=lambda: np.array([10.0, 20.0, 30.0, 40.0]))

    rgb = np.zeros((48, 64, 3), np.uint8)
    with SceneRecording(tmp_path / "marks.rrd", "marks") as recording:
        recording.log_frame(SimpleNamespace(index=3, rgb=rgb), [track(4, False, np.array([1.0, 2.0, 3.0]))])
        recording.log_frame(SimpleNamespace(index=4, rgb=rgb), [track(2, True, np.array([0.0, 1.0, 0.5])),
                                                                 track(4, False, None)])
        recording.log_frame(SimpleNamespace(index=5, rgb=rgb), [track(2, False, np.array([0.0, 1.0, 0.6]))])
    values = read_recording(tmp_path / "marks.rrd")
    labels = component(values, "/world/camera/image/tracks", *LABELS)
    assert labels[3] == ["4 chair"] and labels[4] == ["2 chair (returned)", "4 chair"] and labels[5] == ["2 chair"]
    # in the world, a returned identity stays marked
    assert component(values, "/world/identities/2", *POINT_LABELS) == {4: ["2 chair (returned)"],
                                                                       5: ["2 chair (returned)"]}
    assert component(values, "/world/identities/4", *POINT_LABELS) == {3: ["4 chair"]}
    # no pose, intrinsics or depth: the image and the boxes only
    assert "/world/camera" not in values and "/world/camera/depth" not in values
    assert "/world/camera_path" not in values
    assert set(component(values, "/world/camera/image", "EncodedImage:blob", "Blob")) == {3, 4, 5}
    pytest.importorskip("rerun.chunk")
    assert "depth" not in read_views(tmp_path / "marks.rrd")


@pytest.mark.slow
def test_missing_rerun_is_a_one_line_error_with_the_install_command(tiny_scene, tiny_checkpoint, tmp_path):
    code = ("import sys; sys.modules['rerun'] = None\n"        # import rerun then raises ImportError
            "from tracker.run import main; main(sys.argv[1:])")
    result = subprocess.run([sys.executable, "-c", code, "scene0000_00", "--root", str(tiny_scene), "--out",
                             str(tmp_path), "--reid", str(tiny_checkpoint), "--quiet", "--rerun",
                             str(tmp_path / "x.rrd")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "pip install rerun-sdk" in result.stderr and "Traceback" not in result.stderr
