"""The shared per-track storage and the batched input checks give what the per-track code gives.

:class:`tracker.track_store.TrackStore` (feature rings and world-position windows of all live tracks)
against :class:`FeatureBank` / :class:`MedianWindow` used one track at a time; a track that leaves the
tracker keeps its data; the batched detection checks and normalisation against the per-detection
functions (same detections kept, same warnings, same bits); the gallery's batched writes against
one-by-one writes.
"""
import copy
import logging
import weakref
from types import SimpleNamespace

import numpy as np
import pytest

from tracker import Detection, Tracker, TrackerConfig
from tracker.detection import invalid_reason, normalized, normalized_rows, sanitize, touches_border, valid_detections
from tracker.gallery import LongTermGallery
from tracker.median_window import MedianWindow
from tracker.track import Track
from tracker.track_store import TrackStore, window_median


def unit_rows(rng, n, dim=8):
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ---------------------------------------------------------------------------- store
@pytest.mark.parametrize("history", [1, 4, 5])
def test_store_medians_are_those_of_median_windows(history):
    rng = np.random.default_rng(history)
    store = TrackStore(feature_budget=3, world_history=history, capacity=2)      # grows
    rows = [store.acquire() for _ in range(6)]
    windows = [MedianWindow(history) for _ in rows]
    for step in range(30):
        chosen = [k for k in range(len(rows)) if rng.random() < 0.6]
        points = np.round(rng.normal(0, 2, (len(chosen), 3)), 1)               # ties and repeated values
        if step == 11 and len(chosen):
            points[0, 1] = np.nan
        if step % 2:
            store.add_positions(np.array([rows[k] for k in chosen], dtype=np.int64), points)
        else:
            for k, point in zip(chosen, points):
                store.add_position(rows[k], point)
        for k, point in zip(chosen, points):
            windows[k].add(point)
        medians = store.medians(np.array(rows))
        for k, window in enumerate(windows):
            if window.median is None:
                assert np.isnan(medians[k]).all() and store.median(rows[k]) is None
            else:
                np.testing.assert_array_equal(medians[k], window.median)
                np.testing.assert_array_equal(store.median(rows[k]), window.median)
                np.testing.assert_array_equal(store.positions(rows[k]), window.points)


def test_window_median_is_numpy_median():
    rng = np.random.default_rng(0)
    for count in range(1, 9):
        points = np.round(rng.normal(0, 1, (7, count, 3)), 1)
        points[2, 0, 1] = np.nan
        np.testing.assert_array_equal(window_median(points), np.median(points, axis=1))


def test_store_feature_rings_are_feature_banks():
    rng = np.random.default_rng(1)
    store = TrackStore(feature_budget=4, world_history=2, capacity=1)
    rows = [store.acquire() for _ in range(3)]
    reference = [TrackStore(feature_budget=4, world_history=2, capacity=1) for _ in rows]
    for step in range(11):
        chosen = [k for k in range(3) if rng.random() < 0.7]
        features = unit_rows(rng, len(chosen))
        store.add_features(np.array([rows[k] for k in chosen], dtype=np.int64), features)
        for k, feature in zip(chosen, features):
            reference[k].add_feature(0, feature)
        for k, row in enumerate(rows):
            np.testing.assert_array_equal(store.features(row), reference[k].features(0))
            mean, expected = store.mean_feature(row), reference[k].mean_feature(0)
            assert (mean is None) == (expected is None)
            if mean is not None:
                np.testing.assert_array_equal(mean, expected)
            count = store.feature_count[row]
            if count:
                # entries not written yet repeat a stored feature: a search over the whole ring is exact
                stored = {tuple(f) for f in store.features(row)}
                assert all(tuple(f) in stored for f in store.feature_ring[row])
    with pytest.raises(ValueError):
        store.add_feature(rows[0], np.ones(5, dtype=np.float32))


