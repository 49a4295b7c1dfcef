"""Unit tests of the tracker's parts: detections, Kalman gating, assignment, costs, track life cycle."""
import logging

import numpy as np
import pytest

from tracker import Detection, Tracker, TrackerConfig
from tracker.feature_bank import FeatureBank
from tracker.iou_matching import iou, iou_cost
from tracker.kalman_filter import CHI2INV95, KalmanFilter
from tracker.linear_assignment import (INFTY_COST, gate_cost_matrix, matching_cascade, min_cost_matching,
                                       solve_assignment)
from tracker.nn_matching import appearance_cost, nearest_neighbor_distance
from tracker.track import Track, TrackState


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
    kf = KalmanFilter([x, y, a, h])
    # deepSORT initial covariance and measurement noise, both diagonal, std relative to height
    p = np.square([2 * h / 20, 2 * h / 20, 1e-2, 2 * h / 20])
    r = np.square([h / 20, h / 20, 1e-1, h / 20])
    measurement = np.array([106.0, 47.0, 0.55, 43.0])
    expected = np.sum((measurement - [x, y, a, h]) ** 2 / (p + r))
    assert kf.gating_distance(measurement[None])[0] == pytest.approx(expected, rel=1e-9)
    expected_position = np.sum((measurement[:2] - [x, y]) ** 2 / (p[:2] + r[:2]))
    assert kf.gating_distance(measurement[None], only_position=True)[0] == pytest.approx(expected_position)

    # one prediction: position variance gains the velocity variance and the process noise
    kf.predict()
    velocity = np.square([10 * h / 160, 10 * h / 160, 1e-5, 10 * h / 160])
    q = np.square([h / 20, h / 20, 1e-2, h / 20])
    s = p + velocity + q + r
    expected = np.sum((measurement - [x, y, a, h]) ** 2 / s)
    assert kf.gating_distance(measurement[None])[0] == pytest.approx(expected, rel=1e-9)


def test_kalman_filter_follows_constant_velocity():
    kf = KalmanFilter([0.0, 0.0, 1.0, 50.0])
    for t in range(1, 30):
        kf.predict()
        kf.update([3.0 * t, -2.0 * t, 1.0, 50.0])
    kf.predict()
    np.testing.assert_allclose(kf.mean[:2], [90.0, -60.0], atol=1.0)
    np.testing.assert_allclose(kf.mean[4:6], [3.0, -2.0], atol=0.1)


# ---------------------------------------------------------------------------- assignment
HAND_MADE = np.array([[4.0, 1.0, 3.0],
                      [2.0, 0.0, 5.0],
                      [3.0, 2.0, 2.0]])


def test_min_cost_matching_finds_the_optimum_not_the_greedy_choice():
    # greedy takes the 0 at (1, 1) and ends at 6; the optimum (0,1) (1,0) (2,2) costs 5
    def metric(tracks, detections, track_indices, detection_indices):
        return HAND_MADE[np.ix_(track_indices, detection_indices)]

    matches, unmatched_tracks, unmatched_detections = min_cost_matching(metric, 10.0, [0, 1, 2], [0, 1, 2])
    assert sorted(matches) == [(0, 1), (1, 0), (2, 2)]
    assert unmatched_tracks == [] and unmatched_detections == []

    # a subset keeps the caller's indices
    matches, unmatched_tracks, unmatched_detections = min_cost_matching(metric, 10.0, [0, 1, 2], [0, 1, 2],
                                                                        [0, 2], [1, 2])
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
    cost = np.array([[0.1], [0.4]])      # the old track is closer, the recent one still wins

    def metric(tracks, detections, track_indices, detection_indices):
        return cost[np.ix_(track_indices, detection_indices)]

    matches, unmatched_tracks, unmatched_detections = matching_cascade(metric, 0.5, 5, tracks, [0])
    assert matches == [(1, 0)] and unmatched_tracks == [0] and unmatched_detections == []
    # min_cost_matching alone takes the cheaper pair
    assert min_cost_matching(metric, 0.5, tracks, [0])[0] == [(0, 0)]


def make_track(tlwh, label=5, feature=None, track_id=1, **kwargs):
    return Track(track_id, Detection(tlwh, label=label, feature=feature), 0, **kwargs)


def test_gate_cost_matrix_forbids_implausible_boxes():
    track = make_track([100, 100, 20, 40])
    near = Detection([102, 101, 20, 40])
    far = Detection([300, 100, 20, 40])
    cost = gate_cost_matrix(np.zeros((1, 2)), [track], [near, far], [0], [0, 1])
    assert cost[0, 0] == 0.0 and cost[0, 1] == INFTY_COST


