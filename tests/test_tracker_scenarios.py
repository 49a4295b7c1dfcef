"""Tracker scenarios on a simulated moving camera in a room of static objects.

The camera turns around the room twice, so every object leaves the view for well over 100 frames
and comes back. Objects have fixed world positions and classes; their appearance feature is a fixed
random unit vector plus small per-frame noise; identical twins share the same vector.
"""
from dataclasses import dataclass

import numpy as np
import pytest

from reid.data.geometry import intrinsics_for_fov, look_at, project
from tracker import Detection, LongTermGallery, Tracker, TrackerConfig, complete_detections

CHAIR, TABLE, SOFA, PICTURE, TELEVISION, LAMP = 5, 7, 6, 11, 25, 35
FEATURE_DIM = 64


@dataclass
class SceneObject:
    name: str
    label: int
    centre: np.ndarray          # (3,) metres
    size: float                 # cube edge, metres
    feature: np.ndarray         # (D,) unit vector


@dataclass
class SimFrame:
    """Same attributes as reid.data.scannet.Frame that the tracker reads."""
    index: int
    rgb: np.ndarray
    depth: np.ndarray = None
    pose: np.ndarray = None
    intrinsic_color: np.ndarray = None
    intrinsic_depth: np.ndarray = None


def unit(v):
    return v / np.linalg.norm(v)


def make_room(seed=0, twins=True):
    """Objects around a camera at the room centre; two identical chairs (twins) when ``twins``."""
    rng = np.random.default_rng(seed)
    spec = [  # name, label, azimuth (deg), distance, height, size, look-alike group
        ("chair_a", CHAIR, 10, 2.5, 0.5, 0.6, "twin"),
        ("chair_b", CHAIR, 55, 2.8, 0.5, 0.6, "twin" if twins else "b"),
        ("table", TABLE, 100, 3.0, 0.4, 0.8, "table"),
        ("sofa", SOFA, 160, 3.2, 0.5, 0.9, "sofa"),
        ("picture", PICTURE, 210, 3.4, 1.5, 0.5, "picture"),
        ("tv", TELEVISION, 260, 3.0, 1.1, 0.6, "tv"),
        ("chair_c", CHAIR, 305, 2.6, 0.5, 0.6, "c"),
        ("lamp", LAMP, 335, 2.2, 1.3, 0.4, "lamp"),
    ]
    looks = {}
    objects = []
    for name, label, azimuth, distance, height, size, look in spec:
        if look not in looks:
            looks[look] = unit(rng.normal(size=FEATURE_DIM)).astype(np.float32)
        a = np.radians(azimuth)
        centre = np.array([distance * np.cos(a), distance * np.sin(a), height])
        objects.append(SceneObject(name, label, centre, size, looks[look]))
    return objects


class Camera:
    """Camera near the room centre that turns around twice and sways a little."""

    def __init__(self, width=640, height=480, fov=60.0, period=240):
        self.width, self.height, self.period = width, height, period
        self.intrinsic = intrinsics_for_fov(width, height, fov)

    def pose(self, t):
        yaw = 2 * np.pi * t / self.period
        position = np.array([0.3 * np.cos(0.01 * t), 0.3 * np.sin(0.013 * t), 1.2])
        target = position + np.array([np.cos(yaw), np.sin(yaw), -0.15])
        return look_at(position, target)


def visible_box(obj, pose, camera, min_visible=0.5):
    """Projected, clipped tlwh box of an object, or None when (mostly) out of view."""
    half = obj.size / 2
    corners = obj.centre + half * np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)])
    uv, z = project(corners, camera.intrinsic, pose)
    if np.any(z < 0.2):
        return None
    x1, y1 = uv.min(axis=0)
    x2, y2 = uv.max(axis=0)
    cx1, cy1 = max(x1, 0), max(y1, 0)
    cx2, cy2 = min(x2, camera.width - 1), min(y2, camera.height - 1)
    if cx2 - cx1 < 4 or cy2 - cy1 < 4:
        return None
    if (cx2 - cx1) * (cy2 - cy1) < min_visible * (x2 - x1) * (y2 - y1):
        return None
    return np.array([cx1, cy1, cx2 - cx1, cy2 - cy1])


