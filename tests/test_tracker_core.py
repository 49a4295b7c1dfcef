"""Unit tests of the tracker's parts: detections, Kalman filter, assignment, the cost rule, track life cycle."""
import logging

import numpy as np
import pytest

from tracker import Detection, Tracker, TrackerConfig, complete_detections, kalman_filter
from tracker.kalman_filter import CHI2INV95
from tracker.matching import (INFTY_COST, Gates, association_cost, iou, iou_cost, matching_cascade,
                              min_cost_matching, solve_assignment)
from tracker.track import RecentRows, Track, TrackState, predict_tracks, update_tracks


def unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


# ---------------------------------------------------------------------------- Detection
def test_detection_box_formats():
    detection = Detection([10, 20, 30, 60], score=0.5, label=5)
    np.testing.assert_allclose(detection.to_tlbr(), [10, 20, 40, 80])
    np.testing.assert_allclose(detection.to_xyah(), [25, 50, 0.5, 60])
    assert detection.tlwh.dtype == np.float64


# ---------------------------------------------------------------------------- Kalman filter
def test_chi_square_gates_are_the_95_percent_quantiles():
    from scipy.stats import chi2
    assert {2, 4} <= set(CHI2INV95)   # the position-only and the full-box gate
    for dof, gate in CHI2INV95.items():
        assert gate == pytest.approx(chi2.ppf(0.95, dof), rel=1e-4), dof


def test_gating_distance_is_the_hand_computed_mahalanobis_distance():
    x, y, a, h = 100.0, 50.0, 0.5, 40.0
    mean, covariance = kalman_filter.initiate(np.array([x, y, a, h]))
    # deepSORT initial covariance and measurement noise, both diagonal, std relative to height
    p = np.square([2 * h / 20, 2 * h / 20, 1e-2, 2 * h / 20])
    r = np.square([h / 20, h / 20, 1e-1, h / 20])
    measurement = np.array([106.0, 47.0, 0.55, 43.0])
    expected = np.sum((measurement - [x, y, a, h]) ** 2 / (p + r))
    distance = kalman_filter.gating_distance(mean[None], covariance[None], measurement[None])
    assert distance[0, 0] == pytest.approx(expected, rel=1e-9)

    # one prediction: position variance gains the velocity variance and the process noise
    mean, covariance = kalman_filter.predict(mean, covariance)
    velocity = np.square([10 * h / 160, 10 * h / 160, 1e-5, 10 * h / 160])
    q = np.square([h / 20, h / 20, 1e-2, h / 20])
    expected = np.sum((measurement - [x, y, a, h]) ** 2 / (p + velocity + q + r))
    distance = kalman_filter.gating_distance(mean[None], covariance[None], measurement[None])
    assert distance[0, 0] == pytest.approx(expected, rel=1e-9)


