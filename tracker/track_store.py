"""Kalman states, appearance banks and world-position windows of many tracks in shared arrays, one
row per track.

A tracker's per-frame bookkeeping (one Kalman prediction and correction, one new feature and one new
world position per matched track) is then a few array operations for all tracks, and the appearance
search and the motion gate read every track in place, without stacking them frame after frame. A
:class:`~tracker.track.Track` owns one row; :class:`~tracker.feature_bank.FeatureBank` is the view of
a row's features. A track that leaves the tracker gives its row back (:meth:`TrackStore.release`)
and keeps its data: if the track is still referenced when the row is handed to another track, the
row is first copied out to it (copy on reuse; a track nobody holds any more costs no copy).
"""
import weakref

import numpy as np

from . import kalman_batch
from .kalman_filter import STD_WEIGHT_POSITION, STD_WEIGHT_VELOCITY, initial_variances

_NAMES = ("feature_count", "_feature_next", "_position_ring", "position_count", "_position_next", "_medians",
          "_median_stale", "kalman_mean", "kalman_covariance")
"""Per-row arrays that exist from the start (the feature arrays come with the first feature)."""


class TrackStore:
    """The Kalman states, recent appearance features and world positions of many tracks, one row each.

    Per row: the box filter's state (mean and covariance, :mod:`tracker.kalman_batch`'s equations,
    those of the filterpy-based :class:`~tracker.kalman_filter.KalmanFilter`), a ring of the
    ``feature_budget`` most recent features, and a ring of the
    ``world_history`` most recent world positions whose per-coordinate median is recomputed when
    read after a change (one ``np.median`` per distinct fill count; the median of
    :class:`~tracker.median_window.MedianWindow`, NaN for a coordinate with a NaN value).

    The feature ring of a row is filled with its first feature when that comes: entries not yet
    written repeat a stored feature, so a nearest-neighbour search may look at all ``feature_budget``
    entries of a row without a mask.

    Parameters
    ----------
    feature_budget : int
        Features kept per row; the oldest is overwritten.
    world_history : int
        World positions kept per row (0 keeps none).
    capacity : int
        Rows allocated up front; the storage doubles when full.

    Attributes
    ----------
    feature_dim : int or None
        Feature length, set by the first feature stored.
    feature_ring : ndarray, (capacity, feature_budget, D) float32, or None before the first feature
    feature_count : ndarray, (capacity,) int64
        Features stored per row (at most ``feature_budget``).
    position_count : ndarray, (capacity,) int64
        World positions stored per row (at most ``world_history``).
    kalman_mean : ndarray, (capacity, 8) float64
        Box filter state ``(x, y, a, h, vx, vy, va, vh)`` per row (pixels, aspect, per frame).
    kalman_covariance : ndarray, (capacity, 8, 8) float64
    """

    std_weight_position = STD_WEIGHT_POSITION
    std_weight_velocity = STD_WEIGHT_VELOCITY

    def __init__(self, feature_budget=100, world_history=30, capacity=64):
        if feature_budget < 1:
            raise ValueError(f"feature bank budget must be >= 1, got {feature_budget}")
        self.feature_budget = int(feature_budget)
        self.world_history = max(int(world_history), 0)
        self.feature_dim = None
        self.feature_ring = None
        self._free = []
        self._former_owners = {}           # freed row -> weak reference to the track that had it
        self._size = 0                     # rows ever handed out (high-water mark)
        self._allocate(max(int(capacity), 1))

    def __getstate__(self):
        """Picklable / deep-copyable state: the weak references to former owners are left out (a copy
        hands out its free rows without copying them to anyone)."""
        state = self.__dict__.copy()
        state["_former_owners"] = {}
        return state

    # ------------------------------------------------------------------ rows
    def _allocate(self, capacity):
        self.feature_count = np.zeros(capacity, dtype=np.int64)
        self._feature_next = np.zeros(capacity, dtype=np.int64)
        self._position_ring = np.full((capacity, self.world_history, 3), np.nan)
        self.position_count = np.zeros(capacity, dtype=np.int64)
        self._position_next = np.zeros(capacity, dtype=np.int64)
        self._medians = np.full((capacity, 3), np.nan)
        self._median_stale = np.zeros(capacity, dtype=bool)
        self.kalman_mean = np.zeros((capacity, 8))
        self.kalman_covariance = np.zeros((capacity, 8, 8))
        if self.feature_dim is not None:
            self._allocate_features(capacity, self.feature_dim)

    def _allocate_features(self, capacity, dim):
        self.feature_ring = np.zeros((capacity, self.feature_budget, dim), dtype=np.float32)

    @property
    def capacity(self):
        return len(self.feature_count)

    @property
    def size(self):
        """Rows handed out so far (live or free): rows ``0 .. size - 1`` may hold data."""
        return self._size

    def _grow(self):
        names = _NAMES + ("feature_ring",)
        old = {name: getattr(self, name) for name in names}
        self._allocate(2 * self.capacity)
        for name, array in old.items():
            if array is not None:
                getattr(self, name)[:len(array)] = array

    def acquire(self):
        """An empty row for a new track: int.

        A released row whose former owner is still referenced is first copied out to it
        (:meth:`release`).
        """
        if self._free:
            row = self._free.pop()
            former = self._former_owners.pop(row, None)
            owner = former() if former is not None else None
            if owner is not None:
                owner._leave_store(self, row)
        else:
            if self._size == self.capacity:
                self._grow()
            row = self._size
            self._size += 1
        self.feature_count[row] = self._feature_next[row] = 0
        self.position_count[row] = self._position_next[row] = 0
        self._medians[row] = np.nan
        self._median_stale[row] = False
        return row

    def release(self, row, owner=None):
        """Free a row for a later :meth:`acquire`, leaving its data in place.

        Parameters
        ----------
        row : int
        owner : object, optional
            The row's holder (a :class:`~tracker.track.Track`), kept as a weak reference. If it is
            still referenced when the row is handed out again, its ``_leave_store(store, row)`` is
            called first, which copies the row out (:meth:`copy_row`).
        """
        self._free.append(row)
        if owner is not None:
            self._former_owners[row] = weakref.ref(owner)

    def detach(self, row):
        """Copy a row into a new one-row store and free the row here.

        Returns
        -------
        (TrackStore, int)
            The new store and the row (0) that holds the data there.
        """
        copied = self.copy_row(row)
        self._former_owners.pop(row, None)
        if row not in self._free:                         # (not released already)
            self._free.append(row)
        return copied

    def copy_row(self, row):
        """A new one-row store holding a copy of a row's data, and that row (0); the row stays here.

        Returns
        -------
        (TrackStore, int)
        """
        single = TrackStore.__new__(TrackStore)          # its arrays are the row's copies: nothing to allocate
        single.feature_budget, single.world_history = self.feature_budget, self.world_history
        single.feature_dim, single._free, single._size = self.feature_dim, [], 1
        single._former_owners = {}
        single.feature_ring = None
        if self.feature_ring is not None:
            single.feature_ring = self.feature_ring[row:row + 1].copy()
        for name in _NAMES:
            setattr(single, name, getattr(self, name)[row:row + 1].copy())
        return single, 0

    # ------------------------------------------------------------------ Kalman states
    def start_kalman(self, rows, measurements):
        """Start the filters of rows at measured boxes, velocities 0 (:class:`KalmanFilter`'s start).

        Parameters
        ----------
        rows : int or ndarray of int (N,)
        measurements : ndarray, (4,) or Nx4
            Boxes in ``xyah``.
        """
        if isinstance(rows, (int, np.integer)):          # one new track: written in place, no stacking
            measurement = np.asarray(measurements, dtype=np.float64).reshape(4)
            mean, covariance = self.kalman_mean[rows], self.kalman_covariance[rows]
            mean[:4], mean[4:] = measurement, 0.0
            covariance[:] = 0.0
            covariance.flat[::9] = initial_variances(measurement, self.std_weight_position, self.std_weight_velocity)
            return
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        self.kalman_mean[rows], self.kalman_covariance[rows] = kalman_batch.initiate(
            np.asarray(measurements, dtype=np.float64).reshape(len(rows), 4), self.std_weight_position,
            self.std_weight_velocity)

    def predict_kalman(self, rows):
        """Advance the filters of distinct rows by one frame (:func:`kalman_batch.predict`)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows):
            self.kalman_mean[rows], self.kalman_covariance[rows] = kalman_batch.predict(
                self.kalman_mean[rows], self.kalman_covariance[rows], self.std_weight_position,
                self.std_weight_velocity)

    def update_kalman(self, rows, measurements):
        """Correct the filters of distinct rows, each with its measured box (:func:`kalman_batch.update`).

        Parameters
        ----------
        rows : ndarray of int, (N,)
        measurements : ndarray, Nx4
            Boxes in ``xyah``.
        """
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows):
            self.kalman_mean[rows], self.kalman_covariance[rows] = kalman_batch.update(
                self.kalman_mean[rows], self.kalman_covariance[rows], measurements, self.std_weight_position)

    # ------------------------------------------------------------------ features
    def add_features(self, rows, features):
        """Store one feature in each of several distinct rows, dropping each row's oldest when full.

        Parameters
        ----------
        rows : ndarray of int, (N,)
            Distinct rows.
        features : ndarray, NxD
            Expected L2-normalised; stored as float32.
        """
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if not len(rows):
            return
        features = np.asarray(features, dtype=np.float32).reshape(len(rows), -1)
        self._check_dim(features.shape[1])
        fresh = self.feature_count[rows] == 0
        if fresh.any():                                        # a new bank repeats its first feature
            self.feature_ring[rows[fresh]] = features[fresh][:, None, :]
        slots = self._feature_next[rows]
        self.feature_ring[rows, slots] = features
        self._feature_next[rows] = (slots + 1) % self.feature_budget
        self.feature_count[rows] = np.minimum(self.feature_count[rows] + 1, self.feature_budget)

    def add_feature(self, row, feature):
        """Store a (D,) feature in one row (as :meth:`add_features` does for several)."""
        feature = np.asarray(feature, dtype=np.float32).reshape(-1)
        self._check_dim(feature.size)
        count = self.feature_count[row]
        if count == 0:
            self.feature_ring[row] = feature
        slot = self._feature_next[row]
        self.feature_ring[row, slot] = feature
        self._feature_next[row] = (slot + 1) % self.feature_budget
        self.feature_count[row] = min(count + 1, self.feature_budget)

    def _check_dim(self, dim):
        if self.feature_dim is None:
            self.feature_dim = int(dim)
            self._allocate_features(self.capacity, self.feature_dim)
        elif dim != self.feature_dim:
            raise ValueError(f"feature of length {dim}, the feature banks hold {self.feature_dim}")

    def features(self, row):
        """Stored features of a row, KxD float32 (a view; order not guaranteed); 0x0 when empty."""
        count = self.feature_count[row]
        if self.feature_ring is None or not count:
            return np.zeros((0, 0), dtype=np.float32)
        return self.feature_ring[row, :count]

    def latest_features(self, rows):
        """The most recently stored feature of each row, RxD float32 (rows must hold features)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        return self.feature_ring[rows, (self._feature_next[rows] - 1) % self.feature_budget]

    def mean_feature(self, row):
        """L2-normalised mean of a row's stored features, (D,) float32, or None when empty."""
        count = self.feature_count[row]
        if not count:
            return None
        # float64 sum over the stored features (in the order stored while the ring has not wrapped)
        mean = self.feature_ring[row, :count].sum(axis=0, dtype=np.float64) / count
        norm = np.linalg.norm(mean)
        return (mean / norm).astype(np.float32) if norm > 0 else None

    # ------------------------------------------------------------------ world positions
    def add_positions(self, rows, positions):
        """Store one world position in each of several distinct rows, dropping each row's oldest when full.

        Parameters
        ----------
        rows : ndarray of int, (N,)
            Distinct rows.
        positions : ndarray, Nx3
            Metres.
        """
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if not len(rows) or not self.world_history:
            return
        positions = np.asarray(positions, dtype=np.float64).reshape(len(rows), 3)
        slots = self._position_next[rows]
        self._position_ring[rows, slots] = positions
        self._position_next[rows] = (slots + 1) % self.world_history
        self.position_count[rows] = np.minimum(self.position_count[rows] + 1, self.world_history)
        self._median_stale[rows] = True

    def add_position(self, row, position):
        """Store a (3,) world position in one row (metres)."""
        values = np.asarray(position, dtype=np.float64).reshape(-1)
        if values.size != 3:
            raise ValueError(f"point has {values.size} values, expected 3")
        if not self.world_history:
            return
        slot = self._position_next[row]                 # add_positions for one row, without its indexing
        self._position_ring[row, slot] = values
        self._position_next[row] = (slot + 1) % self.world_history
        self.position_count[row] = min(self.position_count[row] + 1, self.world_history)
        self._median_stale[row] = True

    def median(self, row):
        """Per-coordinate median of a row's stored positions, (3,) metres (a copy), or None when none."""
        if not self.position_count[row]:
            return None
        if self._median_stale[row]:
            return self.medians(np.array([row]))[0]
        return self._medians[row].copy()

    def medians(self, rows):
        """Per-coordinate median of the stored positions of each row, Rx3 metres (NaN rows: none stored).

        Parameters
        ----------
        rows : ndarray of int, (R,)
        """
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        stale = rows[self._median_stale[rows]]
        if len(stale):
            counts = self.position_count[stale]         # (a row asked twice is computed twice, same value)
            smallest, largest = counts.min(), counts.max()
            if smallest == largest:                      # the usual case: every window full
                self._medians[stale] = window_median(self._position_ring[stale, :largest])
            else:
                for count in np.unique(counts):
                    group = stale[counts == count]
                    self._medians[group] = window_median(self._position_ring[group, :count])
            self._median_stale[stale] = False
        return self._medians[rows]

    def positions(self, row):
        """The stored world positions of a row, oldest first: Kx3 metres."""
        count = self.position_count[row]
        ring = self._position_ring[row]
        if count < self.world_history:
            return ring[:count].copy()
        return np.roll(ring, -self._position_next[row], axis=0)


def window_median(points):
    """Per-coordinate median of each window of points, as ``np.median(points, axis=1)`` gives it.

    The same middle values (here from a sort, faster than ``np.median``'s partition for short
    windows) and the same mean of the two for an even count; NaN for a coordinate with a NaN value.

    Parameters
    ----------
    points : ndarray, RxKx3 float64, K >= 1

    Returns
    -------
    ndarray, Rx3
    """
    count = points.shape[1]
    middle = count // 2
    ordered = np.ascontiguousarray(np.asarray(points, dtype=np.float64).transpose(0, 2, 1))
    ordered.sort(axis=2)                               # Rx3xK: each window sorted in contiguous memory
    if count % 2:
        median = ordered[:, :, middle]
    else:
        median = (ordered[:, :, middle - 1] + ordered[:, :, middle]) / 2
    unknown = np.isnan(ordered[:, :, -1])              # the sort puts NaN last
    if unknown.any():
        median[unknown] = np.nan
    return median
