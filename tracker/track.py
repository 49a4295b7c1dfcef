"""A single tracked object and its life cycle: tentative -> confirmed -> lost."""
from enum import IntEnum

import numpy as np

from . import kalman_batch
from .feature_bank import FeatureBank
from .kalman_filter import KalmanFilter
from .track_store import TrackStore
from .world import point_distances

_UNKNOWN_POSITION = (np.nan, np.nan, np.nan)


class TrackState(IntEnum):
    """Life-cycle state of a track.

    A new track is ``Tentative`` until it has ``n_init`` consecutive hits, then ``Confirmed``. A
    tentative track that misses a frame is ``Deleted`` (forgotten). A confirmed track not seen for
    more than ``max_age`` frames is ``Lost``: it leaves the live set, its ID stays in the long-term
    gallery and can come back.
    """

    Tentative = 1
    Confirmed = 2
    Lost = 3
    Deleted = 4


class Track:
    """A tracked object: Kalman-filtered box, class, appearance features, world position.

    Parameters
    ----------
    track_id : int
        Unique identity.
    detection : Detection
        The first detection; its feature and world position seed the track.
    frame_index : int
        Frame of that detection.
    n_init : int
        Consecutive hits that confirm a tentative track.
    max_age : int
        Frames without a hit after which a confirmed track is lost.
    feature_budget : int
        Size of the feature bank.
    world_history : int
        Number of recent world positions whose median is the track's position.
    confirmed : bool
        Start confirmed (an identity brought back from the gallery).
    store : TrackStore, optional
        Shared storage of the features and world positions (the tracker's, so that a frame's tracks
        are written and searched at once; its ``feature_budget`` and ``world_history`` then apply); a
        store of the track's own by default. :meth:`detach` moves the data out of a shared store.

    Attributes
    ----------
    hits : int
        Detections assigned so far.
    age : int
        Frames since the track started.
    time_since_update : int
        Frames since the last assigned detection (0 right after an update).
    first_frame, last_frame : int
        First and latest frame with an assigned detection.
    features : FeatureBank
        The recent features (a view of the track's row of its store).
    from_gallery : bool
        Whether the track carries an identity that came back from the long-term gallery (a returning
        object given its old ID) rather than a new one.
    pending_observations : list of (int, ndarray or None, ndarray or None)
        ``(frame, feature, world position)`` not yet copied to the long-term gallery (the tracker
        copies them once the track is confirmed, then every frame; at most ``n_init`` accumulate).
    """

    def __init__(self, track_id, detection, frame_index, n_init=3, max_age=30, feature_budget=100,
                 world_history=30, confirmed=False, store=None):
        store = store if store is not None else TrackStore(feature_budget, world_history, capacity=1)
        self._start(track_id, detection, frame_index, n_init, max_age, confirmed, store)
        store.start_kalman(self._row, detection.to_xyah())
        self._observe(detection, frame_index)

    def _start(self, track_id, detection, frame_index, n_init, max_age, confirmed, store):
        """The new track's counters, state and row of ``store`` (its data there not written yet)."""
        self.track_id = int(track_id)
        self.label = detection.label
        self.score = detection.score
        self.state = TrackState.Confirmed if confirmed or n_init <= 1 else TrackState.Tentative
        self.hits = 1
        self.age = 1
        self.time_since_update = 0
        self.first_frame = self.last_frame = int(frame_index)
        self.n_init = n_init
        self.max_age = max_age
        self._use_row(store, store.acquire())
        self.last_detection = detection
        self.pending_observations = []
        self.from_gallery = False

    def _observe(self, detection, frame_index):
        self.pending_observations.append((int(frame_index), detection.feature, detection.world_position))
        if detection.feature is not None:
            self._store.add_feature(self._row, detection.feature)
        if detection.world_position is not None:
            self._store.add_position(self._row, detection.world_position)

    def detach(self):
        """Move the track's features and world positions out of a shared store into a store of its own
        now, freeing its row there."""
        self._use_row(*self._store.detach(self._row))

    def release(self):
        """Give the track's row back to its store (the tracker calls it when the track leaves the live
        set). The track keeps its data: the row is copied out to it when the store hands the row to
        another track while this one is still referenced (:meth:`TrackStore.release`)."""
        self._store.release(self._row, owner=self)

    def _leave_store(self, store, row):
        """The store is about to reuse ``row``: copy it into a store of the track's own, if the track
        still reads it (not already detached)."""
        if self._store is store and self._row == row:
            self._use_row(*store.copy_row(row))

    def _use_row(self, store, row):
        """Read and write the track's data in ``row`` of ``store`` from now on."""
        self._store, self._row = store, row
        self.features = FeatureBank(store=store, row=row)

    @property
    def kalman_filter(self):
        """The box filter, as a filterpy-based :class:`KalmanFilter` holding a copy of the current state.

        The state itself lives in the track's row of its store (so that a frame's tracks are predicted,
        gated and corrected at once); :meth:`predict`, :meth:`update` and :meth:`reacquire` change it.
        """
        store, row = self._store, self._row
        return KalmanFilter.from_state(store.kalman_mean[row], store.kalman_covariance[row],
                                       store.std_weight_position, store.std_weight_velocity)

    def _set_filter_state(self, kalman_filter):
        self._store.kalman_mean[self._row] = kalman_filter.mean
        self._store.kalman_covariance[self._row] = kalman_filter.covariance

    def to_tlwh(self):
        """Current box estimate ``(x, y, w, h)``, pixels; (4,) ndarray."""
        box = self._store.kalman_mean[self._row, :4].copy()
        box[2] *= box[3]
        box[:2] -= box[2:] / 2
        return box

    def to_tlbr(self):
        """Current box estimate ``(min x, min y, max x, max y)``, pixels; (4,) ndarray."""
        box = self.to_tlwh()
        box[2:] += box[:2]
        return box

    @property
    def world_position(self):
        """Median of the recent world positions, (3,) metres, or None when none is known."""
        return self._store.median(self._row)

    @property
    def has_world_position(self):
        """Whether a world position is known (cheaper than testing :attr:`world_position`)."""
        return bool(self._store.position_count[self._row])

    @property
    def world_positions(self):
        """The recent world positions, Kx3 metres, oldest first (at most ``world_history``)."""
        return self._store.positions(self._row)

    def remember(self, features=(), world_position=None):
        """Seed the track with what is known of its identity (features KxD, position (3,) metres),
        e.g. from the long-term gallery when an old identity comes back."""
        for feature in features:
            self._store.add_feature(self._row, feature)
        if world_position is not None:
            self._store.add_position(self._row, world_position)

    def predict(self):
        """Advance the Kalman filter one frame (call once per frame, before matching).

        Runs the filterpy filter, the reference of the batched steps; :func:`predict_tracks` does the
        same for many tracks at once.
        """
        kalman_filter = self.kalman_filter
        kalman_filter.predict()
        self._set_filter_state(kalman_filter)
        self._count_frame()

    def _count_frame(self):
        self.age += 1
        self.time_since_update += 1

    def update(self, detection, frame_index):
        """Assign a detection: correct the filter, store its feature and position, count the hit.

        Runs the filterpy filter, the reference of the batched steps; :func:`update_tracks` does the
        same for many tracks at once.
        """
        kalman_filter = self.kalman_filter
        kalman_filter.update(detection.to_xyah())
        self._set_filter_state(kalman_filter)
        self._count_hit(detection, frame_index)

    def reacquire(self, detection, frame_index):
        """Assign a detection far from the predicted box (the object came back into view elsewhere):
        restart the Kalman filter at the detection; identity, features and world position stay."""
        self._store.start_kalman(self._row, detection.to_xyah())
        self._count_hit(detection, frame_index)

    def _count_hit(self, detection, frame_index):
        self._observe(detection, frame_index)
        self._record_hit(detection, frame_index)

    def _record_hit(self, detection, frame_index):
        """The hit's counters and state (its feature and position are stored by the caller)."""
        self.label = detection.label
        self.score = detection.score
        self.last_detection = detection
        self.hits += 1
        self.time_since_update = 0
        self.last_frame = int(frame_index)
        if self.state == TrackState.Tentative and self.hits >= self.n_init:
            self.state = TrackState.Confirmed

    def mark_missed(self):
        """No detection this frame: a tentative track is deleted, an old confirmed one is lost."""
        if self.state == TrackState.Tentative:
            self.state = TrackState.Deleted
        elif self.time_since_update > self.max_age:
            self.state = TrackState.Lost

    def is_tentative(self):
        return self.state == TrackState.Tentative

    def is_confirmed(self):
        return self.state == TrackState.Confirmed

    def is_lost(self):
        return self.state == TrackState.Lost

    def is_deleted(self):
        return self.state == TrackState.Deleted

    def __repr__(self):
        return (f"Track(id={self.track_id}, label={self.label}, state={self.state.name}, "
                f"hits={self.hits}, time_since_update={self.time_since_update})")


