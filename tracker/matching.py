"""Association of detections to tracks: one cost rule, IoU, min-cost assignment (lap.lapjv), cascade.

:func:`association_cost` is the rule every appearance stage of the tracker uses, for live tracks and
lost identities alike: same class, known world positions within the world gate, appearance within its
gate (a tighter one where no world distance vouches for the pair), optionally the Kalman motion gate;
cost = appearance distance + world weight x world distance. A detection without a world position but
with a world ray (pose known, no depth) is at the identity's distance from the ray.
"""
from dataclasses import dataclass

import lap
import numpy as np

from . import kalman_filter
from .world import point_distances, ray_distances

INFTY_COST = 1e5
"""Cost of a forbidden pair."""


@dataclass
class Gates:
    """Gates and weights of one appearance stage, one value per detection where it differs.

    Attributes
    ----------
    appearance : ndarray, (N,)
        Largest cosine distance of a pair whose world distance is known.
    unplaced : float
        Largest cosine distance of a pair whose world distance is unknown.
    world : ndarray, (N,)
        Largest world distance, metres.
    world_weight : ndarray, (N,)
        Cost per metre of world distance.
    motion : bool
        Apply the Kalman chi-square gate (to the pairs without a world position when ``motion_only_unplaced``;
        a world ray does not replace it).
    motion_only_unplaced : bool
    """

    appearance: np.ndarray
    unplaced: float
    world: np.ndarray
    world_weight: np.ndarray
    motion: bool = False
    motion_only_unplaced: bool = True

    def columns(self, columns):
        """The gates of some detections."""
        return Gates(self.appearance[columns], self.unplaced, self.world[columns], self.world_weight[columns],
                     self.motion, self.motion_only_unplaced)


def stack_positions(positions):
    """World positions ((3,) or None) -> Nx3 metres, NaN rows where unknown."""
    return np.array([(np.nan,) * 3 if p is None else p for p in positions], dtype=np.float64).reshape(-1, 3)


def association_cost(tracks, detections, gates):
    """Appearance + world cost of every (track, detection) pair, ``INFTY_COST`` where a gate forbids it.

    Parameters
    ----------
    tracks : list of Track
    detections : list of Detection
        With L2-normalised features (a detection without one matches no track here).
    gates : Gates
        One entry per detection.

    Returns
    -------
    ndarray, TxN
    """
    cost = np.full((len(tracks), len(detections)), INFTY_COST)
    if not cost.size:
        return cost
    allowed = np.array([t.label for t in tracks])[:, None] == np.array([d.label for d in detections])[None, :]
    centres = stack_positions([t.world_position for t in tracks])
    world = point_distances(centres, stack_positions([d.world_position for d in detections]))
    placed = np.isfinite(world)
    on_ray = [c for c, d in enumerate(detections) if d.world_position is None and d.world_ray is not None]
    if on_ray:
        world[:, on_ray] = ray_distances(centres, np.stack([detections[c].world_ray for c in on_ray]))
    known = np.isfinite(world)
    allowed &= ~known | (world <= gates.world[None, :])
    if gates.motion and allowed.any():
        gated = allowed & ~placed if gates.motion_only_unplaced else allowed
        rows = np.flatnonzero(gated.any(axis=1))
        if len(rows):
            distance = kalman_filter.gating_distance(
                np.stack([tracks[r].mean for r in rows]), np.stack([tracks[r].covariance for r in rows]),
                kalman_filter.tlwh_to_xyah(np.stack([d.tlwh for d in detections])))
            allowed[rows] &= ~(gated[rows] & (distance > kalman_filter.CHI2INV95[4]))
    with_feature = np.array([d.feature is not None for d in detections])
    allowed &= with_feature[None, :]
    appearance = np.full(cost.shape, np.nan)
    if allowed.any():
        features = np.stack([d.feature for d in detections]) if with_feature.all() else None
        for row in np.flatnonzero(allowed.any(axis=1)):
            columns = np.flatnonzero(allowed[row])
            queries = features[columns] if features is not None else np.stack([detections[c].feature for c in columns])
            appearance[row, columns] = tracks[row].appearance_distance(queries)
    allowed &= appearance <= np.where(known, gates.appearance[None, :], np.minimum(gates.appearance, gates.unplaced)[None, :])
    total = appearance + gates.world_weight[None, :] * np.where(known, world, 0.0)
    cost[allowed] = total[allowed]
    return cost


