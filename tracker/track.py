"""One object identity: its Kalman-filtered box while in sight, and what is known of it for good.

A track is tentative until ``n_init`` hits confirm it, then confirmed; out of sight for more than
``max_age`` frames it is lost: it leaves the live set but stays in the long-term gallery, and a later
detection can re-activate it (ByteTrack's ``re_activate``) with its identity, features, world
positions and frame ranges.
"""
from enum import IntEnum

import numpy as np

from . import kalman_filter


class TrackState(IntEnum):
    """Life-cycle state of a track (a tentative track that misses a frame is deleted: forgotten)."""

    Tentative = 1
    Confirmed = 2
    Lost = 3
    Deleted = 4


class RecentRows:
    """The last ``size`` rows appended (a ring buffer), for features and world positions.

    Attributes
    ----------
    data : ndarray, size x width, or None before the first row
    count : int
        Rows filled; ``rows`` are the filled ones, in storage order.
    next : int
        Where the next row goes.
    """

    def __init__(self, size, dtype):
        self.size, self.dtype = int(size), dtype
        self.data, self.count, self.next = None, 0, 0

    def append(self, row):
        if self.data is None:
            self.data = np.zeros((self.size, len(row)), dtype=self.dtype)
        self.data[self.next] = row
        self.next = (self.next + 1) % self.size
        self.count = min(self.count + 1, self.size)

    @property
    def rows(self):
        return self.data[:self.count] if self.data is not None else np.zeros((0, 0), dtype=self.dtype)