def simulate(objects, frames=480, seed=1, with_world=True, feature_noise=0.25, world_noise=0.03,
             camera=None, box_noise=1.0):
    """Per frame: (pose, list of (object index, Detection))."""
    rng = np.random.default_rng(seed)
    camera = camera or Camera()
    sequence = []
    for t in range(frames):
        pose = camera.pose(t)
        detections = []
        for k, obj in enumerate(objects):
            box = visible_box(obj, pose, camera)
            if box is None:
                continue
            box = box + rng.normal(scale=box_noise, size=4) * np.array([1, 1, 0.5, 0.5])
            noise = rng.normal(size=FEATURE_DIM) * feature_noise / np.sqrt(FEATURE_DIM)
            feature = unit(obj.feature + noise).astype(np.float32)
            position = obj.centre + rng.normal(scale=world_noise, size=3) if with_world else None
            detections.append((k, Detection(box, score=0.9, label=obj.label, feature=feature,
                                            world_position=position)))
        rng.shuffle(detections)
        sequence.append((pose, detections))
    return sequence


def run_tracker(sequence, tracker=None, frame_offset=0):
    """Run the tracker; returns {frame: {object index: track id}} for confirmed outputs."""
    tracker = tracker or Tracker()
    assignments = {}
    for t, (_, pairs) in enumerate(sequence):
        frame = SimFrame(index=t + frame_offset, rgb=np.zeros((480, 640, 3), np.uint8))
        detections, _ = complete_detections([d for _, d in pairs], frame, config=tracker.config)
        by_detection = {id(d): k for (k, _), d in zip(pairs, detections)}
        output = tracker.update(detections, frame.index)
        ids = [track.track_id for track in output]
        assert len(ids) == len(set(ids)), f"frame {t}: two outputs share an ID: {ids}"
        live = [track.track_id for track in tracker.tracks]
        assert len(live) == len(set(live)), f"frame {t}: two live tracks share an ID: {live}"
        assignments[t + frame_offset] = {by_detection[id(track.last_detection)]: track.track_id for track in output}
    return tracker, assignments


def stretches(sequence, k):
    """Frame ranges [first, last] in which object k is detected, split at gaps of > 5 frames."""
    frames = [t for t, (_, pairs) in enumerate(sequence) if any(j == k for j, _ in pairs)]
    result = []
    for t in frames:
        if result and t - result[-1][1] <= 5:
            result[-1][1] = t
        else:
            result.append([t, t])
    return result


def ids_in(assignments, k, first, last):
    return {assignments[t][k] for t in range(first, last + 1) if k in assignments.get(t, {})}


def check_one_id_per_object(sequence, assignments, objects, indices):
    """Each object in ``indices`` has one ID across all its passes, and no two objects share one."""
    owner = {}
    for k in indices:
        passes = stretches(sequence, k)
        assert len(passes) >= 2, f"{objects[k].name}: the simulation must show it at least twice"
        assert any(b[0] - a[1] >= 100 for a, b in zip(passes, passes[1:])), \
            f"{objects[k].name}: the simulation must keep it away >= 100 frames"
        ids = set().union(*(ids_in(assignments, k, *p) for p in passes))
        assert len(ids) == 1, f"{objects[k].name} got IDs {sorted(ids)} over passes {passes}"
        track_id = ids.pop()
        assert track_id not in owner, f"{objects[k].name} and {objects[owner[track_id]].name} share ID {track_id}"
        owner[track_id] = k
    return owner


# ---------------------------------------------------------------------------- scenarios
@pytest.fixture(scope="module")
def room():
    return make_room()


@pytest.fixture(scope="module")
def world_run(room):
    sequence = simulate(room, with_world=True)
    tracker, assignments = run_tracker(sequence)
    return sequence, tracker, assignments


