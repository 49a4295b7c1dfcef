"""The vectorised paths of the tracker give what the per-track reference code gives.

The batched Kalman filter (:mod:`tracker.kalman_batch`) against the filterpy-based
:class:`tracker.kalman_filter.KalmanFilter`, the batched costs against a per-pair computation, and the
whole tracker against a per-track reference loop on the speed benchmark's frames.
"""
import numpy as np
import pytest

from tracker import Detection, TrackerConfig
from tracker import kalman_batch
from tracker.iou_matching import iou, iou_cost
from tracker.kalman_filter import CHI2INV95, KalmanFilter
from tracker.linear_assignment import INFTY_COST, gate_cost_matrix, matching_cascade, solve_assignment
from tracker.median_window import MedianWindow
from tracker.nn_matching import appearance_cost, nearest_neighbor_distance
from tracker.track import Track, predict_tracks, update_tracks, world_positions_of
from tracker.tracker import Tracker

RTOL = 1e-9


def random_box(rng):
    """A plausible box in ``xyah``."""
    return np.array([rng.uniform(0, 640), rng.uniform(0, 480), rng.uniform(0.2, 3.0), rng.uniform(5, 300)])


def assert_same_state(reference, batched):
    for ref, new in zip(reference, batched):
        np.testing.assert_allclose(new.mean, ref.mean, rtol=RTOL, atol=1e-9)
        np.testing.assert_allclose(new.covariance, ref.covariance, rtol=RTOL, atol=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_batched_kalman_filter_matches_filterpy_over_random_sequences(seed):
    rng = np.random.default_rng(seed)
    count = 12
    starts = [random_box(rng) for _ in range(count)]
    weights = [(rng.uniform(0.02, 0.1), rng.uniform(0.003, 0.02)) if seed % 2 else (1 / 20, 1 / 160)
               for _ in range(count)]
    reference = [KalmanFilter(box, *w) for box, w in zip(starts, weights)]
    batched = [KalmanFilter(box, *w) for box, w in zip(starts, weights)]
    for step in range(40):
        for kf in reference:
            kf.predict()
        kalman_batch.predict_filters(batched)
        assert_same_state(reference, batched)

        measurements = np.array([random_box(rng) for _ in range(7)])
        measurements[:3] = [kf.mean[:4] + rng.normal(0, 2, 4) * [1, 1, 0.01, 1] for kf in reference[:3]]
        for only_position in (False, True):
            expected = np.stack([kf.gating_distance(measurements, only_position) for kf in reference])
            found = kalman_batch.gating_distance_filters(batched, measurements, only_position)
            np.testing.assert_allclose(found, expected, rtol=RTOL)

        updated = np.nonzero(rng.random(count) < 0.7)[0]
        boxes = np.array([reference[k].mean[:4] + rng.normal(0, 3, 4) * [1, 1, 0.02, 1] for k in updated])
        if step % 9 == 8:                       # now and then a box far from the prediction
            boxes[:1] = random_box(rng)
        for k, box in zip(updated, boxes):
            reference[k].update(box)
        kalman_batch.update_filters([batched[k] for k in updated], boxes.reshape(-1, 4))
        assert_same_state(reference, batched)


def test_batched_projection_and_noise_match_the_single_filter():
    rng = np.random.default_rng(7)
    filters = [KalmanFilter(random_box(rng)) for _ in range(5)]
    for kf in filters:
        kf.predict()
        kf.update(kf.mean[:4] + rng.normal(0, 1, 4) * [1, 1, 0.01, 1])
    filters[0].set_state(np.r_[10.0, 10.0, 1.0, -5.0, np.zeros(4)], filters[0].covariance)   # height clamp
    mean = np.stack([kf.mean for kf in filters])
    covariance = np.stack([kf.covariance for kf in filters])
    projected_mean, projected_covariance = kalman_batch.project(mean, covariance)
    for k, kf in enumerate(filters):
        m, c = kf.project()
        np.testing.assert_array_equal(projected_mean[k], m)
        np.testing.assert_allclose(projected_covariance[k], c, rtol=RTOL)
        np.testing.assert_allclose(kalman_batch.process_noise(mean)[k], np.diag(kf.process_noise()), rtol=RTOL)
        np.testing.assert_allclose(kalman_batch.measurement_noise(mean)[k], np.diag(kf.measurement_noise()),
                                   rtol=RTOL)


def test_batched_kalman_filter_handles_empty_inputs():
    kalman_batch.predict_filters([])
    kalman_batch.update_filters([], np.zeros((0, 4)))
    assert kalman_batch.gating_distance_filters([], np.zeros((3, 4))).shape == (0, 3)
    kf = KalmanFilter([1.0, 2.0, 0.5, 30.0])
    assert kalman_batch.gating_distance_filters([kf], np.zeros((0, 4))).shape == (1, 0)


# ---------------------------------------------------------------------------- tracks and costs
def unit_rows(rng, n, dim=16):
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def make_scene(seed, n_tracks=9, n_detections=8, dim=16):
    """Tracks with banks of different sizes (one empty) and world positions (one unknown), detections
    near some of them, some without feature or position."""
    rng = np.random.default_rng(seed)
    tracks = []
    for k in range(n_tracks):
        feature = unit_rows(rng, 1, dim)[0] if k != 2 else None
        position = rng.uniform(0, 3, 3) if k != 4 else None
        track = Track(k + 1, Detection([50.0 * k, 20.0, 20, 40], label=k % 3, feature=feature,
                                       world_position=position), 0, n_init=1)
        for frame in range(1, 1 + k % 4):
            track.predict()
            track.update(Detection([50.0 * k + frame, 20.0, 20, 40], label=k % 3,
                                   feature=None if feature is None else unit_rows(rng, 1, dim)[0],
                                   world_position=position), frame)
        track.predict()
        tracks.append(track)
    detections = []
    for j in range(n_detections):
        near = tracks[j % n_tracks]
        feature = near.features.features[0] + 0.2 * unit_rows(rng, 1, dim)[0] if len(near.features) else None
        detections.append(Detection([50.0 * (j % n_tracks) + rng.normal(0, 3), 20.0 + rng.normal(0, 3), 20, 40],
                                    label=j % 3 if j != 5 else 1,
                                    feature=None if j == 3 or feature is None else feature / np.linalg.norm(feature),
                                    world_position=None if j == 6 else rng.uniform(0, 3, 3)))
    return tracks, detections


def reference_appearance_cost(tracks, detections, track_indices, detection_indices):
    cost = np.full((len(track_indices), len(detection_indices)), INFTY_COST)
    for row, k in enumerate(track_indices):
        for col, i in enumerate(detection_indices):
            if detections[i].feature is not None:
                cost[row, col] = nearest_neighbor_distance(tracks[k].features.features, detections[i].feature[None])[0]
    return cost


@pytest.mark.parametrize("seed", range(4))
def test_appearance_cost_matches_the_per_pair_nearest_neighbour(seed):
    tracks, detections = make_scene(seed)
    track_indices, detection_indices = [0, 2, 3, 5, 6, 8], [7, 0, 1, 3, 5, 6]
    expected = reference_appearance_cost(tracks, detections, track_indices, detection_indices)
    np.testing.assert_allclose(appearance_cost(tracks, detections, track_indices, detection_indices), expected,
                               atol=1e-6)
    pairs = np.random.default_rng(seed).random(expected.shape) < 0.4
    found = appearance_cost(tracks, detections, track_indices, detection_indices, pairs=pairs)
    np.testing.assert_allclose(found[pairs], expected[pairs], atol=1e-6)
    assert np.all(found[~pairs] == INFTY_COST)
    assert appearance_cost(tracks, detections, [], detection_indices).shape == (0, 6)


def test_gate_cost_matrix_matches_each_filter():
    tracks, detections = make_scene(1)
    measurements = np.array([d.to_xyah() for d in detections])
    for only_position in (False, True):
        cost = gate_cost_matrix(np.zeros((len(tracks), len(detections))), tracks, detections,
                                list(range(len(tracks))), list(range(len(detections))), only_position=only_position)
        threshold = CHI2INV95[2 if only_position else 4]
        for row, track in enumerate(tracks):
            gated = track.kalman_filter.gating_distance(measurements, only_position) > threshold
            np.testing.assert_array_equal(cost[row] == INFTY_COST, gated)


def test_iou_cost_matches_the_single_box_iou():
    tracks, detections = make_scene(2)
    tracks[1].time_since_update = 3
    cost = iou_cost(tracks, detections)
    candidates = np.array([d.tlwh for d in detections])
    for row, track in enumerate(tracks):
        expected = np.full(len(detections), INFTY_COST)
        if track.time_since_update <= 1:
            expected = 1.0 - iou(track.to_tlwh(), candidates)
            expected[[d.label != track.label for d in detections]] = INFTY_COST
        np.testing.assert_allclose(cost[row], expected, rtol=1e-12)


def test_batched_track_steps_match_single_track_steps():
    single, _ = make_scene(3)
    batched, detections = make_scene(3)
    for track in single:
        track.predict()
    predict_tracks(batched)
    pairs = [(0, 1), (3, 0), (5, 7), (8, 2)]
    for k, i in pairs:
        single[k].update(detections[i], 9)
    update_tracks([batched[k] for k, _ in pairs], [detections[i] for _, i in pairs], 9)
    for a, b in zip(single, batched):
        np.testing.assert_allclose(b.to_tlwh(), a.to_tlwh(), rtol=RTOL)
        np.testing.assert_allclose(b.kalman_filter.covariance, a.kalman_filter.covariance, rtol=RTOL, atol=1e-9)
        assert (a.age, a.time_since_update, a.hits, a.state, a.last_frame) == \
            (b.age, b.time_since_update, b.hits, b.state, b.last_frame)
        assert len(a.features) == len(b.features)
        if a.world_position is None:
            assert b.world_position is None
        else:
            np.testing.assert_array_equal(b.world_position, a.world_position)
    positions = world_positions_of(batched)
    assert positions.shape == (len(batched), 3)
    assert np.all(np.isnan(positions[4]))
    np.testing.assert_array_equal(positions[0], batched[0].world_position)


def test_world_position_follows_new_observations_and_remembered_positions():
    track = Track(1, Detection([0, 0, 10, 10], world_position=[1.0, 0, 0]), 0, world_history=3)
    assert track.world_position.tolist() == [1.0, 0, 0]
    track.world_position[0] = 99.0                  # a caller's copy: the track is unchanged
    assert track.world_position.tolist() == [1.0, 0, 0]
    track.remember(world_position=[3.0, 0, 0])
    assert track.world_position.tolist() == [2.0, 0, 0]
    track.update(Detection([0, 0, 10, 10], world_position=[5.0, 0, 0]), 1)
    assert track.world_position.tolist() == [3.0, 0, 0]
    empty = Track(2, Detection([0, 0, 10, 10]), 0)
    assert empty.world_position is None
    empty.remember(world_position=[0.0, 1.0, 2.0])
    assert empty.world_position.tolist() == [0.0, 1.0, 2.0]


def test_matching_cascade_levels_by_time_since_update():
    class FakeTrack:
        def __init__(self, time_since_update):
            self.time_since_update = time_since_update

    tracks = [FakeTrack(t) for t in (2, 1, 5, 1, 40)]
    calls = []

    def metric(tracks, detections, track_indices, detection_indices):
        calls.append(list(track_indices))
        return np.zeros((len(track_indices), len(detection_indices)))

    matches, unmatched_tracks, unmatched_detections = matching_cascade(metric, 1.0, 30, tracks, list(range(10)))
    assert calls == [[1, 3], [0], [2]]                   # by level, in track order; level 40 > depth
    assert unmatched_tracks == [4] and len(matches) == 4 and len(unmatched_detections) == 6


def test_median_window_is_numpy_median_of_the_recent_points():
    rng = np.random.default_rng(3)
    window = MedianWindow(5)
    points = []
    for step in range(40):
        point = np.round(rng.normal(0, 2, 3), 1)          # rounded: ties and repeated values
        if step == 17:
            point[1] = np.nan
        window.add(point)
        points = (points + [point])[-5:]
        np.testing.assert_array_equal(window.median, np.median(np.array(points), axis=0))
        np.testing.assert_array_equal(window.points, np.array(points))
    assert MedianWindow(3).median is None
    empty = MedianWindow(0)
    empty.add(np.zeros(3))
    assert len(empty) == 0 and empty.median is None


def lapjv_on_admissible_rows_and_columns(cost, max_distance):
    """The assignment as solve_assignment computed it before its shortcut for lone pairs."""
    import lap
    cost = np.array(cost, dtype=np.float64)
    cost[~np.isfinite(cost)] = INFTY_COST
    cost[cost > max_distance] = max_distance + 1e-5
    feasible = cost <= max_distance
    rows, cols = np.nonzero(feasible.any(axis=1))[0], np.nonzero(feasible.any(axis=0))[0]
    if not len(rows):
        return []
    sub = cost[np.ix_(rows, cols)]
    _, row_to_column, _ = lap.lapjv(sub, extend_cost=True, cost_limit=max_distance + 1e-6)
    return [(int(rows[r]), int(cols[c])) for r, c in enumerate(row_to_column) if c >= 0 and sub[r, c] <= max_distance]


@pytest.mark.parametrize("seed", range(20))
def test_solve_assignment_matches_the_full_solver(seed):
    rng = np.random.default_rng(seed)
    n_rows, n_cols = rng.integers(1, 30, 2)
    cost = np.where(rng.random((n_rows, n_cols)) < rng.uniform(0.02, 0.3), rng.uniform(0, 1, (n_rows, n_cols)),
                    INFTY_COST)
    cost[rng.random(cost.shape) < 0.02] = np.nan
    matches, unmatched_rows, unmatched_cols = solve_assignment(cost, 0.8)
    assert matches == sorted(lapjv_on_admissible_rows_and_columns(cost, 0.8))
    assert unmatched_rows == sorted(set(range(n_rows)) - {r for r, _ in matches})
    assert unmatched_cols == sorted(set(range(n_cols)) - {c for _, c in matches})


# ---------------------------------------------------------------------------- whole tracker
def reference_appearance_world_cost(tracker, tracks, detections, track_indices, detection_indices, max_distance,
                                    motion_gate, decided_pairs_exact=True):
    """Tracker._appearance_world_cost as first written: every pair, one track at a time (every cost exact)."""
    config = tracker.config
    appearance = reference_appearance_cost(tracks, detections, track_indices, detection_indices)
    cost = appearance.copy()
    labels = np.array([detections[i].label for i in detection_indices])
    positions = np.full((len(detection_indices), 3), np.nan)
    for col, i in enumerate(detection_indices):
        if detections[i].world_position is not None:
            positions[col] = detections[i].world_position
    world = np.full(cost.shape, np.nan)
    for row, k in enumerate(track_indices):
        if tracks[k].world_position is not None:
            world[row] = np.linalg.norm(positions - tracks[k].world_position, axis=1)
    world_known = np.isfinite(world)
    if motion_gate:
        measurements = np.array([detections[i].to_xyah() for i in detection_indices])
        motion_gated = np.array([tracks[k].kalman_filter.gating_distance(measurements) > CHI2INV95[4]
                                 for k in track_indices]).reshape(cost.shape)
        if config.world_replaces_motion_gate:
            motion_gated &= ~world_known
        cost[motion_gated] = INFTY_COST
    cost += config.world_weight * np.where(world_known, world, 0.0)
    forbidden = appearance > np.where(world_known, max_distance, min(max_distance, config.unplaced_max_distance))
    forbidden |= world_known & (world > tracker._world_gates([detections[i] for i in detection_indices])[None, :])
    forbidden |= labels[None, :] != np.array([tracks[k].label for k in track_indices])[:, None]
    cost[forbidden] = INFTY_COST
    return cost


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("world_replaces_motion_gate", [True, False])
def test_appearance_world_cost_matches_the_per_track_reference(seed, world_replaces_motion_gate):
    tracks, detections = make_scene(seed)
    detections[1].truncated = True
    tracker = Tracker(TrackerConfig(world_gate_metres=1.5, truncated_world_gate_metres=2.5, max_cosine_distance=0.6,
                                    world_replaces_motion_gate=world_replaces_motion_gate))
    track_indices, detection_indices = [0, 1, 2, 3, 4, 5, 6, 8], [7, 0, 1, 2, 3, 4, 5, 6]
    for motion_gate in (True, False):
        expected = reference_appearance_world_cost(tracker, tracks, detections, track_indices, detection_indices,
                                                   0.6, motion_gate)
        found = tracker._appearance_world_cost(tracks, detections, track_indices, detection_indices, 0.6, motion_gate)
        np.testing.assert_array_equal(found >= INFTY_COST, expected >= INFTY_COST)
        allowed = expected < INFTY_COST
        np.testing.assert_allclose(found[allowed], expected[allowed], atol=1e-6)
        assert allowed.any() or seed


def test_pairs_decided_by_their_latest_feature_give_the_exact_costs_assignment():
    from benchmarks.speed import make_frames

    frames = make_frames(40, 14, 2, 32, seed=4)
    rng = np.random.default_rng(4)
    for k, frame in enumerate(frames):
        for i in range(0, 16, 2):                # twins: same class, 0.3 m apart (both inside the world gate),
            frame[i + 1].label = frame[i].label  # half of them alike
            frame[i + 1].world_position = frame[i].world_position + [0.3, 0.0, 0.0]
            if i % 4 == 0:
                frame[i + 1].feature = (frame[i].feature + 0.1 * rng.standard_normal(32)).astype(np.float32)
        if k % 5 == 4:
            frame[20].world_position = None     # a pair without world distance: the tighter unplaced gate
        if k in (6, 9):                          # an odd view: the next frame is far from the latest feature
            frame[30].feature = rng.standard_normal(32).astype(np.float32)   # only, not from the bank
    tracker = Tracker(TrackerConfig())
    original = tracker._appearance_world_cost
    seen = []

    def both(tracks, detections, track_indices, detection_indices, max_distance, motion_gate,
             decided_pairs_exact=True):
        found = original(tracks, detections, track_indices, detection_indices, max_distance, motion_gate,
                         decided_pairs_exact)
        exact = original(tracks, detections, track_indices, detection_indices, max_distance, motion_gate, True)
        seen.append((found, exact, tracker._cost_limit(max_distance)))
        return found

    tracker._appearance_world_cost = both
    for frame in frames:
        tracker.update(frame)
    decided = crowded = 0
    for found, exact, limit in seen:
        np.testing.assert_array_equal(found >= INFTY_COST, exact >= INFTY_COST)
        different = found != exact
        decided += int(different.sum())
        # a decided pair costs at least its exact cost (an upper bound), stays inside the gates, and is
        # the only admissible pair of its row and column
        assert np.all(found[different] >= exact[different] - 1e-6) and np.all(found[different] <= limit)
        admissible = exact <= limit
        rows, columns = np.nonzero(different)
        assert np.all(admissible[rows].sum(axis=1) == 1) and np.all(admissible[:, columns].sum(axis=0) == 1)
        crowded += int((admissible.sum(axis=1) > 1).sum())
        assert solve_assignment(found, limit) == solve_assignment(exact, limit)
    assert decided > 100 and crowded > 0         # both kinds of pairs were met


def run_ids(tracker, frames):
    ids = []
    for frame in frames:
        out = tracker.update(frame)
        ids.append(sorted((t.track_id, tuple(np.round(t.to_tlwh(), 6))) for t in out))
    return ids, sorted(t.track_id for t in tracker.tracks), tracker.reactivations


@pytest.mark.parametrize("n_live", [10, 40])
def test_tracker_ids_match_the_per_track_reference_on_benchmark_frames(n_live, monkeypatch):
    import copy

    import tracker.tracker as tracker_module
    from benchmarks.speed import build_gallery, make_frames

    gallery, _ = build_gallery(600, dim=32, bank_size=8)
    frames = make_frames(n_live, 16, 3, 32, seed=n_live)
    rng = np.random.default_rng(n_live)
    for k, frame in enumerate(frames):        # objects leave and come back, boxes jump, positions go missing
        if 4 <= k < 11:
            del frame[:n_live // 4]
        if k % 6 == 5:
            frame[-1].tlwh = frame[-1].tlwh + rng.normal(0, 40, 4) * [1, 1, 0, 0]
            frame[0].world_position = None

    def config():
        return TrackerConfig(gallery_bank_size=8, max_age=4)

    fast = run_ids(Tracker(config(), gallery=copy.deepcopy(gallery)), copy.deepcopy(frames))

    class ReferenceTracker(Tracker):
        def _appearance_world_cost(self, *args, **kwargs):
            return reference_appearance_world_cost(self, *args, **kwargs)

    def predict_each(tracks):
        for track in tracks:
            track.predict()

    def update_each(tracks, detections, frame_index, **stacked):      # the stacked arrays not used
        for track, detection in zip(tracks, detections):
            track.update(detection, frame_index)

    monkeypatch.setattr(tracker_module, "predict_tracks", predict_each)
    monkeypatch.setattr(tracker_module, "update_tracks", update_each)
    reference = run_ids(ReferenceTracker(config(), gallery=copy.deepcopy(gallery)), copy.deepcopy(frames))
    assert fast == reference
    assert fast[2] > 0 or n_live < 20           # identities came back from the gallery


def gallery_arrays(gallery):
    """Every array a gallery stores, with its identities' frame ranges."""
    arrays = {name: value for name, value in vars(gallery).items() if isinstance(value, np.ndarray)}
    return arrays, gallery._ranges, dict(gallery._row_of)


@pytest.mark.parametrize("interval", [5, 16])
def test_gallery_written_in_batches_of_frames_equals_written_every_frame(interval):
    import copy

    from benchmarks.speed import build_gallery, make_frames

    gallery, _ = build_gallery(600, dim=32, bank_size=8)
    frames = make_frames(30, 40, 2, 32, seed=interval)
    for k, frame in enumerate(frames):        # a third of the objects leave for a while and come back
        if 6 <= k < 20:
            del frame[:10]
        if k % 7 == 3:
            frame[1].world_position = None

    def run(write_interval):
        config = TrackerConfig(gallery_bank_size=8, max_age=4, gallery_write_interval=write_interval)
        tracker = Tracker(config, gallery=copy.deepcopy(gallery))
        ids, waiting = [], []
        for frame in copy.deepcopy(frames):
            out = tracker.update(frame)
            ids.append(sorted((t.track_id, tuple(np.round(t.to_tlwh(), 6))) for t in out))
            waiting.append(len(tracker._unwritten))
        return ids, tracker.reactivations, waiting, gallery_arrays(tracker.gallery)

    every_frame, batched = run(1), run(interval)
    assert batched[:2] == every_frame[:2] and every_frame[1] > 0         # same IDs, identities came back
    assert max(every_frame[2]) == 0 and max(batched[2]) > 0              # the batched run did wait
    (arrays, ranges, rows), (reference, reference_ranges, reference_rows) = batched[3], every_frame[3]
    assert ranges == reference_ranges and rows == reference_rows and arrays.keys() == reference.keys()
    for name in arrays:
        np.testing.assert_array_equal(arrays[name], reference[name], err_msg=name)


def test_reading_the_gallery_gives_every_observation_so_far():
    rng = np.random.default_rng(11)
    tracker = Tracker(TrackerConfig(n_init=2, gallery_write_interval=50))
    looks = unit_rows(rng, 3, 16)
    for frame in range(7):
        tracker.update([Detection([60.0 * k, 40, 30, 50], label=5, feature=looks[k], world_position=[k, 0.0, 1.0])
                        for k in range(3)])
        assert tracker._unwritten or frame < 1                          # waiting for the batch
        assert sorted(tracker.gallery.ids.tolist()) == ([] if frame < 1 else [1, 2, 3])
        assert not tracker._unwritten                                    # reading wrote them
        if frame >= 1:
            assert tracker.gallery.frames(1) == [(0, frame)]
            assert len(tracker.gallery.features(2)) == frame + 1


def test_store_kalman_start_is_the_filterpy_start_for_one_row_and_many():
    from tracker.track_store import TrackStore
    rng = np.random.default_rng(5)
    boxes = np.array([random_box(rng) for _ in range(6)])
    store = TrackStore(4, 3, capacity=2)
    rows = np.array([store.acquire() for _ in range(6)])
    store.start_kalman(rows[:3], boxes[:3])                      # several rows at once
    for row, box in zip(rows[3:], boxes[3:]):
        store.start_kalman(int(row), box)                        # one row, the new-track path
    for row, box in zip(rows, boxes):
        reference = KalmanFilter(box)
        np.testing.assert_array_equal(store.kalman_mean[row], reference.mean)
        np.testing.assert_array_equal(store.kalman_covariance[row], reference.covariance)
    detached, row = store.detach(int(rows[4]))
    np.testing.assert_array_equal(detached.kalman_covariance[row], KalmanFilter(boxes[4]).covariance)


def test_diagonal_shortcuts_give_lapacks_bits_and_other_matrices_go_to_lapack():
    rng = np.random.default_rng(2)
    count = 300
    boxes = np.column_stack([rng.uniform(0, 600, count), rng.uniform(0, 400, count), rng.uniform(0.2, 3, count),
                             rng.uniform(5, 300, count)])
    mean, covariance = kalman_batch.initiate(boxes)
    for _ in range(4):
        mean, covariance = kalman_batch.predict(mean, covariance)
        mean, covariance = kalman_batch.update(mean, covariance, boxes + rng.normal(0, 3, (count, 4)))
    projected_mean, projected = kalman_batch.project(mean, covariance)
    assert not np.any(projected - np.eye(4) * projected)                  # the filters' covariances are diagonal
    np.testing.assert_array_equal(kalman_batch.inverse(projected), np.linalg.inv(projected))
    measurements = boxes[:30] + rng.normal(0, 10, (30, 4))
    for only_position in (False, True):
        size = 2 if only_position else 4
        lower = np.linalg.cholesky(projected[:, :size, :size])
        difference = measurements[:, :size].T[None] - projected_mean[:, :size, None]
        z = np.matmul(np.linalg.inv(lower), difference)
        np.testing.assert_array_equal(kalman_batch.gating_distance(mean, covariance, measurements,
                                                                   only_position=only_position),
                                      np.sum(z * z, axis=1))
    full = rng.standard_normal((5, 4, 4)) + 4 * np.eye(4)                 # not diagonal: LAPACK itself
    np.testing.assert_array_equal(kalman_batch.inverse(full), np.linalg.inv(full))
    coupled = covariance.copy()
    coupled[:, 0, 1] = coupled[:, 1, 0] = 0.3 * np.sqrt(coupled[:, 0, 0] * coupled[:, 1, 1])   # x-y coupled
    pm, pc = kalman_batch.project(mean, coupled)
    z = np.matmul(np.linalg.inv(np.linalg.cholesky(pc)), measurements.T[None] - pm[:, :, None])
    np.testing.assert_allclose(kalman_batch.gating_distance(mean, coupled, measurements), np.sum(z * z, axis=1))


def test_per_coordinate_update_gives_the_general_updates_bits_and_coupled_covariances_take_the_general_path(
        monkeypatch):
    rng = np.random.default_rng(5)
    count = 200
    boxes = np.column_stack([rng.uniform(-50, 600, count), rng.uniform(0, 400, count), rng.uniform(0.1, 4, count),
                             rng.uniform(-5, 300, count)])          # some heights <= 0: the noise floor
    states = {}
    for path in ("blocks", "general"):
        if path == "general":
            monkeypatch.setattr(kalman_batch, "per_coordinate", lambda covariance: False)
        steps = np.random.default_rng(6)
        mean, covariance = kalman_batch.initiate(boxes)
        history = []
        for step in range(40):
            mean, covariance = kalman_batch.predict(mean, covariance)
            seen = steps.random(count) < 0.7
            mean[seen], covariance[seen] = kalman_batch.update(
                mean[seen], covariance[seen], boxes[seen] + steps.normal(0, 5, (seen.sum(), 4)) + step)
            history.append((mean.copy(), covariance.copy()))
        states[path] = history
        monkeypatch.undo()
    assert kalman_batch.per_coordinate(states["blocks"][-1][1])
    for (mean_a, covariance_a), (mean_b, covariance_b) in zip(states["blocks"], states["general"]):
        np.testing.assert_array_equal(mean_a, mean_b)
        np.testing.assert_array_equal(covariance_a, covariance_b)
    mean, covariance = states["blocks"][-1]
    coupled = covariance.copy()
    coupled[:, 0, 1] = coupled[:, 1, 0] = 0.3 * np.sqrt(coupled[:, 0, 0] * coupled[:, 1, 1])   # x-y coupled
    assert not kalman_batch.per_coordinate(coupled)
    found = kalman_batch.update(mean, coupled, boxes)
    monkeypatch.setattr(kalman_batch, "per_coordinate", lambda covariance: False)
    np.testing.assert_array_equal(found[1], kalman_batch.update(mean, coupled, boxes)[1])
    kf = KalmanFilter(boxes[0])                                        # and filterpy agrees on a coupled one
    kf.set_state(mean[0], coupled[0])
    kf.update(boxes[0])
    np.testing.assert_allclose(found[0][0], kf.mean, rtol=RTOL)
    np.testing.assert_allclose(found[1][0], kf.covariance, rtol=RTOL, atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pair_gating_distance_is_the_dense_gating_distance_of_those_pairs(seed):
    rng = np.random.default_rng(seed)
    count, detections = 30, 25
    boxes = np.column_stack([rng.uniform(0, 600, count), rng.uniform(0, 400, count), rng.uniform(0.2, 3, count),
                             rng.uniform(-5, 300, count)])
    mean, covariance = kalman_batch.initiate(boxes)
    for _ in range(5):
        mean, covariance = kalman_batch.predict(mean, covariance)
        mean, covariance = kalman_batch.update(mean, covariance, boxes + rng.normal(0, 3, boxes.shape))
    measurements = np.column_stack([rng.uniform(0, 600, detections), rng.uniform(0, 400, detections),
                                    rng.uniform(0.2, 3, detections), rng.uniform(5, 300, detections)])
    rows, columns = np.nonzero(rng.random((count, detections)) < 0.3)
    np.testing.assert_array_equal(
        kalman_batch.pair_gating_distance(mean[rows], covariance[rows], measurements[columns]),
        kalman_batch.gating_distance(mean, covariance, measurements)[rows, columns])
    coupled = covariance.copy()                                          # the general (Cholesky) path
    coupled[:, 0, 1] = coupled[:, 1, 0] = 0.3 * np.sqrt(coupled[:, 0, 0] * coupled[:, 1, 1])
    np.testing.assert_allclose(kalman_batch.pair_gating_distance(mean[rows], coupled[rows], measurements[columns]),
                               kalman_batch.gating_distance(mean, coupled, measurements)[rows, columns], rtol=1e-12)
    assert kalman_batch.pair_gating_distance(mean[:0], covariance[:0], measurements[:0]).shape == (0,)


@pytest.mark.parametrize("stacked", [False, True])
def test_tracks_started_at_once_equal_tracks_started_one_by_one(stacked):
    from tracker.track import start_tracks
    from tracker.track_store import TrackStore
    rng = np.random.default_rng(12)
    detections = [Detection([rng.uniform(0, 500), rng.uniform(0, 300), rng.uniform(5, 80), rng.uniform(5, 80)],
                            score=0.8, label=int(rng.integers(3, 9)), feature=unit_rows(rng, 1)[0],
                            world_position=None if k % 3 == 1 else rng.uniform(0, 4, 3)) for k in range(7)]
    one_store, many_store = TrackStore(4, 3), TrackStore(4, 3)
    for store in (one_store, many_store):                     # some rows in use, one freed
        for k in range(3):
            Track(100 + k, detections[k], 0, store=store)
        store.release(1)
    ids = [7, 8, 9, 12, 13, 14, 15]
    one = [Track(i, d, 5, n_init=2, max_age=9, store=one_store) for i, d in zip(ids, detections)]
    arrays = {}
    if stacked:
        arrays = dict(boxes=np.array([d.tlwh for d in detections]), features=np.array([d.feature for d in detections]),
                      positions=np.array([np.full(3, np.nan) if d.world_position is None else d.world_position
                                          for d in detections]))
    many = start_tracks(ids, detections, 5, many_store, n_init=2, max_age=9, **arrays)
    for a, b in zip(one, many):
        assert vars(a).keys() == vars(b).keys()
        for name in ("track_id", "label", "score", "state", "hits", "age", "time_since_update", "first_frame",
                     "last_frame", "n_init", "max_age", "_row", "last_detection"):
            assert getattr(a, name) == getattr(b, name), name
        assert len(a.pending_observations) == len(b.pending_observations) == 1
    for name in ("kalman_mean", "kalman_covariance", "feature_ring", "feature_count", "_position_ring",
                 "position_count", "_position_next", "_feature_next"):
        np.testing.assert_array_equal(getattr(one_store, name), getattr(many_store, name), err_msg=name)