class Track:
    """An identity: class, recent features and their running mean, recent world positions, frames seen,
    and (in sight) a Kalman filter of its box.

    Parameters
    ----------
    track_id : int
    label : int
        NYU40 class.
    n_init : int
        Consecutive hits that confirm a new track.
    feature_budget : int
        Recent features kept (besides the running mean of all of them).
    world_history : int
        Recent world positions kept; the track's position is their median.
    max_frame_ranges : int
        Frame ranges kept; beyond it the two closest of one visit merge.
    visit : int
        The visit (tracker run, numbered from 1 in a gallery's life) whose frames it now records.

    Attributes
    ----------
    state : TrackState
        ``Lost`` until :meth:`activate` (an identity out of sight).
    mean, covariance : ndarray (8,), 8x8
        Kalman state of the box (``xyah`` and velocities; :mod:`tracker.kalman_filter`).
    hits, age, time_since_update : int
        Detections assigned, frames since the start, frames since the latest detection.
    features : RecentRows
        Recent L2-normalised features (float32).
    frames : list of [int, int, int]
        Inclusive frame ranges ``[visit, first, last]`` where the identity was seen, in the order
        seen; each visit numbers its frames from its own start.
    n_observations : int
    last_detection : Detection or None
        The detection of the latest hit.
    from_gallery : bool
        Whether the identity came back after it was lost (a returning object given its old ID).
    """

    def __init__(self, track_id, label, n_init=3, feature_budget=100, world_history=30, max_frame_ranges=64,
                 visit=1):
        self.track_id, self.label = int(track_id), int(label)
        self.n_init, self.max_frame_ranges, self.visit = n_init, max_frame_ranges, int(visit)
        self.state = TrackState.Lost
        self.mean = self.covariance = None
        self.hits = self.age = self.time_since_update = 0
        self.score = 0.0
        self.features = RecentRows(feature_budget, np.float32)
        self.feature_sum, self.feature_count = None, 0
        self.positions = RecentRows(world_history, np.float64)
        self._median = self._mean = None
        self.frames, self.n_observations = [], 0
        self.last_detection, self.from_gallery = None, False

    # ------------------------------------------------------------------ life cycle
    def activate(self, detection, frame_index, confirmed=False, visit=None):
        """Start (or restart, for an identity out of sight) the box filter at a detection and record it,
        in ``visit`` when given (an identity from an earlier visit, back in this one).

        A restarted identity is confirmed; a new one is confirmed once it has ``n_init`` hits.
        """
        if visit is not None:
            self.visit = int(visit)
        known = self.n_observations > 0 and self.state in (TrackState.Confirmed, TrackState.Lost)
        self.from_gallery = self.from_gallery or (known and self.state == TrackState.Lost)
        self.mean, self.covariance = kalman_filter.initiate(kalman_filter.tlwh_to_xyah(detection.tlwh))
        self.state = TrackState.Confirmed if confirmed or known or self.n_init <= 1 else TrackState.Tentative
        self._hit(detection, frame_index)

    def absorb(self, track, frame_index):
        """Take over a track confirmed in this frame that turned out to be this identity (first seen from
        a view too unlike the old ones): its earlier observations, then its latest detection."""
        for feature in track.features.rows[:-1]:
            self.observe(feature)
        for position in track.positions.rows[:-1]:
            self.observe(world_position=position)
        self.visit = track.visit
        for visit, first, last in track.frames:
            for frame in range(first, last + 1):
                if (visit, frame) != (track.visit, frame_index):
                    self._add_frame(frame, visit)
        track.state = TrackState.Deleted
        self.activate(track.last_detection, frame_index)

    def predict(self):
        """One frame ahead (:func:`predict_tracks` does many at once)."""
        predict_tracks([self])

    def update(self, detection, frame_index):
        """Correct the box filter with the detection and record it."""
        self.mean, self.covariance = kalman_filter.update(self.mean, self.covariance,
                                                          kalman_filter.tlwh_to_xyah(detection.tlwh))
        self._hit(detection, frame_index)

    def _hit(self, detection, frame_index):
        self.label, self.score, self.last_detection = detection.label, detection.score, detection
        self.hits += 1
        self.age = max(self.age, 1)
        self.time_since_update = 0
        if self.state == TrackState.Tentative and self.hits >= self.n_init:
            self.state = TrackState.Confirmed
        self.observe(detection.feature, detection.world_position, frame_index)

    def mark_missed(self, max_age):
        """No detection this frame: a tentative track is deleted, a confirmed one unseen for more than
        ``max_age`` frames is lost."""
        if self.state == TrackState.Tentative:
            self.state = TrackState.Deleted
        elif self.time_since_update > max_age:
            self.state = TrackState.Lost

    def is_confirmed(self):
        return self.state == TrackState.Confirmed

    # ------------------------------------------------------------------ identity
    def observe(self, feature=None, world_position=None, frame_index=None):
        """Record an observation: a feature ((D,), L2-normalised), a world position ((3,) metres), a frame."""
        if feature is not None:
            self.features.append(feature)
            self.feature_sum = feature.astype(np.float64) + (0 if self.feature_sum is None else self.feature_sum)
            self.feature_count += 1
            self._mean = None
        if world_position is not None:
            self.positions.append(world_position)
            self._median = None
        if frame_index is not None:
            self._add_frame(int(frame_index))

    def _add_frame(self, frame, visit=None):
        visit = self.visit if visit is None else visit
        self.n_observations += 1
        last = self.frames[-1] if self.frames else None
        if last is not None and last[0] == visit and last[1] <= frame <= last[2] + 1:
            last[2] = max(last[2], frame)
            return
        self.frames.append([visit, frame, frame])
        if len(self.frames) > self.max_frame_ranges:      # merge the closest two ranges of one visit
            gaps = [abs(b[1] - a[2]) if a[0] == b[0] else np.inf for a, b in zip(self.frames, self.frames[1:])]
            i = int(np.argmin(gaps))
            if np.isfinite(gaps[i]):
                a, b = self.frames[i], self.frames[i + 1]
                self.frames[i] = [a[0], min(a[1], b[1]), max(a[2], b[2])]
                del self.frames[i + 1]

    @property
    def mean_feature(self):
        """L2-normalised mean of every feature seen, (D,) float32, or None."""
        if self._mean is None and self.feature_count:
            self._mean = (self.feature_sum / np.linalg.norm(self.feature_sum)).astype(np.float32)
        return self._mean

    def appearance_distance(self, features):
        """Cosine distance of each feature (QxD, L2-normalised) to the closest of the track's recent
        features and their mean: (Q,) in [0, 2], NaN when the track has no feature."""
        if not self.feature_count:
            return np.full(len(features), np.nan)
        similarity = features @ self.mean_feature
        if self.features.count:
            similarity = np.maximum((features @ self.features.rows.T).max(axis=1), similarity)
        return np.clip(1.0 - similarity, 0.0, 2.0)

    @property
    def world_position(self):
        """Median of the recent world positions, (3,) metres, or None."""
        if self._median is None and self.positions.count:
            ordered = np.sort(self.positions.rows, axis=0)         # np.median's value, without its overhead
            self._median = (ordered[(len(ordered) - 1) // 2] + ordered[len(ordered) // 2]) / 2
        return self._median

    # ------------------------------------------------------------------ boxes
    def to_tlwh(self):
        """Current box estimate ``(x, y, w, h)``, pixels."""
        return kalman_filter.xyah_to_tlwh(self.mean[:4])

    def to_tlbr(self):
        """Current box estimate ``(min x, min y, max x, max y)``, pixels."""
        box = self.to_tlwh()
        box[2:] += box[:2]
        return box

    def __repr__(self):
        return (f"Track(id={self.track_id}, label={self.label}, state={self.state.name}, "
                f"hits={self.hits}, time_since_update={self.time_since_update})")


def predict_tracks(tracks, image_motion=None):
    """Advance every track's filter one frame, all at once, and count the frame.

    ``image_motion`` ``(dx, dy)``, pixels, moves every box by the camera's image motion
    (:func:`tracker.matching.image_motion`), as BoT-SORT's camera-motion compensation does: the
    filters then model only what the camera does not explain, nothing for a static object.
    """
    if not tracks:
        return
    mean, covariance = kalman_filter.predict(np.stack([t.mean for t in tracks]), np.stack([t.covariance for t in tracks]))
    if image_motion is not None:
        mean[:, :2] += image_motion
    for track, m, c in zip(tracks, mean, covariance):
        track.mean, track.covariance = m, c
        track.age += 1
        track.time_since_update += 1


def update_tracks(tracks, detections, frame_index):
    """:meth:`Track.update` of each track with its detection, with one stacked Kalman correction."""
    if not tracks:
        return
    mean, covariance = kalman_filter.update(np.stack([t.mean for t in tracks]), np.stack([t.covariance for t in tracks]),
                                            kalman_filter.tlwh_to_xyah(np.stack([d.tlwh for d in detections])))
    for track, detection, m, c in zip(tracks, detections, mean, covariance):
        track.mean, track.covariance = m, c
        track._hit(detection, frame_index)
