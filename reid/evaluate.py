"""Evaluate re-ID embeddings: CMC rank-1/5/10/20/50 and mAP across camera passes.

``python -m reid.evaluate --data ROOT [--scenes S ...] --model default|CKPT|variant:NAME|colour-histogram ...``

Protocol: object views of each scene (every ``--frame-step``-th frame) are grouped per instance into
episodes (camera passes). Every view is a query; its gallery is the views of the same scene from
*other* episodes (its own instance's other passes included, its own pass excluded), so a match is
never a near-duplicate neighbouring frame. Reported: overall, per class, and on identical twins
(queries whose instance shares its model with another instance; gallery restricted to the same
class), each as the mean over ``--folds`` folds of the instances (3 as in the paper) with the spread.
"""
from pathlib import Path

import numpy as np

from .cli import ArgumentParser, add_backend_argument, add_precision_argument, fail, positive_int, setup_logging
from .data.nyu40 import class_name
from .data.scannet import SceneError
from .fileio import atomic_write_json
from .metrics import DEFAULT_RANKS, cmc_and_map, squared_distances
from .views import load_views, scene_folders


def _valid_pairs(view_set, query_index, gallery_index):
    views = view_set.views
    scene = np.array([v.scene for v in views])
    instance = np.array([v.instance_id for v in views])
    episode = np.array([v.episode for v in views])
    q, g = np.asarray(query_index), np.asarray(gallery_index)
    same_scene = scene[q][:, None] == scene[g][None, :]
    same_pass = (instance[q][:, None] == instance[g][None, :]) & (episode[q][:, None] == episode[g][None, :])
    return same_scene & ~same_pass


def evaluate_features(features, view_set, ranks=DEFAULT_RANKS, query_mask=None):
    """CMC and mAP of per-view features (N x D) on a :class:`reid.views.ViewSet`.

    Returns a dict with ``rank<k>``, ``mAP``, ``queries`` and the twins figures ``rank1_twins``,
    ``mAP_twins``, ``queries_twins``.
    """
    n = len(view_set)
    queries = np.arange(n) if query_mask is None else np.nonzero(query_mask)[0]
    identities = view_set.identities()
    labels = np.array([v.label for v in view_set.views])
    distances = squared_distances(features[queries], features)
    valid = _valid_pairs(view_set, queries, np.arange(n))
    result = cmc_and_map(distances, identities[queries], identities, ranks, valid)
    twins = view_set.twins[queries]
    same_class = labels[queries][:, None] == labels[None, :]
    twin_result = cmc_and_map(distances[twins], identities[queries][twins], identities, (1,),
                              (valid & same_class)[twins])
    result.update(rank1_twins=twin_result["rank1"], mAP_twins=twin_result["mAP"], queries_twins=twin_result["queries"])
    return result


def instance_folds(view_set, folds, seed=0):
    """Fold number per view: instances split into ``folds`` groups at random (seeded)."""
    identities = view_set.identities()
    order = np.random.default_rng(seed).permutation(identities.max() + 1)
    return order[identities] % folds


def evaluate(features, view_set, folds=3, seed=0, ranks=DEFAULT_RANKS):
    """Mean and standard deviation over instance folds, overall, on twins, and per class."""
    fold_of = instance_folds(view_set, folds, seed)
    per_fold = [evaluate_features(features, view_set, ranks, fold_of == k) for k in range(folds)]
    keys = [f"rank{k}" for k in ranks] + ["mAP", "rank1_twins", "mAP_twins"]
    summary = {key: float(np.nanmean([r[key] for r in per_fold])) for key in keys}
    summary.update({f"{key}_std": float(np.nanstd([r[key] for r in per_fold])) for key in keys})
    summary["queries"] = int(sum(r["queries"] for r in per_fold))
    labels = np.array([v.label for v in view_set.views])
    summary["per_class"] = {}
    for label in sorted(set(labels.tolist())):
        r = evaluate_features(features, view_set, ranks, labels == label)
        if r["queries"]:
            entry = {"rank1": r["rank1"], "mAP": r["mAP"], "queries": r["queries"]}
            if r["queries_twins"]:
                entry.update(rank1_twins=r["rank1_twins"], queries_twins=r["queries_twins"])
            summary["per_class"][class_name(label)] = entry
    return summary


