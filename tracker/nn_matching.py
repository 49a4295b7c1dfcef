"""Appearance distances: cosine distance of detection features to each track's feature bank."""
import numpy as np

from .linear_assignment import INFTY_COST
from .track import shared_store


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


def stack_banks(banks):
    """Feature banks of different sizes as one array, short banks padded with their own first feature.

    Repeating a bank's feature leaves its nearest-neighbour distance unchanged, so the padded array
    can be searched without a mask.

    Parameters
    ----------
    banks : list of ndarray, each KtxD float32 with Kt >= 1

    Returns
    -------
    ndarray, TxKxD float32
        ``K = max(Kt)``.
    """
    sizes = np.array([len(bank) for bank in banks])
    if np.all(sizes == sizes[0]):
        return np.array(banks, dtype=np.float32)
    features = np.concatenate(banks).astype(np.float32, copy=False)
    starts = np.cumsum(sizes) - sizes
    rows = starts[:, None] + np.minimum(np.arange(sizes.max())[None, :], sizes[:, None] - 1)
    return features[rows]


def latest_feature_distance(store, rows, queries):
    """Cosine distance of each query to the latest feature of its track's bank: an upper bound of the
    nearest-neighbour distance (the latest feature is one of the bank's), read from one feature per
    track instead of the whole bank.

    Parameters
    ----------
    store : TrackStore
    rows : ndarray of int, (P,)
        Store rows (with features) of the tracks of P pairs.
    queries : ndarray, PxD float32
        L2-normalised query feature of each pair.

    Returns
    -------
    ndarray, (P,)
        ``1 - cos`` (float arithmetic of its own: compare it with a margin where the nearest-neighbour
        distance of :func:`appearance_cost` is compared exactly).
    """
    if not len(rows):
        return np.zeros(0)
    return 1.0 - np.einsum("pd,pd->p", store.latest_features(rows), queries).astype(np.float64)


def appearance_cost(tracks, detections, track_indices, detection_indices, pairs=None, features=None,
                    store_rows=None):
    """Nearest-neighbour cosine distance of detection features to track feature banks.

    A track or detection without features gives ``INFTY_COST`` (it can still match by IoU). All banks
    are searched in one batched product; banks of tracks that share a
    :class:`~tracker.track_store.TrackStore` (the tracker's) are read in place.

    Parameters
    ----------
    tracks : list of Track
    detections : list of Detection
    track_indices, detection_indices : list of int
    pairs : ndarray of bool, (len(track_indices), len(detection_indices)), optional
        Compute only these entries (those that can still match); the others are ``INFTY_COST``. With
        a few pairs per track, each bank is compared with its own few detections only.
    features : ndarray, (len(detections), D) float32, optional
        Every detection's feature, already stacked (rows in the order of ``detections``).
    store_rows : (TrackStore, ndarray of int), optional
        :func:`~tracker.track.shared_store` of the tracks of ``track_indices``, when already known.

    Returns
    -------
    ndarray, (len(track_indices), len(detection_indices))
        Distances in [0, 2] (cosine distance ``1 - cos``).
    """
    cost_matrix = np.full((len(track_indices), len(detection_indices)), INFTY_COST)
    if not cost_matrix.size:
        return cost_matrix
    if features is not None:
        with_feature = np.ones(len(detection_indices), dtype=bool)
    else:
        found = [detections[i].feature for i in detection_indices]
        with_feature = np.array([feature is not None for feature in found])
    store, store_rows = store_rows if store_rows is not None else shared_store([tracks[k] for k in track_indices])
    if store is not None:
        banks = None
        has_bank = store.feature_count[store_rows] > 0
    else:
        banks = [tracks[k].features.features for k in track_indices]
        has_bank = np.array([len(bank) > 0 for bank in banks])
    wanted = has_bank[:, None] & with_feature[None, :]
    if pairs is not None:
        wanted &= np.asarray(pairs, dtype=bool)
    counts = wanted.sum(axis=1)
    rows = np.flatnonzero(counts)
    if not len(rows):
        return cost_matrix
    # one query row per detection (a zero vector for one without feature)
    if features is not None:
        queries = np.asarray(features, dtype=np.float32)[detection_indices]
    else:
        zero = np.zeros(len(found[np.argmax(with_feature)]), dtype=np.float32)
        queries = np.array([zero if feature is None else feature for feature in found], dtype=np.float32)
    if pairs is None:
        # store rows hold full rings whose unwritten entries repeat a stored feature: no padding needed
        stacked = store.feature_ring[store_rows[rows]] if banks is None else stack_banks([banks[r] for r in rows])
        columns = np.flatnonzero(with_feature)
        # R x C x K: the max over each bank then runs over contiguous memory
        best = np.matmul(queries[columns], stacked.transpose(0, 2, 1)).max(axis=2)      # RxC
        cost_matrix[np.ix_(rows, columns)] = np.maximum(0.0, 1.0 - best)
        return cost_matrix
    # each bank only against its own candidate queries, padded to the largest number m of candidates
    # (padding queries are zero vectors, one extra row after the detections')
    padding = len(detection_indices)
    queries = np.concatenate([queries, np.zeros((1, queries.shape[1]), dtype=np.float32)])
    counts = counts[rows]
    pair_rows, pair_columns = np.nonzero(wanted[rows])                          # sorted by row
    most = int(counts.max())
    if most == 1:                                          # one candidate per bank (the usual frame)
        slot = np.zeros(len(pair_rows), dtype=np.intp)
    else:
        slot = np.arange(len(pair_rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    if banks is None:
        ring_rows = store_rows[rows]
        first, last = ring_rows.min(), ring_rows.max()
        if last - first + 1 <= 2 * len(rows) + 8:
            # a view of the store rows first..last, no copy of the banks; rows not asked get zero queries
            stacked = store.feature_ring[first:last + 1]
            bank_of_pair = ring_rows[pair_rows] - first
        else:
            stacked = store.feature_ring[ring_rows]
            bank_of_pair = pair_rows
    else:
        stacked = stack_banks([banks[r] for r in rows])                          # RxKxD
        bank_of_pair = pair_rows
    candidates = np.full((len(stacked), most), padding, dtype=np.intp)
    candidates[bank_of_pair, slot] = pair_columns
    best = np.matmul(queries[candidates], stacked.transpose(0, 2, 1)).max(axis=2)   # Rxm (R x m x K products)
    cost_matrix[rows[pair_rows], pair_columns] = np.maximum(0.0, 1.0 - best[bank_of_pair, slot])
    return cost_matrix
