"""World positions from depth + pose, and the tracker on RGB-D frames with an embedder."""
import numpy as np
import pytest

from reid.data.geometry import intrinsic_matrix, intrinsics_for_fov, look_at, project
from tracker import Detection, Tracker, complete_detections
from tracker.world import color_to_depth_pixels, world_position

from test_tracker_scenarios import Camera, SimFrame, make_room, visible_box

# ScanNet-like: colour 1296x968 and depth 640x480 with their own intrinsics (different centres)
COLOR = intrinsic_matrix(1170.2, 1170.2, 647.8, 483.8)
DEPTH = intrinsic_matrix(577.6, 577.6, 318.9, 239.5)


def test_color_pixels_map_to_depth_pixels_through_both_intrinsics():
    # the colour principal point lands on the depth principal point (rounded)
    v_d, u_d = color_to_depth_pixels(np.array([483.8]), np.array([647.8]), COLOR, DEPTH, (480, 640))
    assert (v_d.tolist(), u_d.tolist()) == ([240], [319])
    v_d, u_d = color_to_depth_pixels(np.array([0]), np.array([1295]), COLOR, DEPTH, (480, 640))
    assert u_d.tolist() == [round((1295.0 - 647.8) / 1170.2 * 577.6 + 318.9)]
    assert v_d.tolist() == [round((0 - 483.8) / 1170.2 * 577.6 + 239.5)]
    # a whole colour image covers the depth image (up to the border), each depth pixel once
    rows, cols = np.mgrid[0:968, 0:1296]
    v_d, u_d = color_to_depth_pixels(rows.ravel(), cols.ravel(), COLOR, DEPTH, (480, 640))
    assert len(set(zip(v_d.tolist(), u_d.tolist()))) == len(v_d) > 0.97 * 480 * 640


@pytest.mark.parametrize("depth_intrinsic", [DEPTH, intrinsic_matrix(577.6, 577.6, 300.0, 255.0)],
                         ids=["scannet", "off-centre"])
def test_world_position_of_a_masked_object_on_a_plane(depth_intrinsic):
    # the off-centre depth camera is ~20 depth pixels from a plain rescaling of the colour pixels:
    # ~10 cm at this distance, so only the mapping through both intrinsics meets the 1 cm tolerance
    pose = look_at([1.0, -2.0, 1.5], [1.5, 1.0, 0.8])
    target = np.array([1.3, 0.2, 1.0])
    uv, z = project(target[None], COLOR, pose)
    (u, v), z = uv[0], z[0]
    rows, cols = np.mgrid[0:968, 0:1296]
    mask = (rows - v) ** 2 + (cols - u) ** 2 <= 60 ** 2       # a disc around the target's pixel
    depth = np.full((480, 640), z, dtype=np.float32)           # a fronto-parallel plane through it
    np.testing.assert_allclose(world_position(mask, depth, COLOR, depth_intrinsic, pose), target, atol=0.01)

    # background leaking into the mask (a far wall behind part of it) does not move the point much
    far = depth.copy()
    u_depth = (u - COLOR[0, 2]) / COLOR[0, 0] * depth_intrinsic[0, 0] + depth_intrinsic[0, 2]
    far[:, :int(u_depth) - 10] = z + 3.0
    np.testing.assert_allclose(world_position(mask, far, COLOR, depth_intrinsic, pose), target, atol=0.05)

    # a large mask is subsampled, with the same answer
    big = (rows - v) ** 2 + (cols - u) ** 2 <= 400 ** 2
    np.testing.assert_allclose(world_position(big, depth, COLOR, depth_intrinsic, pose), target, atol=0.03)


def test_world_position_is_none_without_pose_depth_or_valid_depths():
    mask = np.zeros((968, 1296), bool)
    mask[400:500, 600:700] = True
    depth = np.full((480, 640), 2.0, np.float32)
    pose = np.eye(4)
    assert world_position(mask, depth, COLOR, DEPTH, pose) is not None
    assert world_position(mask, depth, COLOR, DEPTH, None) is None
    assert world_position(mask, None, COLOR, DEPTH, pose) is None
    assert world_position(mask, depth, COLOR, DEPTH, np.full((4, 4), -np.inf)) is None
    holes = depth.copy()
    holes[150:300, 250:400] = 0.0                             # no depth under the mask
    assert world_position(mask, holes, COLOR, DEPTH, pose) is None
    holes[200, 300:303] = np.nan
    assert world_position(mask, holes, COLOR, DEPTH, pose) is None
    tiny = np.zeros_like(mask)
    tiny[450, 650] = True                                      # one pixel: too few depths
    assert world_position(tiny, depth, COLOR, DEPTH, pose) is None
    # box only: the central part of the box is used
    found = world_position(None, depth, COLOR, DEPTH, pose, tlwh=[600, 400, 100, 100])
    np.testing.assert_allclose(found[2], 2.0)