# ---------------------------------------------------------------------------- many tracks at once
def predict_tracks(tracks):
    """:meth:`Track.predict` of every track, with one batched Kalman prediction.

    Parameters
    ----------
    tracks : list of Track

    Returns
    -------
    (TrackStore, ndarray of int) or (None, None)
        :func:`shared_store` of the tracks (valid as long as they keep their rows).
    """
    store, rows = shared_store(tracks)
    if store is not None:
        store.predict_kalman(rows)
    elif tracks:
        set_kalman_states(tracks, *kalman_batch.predict(*kalman_states(tracks), TrackStore.std_weight_position,
                                                        TrackStore.std_weight_velocity))
    for track in tracks:
        track._count_frame()
    return store, rows


def start_tracks(track_ids, detections, frame_index, store, n_init=3, max_age=30, boxes=None, features=None,
                 positions=None):
    """New tentative tracks, one per detection, in rows of a shared store written at once (what
    ``Track(track_id, detection, frame_index, n_init, max_age, store=store)`` one after the other gives).

    Parameters
    ----------
    track_ids : list of int
    detections : list of Detection
    frame_index : int
    store : TrackStore
    n_init, max_age : int
    boxes : ndarray, Nx4, optional
        The detections' ``tlwh`` boxes, when already stacked.
    features : ndarray, NxD float32, optional
        The detections' features, when already stacked (every detection has one).
    positions : ndarray, Nx3, optional
        The detections' world positions, when already stacked (NaN rows where unknown).

    Returns
    -------
    list of Track
    """
    frame_index = int(frame_index)
    tracks = []
    for track_id, detection in zip(track_ids, detections):
        track = Track.__new__(Track)
        track._start(track_id, detection, frame_index, n_init, max_age, False, store)
        track.pending_observations.append((frame_index, detection.feature, detection.world_position))
        tracks.append(track)
    if not tracks:
        return tracks
    rows = np.array([track._row for track in tracks], dtype=np.int64)
    if boxes is None:
        boxes = np.array([detection.tlwh for detection in detections])
    store.start_kalman(rows, kalman_batch.tlwh_to_xyah(boxes))
    _store_observations(store, rows, detections, features, positions)
    return tracks