def test_iou_values_and_label_gate():
    np.testing.assert_allclose(iou(np.array([0.0, 0, 10, 10]), [[5, 0, 10, 10], [20, 20, 5, 5], [0, 0, 10, 10]]),
                               [50 / 150, 0.0, 1.0])
    track = make_track([0, 0, 10, 10], label=5)
    track.predict()
    same = Detection([5, 0, 10, 10], label=5)
    other_class = Detection([0, 0, 10, 10], label=7)
    cost = iou_cost([track], [same, other_class])
    assert cost[0, 0] == pytest.approx(1 - 50 / 150) and cost[0, 1] == INFTY_COST
    boxes = np.array([same.tlwh, other_class.tlwh])           # the frame's stacked boxes: the same costs
    np.testing.assert_array_equal(iou_cost([track], [same, other_class], detection_boxes=boxes), cost)


def test_appearance_cost_uses_the_nearest_feature_of_the_bank():
    rng = np.random.default_rng(0)
    a, b, c = (unit(rng.normal(size=16)) for _ in range(3))
    bank = np.stack([a, b])
    np.testing.assert_allclose(nearest_neighbor_distance(bank, np.stack([a, c])),
                               [0.0, min(1 - a @ c, 1 - b @ c)], atol=1e-6)
    track = make_track([0, 0, 10, 10], feature=a)
    track.update(Detection([0, 0, 10, 10], label=5, feature=b), 1)
    cost = appearance_cost([track], [Detection([0, 0, 1, 1], feature=b), Detection([0, 0, 1, 1])], [0], [0, 1])
    assert cost[0, 0] == pytest.approx(0.0, abs=1e-6) and cost[0, 1] == INFTY_COST


@pytest.mark.parametrize("pairs", [False, True])
def test_appearance_cost_from_stacked_features_equals_reading_the_detections(pairs):
    from tracker.track_store import TrackStore
    rng = np.random.default_rng(3)
    store = TrackStore(6, 3)
    tracks = [make_track([10 * k, 0, 10, 10], feature=unit(rng.normal(size=16)), store=store) for k in range(4)]
    for track in tracks:
        for frame in range(1, 4):
            track.update(Detection([0, 0, 10, 10], label=5, feature=unit(rng.normal(size=16))), frame)
    detections = [Detection([0, 0, 5, 5], feature=unit(rng.normal(size=16))) for _ in range(5)]
    stacked = np.array([d.feature for d in detections])
    wanted = rng.random((3, 3)) < 0.6 if pairs else None
    args = (tracks, detections, [0, 2, 3], [4, 1, 2])
    np.testing.assert_array_equal(appearance_cost(*args, pairs=wanted, features=stacked),
                                  appearance_cost(*args, pairs=wanted))


def test_feature_bank_keeps_only_the_most_recent():
    bank = FeatureBank(budget=3)
    features = [unit(np.eye(4)[i % 4] + 0.1) for i in range(5)]
    for feature in features:
        bank.add(feature)
    assert len(bank) == 3
    stored = {tuple(np.round(f, 5)) for f in bank.features}
    assert stored == {tuple(np.round(f, 5)) for f in features[2:]}
    np.testing.assert_allclose(bank.mean(), unit(np.sum(features[2:], axis=0)), atol=1e-6)


# ---------------------------------------------------------------------------- Track
def test_track_life_cycle():
    track = make_track([0, 0, 10, 20], n_init=3, max_age=2)
    assert track.state == TrackState.Tentative
    for frame in (1, 2):
        track.predict()
        track.update(Detection([0, 0, 10, 20], label=5), frame)
    assert track.is_confirmed() and track.hits == 3 and track.last_frame == 2 and track.first_frame == 0
    for _ in range(2):
        track.predict()
        track.mark_missed()
        assert track.is_confirmed()
    track.predict()
    track.mark_missed()
    assert track.is_lost() and track.time_since_update == 3

    tentative = make_track([0, 0, 10, 20])
    tentative.predict()
    tentative.mark_missed()
    assert tentative.is_deleted()


def test_track_world_position_is_the_median_of_recent_observations():
    track = Track(1, Detection([0, 0, 10, 10], world_position=[100.0, 100.0, 100.0]), 0, world_history=5)
    for frame, x in enumerate([1.0, 2.0, 3.0, 4.0, 5.0], start=1):
        track.update(Detection([0, 0, 10, 10], world_position=[x, 0.0, 0.0]), frame)
    np.testing.assert_allclose(track.world_position, [3.0, 0.0, 0.0])   # the outlier left the window


