"""The online tracker: deepSORT's loop plus a long-term gallery and a static-world cue.

Per frame, on complete detections (:func:`tracker.detection.complete_detections`: feature and world
position computed): predict every live track (Kalman, moved by the image motion that the objects seen
in the previous frame show); (1) confirmed tracks take detections by
appearance + world distance, recently seen tracks first (deepSORT's cascade), motion-gated where no
world distance is known; (2) tentative tracks and tracks missed in the previous frame only take
detections by IoU; (3) identities out of sight (live tracks not matched, and lost identities in the
long-term gallery) take the detections left by the same appearance + world rule, anywhere in the
image: a returning object gets its old ID back; (4) the others start new tracks. Confirmed tracks not
seen for ``max_age`` frames are lost: they leave the live set and wait in the gallery.
"""
import logging
from dataclasses import dataclass, field, replace
from typing import FrozenSet

import numpy as np

from reid.data.nyu40 import STRUCTURE_LABELS

from .detection import Detection, invalid_reason, normalized, sanitize
from .gallery import LongTermGallery
from .matching import INFTY_COST, Gates, association_cost, image_motion, iou_cost, matching_cascade, min_cost_matching
from .track import Track, TrackState, predict_tracks, update_tracks

log = logging.getLogger("tracker")


@dataclass
class TrackerConfig:
    """Tracker settings (how each value was chosen: docs/tuning.md).

    Attributes
    ----------
    max_cosine_distance : float
        Appearance gate (cosine distance) for live confirmed tracks (stage 1).
    nn_budget : int
        Recent features kept per identity (besides the mean of all).
    max_iou_distance : float
        Gate of the IoU stage (``1 - IoU``).
    max_age : int
        Frames a confirmed track may go unseen before it is lost (leaves the live set, stays in the
        gallery).
    n_init : int
        Consecutive hits that confirm a new track.
    gallery_max_distance : float
        Appearance gate for an identity out of sight (stage 3).
    unplaced_max_distance : float
        Appearance gate, in every stage, of a pair whose world distance is unknown (RGB alone, unknown
        pose; a detection with a pose but too few valid depths is at its world ray's distance):
        without the world cue to vouch for it, a pair must look closer.
    world_gate_metres : float
        Known world positions farther apart than this never match. A position is the centre of the
        *visible* part, which moves when the object is partly hidden, hence a generous gate.
    truncated_world_gate_metres : float
        The world gate of a detection cut by the image border (its position is that of the visible
        part only).
    truncated_world_weight, truncated_max_distance : float
        In stage 3, the cost per metre and the appearance gate of a placed detection cut by the image
        border: a cut view's appearance is unreliable, so it is matched world first.
    border_margin : float
        Pixels from the image border within which a box counts as cut.
    world_weight : float
        Cost added per metre of world distance.
    world_replaces_motion_gate : bool
        Skip the Kalman motion gate for pairs with a known world distance (a static object's image
        motion comes only from the camera, which the world cue accounts for).
    world_history : int
        Recent world positions kept per identity; its position is their median.
    gallery_max_frame_ranges : int
        Bound on the frame ranges stored per identity.
    gallery_index : {"exact", "faiss"}
        Search all lost identities, or a faiss preselection when there are many (RGB-only galleries
        of 1e5 features and more).
    min_score : float
        Detections scoring lower are ignored.
    ignored_labels : frozenset of int
        Classes not tracked (NYU40 wall, floor, ceiling by default).
    min_valid_depths : int
        Fewest valid depths under a mask to compute a world position.
    use_gallery : bool
        Give returning objects their old IDs from the gallery (False: plain deepSORT identities, for
        ablations; the gallery is kept and can be queried either way).
    tentative_world_matching : bool
        In stage 3, let a tentative track with a known world position take a placed detection: small
        objects in a fast pan move more than their own width per frame and would never be confirmed
        by IoU.
    compensate_image_motion : bool
        Move every predicted box by the image motion since the previous frame: the median displacement
        of the objects seen in both frames that look alike, pairs within ``unplaced_max_distance``
        (:func:`tracker.matching.image_motion`). The camera moves, the objects do not; without it a
        small object in a pan, without depth, is never confirmed.
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
    gallery_max_frame_ranges: int = 64
    gallery_index: str = "exact"
    min_score: float = 0.0
    ignored_labels: FrozenSet[int] = field(default_factory=lambda: frozenset(STRUCTURE_LABELS))
    min_valid_depths: int = 10
    use_gallery: bool = True
    tentative_world_matching: bool = True
    compensate_image_motion: bool = True

    def make_gallery(self):
        """An empty :class:`LongTermGallery` with these settings."""
        return LongTermGallery(feature_budget=self.nn_budget, world_history=self.world_history,
                               max_frame_ranges=self.gallery_max_frame_ranges, index=self.gallery_index)


class Tracker:
    """Multi-object tracker for static objects seen by a moving camera.

    Parameters
    ----------
    config : TrackerConfig, optional
    gallery : LongTermGallery, optional
        An existing gallery (e.g. loaded from a previous visit of the same room): its identities can
        come back, and new IDs start above its largest ID. Each tracker is one visit of its gallery
        (:meth:`LongTermGallery.begin_visit`): the frames it records carry that visit's number.

    Attributes
    ----------
    tracks : list of Track
        Live tracks (tentative and confirmed).
    gallery : LongTermGallery
        Every confirmed identity, live or lost.
    frame_index : int or None
        Index of the latest frame processed.
    visit : int
        This tracker's visit of its gallery (1 for a new gallery, 2 for the first continuation, ...).
    reactivations : int
        How many times a lost identity came back (a returning object got its old ID).
    invalid_detections : int
        Detections skipped as invalid (each with a warning naming the problem).
    """

    def __init__(self, config=None, gallery=None):
        self.config = config if config is not None else TrackerConfig()
        self.gallery = gallery if gallery is not None else self.config.make_gallery()
        self.tracks = []
        self.frame_index = None
        self.reactivations = self.invalid_detections = self._frames_seen = 0
        self._next_id = self.gallery.max_id + 1
        self.feature_dim = self.gallery.feature_dim
        self.visit = self.gallery.begin_visit()

    @property
    def confirmed_tracks(self):
        return [t for t in self.tracks if t.is_confirmed()]

    def update(self, detections, frame_index=None):
        """Process one frame.

        Parameters
        ----------
        detections : list of Detection
            This frame's detections, with their features (L2-normalised) and, when known, world
            positions and ``truncated`` flags (:func:`tracker.detection.complete_detections`). Invalid
            ones are skipped with a warning; none is modified.
        frame_index : int, optional
            Frames are numbered 0, 1, 2, ... without it.

        Returns
        -------
        list of Track
            Confirmed tracks assigned a detection in this frame (``track.last_detection``).
        """
        self.frame_index = frame = self._frames_seen if frame_index is None else int(frame_index)
        self._frames_seen += 1
        config, tracks = self.config, self.tracks
        detections = self._valid(detections)
        predict_tracks(tracks, image_motion(tracks, detections, config.unplaced_max_distance)
                       if config.compensate_image_motion else None)

        # 1. confirmed tracks by appearance + world, recently seen first
        gates = self._gates(detections, config.max_cosine_distance, motion=True)
        matches, missed, free = matching_cascade(
            lambda t, d, columns: association_cost(t, d, gates.columns(columns)), tracks, detections,
            [k for k, t in enumerate(tracks) if t.is_confirmed()], list(range(len(detections))), config.max_age)
        # 2. IoU: tentative tracks and those missed in the previous frame only
        found, missed_iou, free = min_cost_matching(
            lambda t, d, columns: iou_cost(t, d), tracks, detections,
            [k for k, t in enumerate(tracks) if not t.is_confirmed()] + [k for k in missed if tracks[k].time_since_update == 1],
            free, config.max_iou_distance)
        matches += found
        # (read before the update resets the matched tracks' time since update)
        missed = sorted(set(missed_iou) | {k for k in missed if tracks[k].time_since_update != 1})
        update_tracks([tracks[k] for k, _ in matches], [detections[i] for _, i in matches], frame)
        confirmed_now = [tracks[k] for k, _ in found if tracks[k].is_confirmed() and tracks[k].hits == config.n_init
                         and tracks[k].track_id not in self.gallery]

        # 3. identities out of sight, anywhere in the image: live tracks not matched and lost identities
        #    take the detections left; a lost identity may also turn out to be a track confirmed in this
        #    frame, first seen from a view too unlike its old ones
        returning = self._out_of_sight(detections, free, [tracks[k] for k in missed], confirmed_now)
        for track, i in returning:
            if track.state == TrackState.Lost:
                log.debug("frame %s: identity %d back from the gallery", frame, track.track_id)
                self.reactivations += 1
                tracks.append(track)
            if i < len(detections):
                track.activate(detections[i], frame, visit=self.visit)
            else:
                track.absorb(confirmed_now[i - len(detections)], frame)
        taken, back = {i for _, i in returning}, {id(t) for t, _ in returning}
        for k in missed:
            if id(tracks[k]) not in back:
                tracks[k].mark_missed(config.max_age)

        # 4. new tracks
        for i in free:
            if i not in taken:
                tracks.append(self._new_track(detections[i], frame))
        for track in tracks:
            if track.is_confirmed() and track.track_id not in self.gallery:
                self.gallery.add_track(track)
        self.tracks = [t for t in tracks if t.state in (TrackState.Tentative, TrackState.Confirmed)]
        return [t for t in self.tracks if t.is_confirmed() and t.time_since_update == 0]

    def _out_of_sight(self, detections, free, missed, confirmed_now):
        """Stage 3: (identity, column) pairs of out-of-sight identities that take a detection (column < N:
        ``detections[column]``) or a track confirmed in this frame (``confirmed_now[column - N]``, as
        a detection of its mean feature and position; lost identities only)."""
        config = self.config
        candidates = [t for t in missed if t.is_confirmed() or (config.tentative_world_matching
                                                                 and t.world_position is not None)]
        queries = list(detections)
        if config.use_gallery:
            queries += [Detection(t.to_tlwh(), t.score, t.label, feature=t.mean_feature,
                                  world_position=t.world_position) for t in confirmed_now]
            columns = free + list(range(len(detections), len(queries)))
            features = [queries[i].feature for i in columns if queries[i].feature is not None]
            if columns:
                candidates += self.gallery.lost(np.stack(features) if features else None,
                                                {queries[i].label for i in columns})
        else:
            columns = free
        if not candidates or not columns:
            return []
        gates = self._gates(queries, config.gallery_max_distance, cut_views_world_first=True)

        def cost_function(tracks, dets, columns):
            cost = association_cost(tracks, dets, gates.columns(columns))
            tentative = np.array([t.state == TrackState.Tentative for t in tracks])
            unplaced = np.array([d.world_position is None for d in dets])
            cost[np.ix_(tentative, unplaced)] = INFTY_COST
            live = np.array([t.state != TrackState.Lost for t in tracks])
            cost[np.ix_(live, columns >= len(detections))] = INFTY_COST
            return cost

        matches, _, _ = min_cost_matching(cost_function, candidates, queries, list(range(len(candidates))), columns)
        return [(candidates[k], i) for k, i in matches]

    def _new_track(self, detection, frame):
        while self._next_id in self.gallery:        # IDs added to a shared gallery meanwhile
            self._next_id += 1
        config = self.config
        track = Track(self._next_id, detection.label, n_init=config.n_init, feature_budget=config.nn_budget,
                      world_history=config.world_history, max_frame_ranges=config.gallery_max_frame_ranges,
                      visit=self.visit)
        self._next_id += 1
        track.activate(detection, frame)
        return track

    def _gates(self, detections, max_distance, motion=False, cut_views_world_first=False):
        """The :class:`~tracker.matching.Gates` of a stage for these detections."""
        config = self.config
        cut = np.array([d.truncated for d in detections], dtype=bool)
        world_first = cut & np.array([d.world_position is not None for d in detections], dtype=bool) \
            if cut_views_world_first else np.zeros(len(detections), dtype=bool)
        return Gates(appearance=np.where(world_first, config.truncated_max_distance, max_distance),
                     unplaced=config.unplaced_max_distance,
                     world=np.where(cut, config.truncated_world_gate_metres, config.world_gate_metres),
                     world_weight=np.where(world_first, config.truncated_world_weight, config.world_weight),
                     motion=motion, motion_only_unplaced=config.world_replaces_motion_gate)

    def _valid(self, detections):
        """The detections to track: tracked classes, valid (others skipped with a warning), features of
        unit length (a normalised copy where needed)."""
        config, kept = self.config, []
        for detection in detections or ():
            if detection.label in config.ignored_labels or detection.score < config.min_score:
                continue
            reason = invalid_reason(detection, None, self.feature_dim)
            if reason:
                log.warning("frame %s: detection skipped: %s", self.frame_index, reason)
                self.invalid_detections += 1
                continue
            detection = sanitize(detection)
            feature = detection.feature
            if feature is not None and abs(float(feature @ feature) - 1.0) > 1e-4:
                detection = replace(detection, feature=normalized(feature))
            if feature is not None and self.feature_dim is None:
                self.feature_dim = feature.size
            kept.append(detection)
        return kept
