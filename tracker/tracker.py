"""The online tracker: deepSORT's loop plus a long-term gallery and a static-world cue.

Per frame: predict every track (Kalman); match confirmed tracks by appearance in a cascade by time
since update (gated by class, by the Kalman Mahalanobis distance and, when both are known, by world
distance); match the rest by IoU; give a confirmed track that was out of sight back a detection of its
class that looks like it (and, when known, sits where it was), wherever it appears in the image; then
compare the remaining detections with the long-term gallery so that a returning object gets its old
ID, and start new tracks for the others. Confirmed tracks not seen for ``max_age`` frames are lost:
they leave the live set and stay in the gallery.
"""
import logging
from dataclasses import dataclass, field
from typing import FrozenSet

import numpy as np

from reid.data.nyu40 import STRUCTURE_LABELS

from . import iou_matching, kalman_batch, linear_assignment, nn_matching
from .detection import (check_detections, invalid_reason, normalized, normalized_rows, sanitize,
                        stack_same_shape)
from .gallery import LongTermGallery
from .kalman_filter import CHI2INV95
from .linear_assignment import INFTY_COST
from .track import (Track, TrackState, predict_tracks, stack_points, start_tracks, update_tracks, world_distances_to,
                    world_points)
from .track_store import TrackStore
from .world import world_position

log = logging.getLogger("tracker")


def embed_detections(embedder, rgb, detections):
    """One batched ``embedder.embed`` call for the detections: N x D float32.

    Masks are used where known; a detection without one (in a frame where others have masks) stands
    for its whole box.
    """
    if not detections:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    boxes = np.stack([d.tlwh for d in detections])
    masks = None
    if any(d.mask is not None for d in detections):
        masks = np.zeros((len(detections),) + rgb.shape[:2], dtype=bool)
        for i, d in enumerate(detections):
            if d.mask is not None:
                masks[i] = d.mask
            else:
                x1, y1, x2, y2 = np.round(d.to_tlbr()).astype(int)
                masks[i, max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)] = True
    return np.asarray(embedder.embed(rgb, boxes, masks), dtype=np.float32)


@dataclass
class TrackerConfig:
    """Tracker settings.

    Attributes
    ----------
    max_cosine_distance : float
        Appearance gate (cosine distance) for matching detections to live tracks.
    nn_budget : int
        Features kept per live track (nearest-neighbour appearance bank).
    max_iou_distance : float
        Gate of the IoU stage (``1 - IoU``).
    max_age : int
        Frames (``update`` calls) a confirmed track may go unseen before it is lost (it leaves the
        live set; its identity stays in the gallery).
    n_init : int
        Consecutive hits that confirm a new track.
    gallery_max_distance : float
        Appearance gate for giving a detection the ID of a lost (or out-of-sight) identity.
    unplaced_max_distance : float
        Appearance gate for a pair whose world distance is unknown (RGB alone, unknown pose, too few
        valid depths), in every stage (the tighter of it and the stage's own gate applies): without
        the world cue to vouch for a pair, it must look closer. Chosen on the held-out monitoring rooms
        (seed 2000) for the shipped model, RGB alone: IDF1 0.744 / 0.798 / 0.818 / 0.834 at 0.3 (the
        stages' own gates) / 0.2 / 0.15 / 0.1, with depth and pose 0.983 at each.
    world_gate_metres : float
        Known world positions farther apart than this never match (static scene). A position is the
        centre of the *visible* part, which moves when the object is partly hidden (a chair behind a
        table, then in full view): 1.0 m (chosen on the held-out monitoring rooms, seed 2000: revisit
        accuracy 0.912 at 0.5 m, 0.937 at 1.0 m) lets such views match while the world distance still
        ranks the candidates through ``world_weight``.
    truncated_world_gate_metres : float
        The same gate for a detection cut by the image border (its position is that of the visible
        part only).
    truncated_world_weight : float
        In the gallery search, the cost per metre of world distance for a detection cut by the
        image border whose world position is known (``world_weight`` for the others).
    truncated_max_distance : float
        In the gallery search, the appearance gate of such a detection where the world distance is
        known (``gallery_max_distance`` for the others). A cut view's appearance is unreliable: on
        the monitoring rooms (seed 2000) identical boxes stacked on a shelf came back cut by the
        border, and the right identity was at 0.19 m with appearance distance 0.56, its twin at
        0.46 m with 0.29. Matching such views world first (1.5 per metre, gate 0.6) kept 156 of the
        159 returns there instead of 153, IDF1 0.985 instead of 0.983, with no room worse.
    border_margin : float
        Pixels from the image border within which a box counts as truncated.
    world_weight : float
        Cost added per metre of world distance.
    world_replaces_motion_gate : bool
        When both world positions are known and within the gate, skip the image-space Mahalanobis
        gate (a static object's image motion comes only from the camera, which the world cue already
        accounts for).
    world_history : int
        World positions kept per track; the track's position is their median.
    gallery_bank_size : int
        Recent features kept per identity in the gallery (one per frame seen). Objects mostly leave
        the view through the image border, so the last few frames are cut views: 32 kept only those
        and gave 0.937 revisit accuracy on the monitoring rooms, 64 and more gave 0.962 (100, the
        live tracks' ``nn_budget``, is used).
    gallery_max_frame_ranges : int
        Bound on the frame ranges stored per identity.
    gallery_write_interval : int
        Frames whose observations of live tracks are written to the gallery at once (in the order
        seen, as if written frame by frame). Searches never look at live identities, so this changes
        no result; reading :attr:`Tracker.gallery` and a track leaving the live set write at once.
    gallery_index : {"exact", "faiss"}
    min_score : float
        Detections scoring lower are ignored.
    ignored_labels : frozenset of int
        Classes not tracked (NYU40 wall, floor, ceiling by default).
    min_valid_depths : int
        Fewest valid depths under a mask to compute a world position.
    use_gallery : bool
        Give returning objects their old IDs from the long-term gallery (the gallery is kept and can
        be queried either way); False gives plain deepSORT identities, for ablations.
    tentative_world_matching : bool
        Let a tentative track that IoU did not match take a detection by appearance and world position
        (both positions known, same gates as for confirmed tracks): small objects in a fast pan move
        more than their own width per frame and would otherwise never be confirmed.
    """

    max_cosine_distance: float = 0.3
    nn_budget: int = 100
    max_iou_distance: float = 0.7
    max_age: int = 30
    n_init: int = 3
    gallery_max_distance: float = 0.3
    unplaced_max_distance: float = 0.1
    world_gate_metres: float = 1.0
    truncated_world_gate_metres: float = 1.5
    truncated_world_weight: float = 1.5
    truncated_max_distance: float = 0.6
    border_margin: float = 2.0
    world_weight: float = 0.5
    world_replaces_motion_gate: bool = True
    world_history: int = 30
    gallery_bank_size: int = 100
    gallery_max_frame_ranges: int = 64
    gallery_write_interval: int = 16
    gallery_index: str = "exact"
    min_score: float = 0.0
    ignored_labels: FrozenSet[int] = field(default_factory=lambda: frozenset(STRUCTURE_LABELS))
    min_valid_depths: int = 10
    use_gallery: bool = True
    tentative_world_matching: bool = True

    def make_gallery(self):
        """An empty :class:`LongTermGallery` with these settings."""
        return LongTermGallery(bank_size=self.gallery_bank_size, max_frame_ranges=self.gallery_max_frame_ranges,
                               position_history=self.world_history, max_distance=self.gallery_max_distance,
                               world_gate_metres=self.world_gate_metres, world_weight=self.world_weight,
                               index=self.gallery_index)


