"""Appearance distances: cosine distance of detection features to each track's feature bank."""
import numpy as np

from .linear_assignment import INFTY_COST


def cosine_distance(a, b, data_is_normalized=False):
    """Pairwise cosine distance ``1 - cos`` between rows of ``a`` (NxD) and ``b`` (MxD) -> NxM."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if not data_is_normalized:
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return 1.0 - a @ b.T


def nearest_neighbor_distance(bank, queries):
    """Smallest cosine distance from each query to any feature of a bank.

    Parameters
    ----------
    bank : ndarray, KxD
        L2-normalised features of one target.
    queries : ndarray, MxD
        L2-normalised query features.

    Returns
    -------
    ndarray, (M,)
        Distances in [0, 2]; ``INFTY_COST`` when the bank is empty.
    """
    if len(bank) == 0:
        return np.full(len(queries), INFTY_COST)
    return np.maximum(0.0, cosine_distance(bank, queries, data_is_normalized=True).min(axis=0))


def appearance_cost(tracks, detections, track_indices, detection_indices):
    """Nearest-neighbour cosine distance of detection features to track feature banks.

    A track or detection without features gives ``INFTY_COST`` (it can still match by IoU).

    Returns
    -------
    ndarray, (len(track_indices), len(detection_indices))
    """
    cost_matrix = np.full((len(track_indices), len(detection_indices)), INFTY_COST)
    with_feature = [col for col, i in enumerate(detection_indices) if detections[i].feature is not None]
    if not with_feature or not len(track_indices):
        return cost_matrix
    queries = np.stack([detections[detection_indices[col]].feature for col in with_feature])
    for row, track_index in enumerate(track_indices):
        cost_matrix[row, with_feature] = nearest_neighbor_distance(tracks[track_index].features.features, queries)
    return cost_matrix