def iou(tlwh, candidates):
    """Intersection over union of one box ``(x, y, w, h)`` with each of Nx4 boxes: (N,)."""
    candidates = np.asarray(candidates, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(tlwh[:2], candidates[:, :2])
    bottom_right = np.minimum(tlwh[:2] + tlwh[2:], candidates[:, :2] + candidates[:, 2:])
    intersection = np.maximum(0.0, bottom_right - top_left).prod(axis=1)
    return intersection / (tlwh[2:].prod() + candidates[:, 2:].prod(axis=1) - intersection)


def image_motion(tracks, detections, max_distance, min_pairs=3):
    """How far the image moved since the previous frame, from the objects seen in both.

    In a static scene every object moves in the image only because the camera moves, so one
    displacement serves them all (a camera pan moves a small object farther than its own width
    between frames: its boxes do not overlap, and its own filter has too few observations to know).
    Each track seen in the previous frame and the detection that looks most like its detection there
    vote with the displacement of the box centre, when each is the other's closest of the class
    (cosine distance of the two frames' features) within ``max_distance``; the motion is the median
    vote.

    Parameters
    ----------
    tracks : list of Track
        Live tracks, before this frame's prediction (``time_since_update == 0``: seen in the
        previous frame).
    detections : list of Detection
        This frame's detections.
    max_distance : float
        Largest cosine distance of a voting pair.
    min_pairs : int
        Fewest votes to estimate the motion from.

    Returns
    -------
    ndarray, (2,), or None
        Median ``(dx, dy)`` of the box centres, pixels; None with fewer than ``min_pairs`` votes.
    """
    recent = [t for t in tracks if t.time_since_update == 0 and t.last_detection is not None
              and t.last_detection.feature is not None]
    described = [d for d in detections if d.feature is not None]
    if len(recent) < min_pairs or len(described) < min_pairs:
        return None
    distance = 1.0 - np.stack([t.last_detection.feature for t in recent]) @ np.stack([d.feature for d in described]).T
    distance[np.array([t.label for t in recent])[:, None] != np.array([d.label for d in described])[None, :]] = np.inf
    closest_detection, closest_track = distance.argmin(axis=1), distance.argmin(axis=0)
    voters = [i for i, j in enumerate(closest_detection) if closest_track[j] == i and distance[i, j] <= max_distance]
    if len(voters) < min_pairs:
        return None
    now = kalman_filter.tlwh_to_xyah(np.stack([described[closest_detection[i]].tlwh for i in voters]))
    before = kalman_filter.tlwh_to_xyah(np.stack([recent[i].last_detection.tlwh for i in voters]))
    return np.median(now[:, :2] - before[:, :2], axis=0)


def iou_cost(tracks, detections):
    """``1 - IoU`` of predicted track boxes and detections: TxN; ``INFTY_COST`` for another class and for
    tracks missed in the previous frame (their predicted box is too uncertain, as in deepSORT)."""
    cost = np.full((len(tracks), len(detections)), INFTY_COST)
    if not cost.size:
        return cost
    boxes = np.stack([d.tlwh for d in detections])
    labels = np.array([d.label for d in detections])
    for row, track in enumerate(tracks):
        if track.time_since_update <= 1:
            cost[row] = np.where(labels == track.label, 1.0 - iou(track.to_tlwh(), boxes), INFTY_COST)
    return cost


def solve_assignment(cost, max_cost):
    """Minimum-cost one-to-one assignment of rows to columns, pairs above ``max_cost`` refused.

    Returns
    -------
    matches : list of (int, int)
        ``(row, column)``, sorted.
    unmatched_rows, unmatched_columns : list of int
    """
    cost = np.asarray(cost, dtype=np.float64)
    rows, columns = np.flatnonzero((cost <= max_cost).any(axis=1)), np.flatnonzero((cost <= max_cost).any(axis=0))
    matches = []
    if len(rows):        # rows and columns without an admissible pair left out of the solver
        block = cost[np.ix_(rows, columns)]
        _, row_to_column, _ = lap.lapjv(np.where(block <= max_cost, block, max_cost + 1e-5), extend_cost=True,
                                        cost_limit=max_cost + 1e-6)
        matches = sorted((int(rows[r]), int(columns[c])) for r, c in enumerate(row_to_column)
                         if c >= 0 and block[r, c] <= max_cost)
    matched_rows, matched_columns = {r for r, _ in matches}, {c for _, c in matches}
    return (matches, [r for r in range(cost.shape[0]) if r not in matched_rows],
            [c for c in range(cost.shape[1]) if c not in matched_columns])


def min_cost_matching(cost_function, tracks, detections, track_indices, detection_indices, max_cost=INFTY_COST / 2):
    """Assign ``detections[detection_indices]`` to ``tracks[track_indices]`` by ``cost_function(tracks,
    detections, detection_indices) -> cost matrix``; returns (matches as (track index, detection
    index), unmatched track indices, unmatched detection indices)."""
    if not track_indices or not detection_indices:
        return [], list(track_indices), list(detection_indices)
    cost = cost_function([tracks[k] for k in track_indices], [detections[i] for i in detection_indices],
                         np.asarray(detection_indices))
    matches, rows, columns = solve_assignment(cost, max_cost)
    return ([(track_indices[r], detection_indices[c]) for r, c in matches], [track_indices[r] for r in rows],
            [detection_indices[c] for c in columns])


def matching_cascade(cost_function, tracks, detections, track_indices, detection_indices, levels):
    """deepSORT's cascade: tracks seen 1, 2, ..., ``levels`` frames ago choose in turn among the
    detections left (:func:`min_cost_matching` at each level)."""
    matches, unmatched = [], list(detection_indices)
    for level in range(1, levels + 1):
        at_level = [k for k in track_indices if tracks[k].time_since_update == level]
        found, _, unmatched = min_cost_matching(cost_function, tracks, detections, at_level, unmatched)
        matches += found
    matched = {k for k, _ in matches}
    return matches, [k for k in track_indices if k not in matched], unmatched