def test_kalman_filter_follows_constant_velocity():
    mean, covariance = kalman_filter.initiate(np.array([0.0, 0.0, 1.0, 50.0]))
    for t in range(1, 30):
        mean, covariance = kalman_filter.predict(mean, covariance)
        mean, covariance = kalman_filter.update(mean, covariance, [3.0 * t, -2.0 * t, 1.0, 50.0])
    mean, covariance = kalman_filter.predict(mean, covariance)
    np.testing.assert_allclose(mean[:2], [90.0, -60.0], atol=1.0)
    np.testing.assert_allclose(mean[4:6], [3.0, -2.0], atol=0.1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kalman_filter_is_filterpys_for_one_filter_and_for_stacked_filters(seed):
    """The same F, H, Q, R through filterpy's KalmanFilter; a stack of filters gives each one's result."""
    from filterpy.kalman import KalmanFilter as FilterpyKalmanFilter
    rng = np.random.default_rng(seed)
    starts = rng.uniform([50, 50, 0.3, 30], [250, 200, 2.0, 120], (4, 4))
    reference = []
    for start in starts:
        f = FilterpyKalmanFilter(dim_x=8, dim_z=4)
        f.F, f.H = kalman_filter.MOTION, kalman_filter.OBSERVATION
        f.x, f.P = kalman_filter.initiate(start)
        reference.append(f)
    mean, covariance = kalman_filter.initiate(starts)
    for step in range(15):
        measurements = starts + rng.normal(0, 3, (4, 4)) * [1, 1, 0.01, 1] + step * np.array([2, -1, 0, 0.5])
        for f, z in zip(reference, measurements):
            h = f.x[3]
            f.predict(Q=np.diag(np.square([h / 20, h / 20, 1e-2, h / 20, h / 160, h / 160, 1e-5, h / 160])))
            f.update(z, R=np.diag(np.square([f.x[3] / 20, f.x[3] / 20, 1e-1, f.x[3] / 20])))
        mean, covariance = kalman_filter.predict(mean, covariance)
        one_mean, one_covariance = kalman_filter.update(mean[0], covariance[0], measurements[0])
        mean, covariance = kalman_filter.update(mean, covariance, measurements)
        np.testing.assert_allclose(one_mean, mean[0], rtol=1e-12)
        np.testing.assert_allclose(one_covariance, covariance[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mean, [f.x for f in reference], rtol=1e-9)
    np.testing.assert_allclose(covariance, [f.P for f in reference], rtol=1e-7, atol=1e-9)


def test_tracks_predicted_and_updated_together_equal_one_by_one():
    detections = [Detection([10 * k, 5 * k, 20 + k, 40], label=5) for k in range(5)]
    together, alone = ([make_track(d.tlwh, track_id=k) for k, d in enumerate(detections)] for _ in range(2))
    moved = [Detection(d.tlwh + [3, 1, 0, 1], label=5) for d in detections]
    predict_tracks(together)
    update_tracks(together, moved, 1)
    for track, detection in zip(alone, moved):
        track.predict()
        track.update(detection, 1)
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a.mean, b.mean, rtol=1e-12)
        np.testing.assert_allclose(a.covariance, b.covariance, rtol=1e-12)
        assert (a.hits, a.age, a.time_since_update) == (b.hits, b.age, b.time_since_update) == (2, 2, 0)


# ---------------------------------------------------------------------------- assignment
HAND_MADE = np.array([[4.0, 1.0, 3.0],
                      [2.0, 0.0, 5.0],
                      [3.0, 2.0, 2.0]])


def test_min_cost_matching_finds_the_optimum_not_the_greedy_choice():
    # greedy takes the 0 at (1, 1) and ends at 6; the optimum (0,1) (1,0) (2,2) costs 5
    def cost(tracks, detections, columns):
        return HAND_MADE[np.ix_(tracks, columns)]

    assert min_cost_matching(cost, [0, 1, 2], [0, 1, 2], [0, 1, 2], [0, 1, 2], 10.0) == \
        ([(0, 1), (1, 0), (2, 2)], [], [])
    # a subset keeps the caller's indices
    matches, _, _ = min_cost_matching(cost, [0, 1, 2], [0, 1, 2], [0, 2], [1, 2], 10.0)
    assert sorted(matches) == [(0, 1), (2, 2)]


def test_min_cost_matching_respects_max_distance_and_infinity():
    # only (0, 1) = 1 and (1, 1) = 0 are allowed under 1.5: one column, one match, the cheaper
    matches, rows, cols = solve_assignment(HAND_MADE, 1.5)
    assert matches == [(1, 1)] and rows == [0, 2] and cols == [0, 2]
    cost = np.array([[INFTY_COST, 0.3], [0.2, INFTY_COST], [INFTY_COST, INFTY_COST]])
    matches, rows, cols = solve_assignment(cost, 0.5)
    assert sorted(matches) == [(0, 1), (1, 0)] and rows == [2] and cols == []
    cost[0, 1] = np.inf
    matches, rows, cols = solve_assignment(cost, 0.5)
    assert matches == [(1, 0)] and rows == [0, 2] and cols == [1]
    assert solve_assignment(np.zeros((0, 3)), 1.0) == ([], [], [0, 1, 2])


class FakeTrack:
    def __init__(self, time_since_update):
        self.time_since_update = time_since_update


def test_matching_cascade_lets_recently_seen_tracks_choose_first():
    tracks = [FakeTrack(3), FakeTrack(1)]
    table = np.array([[0.1], [0.4]])      # the old track is closer, the recent one still wins

    def cost(chosen, detections, columns):
        return table[np.ix_([tracks.index(t) for t in chosen], columns)]

    assert matching_cascade(cost, tracks, [0], [0, 1], [0], 5) == ([(1, 0)], [0], [])
    # min_cost_matching alone takes the cheaper pair
    assert min_cost_matching(cost, tracks, [0], [0, 1], [0])[0] == [(0, 0)]


def make_track(tlwh, label=5, feature=None, track_id=1, world_position=None, **kwargs):
    track = Track(track_id, label, **kwargs)
    track.activate(Detection(tlwh, label=label, feature=feature, world_position=world_position), 0)
    return track


def gates(n, appearance=0.3, unplaced=0.1, world=1.0, weight=0.5, motion=False):
    return Gates(np.full(n, appearance), unplaced, np.full(n, world), np.full(n, weight), motion)


def test_the_motion_gate_forbids_implausible_boxes_where_no_world_distance_vouches():
    feature = unit(np.ones(8))
    track = make_track([100, 100, 20, 40], feature=feature)
    near, far = Detection([102, 101, 20, 40], label=5, feature=feature), Detection([300, 100, 20, 40], label=5, feature=feature)
    cost = association_cost([track], [near, far], gates(2, motion=True))
    assert cost[0, 0] < 0.01 and cost[0, 1] == INFTY_COST
    assert (association_cost([track], [near, far], gates(2)) < 0.01).all()
    # both placed, within the world gate: the world cue replaces the motion gate
    placed = make_track([100, 100, 20, 40], feature=feature, world_position=[1.0, 0, 0])
    far.world_position = np.array([1.2, 0, 0])
    assert association_cost([placed], [far], gates(1, motion=True))[0, 0] == pytest.approx(0.5 * 0.2, abs=1e-5)


def test_the_cost_rule_gates_class_world_and_appearance_and_adds_the_world_distance():
    rng = np.random.default_rng(0)
    a, b = unit(rng.normal(size=16)), unit(rng.normal(size=16))
    track = make_track([0, 0, 10, 10], feature=a, world_position=[0.0, 0, 0])
    track.update(Detection([0, 0, 10, 10], label=5, feature=b, world_position=[0.0, 0, 0]), 1)
    looks_like_b = unit(b + 0.05 * rng.normal(size=16))
    detections = [Detection([0, 0, 1, 1], label=5, feature=looks_like_b, world_position=[0.4, 0, 0]),  # allowed
                  Detection([0, 0, 1, 1], label=7, feature=b, world_position=[0.0, 0, 0]),            # other class
                  Detection([0, 0, 1, 1], label=5, feature=b, world_position=[1.5, 0, 0]),            # too far
                  Detection([0, 0, 1, 1], label=5, feature=unit(rng.normal(size=16))),                # looks else
                  Detection([0, 0, 1, 1], label=5, feature=looks_like_b),                             # unplaced
                  Detection([0, 0, 1, 1], label=5, world_position=[0.0, 0, 0])]                       # no feature
    cost = association_cost([track], detections, gates(len(detections)))
    nearest = min(1 - looks_like_b @ b, 1 - looks_like_b @ a, 1 - looks_like_b @ track.mean_feature)
    assert cost[0, 0] == pytest.approx(nearest + 0.5 * 0.4, abs=1e-5)
    assert (cost[0, 1:4] == INFTY_COST).all() and cost[0, 5] == INFTY_COST
    # without a world distance the tighter gate applies: allowed at 0.2, not at 0.01
    assert cost[0, 4] == pytest.approx(nearest, abs=1e-5) if nearest <= 0.1 else cost[0, 4] == INFTY_COST
    assert association_cost([track], detections[4:5], gates(1, unplaced=0.2))[0, 0] == pytest.approx(nearest, abs=1e-5)
    assert association_cost([track], detections[4:5], gates(1, unplaced=0.001))[0, 0] == INFTY_COST


def test_iou_values_and_label_gate():
    np.testing.assert_allclose(iou(np.array([0.0, 0, 10, 10]), [[5, 0, 10, 10], [20, 20, 5, 5], [0, 0, 10, 10]]),
                               [50 / 150, 0.0, 1.0])
    track = make_track([0, 0, 10, 10], label=5)
    track.predict()
    same = Detection([5, 0, 10, 10], label=5)
    other_class = Detection([0, 0, 10, 10], label=7)
    cost = iou_cost([track], [same, other_class])
    assert cost[0, 0] == pytest.approx(1 - 50 / 150) and cost[0, 1] == INFTY_COST
    track.predict()                                            # missed one more frame: too uncertain for IoU
    assert (iou_cost([track], [same]) == INFTY_COST).all()


def test_recent_rows_keep_only_the_most_recent_and_the_mean_keeps_all():
    rows = RecentRows(3, np.float32)
    features = [unit(np.eye(4)[i % 4] + 0.1) for i in range(5)]
    for feature in features:
        rows.append(feature)
    assert {tuple(np.round(f, 5)) for f in rows.rows} == {tuple(np.round(f, 5)) for f in features[2:]}
    track = Track(1, 5, feature_budget=3)
    for feature in features:
        track.observe(feature)
    np.testing.assert_allclose(track.mean_feature, unit(np.sum(features, axis=0)), atol=1e-6)
    assert len(track.features.rows) == 3


# ---------------------------------------------------------------------------- Track
def test_track_life_cycle():
    track = make_track([0, 0, 10, 20], n_init=3)
    assert track.state == TrackState.Tentative
    for frame in (1, 2):
        track.predict()
        track.update(Detection([0, 0, 10, 20], label=5), frame)
    assert track.is_confirmed() and track.hits == 3 and track.frames == [[1, 0, 2]]
    for _ in range(2):
        track.predict()
        track.mark_missed(max_age=2)
        assert track.is_confirmed()
    track.predict()
    track.mark_missed(max_age=2)
    assert track.state == TrackState.Lost and track.time_since_update == 3
    track.activate(Detection([50, 0, 10, 20], label=5), 9)          # back: confirmed at once, same identity
    assert track.is_confirmed() and track.from_gallery and track.frames == [[1, 0, 2], [1, 9, 9]]
    np.testing.assert_allclose(track.to_tlwh(), [50, 0, 10, 20])

    tentative = make_track([0, 0, 10, 20])
    tentative.predict()
    tentative.mark_missed(max_age=2)
    assert tentative.state == TrackState.Deleted


def test_track_world_position_is_the_median_of_recent_observations():
    track = make_track([0, 0, 10, 10], world_position=[100.0, 100.0, 100.0], world_history=5)
    for frame, x in enumerate([1.0, 2.0, 3.0, 4.0, 5.0], start=1):
        track.update(Detection([0, 0, 10, 10], world_position=[x, 0.0, 0.0]), frame)
    np.testing.assert_allclose(track.world_position, [3.0, 0.0, 0.0])   # the outlier left the window


# ---------------------------------------------------------------------------- Tracker input checks
class Frame:
    def __init__(self, index, width=320, height=240):
        self.index = index
        self.rgb = np.zeros((height, width, 3), np.uint8)


def step(tracker, detections, index):
    """One frame: complete the detections (checks against the 320x240 image, cut-by-border flags), track."""
    return tracker.update(complete_detections(detections, Frame(index), config=tracker.config)[0], index)


def test_complete_detections_returns_new_objects_and_leaves_the_callers_alone():
    feature = np.arange(8) + 1.0
    given = [Detection([0, 10, 20, 20], label=5, feature=feature), Detection([100, 100, 20, 20], label=5)]
    complete, skipped = complete_detections(given, Frame(0))
    assert skipped == 0 and [c.truncated for c in complete] == [True, False]
    assert complete[0] is not given[0] and not given[0].truncated
    np.testing.assert_array_equal(given[0].feature, np.float32(feature))          # the caller's, not scaled
    assert np.linalg.norm(complete[0].feature) == pytest.approx(1.0)
    tracker = Tracker(TrackerConfig(n_init=1))
    before = given[0].feature.copy()
    tracker.update(given, 0)
    np.testing.assert_array_equal(given[0].feature, before)


def test_bad_detections_are_skipped_with_a_warning_and_the_run_goes_on(caplog):
    feature = unit(np.arange(8) + 1.0)
    tracker = Tracker(TrackerConfig(n_init=2))
    bad = [
        ("NaN", Detection([10, 10, 20, 20], label=5, feature=np.full(8, np.nan))),
        ("zero or negative area", Detection([50, 50, 0, 20], label=5, feature=feature)),
        ("outside", Detection([400, 300, 20, 20], label=5, feature=feature)),
        ("not finite", Detection([np.inf, 10, 20, 20], label=5, feature=feature)),
        ("length 4", Detection([10, 10, 20, 20], label=5, feature=feature[:4])),
    ]
    outputs = []
    with caplog.at_level(logging.WARNING, logger="tracker"):
        for index in range(3):
            good = Detection([100 + index, 100, 30, 40], label=5, feature=feature)
            outputs.append(step(tracker, [good] + [d for _, d in bad], index))
    for why, _ in bad:
        assert any(why in record.getMessage() and record.name == "tracker" for record in caplog.records), why
    assert [len(o) for o in outputs] == [0, 1, 1]
    assert len(tracker.tracks) == 1
    np.testing.assert_allclose(outputs[-1][0].last_detection.tlwh, [102, 100, 30, 40])


def test_structure_classes_and_low_scores_are_not_tracked():
    tracker = Tracker(TrackerConfig(n_init=1, min_score=0.3))
    wall = Detection([0, 0, 50, 50], label=1)
    faint = Detection([100, 0, 50, 50], label=5, score=0.1)
    chair = Detection([200, 0, 50, 50], label=5, score=0.9)
    output = step(tracker, [wall, faint, chair], 0)
    assert [t.last_detection.tlwh.tolist() for t in output] == [chair.tlwh.tolist()]


def test_two_detections_of_different_classes_at_one_place_get_different_ids():
    tracker = Tracker(TrackerConfig(n_init=1))
    feature = unit(np.ones(8))
    ids = {}
    for index in range(20):
        chair = Detection([100, 100, 40, 40], label=5, feature=feature)
        table = Detection([101, 100, 40, 40], label=7, feature=feature)
        for track in step(tracker, [chair, table], index):
            ids.setdefault(track.last_detection.label, set()).add(track.track_id)
    assert len(ids[5]) == 1 and len(ids[7]) == 1 and ids[5] != ids[7]


def test_new_ids_start_above_those_of_a_given_gallery():
    from tracker import LongTermGallery
    gallery = LongTermGallery()
    gallery.add(41, 5, unit(np.ones(8)), frame_index=0)
    tracker = Tracker(TrackerConfig(n_init=1), gallery=gallery)
    other_look = unit(np.arange(8) - 3.5)
    output = step(tracker, [Detection([10, 10, 20, 20], label=5, feature=other_look)], 0)
    assert [t.track_id for t in output] == [42]
    output = step(tracker, [Detection([10, 10, 20, 20], label=5, feature=other_look),
                            Detection([100, 100, 20, 20], label=5, feature=unit(np.ones(8)))], 1)
    assert sorted(t.track_id for t in output) == [41, 42]


@pytest.mark.parametrize("box, expect_old_id", [([0, 100, 30, 40], True), ([150, 100, 30, 40], False)],
                         ids=["cut-by-border", "whole"])
def test_a_view_cut_by_the_border_is_matched_with_a_wider_world_gate(box, expect_old_id):
    # the visible part of a truncated object can sit ~1 m from its centre; a whole view cannot
    config = TrackerConfig(n_init=1, max_age=2, world_gate_metres=0.5, truncated_world_gate_metres=1.5)
    tracker = Tracker(config)
    feature = unit(np.arange(8) + 1.0)
    for index in range(5):
        step(tracker, [Detection([150, 100, 30, 40], label=5, feature=feature, world_position=[2.0, 0, 0])], index)
    old_id = tracker.tracks[0].track_id
    for index in range(5, 10):
        step(tracker, [], index)
    assert not tracker.tracks and old_id in tracker.gallery
    returning = Detection(box, label=5, feature=feature, world_position=[3.0, 0, 0])
    assert complete_detections([returning], Frame(10))[0][0].truncated == expect_old_id
    output = step(tracker, [returning], 10)
    assert (output[0].track_id == old_id) if expect_old_id else (tracker.tracks[0].track_id != old_id)


def test_assignment_ignores_rows_and_columns_without_admissible_pairs():
    """Same optimum as the full problem, and a huge mostly-inadmissible matrix stays cheap."""
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(0)
    for _ in range(200):
        cost = rng.uniform(0, 1, (rng.integers(1, 7), rng.integers(1, 7)))
        matches, _, _ = solve_assignment(cost, 0.4)
        # reference, the same objective as lap's cost_limit: every admissible pair saves (limit - cost)
        gain = np.where(cost <= 0.4, cost - 0.4, 0.0)
        rows, cols = linear_sum_assignment(gain)
        reference = [(r, c) for r, c in zip(rows, cols) if cost[r, c] <= 0.4]
        assert all(cost[r, c] <= 0.4 for r, c in matches)
        assert sum(cost[r, c] - 0.4 for r, c in matches) == pytest.approx(sum(cost[r, c] - 0.4 for r, c in reference))
    wide = np.full((3, 200_000), 5.0)
    wide[1, 123_456] = 0.1
    assert solve_assignment(wide, 0.5)[0] == [(1, 123_456)]


@pytest.mark.parametrize("box, expect_old_id", [([0, 100, 30, 40], True), ([150, 100, 30, 40], False)],
                         ids=["cut-by-border", "whole"])
def test_a_returning_view_cut_by_the_border_is_matched_world_first(box, expect_old_id):
    """Twins on a shelf: the cut view looks more like the other twin but sits where its own was."""
    rng = np.random.default_rng(0)
    look = unit(rng.normal(size=16))
    config = TrackerConfig(n_init=1, max_age=2)
    tracker = Tracker(config)
    for index in range(5):
        step(tracker, [Detection([150, 100, 30, 40], label=5, feature=look, world_position=[2.0, 0, 0])], index)
    old_id = tracker.tracks[0].track_id
    for index in range(5, 10):
        step(tracker, [], index)
    # appearance distance ~0.45: beyond gallery_max_distance (0.3), within truncated_max_distance (0.6)
    other = rng.normal(size=16)
    changed = unit(0.55 * look + np.sqrt(1 - 0.55 ** 2) * unit(other - (other @ look) * look))
    assert 1 - changed @ look == pytest.approx(0.45, abs=1e-4)
    output = step(tracker, [Detection(box, label=5, feature=changed, world_position=[2.19, 0, 0])], 10)
    assert (output[0].track_id == old_id) == expect_old_id


def test_a_track_matched_by_iou_takes_no_second_detection_elsewhere():
    """Its box overlaps one detection that looks changed (IoU stage); a detection elsewhere looks like it
    did: the track keeps the overlapping one, the other starts a track of its own."""
    rng = np.random.default_rng(1)
    look, other = unit(rng.normal(size=16)), unit(rng.normal(size=16))
    tracker = Tracker(TrackerConfig(n_init=1))
    for index in range(5):
        step(tracker, [Detection([100, 100, 40, 80], label=5, feature=look)], index)
    overlapping = Detection([103, 100, 40, 80], label=5, feature=other)
    elsewhere = Detection([250, 50, 40, 80], label=5, feature=look)
    output = step(tracker, [overlapping, elsewhere], 5)
    by_id = {t.track_id: t.last_detection.tlwh.tolist() for t in output}
    assert by_id[1] == [103, 100, 40, 80] and len(by_id) == 2


def test_an_embedder_output_that_is_not_a_feature_skips_that_detection_only(caplog):
    class Embedder:
        dim = 4

        def embed(self, rgb, boxes, masks):
            return np.array([[1, 0, 0, 0], [np.nan, 0, 0, 0], [0, 2, 0, 0]], np.float32)

    given = [Detection([10, 10, 20, 20], label=5), Detection([50, 50, 20, 20], label=5),
             Detection([100, 100, 20, 20], label=5)]
    with caplog.at_level(logging.WARNING, logger="tracker"):
        complete, skipped = complete_detections(given, Frame(0), Embedder())
    assert skipped == 1 and "embedder output" in caplog.text
    assert [c.tlwh.tolist() for c in complete] == [[10, 10, 20, 20], [100, 100, 20, 20]]
    np.testing.assert_allclose(complete[1].feature, [0, 1, 0, 0])