def test_ids_stable_within_each_pass(room, world_run):
    sequence, _, assignments = world_run
    for k, obj in enumerate(room):
        for first, last in stretches(sequence, k):
            ids = ids_in(assignments, k, first, last)
            assert len(ids) == 1, f"{obj.name}: IDs {sorted(ids)} within frames {first}-{last}"
            # confirmed after n_init frames at the latest, then reported every frame of the pass
            covered = sum(k in assignments[t] for t in range(first, last + 1))
            assert covered >= (last - first + 1) - 3


def test_returning_objects_and_twins_keep_their_ids_with_world_positions(room, world_run):
    sequence, tracker, assignments = world_run
    owner = check_one_id_per_object(sequence, assignments, room, range(len(room)))
    for k, obj in enumerate(room):
        for first, _ in stretches(sequence, k)[1:]:
            # recognised at once on return: the revived track starts confirmed
            assert k in assignments[first], f"{obj.name} not reported on its return at frame {first}"
    twins = [k for k, obj in enumerate(room) if obj.name in ("chair_a", "chair_b")]
    assert np.array_equal(room[twins[0]].feature, room[twins[1]].feature)
    assert len({tid for tid, k in owner.items() if k in twins}) == 2
    assert len(tracker.gallery) == len(room)
    returns = sum(len(stretches(sequence, k)) - 1 for k in range(len(room)))
    assert tracker.reactivations == returns


def test_without_the_gallery_returning_objects_get_new_ids(room, world_run):
    sequence = world_run[0]
    tracker, assignments = run_tracker(sequence, Tracker(TrackerConfig(use_gallery=False)))
    assert tracker.reactivations == 0
    for k in range(len(room)):
        passes = stretches(sequence, k)
        ids = [ids_in(assignments, k, *p) for p in passes]
        assert all(len(i) == 1 for i in ids)
        assert len(set().union(*ids)) == len(passes), f"{room[k].name}: {ids}"  # a new ID on every return
    assert len(tracker.gallery) > len(room)  # the gallery still remembers every identity it made


def test_returning_distinct_objects_keep_their_ids_by_appearance_alone():
    objects = make_room(seed=3, twins=False)
    sequence = simulate(objects, with_world=False, seed=4)
    _, assignments = run_tracker(sequence)
    check_one_id_per_object(sequence, assignments, objects, range(len(objects)))


def test_twins_without_world_positions_never_share_a_live_id():
    # identical chairs close together: both in view at once, appearance cannot tell them apart;
    # run_tracker asserts in every frame that no two live tracks share an ID
    objects = make_room(seed=5, twins=True)
    objects[1].centre = objects[0].centre + np.array([-0.4, 1.2, 0.0])
    sequence = simulate(objects, with_world=False, seed=6)
    both_visible = [t for t, (_, pairs) in enumerate(sequence) if {0, 1} <= {k for k, _ in pairs}]
    assert len(both_visible) > 20
    _, assignments = run_tracker(sequence)
    for t in both_visible:
        if 0 in assignments[t] and 1 in assignments[t]:
            assert assignments[t][0] != assignments[t][1]


def test_a_detection_of_another_class_never_takes_a_track_id(room):
    sequence = simulate(room, frames=300, with_world=True, seed=7)
    rng = np.random.default_rng(8)
    # an impostor: same box, feature and world position as the sofa, but labelled a picture
    sofa = next(k for k, obj in enumerate(room) if obj.name == "sofa")
    impostor_frames = set()
    for t, (_, pairs) in enumerate(sequence):
        for k, detection in list(pairs):
            if k == sofa and rng.random() < 0.5:
                pairs.append((-1, Detection(detection.tlwh + 2.0, score=0.9, label=PICTURE,
                                            feature=detection.feature, world_position=detection.world_position)))
                impostor_frames.add(t)
    tracker, assignments = run_tracker(sequence)
    sofa_ids = set().union(*(ids_in(assignments, sofa, *p) for p in stretches(sequence, sofa)))
    impostor_ids = {assignments[t][-1] for t in impostor_frames if -1 in assignments[t]}
    assert len(sofa_ids) == 1
    assert not sofa_ids & impostor_ids
    for track_id in sofa_ids:
        assert tracker.gallery.label_of(track_id) == SOFA


