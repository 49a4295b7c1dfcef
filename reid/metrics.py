"""Re-identification metrics: CMC rank-k and mAP, with optional same-class galleries."""
import numpy as np

DEFAULT_RANKS = (1, 5, 10, 20, 50)


def squared_distances(query, gallery):
    """Squared Euclidean distances, Q x G, between rows of ``query`` (QxD) and ``gallery`` (GxD)."""
    query = np.asarray(query, dtype=np.float64)
    gallery = np.asarray(gallery, dtype=np.float64)
    distances = (query ** 2).sum(1)[:, None] + (gallery ** 2).sum(1)[None, :] - 2.0 * query @ gallery.T
    return np.maximum(distances, 0.0)


def cmc_and_map(distances, query_ids, gallery_ids, ranks=DEFAULT_RANKS, valid=None):
    """CMC at the given ranks and mean average precision.

    Parameters
    ----------
    distances : ndarray, Q x G
        Smaller is more similar.
    query_ids, gallery_ids : array of hashable, Q and G
        Identity of each query and gallery item (e.g. ``(scene, instance)`` encoded as ints).
    ranks : sequence of int
    valid : ndarray of bool, Q x G, optional
        Which gallery items each query may be compared with (e.g. same class only, other camera pass
        only); the others are left out of its ranking.

    Returns
    -------
    dict
        ``rank<k>`` for each k (share of queries whose first true match is within the first k),
        ``mAP``, ``queries`` (evaluated queries: those with at least one true match in their gallery).
    """
    distances = np.asarray(distances, dtype=np.float64)
    query_ids, gallery_ids = np.asarray(query_ids), np.asarray(gallery_ids)
    if valid is None:
        valid = np.ones(distances.shape, dtype=bool)
    hits = np.zeros(len(ranks))
    precisions = []
    for q in range(distances.shape[0]):
        candidates = np.nonzero(valid[q])[0]
        matches = gallery_ids[candidates] == query_ids[q]
        if not matches.any():
            continue
        order = np.argsort(distances[q, candidates], kind="stable")
        sorted_matches = matches[order]
        first = int(np.argmax(sorted_matches))
        hits += first < np.asarray(ranks)
        positions = np.nonzero(sorted_matches)[0]
        precisions.append(np.mean(np.arange(1, len(positions) + 1) / (positions + 1)))
    evaluated = len(precisions)
    result = {f"rank{k}": (hits[i] / evaluated if evaluated else float("nan")) for i, k in enumerate(ranks)}
    result["mAP"] = float(np.mean(precisions)) if evaluated else float("nan")
    result["queries"] = evaluated
    return result
