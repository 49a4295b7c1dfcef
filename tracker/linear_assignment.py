"""Assignment of detections to tracks: min-cost matching (lap.lapjv), matching cascade, gating.

Cost functions have the signature ``cost(tracks, detections, track_indices, detection_indices) ->
ndarray (len(track_indices), len(detection_indices))``; an entry of ``INFTY_COST`` (or anything
above ``max_distance``) forbids that pair.
"""
import lap
import numpy as np

from . import kalman_batch
from .kalman_filter import CHI2INV95
from .track import kalman_states
from .track_store import TrackStore

INFTY_COST = 1e5
"""Cost of a forbidden pair."""


def solve_assignment(cost_matrix, max_distance):
    """Minimum-cost one-to-one assignment of rows to columns, pairs above ``max_distance`` refused.

    Parameters
    ----------
    cost_matrix : ndarray, NxM
        Finite costs (``INFTY_COST`` for forbidden pairs; non-finite entries count as forbidden).
    max_distance : float
        Pairs costing more than this are never assigned.

    Returns
    -------
    matches : list of (int, int)
        ``(row, column)`` pairs.
    unmatched_rows, unmatched_columns : list of int
    """
    cost_matrix = np.asarray(cost_matrix, dtype=np.float64)
    n_rows, n_cols = cost_matrix.shape
    if n_rows == 0 or n_cols == 0:
        return [], list(range(n_rows)), list(range(n_cols))
    feasible = cost_matrix <= max_distance              # NaN and +inf compare False
    if not feasible.any():
        return [], list(range(n_rows)), list(range(n_cols))
    feasible &= cost_matrix != -np.inf
    row_counts = np.count_nonzero(feasible, axis=1)
    col_counts = np.count_nonzero(feasible, axis=0)
    # a pair that is the only admissible one of its row and of its column is in every optimal assignment
    # (matching it beats leaving both unmatched): take it without the solver
    alone = feasible & (row_counts == 1)[:, None]
    alone &= (col_counts == 1)[None, :]
    alone_rows, alone_cols = np.nonzero(alone)
    matches = list(zip(alone_rows.tolist(), alone_cols.tolist()))
    # rows and columns without any admissible pair cannot take part either: leave them out of the solver,
    # whose extended matrix is (rows + columns) squared (a 1e6-entry gallery would otherwise cost gigabytes)
    if len(matches) < min(np.count_nonzero(row_counts), np.count_nonzero(col_counts)):
        solve_rows, solve_cols = row_counts > 0, col_counts > 0
        solve_rows[alone_rows] = solve_cols[alone_cols] = False
        rows, cols = np.flatnonzero(solve_rows), np.flatnonzero(solve_cols)
        block = np.ix_(rows, cols)
        sub = np.where(feasible[block], cost_matrix[block], max_distance + 1e-5)
        _, row_to_column, _ = lap.lapjv(sub, extend_cost=True, cost_limit=max_distance + 1e-6)
        matches += [(int(rows[r]), int(cols[c])) for r, c in enumerate(row_to_column)
                    if c >= 0 and sub[r, c] <= max_distance]
        matches.sort()
    if not matches:
        return [], list(range(n_rows)), list(range(n_cols))
    unmatched_rows, unmatched_cols = np.ones(n_rows, dtype=bool), np.ones(n_cols, dtype=bool)
    matched_rows, matched_cols = zip(*matches)
    unmatched_rows[list(matched_rows)] = unmatched_cols[list(matched_cols)] = False
    return matches, np.flatnonzero(unmatched_rows).tolist(), np.flatnonzero(unmatched_cols).tolist()


def min_cost_matching(distance_metric, max_distance, tracks, detections, track_indices=None,
                      detection_indices=None):
    """Solve the assignment of detections to tracks for one cost function.

    Parameters
    ----------
    distance_metric : callable
        ``(tracks, detections, track_indices, detection_indices) -> ndarray`` cost matrix.
    max_distance : float
        Gate: pairs costing more are never matched.
    tracks, detections : list
    track_indices, detection_indices : list of int, optional
        The subsets to match (all by default).

    Returns
    -------
    matches : list of (int, int)
        ``(track index, detection index)`` pairs.
    unmatched_tracks, unmatched_detections : list of int
    """
    if track_indices is None:
        track_indices = list(range(len(tracks)))
    if detection_indices is None:
        detection_indices = list(range(len(detections)))
    if len(track_indices) == 0 or len(detection_indices) == 0:
        return [], list(track_indices), list(detection_indices)
    cost_matrix = distance_metric(tracks, detections, track_indices, detection_indices)
    pairs, rows, cols = solve_assignment(cost_matrix, max_distance)
    matches = [(track_indices[row], detection_indices[col]) for row, col in pairs]
    return matches, [track_indices[row] for row in rows], [detection_indices[col] for col in cols]


def matching_cascade(distance_metric, max_distance, cascade_depth, tracks, detections,
                     track_indices=None, detection_indices=None):
    """deepSORT's matching cascade: tracks seen more recently choose their detections first.

    Parameters
    ----------
    cascade_depth : int
        Number of levels, normally the maximum track age; level ``k`` holds the tracks whose
        ``time_since_update`` is ``k + 1``.
    Others as in :func:`min_cost_matching`.

    Returns
    -------
    matches, unmatched_tracks, unmatched_detections
        As in :func:`min_cost_matching`.
    """
    if track_indices is None:
        track_indices = list(range(len(tracks)))
    if detection_indices is None:
        detection_indices = list(range(len(detections)))
    unmatched_detections = list(detection_indices)
    matches = []
    levels = {}
    for k in track_indices:
        levels.setdefault(tracks[k].time_since_update, []).append(k)
    for level in range(cascade_depth):
        if not unmatched_detections:
            break
        level_tracks = levels.get(1 + level)
        if not level_tracks:
            continue
        level_matches, _, unmatched_detections = min_cost_matching(
            distance_metric, max_distance, tracks, detections, level_tracks, unmatched_detections)
        matches += level_matches
    matched = {k for k, _ in matches}
    unmatched_tracks = [k for k in track_indices if k not in matched]
    return matches, unmatched_tracks, unmatched_detections


def gate_cost_matrix(cost_matrix, tracks, detections, track_indices, detection_indices,
                     gated_cost=INFTY_COST, only_position=False):
    """Forbid pairs whose detection box is implausible under the track's Kalman filter.

    Entries whose squared Mahalanobis distance exceeds the chi-square 0.95 quantile (4 dof, or 2
    with ``only_position``) are set to ``gated_cost``, in place. All tracks are gated in one batch
    (:func:`tracker.kalman_batch.gating_distance` on the tracks' stored states).

    Returns
    -------
    ndarray
        The gated ``cost_matrix``.
    """
    if cost_matrix.size == 0:
        return cost_matrix
    gating_threshold = CHI2INV95[2 if only_position else 4]
    measurements = kalman_batch.tlwh_to_xyah(np.array([detections[i].tlwh for i in detection_indices]))
    distances = kalman_batch.gating_distance(*kalman_states([tracks[k] for k in track_indices]), measurements,
                                             TrackStore.std_weight_position, only_position)
    cost_matrix[distances > gating_threshold] = gated_cost
    return cost_matrix