def test_a_track_keeps_its_data_after_it_leaves_a_shared_store():
    rng = np.random.default_rng(2)
    store = TrackStore(feature_budget=3, world_history=3)
    track = Track(1, Detection([0, 0, 10, 10], feature=unit_rows(rng, 1)[0], world_position=[1.0, 2, 3]), 0,
                  store=store)
    for frame in range(1, 5):
        track.predict()
        track.update(Detection([0, 0, 10, 10], feature=unit_rows(rng, 1)[0],
                               world_position=rng.uniform(0, 3, 3)), frame)
    features, mean = track.features.features.copy(), track.features.mean()
    position, positions = track.world_position, track.world_positions
    track.detach()
    assert track._store is not store
    other = Track(2, Detection([0, 0, 10, 10], feature=unit_rows(rng, 1)[0], world_position=[9.0, 9, 9]), 0,
                  store=store)                                  # takes the freed row
    other.remember(unit_rows(rng, 5), [8.0, 8, 8])
    np.testing.assert_array_equal(track.features.features, features)
    np.testing.assert_array_equal(track.features.mean(), mean)
    np.testing.assert_array_equal(track.world_position, position)
    np.testing.assert_array_equal(track.world_positions, positions)
    assert len(track.features) == 3 and track.features.budget == 3
    track.update(Detection([0, 0, 10, 10], feature=unit_rows(rng, 1)[0], world_position=[0.0, 0, 0]), 9)
    assert len(track.world_positions) == 3 and len(other.world_positions) == 2


def test_tracks_that_left_the_tracker_keep_their_features_and_positions():
    rng = np.random.default_rng(3)
    config = TrackerConfig(n_init=1, max_age=1, nn_budget=5, world_history=4)
    tracker = Tracker(config)
    gone = []
    for frame in range(12):
        detections = [Detection([100.0 * k, 50, 20, 40], label=3, feature=unit_rows(rng, 1)[0],
                                world_position=[float(k), frame / 10, 0]) for k in range(frame % 4 + 1)]
        before = {id(t): t for t in tracker.tracks}
        tracker.update(detections)
        after = {id(t) for t in tracker.tracks}
        for key, track in before.items():
            if key not in after:
                gone.append((track, track.features.features.copy(), track.world_positions, track.world_position))
    assert gone
    for track, features, positions, position in gone:
        np.testing.assert_array_equal(track.features.features, features)
        np.testing.assert_array_equal(track.world_positions, positions)
        np.testing.assert_array_equal(track.world_position, position)
    # the gone tracks' rows went to later tracks: the ones still held here were copied out first
    assert any(track._store is not tracker._store for track, *_ in gone)


def test_a_released_row_is_copied_out_only_when_reused_while_its_track_is_still_held():
    rng = np.random.default_rng(4)
    store = TrackStore(feature_budget=4, world_history=3)
    detection = lambda x: Detection([x, 0, 10, 10], feature=unit_rows(rng, 1)[0], world_position=[x, 1.0, 2.0])  # noqa: E731
    held, dropped = Track(1, detection(0.0), 0, store=store), Track(2, detection(5.0), 0, store=store)
    features, position = held.features.features.copy(), held.world_position
    held_row, dropped_row = held._row, dropped._row
    held.release()
    dropped_ref = weakref.ref(dropped)
    dropped.release()
    del dropped
    assert dropped_ref() is None
    assert held._store is store                                    # nothing copied at release
    newcomers = [Track(3 + k, detection(20.0 + k), 1, store=store) for k in range(2)]
    assert {t._row for t in newcomers} == {held_row, dropped_row}    # both rows reused
    assert held._store is not store and held._row == 0            # copied out just before its row was reused
    np.testing.assert_array_equal(held.features.features, features)
    np.testing.assert_array_equal(held.world_position, position)
    assert not store._former_owners
    held.detach()                                                  # detaching again is harmless
    assert sorted(store._free) == []
# ---------------------------------------------------------------------------- input checks
def odd_detections(rng, dim=8):
    """Valid and invalid detections of every kind :func:`invalid_reason` and :func:`sanitize` know."""
    good = lambda: unit_rows(rng, 1, dim)[0] * 3.0                                   # noqa: E731
    detections = [Detection([10, 10, 20, 30], feature=good(), world_position=[1, 2, 3]) for _ in range(4)]
    detections += [
        Detection([0, 0, 0, 5], feature=good()),                              # zero area
        Detection([np.nan, 0, 5, 5], feature=good()),                         # not finite
        Detection([5, 5, 5, 5], score=np.inf, feature=good()),                # score not finite
        Detection([-50, 5, 10, 10], feature=good()),                          # outside the image
        Detection([630, 470, 20, 20], feature=good()),                        # touches the border
        Detection([5, 5, 5, 5], feature=np.zeros(dim)),                       # zero feature
        Detection([5, 5, 5, 5], feature=np.full(dim, np.nan)),                # NaN feature
        Detection([5, 5, 5, 5], feature=np.ones(dim + 1)),                    # wrong length
        Detection([5, 5, 5, 5]),                                              # no feature
        Detection([5, 5, 5, 5], feature=good(), world_position=[np.inf, 0, 0]),   # bad position
        Detection([5, 5, 5, 5], feature=good(), mask=np.ones((3, 3), dtype=bool)),  # wrong mask size
        Detection([5, 5, 5, 5], feature=good(), mask=np.ones((480, 640), dtype=np.uint8)),
        Detection([1, 2, 3, 4, 5], feature=good()),                           # five values
    ]
    detections[2].score = 1                                                   # an int, not a float
    return detections