def colour_histogram_features(crops, bins=(8, 8, 4), exclude_colour=None):
    """Baseline: L2-normalised HSV colour histogram of each crop (N x S x S x 3 uint8) -> N x prod(bins).

    ``exclude_colour`` (an RGB triple, e.g. the fill of masked crops) leaves the pixels of exactly that
    colour out of the counts; a crop with no other pixel gives a zero row.
    """
    import cv2
    features = np.empty((len(crops), int(np.prod(bins))), np.float32)
    for i, crop in enumerate(crops):
        hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
        mask = None
        if exclude_colour is not None:
            mask = np.any(crop != np.asarray(exclude_colour, crop.dtype), axis=-1).astype(np.uint8)
        hist = cv2.calcHist([hsv], [0, 1, 2], mask, list(bins), [0, 180, 0, 256, 0, 256]).ravel()
        features[i] = hist / max(np.linalg.norm(hist), 1e-12)
    return features


def features_for(spec, folders, frame_step, episode_gap=30, device=None, precision=None, backend="torch"):
    """(features, view set) of a model spec on the scenes; ``colour-histogram`` is the baseline.
    ``device``, ``precision`` and ``backend`` are the embedder's (:class:`reid.embedder.Embedder`)."""
    if spec == "colour-histogram":
        view_set = load_views(folders, 64, ("full",), frame_step=frame_step, episode_gap=episode_gap)
        return colour_histogram_features(view_set.crops["full"]), view_set
    from .embedder import Embedder
    embedder = Embedder.from_spec(spec, device=device, precision=precision, backend=backend)
    model = embedder.model
    view_set = load_views(folders, model.img_size, model.crop_kinds, fill=model.crop_fill,
                          margin=embedder.config.crop_margin, frame_step=frame_step, episode_gap=episode_gap)
    return embedder.embed_crops(view_set.crops), view_set


def format_row(name, summary):
    return (f"{name:<28} rank1 {summary['rank1']:.3f}±{summary['rank1_std']:.3f}  rank5 {summary['rank5']:.3f}  "
            f"rank10 {summary['rank10']:.3f}  rank20 {summary['rank20']:.3f}  rank50 {summary['rank50']:.3f}  "
            f"mAP {summary['mAP']:.3f}  twins rank1 {summary['rank1_twins']:.3f}±{summary['rank1_twins_std']:.3f}")


def main(argv=None):
    parser = ArgumentParser(prog="python -m reid.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", required=True, help="dataset root(s) with scans/<scene>")
    parser.add_argument("--scenes", nargs="+", help="only these scenes")
    parser.add_argument("--model", nargs="+", default=["default"],
                        help="default, a checkpoint path, variant:NAME, or colour-histogram (several allowed)")
    parser.add_argument("--folds", type=positive_int, default=3)
    parser.add_argument("--frame-step", type=positive_int, default=5)
    parser.add_argument("--episode-gap", type=positive_int, default=30,
                        help="frames out of view that start a new camera pass (default 30)")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--device")
    add_precision_argument(parser)
    add_backend_argument(parser)
    args = parser.parse_args(argv)
    setup_logging(quiet=True)
    try:
        folders = scene_folders(args.data, args.scenes)
        if not folders:
            raise SceneError(f"no scenes under {' '.join(args.data)}")
        results = []
        for spec in args.model:
            features, view_set = features_for(spec, folders, args.frame_step, args.episode_gap, args.device,
                                              args.precision, args.backend or "torch")
            summary = evaluate(features, view_set, folds=args.folds)
            summary["model"] = spec
            results.append(summary)
            print(format_row(spec, summary), flush=True)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(args.out, results)
    except (SceneError, OSError, ValueError, RuntimeError) as error:
        fail(parser.prog, str(error))


if __name__ == "__main__":
    main()