def _finite_points(detections):
    """Whether each detection's world position is None or a finite (3,) point (else :func:`sanitize`
    must look at it), and the points: ((N,) bool, Nx3 float64 metres with NaN rows where unknown or
    not fine)."""
    fine = np.ones(len(detections), dtype=bool)
    stacked = stack_same_shape([d.world_position for d in detections], (3,), np.float64)
    if stacked is not None:                  # the usual frame with depth: every detection placed
        finite = np.isfinite(stacked).all(axis=1)
        return finite, stacked if finite.all() else np.where(finite[:, None], stacked, np.nan)
    points = np.full((len(detections), 3), np.nan)
    placed = [k for k, d in enumerate(detections) if d.world_position is not None]
    if not placed:
        return fine, points
    positions = [detections[k].world_position for k in placed]
    if all(type(p) is np.ndarray and p.shape == (3,) for p in positions):
        positions = np.array(positions, dtype=np.float64)
        finite = np.isfinite(positions).all(axis=1)
        fine[placed] = finite
        points[placed] = np.where(finite[:, None], positions, np.nan)
    else:
        fine[placed] = False
    return fine, points


def _touches_border(boxes, image_size, margin):
    """:func:`touches_border` of each box, Nx4 tlwh pixels -> (N,) bool."""
    width, height = image_size
    right, bottom = boxes[:, 2] + boxes[:, 0], boxes[:, 3] + boxes[:, 1]
    return ((boxes[:, 0] <= margin) | (boxes[:, 1] <= margin) | (right >= width - 1 - margin)
            | (bottom >= height - 1 - margin))


def _common_feature_length(detections):
    """The most frequent length of the finite 1-D features among detections, or None."""
    lengths = [d.feature.size for d in detections
               if d.feature is not None and d.feature.ndim == 1 and d.feature.size and np.isfinite(d.feature).all()]
    if not lengths:
        return None
    values, counts = np.unique(lengths, return_counts=True)
    return int(values[np.argmax(counts)])


class _FrameArrays:
    """Arrays of a list of detections that the stages of one frame read again and again.

    Attributes
    ----------
    detections : list of Detection
        The list they were computed from (the cache is valid for this very list only).
    labels : ndarray, (N,) int
    boxes : ndarray, Nx4 float64
        ``tlwh``, pixels.
    features : ndarray, NxD float32, or None
        The (L2-normalised) features, when every detection has one of the same length.
    positions : ndarray, Nx3 float64
        World positions, metres; NaN rows where unknown.
    world_gates : ndarray, (N,) float64
        Each detection's world gate, metres (:meth:`Tracker._world_gates`).
    """

    __slots__ = ("detections", "labels", "boxes", "features", "positions", "world_gates")

    def __init__(self, tracker, detections, boxes=None, features=None, positions=None):
        self.detections = detections
        count = len(detections)
        self.labels = np.array([d.label for d in detections]).reshape(count)
        self.boxes = boxes if boxes is not None else \
            np.array([d.tlwh for d in detections], dtype=np.float64).reshape(count, 4)
        if features is None and count:
            found = [d.feature for d in detections]
            if all(f is not None for f in found) and len({f.shape for f in found}) == 1:
                features = np.array(found, dtype=np.float32)
        self.features = features
        self.positions = positions if positions is not None else world_points(detections)
        self.world_gates = tracker._world_gates(detections)