@pytest.mark.parametrize("image_size", [None, (640, 480)])
@pytest.mark.parametrize("feature_dim", [None, 8])
def test_batched_validity_agrees_with_invalid_reason(image_size, feature_dim):
    rng = np.random.default_rng(4)
    detections = odd_detections(rng)
    valid = valid_detections(detections, image_size, feature_dim)
    assert valid[:2].all() and valid[3] and not valid[4:7].any() and valid[7] == (image_size is None) and valid[12]
    for order in range(3):
        valid = valid_detections(detections, image_size, feature_dim)
        for detection, fine in zip(detections, valid):
            if fine:
                assert invalid_reason(detection, image_size, feature_dim) is None
            elif invalid_reason(detection, image_size, feature_dim) is None:
                assert type(detection.score) is not float or detection.feature.size != 8
        detections = [detections[k] for k in rng.permutation(len(detections))]
    assert not valid_detections([], image_size, feature_dim).size


def test_normalized_rows_are_normalized_bit_for_bit():
    rng = np.random.default_rng(5)
    for dim in (3, 8, 128, 512):
        features = (rng.standard_normal((40, dim)) * rng.uniform(0.01, 100, (40, 1))).astype(np.float32)
        np.testing.assert_array_equal(normalized_rows(features), np.stack([normalized(f) for f in features]))


def reference_prepare(tracker, detections, frame):
    """Tracker._prepare as first written: one detection at a time (without embedder or depth)."""
    rgb = getattr(frame, "rgb", None)
    image_size = (rgb.shape[1], rgb.shape[0]) if rgb is not None else None
    kept = []
    for detection in detections:
        if detection.label in tracker.config.ignored_labels or detection.score < tracker.config.min_score:
            continue
        reason = invalid_reason(detection, image_size, tracker.feature_dim)
        if reason:
            logging.getLogger("tracker").warning("frame %s: detection skipped: %s", tracker.frame_index, reason)
            continue
        detection = sanitize(detection, image_size)
        if image_size is not None:
            detection.truncated = detection.truncated or touches_border(detection, image_size,
                                                                        tracker.config.border_margin)
        if detection.feature is not None:
            detection.feature = normalized(detection.feature)
        kept.append(detection)
    return kept


@pytest.mark.parametrize("with_image", [False, True])
@pytest.mark.parametrize("kinds", ["all", "with features"])
def test_prepare_keeps_and_completes_detections_as_the_per_detection_code(with_image, kinds, caplog):
    rng = np.random.default_rng(6)
    detections = odd_detections(rng)
    detections[1].label = 1                               # a wall: ignored
    detections[3].score = -1.0
    if kinds == "with features":         # every kept one has a feature: the stacked path
        detections = [detections[k] for k in (0, 1, 3, 4, 8, 13, 14)]
    frame = SimpleNamespace(index=3, rgb=np.zeros((480, 640, 3), dtype=np.uint8)) if with_image else None
    tracker = Tracker(TrackerConfig(min_score=0.0))
    tracker.feature_dim = 8
    tracker.frame_index = 3
    results = []
    arrays = []

    def prepare_fast(d):
        arrays.append(tracker._prepare(d, frame))
        return arrays[-1].detections

    for prepare in (prepare_fast, lambda d: reference_prepare(tracker, d, frame)):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tracker"):
            kept = prepare(copy.deepcopy(detections))
        results.append((kept, [record.getMessage() for record in caplog.records]))
    (fast, fast_log), (reference, reference_log) = results
    assert fast_log == reference_log and fast_log
    assert len(fast) == len(reference)
    for a, b in zip(fast, reference):
        np.testing.assert_array_equal(a.tlwh, b.tlwh)
        np.testing.assert_array_equal(a.feature, b.feature)                 # bit for bit
        assert a.feature is None or a.feature.dtype == b.feature.dtype == np.float32
        assert (a.world_position is None) == (b.world_position is None)
        assert (a.mask is None) == (b.mask is None)
        assert a.mask is None or a.mask.dtype == b.mask.dtype
        assert a.truncated == b.truncated
    # the frame's stacked arrays are those of the kept detections
    stacked = arrays[0]
    np.testing.assert_array_equal(stacked.boxes, np.array([d.tlwh for d in fast]).reshape(-1, 4))
    np.testing.assert_array_equal(stacked.positions, np.array(
        [[np.nan] * 3 if d.world_position is None else d.world_position for d in fast]).reshape(-1, 3))
    if stacked.features is not None:
        np.testing.assert_array_equal(stacked.features, np.array([d.feature for d in fast]))