def _store_observations(store, rows, detections, features=None, positions=None):
    """Write each detection's feature and world position (where it has them) to its row of ``store``,
    from the stacked arrays when given (``positions``: NaN rows where unknown)."""
    if features is not None:
        store.add_features(rows, features)
    else:
        with_feature = [k for k, detection in enumerate(detections) if detection.feature is not None]
        if with_feature:
            store.add_features(rows[with_feature], np.array([detections[k].feature for k in with_feature]))
    if positions is not None:
        placed = np.isfinite(positions).all(axis=1)
        if placed.any():
            store.add_positions(rows[placed], positions[placed])
    else:
        placed = [k for k, detection in enumerate(detections) if detection.world_position is not None]
        if placed:
            store.add_positions(rows[placed], np.array([detections[k].world_position for k in placed]))


def update_tracks(tracks, detections, frame_index, boxes=None, features=None, positions=None, store_rows=None):
    """:meth:`Track.update` of each track with its detection, with one batched Kalman correction (and,
    for tracks of one shared store, one write of all their features and world positions).

    Parameters
    ----------
    tracks : list of Track
        Distinct tracks.
    detections : list of Detection
        ``detections[k]`` is assigned to ``tracks[k]``.
    frame_index : int
    boxes : ndarray, Nx4, optional
        The detections' ``tlwh`` boxes, when already stacked.
    features : ndarray, NxD float32, optional
        The detections' features, when already stacked (every detection has one).
    positions : ndarray, Nx3, optional
        The detections' world positions, when already stacked (NaN rows where unknown).
    store_rows : (TrackStore, ndarray of int), optional
        :func:`shared_store` of ``tracks``, when already known.
    """
    if not tracks:
        return
    if boxes is None:
        boxes = np.array([detection.tlwh for detection in detections])
    measurements = kalman_batch.tlwh_to_xyah(boxes)
    store, rows = store_rows if store_rows is not None else shared_store(tracks)
    if store is None:
        set_kalman_states(tracks, *kalman_batch.update(*kalman_states(tracks), measurements,
                                                       TrackStore.std_weight_position))
        for track, detection in zip(tracks, detections):
            track._count_hit(detection, frame_index)
        return
    store.update_kalman(rows, measurements)
    frame_index = int(frame_index)
    _store_observations(store, rows, detections, features, positions)
    for track, detection in zip(tracks, detections):
        track.pending_observations.append((frame_index, detection.feature, detection.world_position))
        track._record_hit(detection, frame_index)