class Tracker:
    """Multi-object tracker for static objects seen by a moving camera.

    Parameters
    ----------
    config : TrackerConfig, optional
    embedder : object, optional
        Anything with ``embed(rgb, boxes_tlwh, masks) -> NxD float32`` (L2-normalised); used for
        detections that come without a feature, when the frame carries ``rgb``.
    gallery : LongTermGallery, optional
        An existing gallery (e.g. loaded from a previous visit of the same room); its identities can
        come back, and new IDs start above its largest ID.

    Attributes
    ----------
    tracks : list of Track
        Live tracks (tentative and confirmed).
    gallery : LongTermGallery
        Every confirmed identity, live or lost, with every observation so far (reading it writes the
        observations of live tracks still waiting for ``config.gallery_write_interval``).
    frame_index : int or None
        Index of the latest frame processed.
    reactivations : int
        How many times an identity came back from the gallery (a returning object got its old ID).
    invalid_detections : int
        How many detections were skipped as invalid (each with a warning naming the problem).
    """

    def __init__(self, config=None, embedder=None, gallery=None):
        self.config = config if config is not None else TrackerConfig()
        self.embedder = embedder
        self._gallery = gallery if gallery is not None else self.config.make_gallery()
        self._unwritten = []               # blocks (ids, labels, features, positions, frames) of live
                                           # tracks' observations not written to the gallery yet, in order
        self._unwritten_ids = set()
        self._unwritten_frames = 0
        self.tracks = []
        self._store = TrackStore(self.config.nn_budget, self.config.world_history)
        self.frame_index = None
        self._frames_seen = 0
        self._next_id = self._gallery.max_id + 1
        self.reactivations = 0
        self.invalid_detections = 0
        self.feature_dim = self._gallery.feature_dim
        self._frame_arrays = None
        self._live_rows = None          # shared_store(self.tracks) from a frame's prediction to its new tracks

    # ------------------------------------------------------------------ public
    @property
    def gallery(self):
        """The long-term gallery (:class:`LongTermGallery`), with every observation written."""
        self.write_gallery()
        return self._gallery

    @gallery.setter
    def gallery(self, gallery):
        self.write_gallery()
        self._gallery = gallery

    def write_gallery(self):
        """Write the observations of live tracks still waiting to the gallery (one batched write)."""
        unwritten = self._unwritten
        self._unwritten_frames = 0
        if not unwritten:
            return
        self._unwritten, self._unwritten_ids = [], set()
        if all(type(block[2]) is np.ndarray for block in unwritten):
            # the usual case: blocks of arrays, several observations per identity
            self._gallery.add_many(*(np.concatenate([block[field] for block in unwritten]) for field in range(5)))
            return
        ids, labels, features, positions, frames = [], [], [], [], []
        for block in unwritten:
            ids += list(block[0])
            labels += list(block[1])
            features += list(block[2])
            positions += list(block[3])
            frames += list(block[4])
        self._gallery.add_many(ids, labels, features, positions, frames)

    def update(self, detections, frame=None):
        """Process one frame.

        Parameters
        ----------
        detections : list of Detection
            This frame's detections; invalid ones are skipped with a warning.
        frame : object, optional
            With ``index`` and ``rgb`` (HxWx3 uint8) and optionally ``depth`` (metres, its own size),
            ``pose`` (4x4 camera-to-world or None), ``intrinsic_color``, ``intrinsic_depth``, like
            ``reid.data.scannet.Frame``. Without it, frames are numbered 0, 1, 2, ...

        Returns
        -------
        list of Track
            Confirmed tracks that were assigned a detection in this frame; ``track.last_detection``
            is that detection.

        Notes
        -----
        Kept detections are completed in place: a computed ``feature`` (L2-normalised) and
        ``world_position`` are written into them.
        """
        index = getattr(frame, "index", None)
        frame_index = int(index) if index is not None else self._frames_seen
        self.frame_index = frame_index
        self._frames_seen += 1
        arrays = self._frame_arrays = self._prepare(list(detections or ()), frame)
        detections = arrays.detections

        self._live_rows = predict_tracks(self.tracks)        # the tracks' store rows until new tracks start
        matches, unmatched_tracks, unmatched_detections = self._match(detections)
        matched, chosen = [], None
        if matches:
            chosen = np.array([i for _, i in matches], dtype=np.intp)
            matched = [self.tracks[k] for k, _ in matches]
            update_tracks(matched, [detections[i] for i in chosen.tolist()],
                          frame_index, boxes=arrays.boxes[chosen],
                          features=None if arrays.features is None else arrays.features[chosen],
                          positions=arrays.positions[chosen],
                          store_rows=self._store_rows(self.tracks, [k for k, _ in matches]))
        reacquired, unmatched_tracks, unmatched_detections = self._reacquire(
            detections, unmatched_tracks, unmatched_detections)
        for track_index, detection_index in reacquired:
            self.tracks[track_index].reacquire(detections[detection_index], frame_index)
        for track_index in unmatched_tracks:
            self.tracks[track_index].mark_missed()
        self._live_rows = None
        self._start_tracks(detections, unmatched_detections, frame_index)
        self._adopt_gallery_ids_on_confirmation()
        self._record_in_gallery(matched, chosen)
        gone = (TrackState.Lost, TrackState.Deleted)
        leaving = [track for track in self.tracks if track.state in gone]
        if leaving:
            if self._unwritten and any(track.track_id in self._unwritten_ids for track in leaving):
                self.write_gallery()         # a lost identity is searched from the next frame on
            for track in leaving:
                if track.state == TrackState.Lost:
                    log.debug("track %d lost after %d frames unseen", track.track_id, track.time_since_update)
                if track._store is self._store:
                    track.release()         # it keeps its data; its row goes to a later track
            self.tracks = [track for track in self.tracks if track.state not in gone]
        self._frame_arrays = None
        if self._unwritten_frames >= self.config.gallery_write_interval:
            self.write_gallery()
        confirmed = TrackState.Confirmed
        return [t for t in self.tracks if t.state == confirmed and t.time_since_update == 0]

    @property
    def confirmed_tracks(self):
        return [t for t in self.tracks if t.is_confirmed()]

    # ------------------------------------------------------------------ input
    def _prepare(self, detections, frame):
        """Validate detections, compute missing features and world positions.

        The checks run for all detections at once (:func:`check_detections`); only a detection that
        fails them goes through :func:`invalid_reason` (which names the problem in the warning).

        Returns
        -------
        _FrameArrays
            The kept detections (``.detections``) with their boxes, features and world positions
            stacked, reusing the arrays the checks built.
        """
        rgb = getattr(frame, "rgb", None)
        image_size = (rgb.shape[1], rgb.shape[0]) if rgb is not None else None
        if self.feature_dim is None:
            self.feature_dim = _common_feature_length(detections)
        config = self.config
        ignored, min_score = config.ignored_labels, config.min_score
        candidates = [d for d in detections if not (d.label in ignored or d.score < min_score)]
        checked = check_detections(candidates, image_size, self.feature_dim)
        placed, positions = _finite_points(candidates)
        if checked.valid.all() and placed.all() and all(d.mask is None for d in candidates):
            kept, rows = candidates, None        # the usual frame: nothing to skip, warn about or sanitize
        else:
            kept, rows = self._keep_valid(candidates, checked.valid, placed, positions, image_size)
        boxes = checked.boxes
        if boxes is not None and rows is not None:
            boxes = boxes[rows]
        if rows is not None:
            positions = positions[rows]
        if boxes is None:
            boxes = np.array([d.tlwh for d in kept], dtype=np.float64).reshape(len(kept), 4)
        if image_size is not None and kept:
            touching = _touches_border(boxes, image_size, config.border_margin)
            for detection, touches in zip(kept, touching.tolist()):
                detection.truncated = detection.truncated or touches
        features = None
        if checked.features is not None and len(checked.feature_rows) == len(candidates):
            # every feature stacked in the check (so every kept detection has one): scale those rows
            features = normalized_rows(checked.features if rows is None else checked.features[rows])
            for detection, feature in zip(kept, features):
                detection.feature = feature
        else:
            with_feature = [d for d in kept if d.feature is not None]
            if with_feature and len({d.feature.size for d in with_feature}) == 1:
                for detection, feature in zip(with_feature, normalized_rows(np.array(
                        [d.feature for d in with_feature], dtype=np.float32))):
                    detection.feature = feature
            else:
                for detection in with_feature:
                    detection.feature = normalized(detection.feature)
        embedded = kept if features is not None else self._embed(kept, rgb)     # nothing to embed when all have one
        located = self._locate(embedded, frame, rgb)
        if embedded is not kept:                 # features computed (and detections maybe dropped)
            return _FrameArrays(self, embedded)
        return _FrameArrays(self, kept, boxes=boxes, features=features, positions=None if located else positions)

    def _keep_valid(self, candidates, valid, placed, positions, image_size):
        """The detections that pass :func:`invalid_reason` (the others skipped with a warning), their
        masks and world positions sanitized; ``positions`` (Nx3) updated in place.

        Returns
        -------
        kept : list of Detection
        rows : ndarray of int or None
            Rows of ``candidates`` kept; None when all are.
        """
        kept, kept_rows = [], []
        for row, (detection, fine, position_fine) in enumerate(zip(candidates, valid.tolist(), placed.tolist())):
            if not fine:
                reason = invalid_reason(detection, image_size, self.feature_dim)
                if reason:
                    log.warning("frame %s: detection skipped: %s", self.frame_index, reason)
                    self.invalid_detections += 1
                    continue
            if detection.mask is not None or not position_fine:
                sanitize(detection, image_size)
                if not position_fine and detection.world_position is not None:
                    positions[row] = detection.world_position
            kept.append(detection)
            kept_rows.append(row)
        return kept, None if len(kept) == len(candidates) else np.array(kept_rows, dtype=np.intp)

    def _embed(self, detections, rgb):
        missing = [d for d in detections if d.feature is None]
        if not missing or self.embedder is None or rgb is None:
            return detections                    # the very list: nothing computed
        features = embed_detections(self.embedder, rgb, missing)
        if features.ndim != 2 or features.shape[0] != len(missing):
            raise ValueError(f"embedder returned features of shape {features.shape} for "
                             f"{len(missing)} boxes, expected {len(missing)} x D")
        dropped = set()
        for detection, feature in zip(missing, features):
            detection.feature = feature
            reason = invalid_reason(detection, None, self.feature_dim)
            if reason:
                log.warning("frame %s: detection skipped: embedder output: %s", self.frame_index, reason)
                dropped.add(id(detection))
                self.invalid_detections += 1
                continue
            detection.feature = normalized(feature)
            self.feature_dim = self.feature_dim or feature.size
        return [d for d in detections if id(d) not in dropped]

    def _locate(self, detections, frame, rgb):
        """World positions of the detections without one, when the frame has depth, pose and
        intrinsics; returns whether any was computed."""
        depth = getattr(frame, "depth", None)
        pose = getattr(frame, "pose", None)
        intrinsic_color = getattr(frame, "intrinsic_color", None)
        intrinsic_depth = getattr(frame, "intrinsic_depth", None)
        if depth is None or pose is None or intrinsic_color is None:
            return False
        if intrinsic_depth is None:
            if rgb is None or depth.shape[:2] != rgb.shape[:2]:
                return False
            intrinsic_depth = intrinsic_color
        located = False
        for detection in detections:
            if detection.world_position is None:
                detection.world_position = world_position(
                    detection.mask, depth, intrinsic_color, intrinsic_depth, pose, tlwh=detection.tlwh,
                    min_valid_depths=self.config.min_valid_depths)
                located = located or detection.world_position is not None
        return located

    # ------------------------------------------------------------------ matching
    def _appearance_world_cost(self, tracks, detections, track_indices, detection_indices,
                               max_distance, motion_gate, decided_pairs_exact=True):
        """Appearance + world cost, gated by class, appearance, world distance and optionally motion.

        The cheap gates come first (class and world distance for all pairs, then motion for the pairs
        these leave and, when the world cue replaces it, that have no world distance); appearance is
        computed only for the pairs still open: any other pair costs ``INFTY_COST`` either way.

        Parameters
        ----------
        max_distance : float
            Appearance gate (cosine distance) of pairs with a world distance; the tighter
            ``config.unplaced_max_distance`` applies to the others.
        motion_gate : bool
            Apply the Kalman filters' chi-square gate (to the pairs without world distance when
            ``config.world_replaces_motion_gate``).
        decided_pairs_exact : bool
            False: a pair that the assignment takes whatever its exact cost is costed from its track's
            latest feature instead of a bank search (:meth:`_decided_pairs`); for the matching
            cascade, whose assignment is then the same. True (default): every cost exact.

        Returns
        -------
        ndarray, (len(track_indices), len(detection_indices))
            ``appearance + world_weight * world distance`` (metres, where both positions are known);
            ``INFTY_COST`` for a forbidden pair.
        """
        config = self.config
        level_tracks = [tracks[k] for k in track_indices]
        frame = self._frame_arrays if self._frame_arrays is not None and \
            self._frame_arrays.detections is detections else _FrameArrays(self, detections)
        if len(detection_indices) == len(detections) and detection_indices == list(range(len(detections))):
            columns = slice(None)                # every detection in order (a cascade's first level)
        else:
            columns = np.asarray(detection_indices, dtype=np.intp)
        forbidden = np.array([t.label for t in level_tracks])[:, None] != frame.labels[columns][None, :]
        if forbidden.all():                      # no class in common: nothing else to compute
            return np.full(forbidden.shape, INFTY_COST)
        store_rows = self._store_rows(tracks, track_indices)
        centres = store_rows[0].medians(store_rows[1]) if store_rows is not None else None
        world = world_distances_to(level_tracks, frame.positions[columns], centres)   # metres, NaN if unknown
        world_known = np.isfinite(world)
        everywhere = world_known.all()           # the usual case with depth and pose: no NaN to set aside
        forbidden |= (world > frame.world_gates[columns][None, :]) if everywhere else \
            world_known & (world > frame.world_gates[columns][None, :])
        if forbidden.all():
            return np.full(forbidden.shape, INFTY_COST)
        motion_gated = None
        if motion_gate:
            undecided = ~forbidden & ~world_known if config.world_replaces_motion_gate else ~forbidden
            if undecided.any():
                motion_gated = self._motion_gated(undecided, tracks, detections, track_indices, detection_indices,
                                                  store_rows, frame.boxes[columns])
                if not motion_gated.any():
                    motion_gated = None
        # a motion-gated pair without world distance costs INFTY_COST whatever its appearance
        pairs = ~forbidden if motion_gated is None else ~forbidden & ~(motion_gated & ~world_known)
        decided = None
        if not decided_pairs_exact and store_rows is not None and frame.features is not None:
            pairs, decided = self._decided_pairs(pairs, store_rows, frame.features[columns], world_known,
                                                 max_distance)
        if decided is not None and not pairs.any():         # every pair decided: no bank to search
            appearance = np.full(pairs.shape, INFTY_COST)
        else:
            appearance = nn_matching.appearance_cost(tracks, detections, track_indices, detection_indices,
                                                     pairs=pairs, features=frame.features, store_rows=store_rows)
        if decided is not None:
            decided_rows, decided_columns, bound = decided
            appearance[decided_rows, decided_columns] = np.maximum(0.0, bound)
        cost = appearance.copy()
        if motion_gated is not None:
            cost[motion_gated] = INFTY_COST
        if everywhere:
            cost += config.world_weight * world
            forbidden |= appearance > max_distance
        else:
            cost += config.world_weight * np.where(world_known, world, 0.0)
            forbidden |= appearance > np.where(world_known, max_distance,
                                               min(max_distance, config.unplaced_max_distance))
        cost[forbidden] = INFTY_COST
        return cost

    @staticmethod
    def _motion_gated(undecided, tracks, detections, track_indices, detection_indices, store_rows, boxes):
        """Which of the ``undecided`` pairs (TxN bool) the Kalman filters' chi-square gate forbids: the
        squared Mahalanobis distance of those pairs only, from the tracks' store rows when known
        (``boxes``: the detections' tlwh, Nx4); else :func:`~tracker.linear_assignment.gate_cost_matrix`
        on the block of their tracks and detections. The same decisions either way."""
        gated = np.zeros(undecided.shape, dtype=bool)
        if store_rows is not None:
            store, rows = store_rows
            pair_rows, pair_columns = np.nonzero(undecided)
            track_rows = rows[pair_rows]
            distances = kalman_batch.pair_gating_distance(
                store.kalman_mean[track_rows], store.kalman_covariance[track_rows],
                kalman_batch.tlwh_to_xyah(boxes[pair_columns]), TrackStore.std_weight_position)
            gated[pair_rows, pair_columns] = distances > CHI2INV95[4]
            return gated
        rows, cols = np.flatnonzero(undecided.any(axis=1)), np.flatnonzero(undecided.any(axis=0))
        gated[np.ix_(rows, cols)] = linear_assignment.gate_cost_matrix(
            np.zeros((len(rows), len(cols))), tracks, detections, [track_indices[r] for r in rows],
            [detection_indices[c] for c in cols]) >= INFTY_COST
        return gated & undecided

    # a pair is decided by its latest feature only when that one is this far inside the appearance gate
    # (the bound's float arithmetic differs from the bank search's by ~1e-7)
    _DECIDED_MARGIN = 1e-4

    def _decided_pairs(self, pairs, store_rows, features, world_known, max_distance):
        """The pairs whose assignment needs no appearance cost, and the others.

        A pair that is the only candidate of its track and of its detection, and whose latest-feature
        distance (an upper bound of the nearest-neighbour distance) is inside the appearance gate, is
        admissible and alone in its row and column whatever its exact cost, so the assignment takes it
        (:func:`~tracker.linear_assignment.solve_assignment` matches such a pair without the solver).
        Its bank need not be searched: its cost is given as the bound (within the gates like the
        exact one; only a cost matrix read outside the assignment would see the difference).

        Returns
        -------
        pairs : ndarray of bool, TxN
            The pairs still to search exactly.
        decided : (ndarray, ndarray, ndarray) or None
            Rows, columns and latest-feature distance of the decided pairs.
        """
        store, rows = store_rows
        candidate = pairs & (store.feature_count[rows] > 0)[:, None]
        pair_rows, pair_columns = np.nonzero(candidate)
        if not len(pair_rows):
            return pairs, None
        single = (np.bincount(pair_rows, minlength=len(rows))[pair_rows] == 1) & \
            (np.bincount(pair_columns, minlength=candidate.shape[1])[pair_columns] == 1)
        if not single.any():
            return pairs, None
        pair_rows, pair_columns = pair_rows[single], pair_columns[single]
        bound = nn_matching.latest_feature_distance(store, rows[pair_rows], features[pair_columns])
        gate = np.where(world_known[pair_rows, pair_columns], max_distance,
                        min(max_distance, self.config.unplaced_max_distance))
        sure = bound <= gate - self._DECIDED_MARGIN
        if not sure.any():
            return pairs, None
        pair_rows, pair_columns = pair_rows[sure], pair_columns[sure]
        pairs = pairs.copy()
        pairs[pair_rows, pair_columns] = False
        return pairs, (pair_rows, pair_columns, bound[sure])

    def _store_rows(self, tracks, track_indices):
        """(store, rows) of ``tracks[k]`` for ``k`` in ``track_indices`` when the tracker's live tracks
        (``tracks`` is ``self.tracks``) share one store, from the rows read at the frame's prediction;
        None otherwise."""
        live = self._live_rows
        if tracks is not self.tracks or live is None or live[0] is None:
            return None
        return live[0], live[1][track_indices]

    def _cost_limit(self, max_distance):
        """Largest cost a pair within all gates can have (gating itself is done in the cost)."""
        config = self.config
        return max_distance + config.world_weight * max(config.world_gate_metres, config.truncated_world_gate_metres)

    def _match(self, detections):
        config = self.config
        confirmed_state = TrackState.Confirmed
        confirmed = [i for i, t in enumerate(self.tracks) if t.state == confirmed_state]
        unconfirmed = [i for i, t in enumerate(self.tracks) if t.state != confirmed_state]

        def gated_metric(tracks, dets, track_indices, detection_indices):
            return self._appearance_world_cost(tracks, dets, track_indices, detection_indices,
                                               config.max_cosine_distance, motion_gate=True,
                                               decided_pairs_exact=False)

        appearance_limit = self._cost_limit(config.max_cosine_distance)
        matches_a, unmatched_tracks_a, unmatched_detections = linear_assignment.matching_cascade(
            gated_metric, appearance_limit, config.max_age, self.tracks, detections, confirmed)

        iou_candidates = unconfirmed + [k for k in unmatched_tracks_a if self.tracks[k].time_since_update == 1]
        unmatched_tracks_a = [k for k in unmatched_tracks_a if self.tracks[k].time_since_update != 1]
        frame = self._frame_arrays
        boxes = frame.boxes if frame is not None and frame.detections is detections else None

        def iou_metric(tracks, dets, track_indices, detection_indices):
            return iou_matching.iou_cost(tracks, dets, track_indices, detection_indices, detection_boxes=boxes)

        matches_b, unmatched_tracks_b, unmatched_detections = linear_assignment.min_cost_matching(
            iou_metric, config.max_iou_distance, self.tracks, detections, iou_candidates, unmatched_detections)
        return matches_a + matches_b, sorted(set(unmatched_tracks_a + unmatched_tracks_b)), unmatched_detections

    def _reacquire(self, detections, track_indices, detection_indices):
        """Confirmed tracks out of sight take back a detection by appearance (+ world), anywhere."""
        config = self.config
        # a tentative track is taken only where both world positions are known: a small object that
        # moves farther than its own width between frames (a fast pan) never overlaps its predicted box
        # and would never be confirmed by IoU, but it stays where it is in the world
        tracks = self.tracks
        candidates = [k for k in track_indices if tracks[k].state == TrackState.Confirmed
                      or (config.tentative_world_matching and tracks[k].has_world_position)]
        chosen = set(candidates)
        others = [k for k in track_indices if k not in chosen]
        if not {tracks[k].label for k in candidates} & {detections[i].label for i in detection_indices}:
            return [], candidates + others, list(detection_indices)     # no class in common: no pair to cost

        def metric(tracks, dets, track_indices, detection_indices):
            cost = self._appearance_world_cost(tracks, dets, track_indices, detection_indices,
                                               config.gallery_max_distance, motion_gate=False)
            if not (cost < INFTY_COST).any():
                return cost
            tentative = np.array([not tracks[k].is_confirmed() for k in track_indices], dtype=bool)
            unplaced = np.array([dets[i].world_position is None for i in detection_indices], dtype=bool)
            cost[np.ix_(tentative, unplaced)] = INFTY_COST
            return cost

        limit = self._cost_limit(config.gallery_max_distance)
        matches, unmatched_tracks, unmatched_detections = linear_assignment.min_cost_matching(
            metric, limit, self.tracks, detections, candidates, detection_indices)
        return matches, unmatched_tracks + others, unmatched_detections

    # ------------------------------------------------------------------ life cycle
    def _live_ids(self):
        return {t.track_id for t in self.tracks}

    def _start_tracks(self, detections, detection_indices, frame_index):
        if not detection_indices:
            return
        found = [None] * len(detection_indices)
        if self.config.use_gallery and len(self._gallery):
            candidates = [detections[i] for i in detection_indices]
            found = self._gallery.assign([d.feature for d in candidates], [d.label for d in candidates],
                                        [d.world_position for d in candidates], exclude_ids=self._live_ids(),
                                        **self._gallery_gates(candidates))
        started = [None] * len(detection_indices)
        fresh, fresh_ids = [], []
        for k, (detection_index, match) in enumerate(zip(detection_indices, found)):
            if match is None:
                while self._next_id in self._gallery:     # IDs added to a shared gallery meanwhile
                    self._next_id += 1
                fresh.append(k)
                fresh_ids.append(self._next_id)
                self._next_id += 1
            else:
                track_id, cost = match
                log.debug("frame %s: identity %d back from the gallery (cost %.3f)", frame_index, track_id, cost)
                started[k] = self._revive(track_id, detections[detection_index], frame_index)
                self.reactivations += 1
        if 0 < len(fresh) < 3:
            # one or two new tracks (the usual frame): one by one costs less than the batched writes
            for k, track_id in zip(fresh, fresh_ids):
                started[k] = self._new_track(track_id, detections[detection_indices[k]], frame_index, confirmed=False)
        elif fresh:
            # many new tracks (a first frame): their rows written at once, from the frame's stacked arrays
            chosen = np.array([detection_indices[k] for k in fresh], dtype=np.intp)
            frame = self._frame_arrays
            stacked = frame is not None and frame.detections is detections
            config = self.config
            created = start_tracks(fresh_ids, [detections[i] for i in chosen.tolist()], frame_index, self._track_store(),
                                   n_init=config.n_init, max_age=config.max_age,
                                   boxes=frame.boxes[chosen] if stacked else None,
                                   features=frame.features[chosen] if stacked and frame.features is not None else None,
                                   positions=frame.positions[chosen] if stacked else None)
            for k, track in zip(fresh, created):
                started[k] = track
        self.tracks.extend(started)

    def _world_gates(self, detections):
        """World gate of each detection, metres: wider for views cut by the image border."""
        config = self.config
        return np.array([config.truncated_world_gate_metres if d.truncated else config.world_gate_metres
                         for d in detections], dtype=np.float64).reshape(len(detections))

    def _gallery_gates(self, detections=None):
        """Gates of a gallery search: the config's, or one per detection (wider world gate, world-first
        weight and gate for a placed view cut by the image border)."""
        config = self.config
        gates = dict(max_distance=config.gallery_max_distance, unplaced_max_distance=config.unplaced_max_distance,
                     world_weight=config.world_weight, world_gate_metres=config.world_gate_metres)
        if detections is not None:
            cut = np.array([d.truncated and d.world_position is not None for d in detections], dtype=bool)
            gates["world_gate_metres"] = self._world_gates(detections)
            if cut.any():
                gates["max_distance"] = np.where(cut, config.truncated_max_distance, config.gallery_max_distance)
                gates["world_weight"] = np.where(cut, config.truncated_world_weight, config.world_weight)
        return gates

    def _new_track(self, track_id, detection, frame_index, confirmed):
        config = self.config
        return Track(track_id, detection, frame_index, n_init=config.n_init, max_age=config.max_age,
                     feature_budget=config.nn_budget, world_history=config.world_history, confirmed=confirmed,
                     store=self._track_store())

    def _track_store(self):
        """The store of new tracks' features and positions (a new one if the config's sizes changed)."""
        config = self.config
        if (self._store.feature_budget, self._store.world_history) != (config.nn_budget, max(config.world_history, 0)):
            self._store = TrackStore(config.nn_budget, config.world_history)
        return self._store

    def _revive(self, track_id, detection, frame_index):
        """A confirmed track for a lost identity, seeded with its gallery features and position."""
        track = self._new_track(track_id, detection, frame_index, confirmed=True)
        position = self._gallery.world_position(track_id) if detection.world_position is None else None
        track.remember(self._gallery.features(track_id), position)
        track.from_gallery = True
        return track

    def _adopt_gallery_ids_on_confirmation(self):
        """A track confirmed this frame whose ID is new may be a lost identity seen at first from an
        unrecognisable view: compare its accumulated observations with the gallery once more."""
        gallery, unwritten = self._gallery, self._unwritten_ids
        confirmed = TrackState.Confirmed
        fresh = [t for t in self.tracks if t.state == confirmed and t.pending_observations
                 and t.track_id not in unwritten and t.track_id not in gallery]
        if not fresh or not len(gallery) or not self.config.use_gallery:
            return
        features = [t.features.mean() for t in fresh]
        found = gallery.assign(features, [t.label for t in fresh], [t.world_position for t in fresh],
                               exclude_ids=self._live_ids(), **self._gallery_gates())
        for track, match in zip(fresh, found):
            if match is not None:
                log.debug("track %d is identity %d, back from the gallery", track.track_id, match[0])
                track.track_id = match[0]
                track.from_gallery = True
                track.remember(gallery.features(match[0]))
                self.reactivations += 1

    def _record_in_gallery(self, tracks, chosen):
        """Queue the new observations of confirmed tracks for the gallery (written every
        ``gallery_write_interval`` frames by :meth:`write_gallery`, in the order seen).

        The usual observation, a confirmed track's detection of this frame (``tracks``, matched to the
        frame's detections of rows ``chosen``), is queued from the frame's stacked arrays; the others
        (a track confirmed this frame with its earlier observations, a track brought back) one by one.
        """
        confirmed = TrackState.Confirmed
        unwritten, unwritten_ids = self._unwritten, self._unwritten_ids
        arrays = self._frame_arrays
        if tracks and arrays is not None and arrays.features is not None:
            block = [k for k, t in enumerate(tracks) if t.state == confirmed and len(t.pending_observations) == 1]
            if block:
                ids = [tracks[k].track_id for k in block]
                rows = chosen[block]
                unwritten.append((np.array(ids, dtype=np.int64), np.array([tracks[k].label for k in block]),
                                  arrays.features[rows], arrays.positions[rows],
                                  np.full(len(block), self.frame_index, dtype=np.int64)))
                unwritten_ids.update(ids)
                for k in block:
                    tracks[k].pending_observations = []
        dim = self.feature_dim
        for track in self.tracks:
            pending = track.pending_observations
            if pending and track.state == confirmed:
                count = len(pending)
                features = [o[1] for o in pending]
                if all(type(f) is np.ndarray and f.shape == (dim,) for f in features):
                    unwritten.append((np.full(count, track.track_id, dtype=np.int64), np.full(count, track.label),
                                      np.array(features, dtype=np.float32), stack_points([o[2] for o in pending]),
                                      np.array([o[0] for o in pending], dtype=np.int64)))
                else:
                    unwritten.append(([track.track_id] * count, [track.label] * count, features,
                                      [o[2] for o in pending], [o[0] for o in pending]))
                unwritten_ids.add(track.track_id)
                track.pending_observations = []
        self._unwritten_frames += 1
