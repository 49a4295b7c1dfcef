"""Intersection-over-union cost between track boxes and detection boxes."""
import numpy as np

from .linear_assignment import INFTY_COST
from .track import boxes_tlwh


def iou(tlwh, candidates):
    """Intersection over union of one box with each candidate box.

    Parameters
    ----------
    tlwh : ndarray, (4,)
        A box ``(x, y, w, h)``, pixels.
    candidates : ndarray, Nx4
        Boxes in the same format.

    Returns
    -------
    ndarray, (N,)
        IoU in [0, 1].
    """
    candidates = np.asarray(candidates, dtype=np.float64).reshape(-1, 4)
    top_left, bottom_right = tlwh[:2], tlwh[:2] + tlwh[2:]
    candidates_top_left = candidates[:, :2]
    candidates_bottom_right = candidates[:, :2] + candidates[:, 2:]
    overlap_top_left = np.maximum(top_left, candidates_top_left)
    overlap_bottom_right = np.minimum(bottom_right, candidates_bottom_right)
    overlap_size = np.maximum(0.0, overlap_bottom_right - overlap_top_left)
    area_intersection = overlap_size.prod(axis=1)
    area_box = tlwh[2:].prod()
    area_candidates = candidates[:, 2:].prod(axis=1)
    return area_intersection / (area_box + area_candidates - area_intersection)


def iou_cost(tracks, detections, track_indices=None, detection_indices=None, detection_boxes=None):
    """``1 - IoU`` between predicted track boxes and detections, label-gated.

    Tracks not updated in the previous frame get ``INFTY_COST`` (as in deepSORT: their predicted box
    is too uncertain for IoU), and so do detections of another class than the track.

    Parameters
    ----------
    tracks : list of Track
    detections : list of Detection
    track_indices, detection_indices : list of int, optional
    detection_boxes : ndarray, (len(detections), 4), optional
        Every detection's ``tlwh`` box, already stacked.

    Returns
    -------
    ndarray, (len(track_indices), len(detection_indices))
    """
    if track_indices is None:
        track_indices = np.arange(len(tracks))
    if detection_indices is None:
        detection_indices = np.arange(len(detections))
    cost_matrix = np.zeros((len(track_indices), len(detection_indices)))
    if cost_matrix.size == 0:
        return cost_matrix
    # deepSORT: a track not updated in the previous frame has too uncertain a box for IoU
    recent = [row for row, k in enumerate(track_indices) if tracks[k].time_since_update <= 1]
    cost_matrix[:] = INFTY_COST
    if not recent:
        return cost_matrix
    recent_tracks = [tracks[track_indices[row]] for row in recent]
    track_labels = [track.label for track in recent_tracks]
    labels = [detections[i].label for i in detection_indices]
    if set(track_labels).isdisjoint(labels):               # no class in common: every pair forbidden
        return cost_matrix
    boxes = boxes_tlwh(recent_tracks)                                                   # Rx4
    if detection_boxes is not None:
        candidates = detection_boxes[detection_indices]                                  # Nx4
    else:
        candidates = np.array([detections[i].tlwh for i in detection_indices])        # Nx4
    # iou() for all these tracks at once: the same operations, broadcast over RxN
    top_left, bottom_right = boxes[:, None, :2], boxes[:, None, :2] + boxes[:, None, 2:]
    candidates_top_left = candidates[None, :, :2]
    candidates_bottom_right = candidates[None, :, :2] + candidates[None, :, 2:]
    overlap_top_left = np.maximum(top_left, candidates_top_left)
    overlap_bottom_right = np.minimum(bottom_right, candidates_bottom_right)
    overlap_size = np.maximum(0.0, overlap_bottom_right - overlap_top_left)
    area_intersection = overlap_size.prod(axis=2)
    area_boxes = boxes[:, 2:].prod(axis=1)[:, None]
    area_candidates = candidates[:, 2:].prod(axis=1)[None, :]
    recent_cost = 1.0 - area_intersection / (area_boxes + area_candidates - area_intersection)
    recent_cost[np.array(track_labels)[:, None] != np.array(labels)[None, :]] = INFTY_COST
    cost_matrix[recent] = recent_cost
    return cost_matrix