def test_where_did_i_see_it_after_save_and_load(room, world_run, tmp_path):
    sequence, tracker, assignments = world_run
    path = tracker.gallery.save(tmp_path / "room.gallery.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["room.gallery.npz"]    # no temporary file left
    gallery = LongTermGallery.load(path)
    tv = next(k for k, obj in enumerate(room) if obj.name == "tv")
    tv_id = next(iter(ids_in(assignments, tv, 0, len(sequence) - 1)))
    results = gallery.query(room[tv].feature, k=3)
    assert results[0].track_id == tv_id
    assert results[0].label == TELEVISION
    assert np.linalg.norm(results[0].world_position - room[tv].centre) < 0.05
    seen = {t for t in assignments if tv in assignments[t]}
    in_ranges = {t for _, first, last in results[0].frames for t in range(first, last + 1)}
    assert seen <= in_ranges
    detected = {t for t, (_, pairs) in enumerate(sequence) if any(k == tv for k, _ in pairs)}
    assert in_ranges <= detected
    assert len(seen) <= results[0].n_observations <= len(detected)
    assert results[1].distance > results[0].distance + 0.5


def test_a_new_session_with_a_saved_gallery_gives_old_ids_back(room, world_run, tmp_path):
    sequence, tracker, assignments = world_run
    path = tracker.gallery.save(tmp_path / "room.npz")
    later = simulate(room, frames=240, with_world=True, seed=11)
    _, new_assignments = run_tracker(later, Tracker(gallery=LongTermGallery.load(path)))
    for k, obj in enumerate(room):
        old = ids_in(assignments, k, 0, len(sequence) - 1)
        new = ids_in(new_assignments, k, 0, len(later) - 1)
        assert new == old, f"{obj.name}: IDs {new} in the new session, {old} before"


def test_ids_survive_missed_detections_and_clutter():
    objects = make_room(seed=2, twins=True)
    sequence = simulate(objects, with_world=True, seed=12, box_noise=2.0)
    rng = np.random.default_rng(13)
    for _, pairs in sequence:
        pairs[:] = [(k, d) for k, d in pairs if rng.random() > 0.15]       # 15% missed
        if rng.random() < 0.5:                                              # a random false positive
            box = rng.uniform([0, 0, 10, 10], [540, 380, 100, 100])
            pairs.append((-1, Detection(box, score=0.5, label=int(rng.choice([CHAIR, TABLE, PICTURE])),
                                        feature=unit(rng.normal(size=FEATURE_DIM)).astype(np.float32),
                                        world_position=rng.uniform(-3, 3, 3))))
    _, assignments = run_tracker(sequence)
    check_one_id_per_object(sequence, assignments, objects, range(len(objects)))


def test_memory_stays_bounded_over_a_long_run():
    config = TrackerConfig(nn_budget=4, world_history=5, gallery_max_frame_ranges=6, max_age=3)
    tracker = Tracker(config)
    rng = np.random.default_rng(0)
    look = unit(rng.normal(size=FEATURE_DIM)).astype(np.float32)
    for t in range(600):
        seen = (t // 10) % 2 == 0                       # 10 frames in view, 10 frames away
        feature = unit(look + 0.02 * rng.normal(size=FEATURE_DIM))
        detections = [Detection([100, 100, 40, 40], label=CHAIR, feature=feature,
                                world_position=[1.0, 2.0, 0.5])] if seen else []
        tracker.update(complete_detections(detections, SimFrame(index=t, rgb=np.zeros((480, 640, 3), np.uint8)))[0], t)
        for track in tracker.tracks:
            assert len(track.features.rows) <= 4 and len(track.positions.rows) <= 5
    assert tracker.gallery.ids.tolist() == [1]          # 30 returns, one identity
    assert tracker.gallery.features(1).shape[0] == 4
    frames = tracker.gallery.frames(1)
    assert len(frames) <= 6 and frames[0].first == 0 and frames[-1].last == 589