class LookupEmbedder:
    """Stands in for the re-ID model: gives each box the feature of the object it shows."""

    def __init__(self):
        self.calls = []
        self.table = {}

    def embed(self, rgb, boxes, masks):
        self.calls.append((rgb.shape, np.array(boxes), None if masks is None else masks.shape))
        keys = np.array(list(self.table))
        nearest = [tuple(keys[np.abs(keys - box).sum(axis=1).argmin()]) for box in boxes]
        return np.stack([self.table[key] for key in nearest]).astype(np.float32)


def render_depth(objects, pose, camera, depth_intrinsic, depth_size):
    """Depth image of the objects as camera-facing squares at their centre depth (far wall at 6 m)."""
    width, height = depth_size
    depth = np.full((height, width), 6.0, np.float32)
    order = sorted(range(len(objects)), key=lambda k: -project(objects[k].centre[None], camera.intrinsic, pose)[1][0])
    for k in order:
        obj = objects[k]
        box = visible_box(obj, pose, camera, min_visible=0.0)
        if box is None:
            continue
        z = project(obj.centre[None], camera.intrinsic, pose)[1][0]
        x1, y1 = box[:2]
        x2, y2 = box[:2] + box[2:]
        corners = np.array([[x1, y1], [x2, y2]])
        mapped = (corners - camera.intrinsic[:2, 2]) / np.diag(camera.intrinsic)[:2] \
            * np.diag(depth_intrinsic)[:2] + depth_intrinsic[:2, 2]
        (u1, v1), (u2, v2) = np.rint(mapped).astype(int)
        depth[max(v1, 0):max(v2 + 1, 0), max(u1, 0):max(u2 + 1, 0)] = z
    return depth


def test_tracker_on_rgbd_frames_with_an_embedder_keeps_twins_apart():
    objects = make_room(seed=0, twins=True)
    camera = Camera(width=324, height=242, fov=60.0)
    depth_size = (160, 120)
    depth_intrinsic = intrinsics_for_fov(*depth_size, 58.0)       # its own field of view and centre
    depth_intrinsic[0, 2] += 1.5
    rng = np.random.default_rng(2)
    embedder = LookupEmbedder()
    tracker = Tracker()
    rgb = np.zeros((242, 324, 3), np.uint8)
    seen = {}
    unknown_pose_frames = set(range(300, 310))
    n_frames = 480
    visible = []
    for t in range(n_frames):
        pose = camera.pose(t)
        detections, owners = [], {}
        embedder.table.clear()
        for k, obj in enumerate(objects):
            box = visible_box(obj, pose, camera)
            if box is None:
                continue
            box = np.round(box, 3)
            feature = obj.feature + rng.normal(scale=0.25 / np.sqrt(obj.feature.size), size=obj.feature.size)
            embedder.table[tuple(box)] = feature / np.linalg.norm(feature)
            mask = np.zeros((242, 324), bool)
            x, y, w, h = np.round(box).astype(int)
            mask[y:y + h + 1, x:x + w + 1] = True
            detection = Detection(box, score=0.9, label=obj.label, mask=mask)
            detections.append(detection)
            owners[id(detection)] = k
        visible.append(set(owners.values()))
        frame = SimFrame(index=t, rgb=rgb, depth=render_depth(objects, pose, camera, depth_intrinsic, depth_size),
                         pose=None if t in unknown_pose_frames else pose,
                         intrinsic_color=camera.intrinsic, intrinsic_depth=depth_intrinsic)
        calls_before = len(embedder.calls)
        complete, _ = complete_detections(detections, frame, embedder)
        owners = {id(c): owners[id(d)] for d, c in zip(detections, complete)}
        for track in tracker.update(complete, t):
            k = owners[id(track.last_detection)]
            seen.setdefault(k, set()).add(track.track_id)
            if t not in unknown_pose_frames:
                assert np.linalg.norm(track.last_detection.world_position - objects[k].centre) < 0.4
            else:
                assert track.last_detection.world_position is None
        if detections:
            assert len(embedder.calls) == calls_before + 1                # one batched call per frame
            assert embedder.calls[-1][1].shape == (len(detections), 4)
            assert embedder.calls[-1][2] == (len(detections), 242, 324)
    twins = [k for k, obj in enumerate(objects) if obj.name in ("chair_a", "chair_b")]
    assert np.array_equal(objects[twins[0]].feature, objects[twins[1]].feature)
    for k, obj in enumerate(objects):
        passes = [p for p in stretches_from(visible, k)]
        assert len(passes) >= 2
        assert len(seen[k]) == 1, f"{obj.name}: IDs {seen[k]}"
    assert len({next(iter(ids)) for ids in seen.values()}) == len(objects)


def stretches_from(visible, k):
    frames = [t for t, ks in enumerate(visible) if k in ks]
    result = []
    for t in frames:
        if result and t - result[-1][1] <= 5:
            result[-1][1] = t
        else:
            result.append([t, t])
    return result