# ---------------------------------------------------------------------------- Tracker input checks
class Frame:
    def __init__(self, index, width=320, height=240):
        self.index = index
        self.rgb = np.zeros((height, width, 3), np.uint8)


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
            outputs.append(tracker.update([d for _, d in bad] + [good], Frame(index)))
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
    output = tracker.update([wall, faint, chair], Frame(0))
    assert [t.last_detection for t in output] == [chair]


def test_two_detections_of_different_classes_at_one_place_get_different_ids():
    tracker = Tracker(TrackerConfig(n_init=1))
    feature = unit(np.ones(8))
    ids = {}
    for index in range(20):
        chair = Detection([100, 100, 40, 40], label=5, feature=feature)
        table = Detection([101, 100, 40, 40], label=7, feature=feature)
        for track in tracker.update([chair, table], Frame(index)):
            ids.setdefault(track.last_detection.label, set()).add(track.track_id)
    assert len(ids[5]) == 1 and len(ids[7]) == 1 and ids[5] != ids[7]


def test_new_ids_start_above_those_of_a_given_gallery():
    from tracker import LongTermGallery
    gallery = LongTermGallery()
    gallery.add(41, 5, unit(np.ones(8)), frame_index=0)
    tracker = Tracker(TrackerConfig(n_init=1), gallery=gallery)
    other_look = unit(np.arange(8) - 3.5)
    output = tracker.update([Detection([10, 10, 20, 20], label=5, feature=other_look)], Frame(0))
    assert [t.track_id for t in output] == [42]
    output = tracker.update([Detection([10, 10, 20, 20], label=5, feature=other_look),
                             Detection([100, 100, 20, 20], label=5, feature=unit(np.ones(8)))], Frame(1))
    assert sorted(t.track_id for t in output) == [41, 42]


@pytest.mark.parametrize("box, expect_old_id", [([0, 100, 30, 40], True), ([150, 100, 30, 40], False)],
                         ids=["cut-by-border", "whole"])
def test_a_view_cut_by_the_border_is_matched_with_a_wider_world_gate(box, expect_old_id):
    # the visible part of a truncated object can sit ~1 m from its centre; a whole view cannot
    config = TrackerConfig(n_init=1, max_age=2, world_gate_metres=0.5, truncated_world_gate_metres=1.5)
    tracker = Tracker(config)
    feature = unit(np.arange(8) + 1.0)
    for index in range(5):
        tracker.update([Detection([150, 100, 30, 40], label=5, feature=feature, world_position=[2.0, 0, 0])],
                       Frame(index))
    old_id = tracker.tracks[0].track_id
    for index in range(5, 10):
        tracker.update([], Frame(index))
    assert not tracker.tracks and old_id in tracker.gallery
    returning = Detection(box, label=5, feature=feature, world_position=[3.0, 0, 0])
    output = tracker.update([returning], Frame(10))
    assert returning.truncated == expect_old_id
    assert (output[0].track_id == old_id) if expect_old_id else (tracker.tracks[0].track_id != old_id)


def test_assignment_ignores_rows_and_columns_without_admissible_pairs():
    """Same optimum as the full problem, and a huge mostly-inadmissible matrix stays cheap."""
    from scipy.optimize import linear_sum_assignment

    from tracker.linear_assignment import solve_assignment
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


def test_gallery_gates_match_placed_cut_views_world_first():
    config = TrackerConfig()
    detections = [Detection([0, 0, 5, 5], world_position=[1, 2, 3]), Detection([0, 0, 5, 5]),
                  Detection([50, 50, 5, 5], world_position=[1, 2, 3])]
    detections[0].truncated = detections[1].truncated = True     # cut by the border; only the first placed
    gates = Tracker(config)._gallery_gates(detections)
    np.testing.assert_array_equal(gates["max_distance"], [config.truncated_max_distance,
                                                          config.gallery_max_distance, config.gallery_max_distance])
    np.testing.assert_array_equal(gates["world_weight"], [config.truncated_world_weight, config.world_weight,
                                                          config.world_weight])
    np.testing.assert_array_equal(gates["world_gate_metres"], [config.truncated_world_gate_metres] * 2
                                  + [config.world_gate_metres])
    plain = Tracker(config)._gallery_gates(detections[2:])
    assert plain["max_distance"] == config.gallery_max_distance and plain["world_weight"] == config.world_weight
