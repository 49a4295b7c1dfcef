"""A small static object in a fast pan: it moves farther than its own width between frames.

Its boxes never overlap from one frame to the next, so deepSORT's IoU stage cannot confirm a new
track; its world position (depth + pose) does not move, and that is what confirms it.
"""
import numpy as np

from tracker import Detection, Tracker, TrackerConfig

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
    # deepSORT's behaviour: every frame starts a new tentative track that dies at the next frame
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