def shared_store(tracks):
    """The store that holds all the tracks' features and positions, and their rows there.

    Parameters
    ----------
    tracks : list of Track

    Returns
    -------
    (TrackStore, ndarray of int (T,)) or (None, None)
        ``(None, None)`` when the tracks do not all share one store (or there are none).
    """
    if not tracks:
        return None, None
    store = tracks[0]._store
    rows = [track._row for track in tracks if track._store is store]
    if len(rows) != len(tracks):
        return None, None
    return store, np.array(rows, dtype=np.int64)


def kalman_states(tracks):
    """The tracks' Kalman states, stacked (copies).

    Parameters
    ----------
    tracks : list of Track

    Returns
    -------
    mean : ndarray, Tx8
    covariance : ndarray, Tx8x8
    """
    store, rows = shared_store(tracks)
    if store is not None:
        return store.kalman_mean[rows], store.kalman_covariance[rows]
    mean = np.array([track._store.kalman_mean[track._row] for track in tracks], dtype=np.float64).reshape(-1, 8)
    covariance = np.array([track._store.kalman_covariance[track._row] for track in tracks],
                          dtype=np.float64).reshape(-1, 8, 8)
    return mean, covariance


def set_kalman_states(tracks, mean, covariance):
    """Give each track its row of new Kalman states (Tx8, Tx8x8)."""
    for track, m, c in zip(tracks, mean, covariance):
        track._store.kalman_mean[track._row] = m
        track._store.kalman_covariance[track._row] = c


def boxes_tlwh(tracks):
    """:meth:`Track.to_tlwh` of each track: Tx4 pixels."""
    store, rows = shared_store(tracks)
    if store is not None:
        box = store.kalman_mean[rows, :4]
    else:
        box = np.array([track._store.kalman_mean[track._row, :4] for track in tracks], dtype=np.float64).reshape(-1, 4)
    box[:, 2] *= box[:, 3]
    box[:, :2] -= box[:, 2:] / 2
    return box


def world_positions_of(tracks):
    """World position of each track (:attr:`Track.world_position`), metres.

    Parameters
    ----------
    tracks : list of Track

    Returns
    -------
    ndarray, Tx3
        NaN rows for tracks whose position is unknown.
    """
    store, rows = shared_store(tracks)
    if store is not None:
        return store.medians(rows)
    return stack_points([track.world_position for track in tracks])


def world_distances(tracks, detections):
    """Distance between each track's world position and each detection's, metres.

    Parameters
    ----------
    tracks : list of Track
    detections : list of Detection

    Returns
    -------
    ndarray, TxN
        NaN where either position is unknown.
    """
    return world_distances_to(tracks, world_points(detections))


def world_points(detections):
    """The detections' world positions, Nx3 metres; NaN rows where unknown."""
    return stack_points([d.world_position for d in detections])


def stack_points(positions):
    """World positions ((3,) arrays or None) as one Nx3 float64 array, metres; NaN rows for None."""
    return np.array([_UNKNOWN_POSITION if p is None else p for p in positions], dtype=np.float64).reshape(-1, 3)


def world_distances_to(tracks, positions, centres=None):
    """Distance between each track's world position and each of some points, metres.

    Parameters
    ----------
    tracks : list of Track
    positions : ndarray, Nx3
        Metres; NaN rows for unknown points.
    centres : ndarray, Tx3, optional
        :func:`world_positions_of` the tracks, when already known.

    Returns
    -------
    ndarray, TxN
        NaN where either position is unknown (as :func:`world_distances`).
    """
    return point_distances(world_positions_of(tracks) if centres is None else centres, positions)