# ---------------------------------------------------------------------------- gallery writes
def test_add_many_of_distinct_identities_equals_adding_one_by_one():
    rng = np.random.default_rng(7)
    one, many = (LongTermGallery(bank_size=3, position_history=3, max_frame_ranges=2) for _ in range(2))
    for frame in [0, 1, 2, 5, 6, 9, 13, 14, 20]:
        ids = [int(i) for i in rng.permutation(6)[:4] + 1]
        features = [None if k == 0 else unit_rows(rng, 1)[0] for k in range(4)]
        positions = [None if k == 1 else (np.array([np.nan, 0, 0]) if k == 2 and frame == 5 else rng.uniform(0, 3, 3))
                     for k in range(4)]
        frames = [frame, frame, None if frame == 6 else frame, frame]
        for args in zip(ids, [4] * 4, features, positions, frames):
            one.add(*args)
        many.add_many(ids, [4] * 4, features, positions, frames)
    assert list(one.ids) == list(many.ids)
    for track_id in one.ids:
        assert one.entry(track_id) == many.entry(track_id) or (
            one.entry(track_id).frames == many.entry(track_id).frames
            and one.entry(track_id).n_observations == many.entry(track_id).n_observations)
        np.testing.assert_array_equal(one.world_position(track_id), many.world_position(track_id))
        np.testing.assert_array_equal(one.features(track_id), many.features(track_id))


def assert_same_gallery_state(one, other):
    """Every stored array of two galleries, bit for bit (features, rings, sums, means, ranges)."""
    assert one.size == other.size and one._row_of == other._row_of and one._ranges == other._ranges
    for name, value in vars(one).items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, getattr(other, name), err_msg=name)


def test_add_many_of_several_frames_per_identity_equals_adding_one_by_one(monkeypatch):
    rng = np.random.default_rng(8)
    one, many = (LongTermGallery(bank_size=3, position_history=4, max_frame_ranges=3) for _ in range(2))
    first = unit_rows(rng, 1)[0]
    for gallery in (one, many):                 # known identities, one of them without any frame yet
        for track_id in range(1, 6):
            gallery.add(track_id, 4, frame_index=None if track_id == 5 else 0)
        gallery.add(1, 4, first, [1.0, 1, 1], 1)
    frames = {1: [2, 3, 4, 5, 6, 7, 8], 2: [1, 2, 3], 3: [4, 5, 9, 10], 4: [2, 1, 3], 5: [7, 8]}   # gaps, back
    entries = [(track_id, frame) for track_id, seen in frames.items() for frame in seen]
    entries = [entries[k] for k in rng.permutation(len(entries))]
    entries.sort(key=lambda entry: frames[entry[0]].index(entry[1]))   # per identity in its own order
    ids = np.array([track_id for track_id, _ in entries])
    features = unit_rows(rng, len(entries))
    positions = rng.uniform(0, 3, (len(entries), 3))
    positions[3, 1] = np.nan                                              # not recorded
    frame_indices = np.array([frame for _, frame in entries], dtype=np.int64)
    for k, track_id in enumerate(ids.tolist()):
        position = positions[k] if np.isfinite(positions[k]).all() else None
        one.add(track_id, 4, features[k], position, int(frame_indices[k]))
    grouped = []
    write = LongTermGallery._add_observation_arrays
    monkeypatch.setattr(LongTermGallery, "_add_observation_arrays",
                        lambda self, *args: grouped.append(len(args[0])) or write(self, *args))
    many.add_many(ids.tolist(), [4] * len(ids), features, positions, frame_indices)
    assert grouped == [len(ids)]                                          # written as arrays, at once
    assert_same_gallery_state(one, many)
    assert many.frames(1) == [(0, 8)] and many.frames(3) == [(0, 0), (4, 5), (9, 10)]
    assert len(many.features(1)) == 3
