"""A small static object in a fast pan: it moves farther than its own width between frames.

Its boxes never overlap from one frame to the next, so deepSORT's IoU stage cannot confirm a new
track; its world position (depth + pose) does not move, and that is what confirms it. Without depth,
larger objects in the same view show how far the image moved, and the IoU stage moves the new track
by as much.
"""
import numpy as np

from tracker import Detection, Tracker, TrackerConfig
from tracker.matching import image_motion

MUG = 40          # NYU40 "otherprop": a 10 x 9 px object
STEP = 12         # pixels per frame, more than the box width


def pan_frames(frames=12, world=(-3.08, 2.56, 0.81), seed=0):
    rng = np.random.default_rng(seed)
    feature = rng.standard_normal(32)
    feature /= np.linalg.norm(feature)
    for index in range(frames):
        noisy = feature + 0.02 * rng.standard_normal(32)
        position = np.asarray(world) + rng.normal(0, 0.005, 3)
        box = [300.0 - STEP * index, 40.0, 10.0, 9.0]
        yield Detection(box, 0.9, MUG, feature=noisy / np.linalg.norm(noisy), world_position=position)


def run(config, with_world=True):
    tracker = Tracker(config)
    reported = []
    for index, detection in enumerate(pan_frames()):
        if not with_world:
            detection.world_position = None
        reported.append([t.track_id for t in tracker.update([detection])])
    return reported, tracker


def test_boxes_of_the_pan_never_overlap():
    boxes = [d.to_tlbr() for d in pan_frames(2)]
    assert boxes[1][2] < boxes[0][0]


def test_small_object_in_a_fast_pan_is_confirmed_by_its_world_position():
    reported, tracker = run(TrackerConfig())
    # confirmed at the third hit, then reported every frame under one ID
    assert reported[:2] == [[], []]
    assert all(len(ids) == 1 for ids in reported[2:])
    assert len({ids[0] for ids in reported[2:]}) == 1
    assert len(tracker.gallery) == 1


def test_without_the_world_cue_or_with_it_disabled_the_object_is_never_reported():
    # deepSORT's behaviour: every frame starts a new tentative track that dies at the next frame (alone
    # in the view, nothing shows how far the image moved)
    for config, with_world in ((TrackerConfig(), False), (TrackerConfig(tentative_world_matching=False), True)):
        reported, tracker = run(config, with_world)
        assert all(ids == [] for ids in reported)
        assert len(tracker.gallery) == 0


def test_a_different_object_elsewhere_in_the_world_does_not_take_the_tentative_track():
    tracker = Tracker(TrackerConfig())
    first, second = list(pan_frames(2))
    second.world_position = second.world_position + np.array([3.0, 0.0, 0.0])   # 3 m away
    tracker.update([first])
    tracker.update([second])
    ids = {t.track_id for t in tracker.tracks}
    assert len(ids) == 1 and next(iter(ids)) != 1    # the first track died; a new one started


def pan_with_larger_objects(frames=12, seed=0):
    """Each frame: the small object of :func:`pan_frames` (no world position) and two 80 x 60 px
    objects panning with it, whose boxes overlap from frame to frame."""
    rng = np.random.default_rng(seed + 1)
    large = [rng.standard_normal(32) for _ in range(2)]
    for index, small in enumerate(pan_frames(frames, seed=seed)):
        small.world_position = None
        detections = [small]
        for k, feature in enumerate(large):
            box = [200.0 - STEP * index + 90 * k, 120.0, 80.0, 60.0]
            detections.append(Detection(box, 0.9, 5, feature=feature / np.linalg.norm(feature)))
        yield detections


def small_object_ids(config):
    tracker = Tracker(config)
    return [[t.track_id for t in tracker.update(detections) if t.last_detection.tlwh[2] == 10.0]
            for detections in pan_with_larger_objects()]


def test_without_depth_the_larger_objects_image_motion_confirms_the_small_one():
    reported = small_object_ids(TrackerConfig())
    # from frame 1 the three objects seen in frame 0 show how far the image moved: every predicted
    # box moves by as much, the small object's new track overlaps its next box and is confirmed with
    # the others at its third hit
    assert reported[:2] == [[], []]
    assert all(len(ids) == 1 for ids in reported[2:])
    assert len({ids[0] for ids in reported[2:]}) == 1


def test_without_image_motion_compensation_the_small_object_is_never_reported():
    assert all(ids == [] for ids in small_object_ids(TrackerConfig(compensate_image_motion=False)))


def unit(k, dim=8):
    feature = np.zeros(dim, dtype=np.float32)
    feature[k] = 1.0
    return feature


def test_image_motion_is_the_median_vote_of_objects_seen_in_both_frames_that_look_alike():
    tracker = Tracker(TrackerConfig(n_init=1))
    boxes = [[10.0, 10.0, 20.0, 20.0], [100.0, 10.0, 20.0, 20.0], [200.0, 10.0, 20.0, 20.0]]
    tracker.update([Detection(box, 0.9, 5, feature=unit(k)) for k, box in enumerate(boxes)])
    tracks = sorted(tracker.tracks, key=lambda t: t.last_detection.tlwh[0])
    shifts = ([5.0, -2.0, 0, 0], [6.0, -3.0, 0, 0], [40.0, 30.0, 0, 0])
    moved = [Detection(np.add(box, shift), 0.9, 5, feature=unit(k)) for k, (box, shift) in enumerate(zip(boxes, shifts))]
    np.testing.assert_allclose(image_motion(tracks, moved, 0.1), [6.0, -2.0])
    # a detection of another class, or one that does not look like the track, does not vote
    other_class = [Detection(moved[0].tlwh, 0.9, 7, feature=unit(0))] + moved[1:]
    np.testing.assert_allclose(image_motion(tracks, other_class, 0.1, min_pairs=2), [23.0, 13.5])
    assert image_motion(tracks, other_class, 0.1) is None                # two votes: too few by default
    unlike = [Detection(moved[0].tlwh, 0.9, 5, feature=(unit(0) + unit(5)) / np.sqrt(2))] + moved[1:]
    np.testing.assert_allclose(image_motion(tracks, unlike, 0.1, min_pairs=2), [23.0, 13.5])
    np.testing.assert_allclose(image_motion(tracks, unlike, 0.5), [6.0, -2.0])
    # each votes once, for the detection it looks most like: two alike detections, one vote
    twins = moved + [Detection(np.add(boxes[2], [-30.0, 0, 0, 0]), 0.9, 5, feature=unit(2))]
    np.testing.assert_allclose(image_motion(tracks, twins, 0.1), [6.0, -2.0])
    tracks[1].predict()                                                  # not seen in the previous frame
    np.testing.assert_allclose(image_motion(tracks, moved, 0.1, min_pairs=2), [22.5, 14.0])
