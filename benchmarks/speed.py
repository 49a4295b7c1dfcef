"""Speed and scaling: tracker update time, embedder throughput, end-to-end frames/s.

``python -m benchmarks.speed [--out OUT] [--quick] [--repeats 5] [--scene SCENE --root ROOT]``;
``python -m benchmarks.speed --load N [--max-frames 100] [--repeats 2] [--scene SCENE --root ROOT]``

(a) **Tracker update** (embedding excluded): ``Tracker.update`` per frame against the number of live
    (confirmed) tracks and the size of the long-term gallery. Detections carry precomputed random
    unit features and world positions; each frame holds one detection per live track (all matched)
    plus ``--new-per-frame`` unseen objects, which are compared with the whole gallery before they
    start a track. The gallery is filled through ``LongTermGallery.add`` beforehand; its size is
    counted in stored feature vectors (*entries* = identities x ``--bank-size``). Search is exact;
    faiss cells are added only when faiss imports.
(b) **Embedder throughput** (objects/s and stream images/s) against batch size, for the shipped
    model (``Embedder.default()``) or, when it is not installed, the untrained ``concat`` variant at
    the default config (ViT-Ti/16 at 112 px): model time on ready-made crops (``embed_crops``). An
    ensemble (``--model A+B:W``) is timed as one: each run embeds the objects with both members.
    ``--precision float32 bfloat16`` times both precisions alternately, run for run, with their
    ratio and the smallest cosine between their features.
(c) **End to end**: frames/s of ``tracker.run``'s loop (read frame, ground-truth detector, embed,
    update) on a scene, when ``--scene`` is given; then ``Tracker.update`` alone replayed on that
    scene's detections (the real workload: its detections, live tracks and new objects per frame).
(d) **Training throughput** (``--skip training`` to leave out): ``reid.train``'s step on the same
    architecture (float32, P x K random crop sets, batch-all triplet loss, backward, AdamW), in
    training views/s.
(e) **Loaded machine** (``--load N``, instead of (a)-(d)): ``python -m tracker.run`` on ``--scene``
    (default: the 400-frame demo room, generated into a temporary folder) for ``--max-frames`` (100)
    frames, alone and beside N processes spinning in Python (started and stopped by the benchmark),
    under the libraries' thread defaults (``--threads 0``) and under tracker.run's thread policy
    (:func:`reid.cli.configure_threads`): wall seconds, CPU seconds (user + system of the child),
    frames/s, slowdown against the same policy alone, how loaded the machine was (runnable threads
    during the run, load average); median of ``--repeats`` (2) runs, every cell once per repeat. Writes
    ``OUT/speed.json`` and the table as ``OUT/load.md``.

Each figure is the median of ``--repeats`` runs; all cells of (a) are measured interleaved in one
process, so their ratios are side by side. ``--baseline DIR`` times another version of the tracker
too (``DIR/tracker``, e.g. a ``git worktree`` of an older commit), run for run alternately with this
one in the same process, and reports the median of the per-run ratios: on a machine whose speed
drifts, that ratio holds where two separate runs would not. Prints tables, writes ``OUT/speed.json`` and the scaling
plot ``OUT/speed.png``, and states the machine (CPUs, torch threads, device, load average).
"""
import copy
import dataclasses
import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from reid.cli import (ONNX_RUNTIME_PRECISIONS, ArgumentParser, add_backend_argument, add_precision_argument,
                      available_cpus, fail, positive_int, setup_logging)
from reid.data.scannet import SceneError
from reid.ensemble import EnsembleEmbedder, combine_features, parse_ensemble
from reid.fileio import atomic_write_json, atomic_write_text

from .provenance import run_facts
from .plots import finite, pyplot, require_matplotlib, save_figure

LIVE_TRACKS = (10, 50, 100, 200)
GALLERY_ENTRIES = (1_000, 10_000, 100_000, 1_000_000)
BATCH_SIZES = (1, 8, 32, 64)
QUICK = dict(live=(10, 50), gallery_sizes=(1_000, 10_000), batch_sizes=(1, 8), frames=5, repeats=2,
             min_objects=8, max_frames=5, train_batch=(4, 2), train_steps=1)

SKIPPED_BY_LOAD = {"skipped": "--load"}     # parts (a)-(d) in --load's results, not printed
LOAD = dict(max_frames=100, repeats=2)       # --load's defaults (QUICK_LOAD with --quick)
QUICK_LOAD = dict(max_frames=20, repeats=1)

SPEED_PARTS = ("tracker", "embedder", "training", "end_to_end")

TRACKED_LABELS = (3, 4, 5, 6, 7, 10, 14, 24, 25, 39)   # NYU40 classes the tracker follows (no structure)


def count(text):
    """A positive integer; ``1e6`` and ``1_000_000`` are accepted."""
    import argparse
    try:
        value = float(str(text).replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value.is_integer() or value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return int(value)


def machine_facts(device=None):
    import torch
    facts = {
        "platform": platform.platform(), "machine": platform.machine(), "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "numpy": np.__version__,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "device": str(device or ("cuda" if torch.cuda.is_available() else "cpu")),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average_1min_at_start": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    facts["faiss"] = importlib.util.find_spec("faiss") is not None
    return facts


def _unit(rng, n, dim):
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def tracker_package(baseline=None):
    """The ``tracker`` package to time: this one, or another version's loaded from ``baseline/tracker``
    under the name ``baseline_tracker`` (its absolute imports, e.g. of ``reid``, resolve to this
    checkout's)."""
    if baseline is None:
        return importlib.import_module("tracker")
    path = Path(baseline) / "tracker"
    if not (path / "__init__.py").is_file():
        raise ValueError(f"--baseline {baseline}: no tracker package there ({path / '__init__.py'} missing)")
    name = "baseline_tracker"
    loaded = sys.modules.get(name)
    if loaded is not None:
        if Path(loaded.__file__).resolve() != (path / "__init__.py").resolve():
            raise ValueError(f"a baseline tracker from {Path(loaded.__file__).parent} is already loaded")
        return loaded
    spec = importlib.util.spec_from_file_location(name, path / "__init__.py", submodule_search_locations=[str(path)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        raise
    return module


def _submodule(package, name):
    return importlib.import_module(f"{(package or tracker_package()).__name__}.{name}")


def _median(values):
    return float(statistics.median(values)) if values else float("nan")


# ------------------------------------------------------------------------------------ (a) tracker

def build_gallery(entries, dim=128, bank_size=100, index="exact", seed=0, positions=True, package=None):
    """A gallery of ``entries`` stored features (``ceil(entries / bank_size)`` identities, full banks but
    the last), filled with :meth:`LongTermGallery.add`, each identity at a world position (uniform in a
    10 m cube) unless ``positions`` is False; returns (gallery, seconds). ``package``: the tracker
    package whose gallery to build (:func:`tracker_package`; this one by default)."""
    gallery = _config(package, bank_size, gallery_index=index).make_gallery()
    rng = np.random.default_rng(seed)
    entries = max(1, int(entries))
    identities = math.ceil(entries / bank_size)
    started = time.perf_counter()
    chunk = max(1, 8192 // bank_size)
    for first in range(0, identities, chunk):
        count = min(chunk, identities - first)
        features = _unit(rng, count * bank_size, dim).reshape(count, bank_size, dim)
        labels = rng.choice(TRACKED_LABELS, count)
        places = rng.uniform(0, 10, (count, 3))
        for i in range(count):
            track_id = first + i + 1
            for k in range(min(bank_size, entries - (track_id - 1) * bank_size)):
                gallery.add(track_id, labels[i], features[i, k], places[i] if k == 0 and positions else None, k)
    return gallery, time.perf_counter() - started


def _config(package, bank_size, **settings):
    """``package``'s TrackerConfig keeping ``bank_size`` features per identity (versions before the
    simplification had a gallery bank of its own, ``gallery_bank_size``)."""
    TrackerConfig = _submodule(package, "tracker").TrackerConfig
    names = {field.name for field in dataclasses.fields(TrackerConfig)}
    return TrackerConfig(**settings, **({"gallery_bank_size": bank_size} if "gallery_bank_size" in names
                                        else {"nn_budget": bank_size}))


def gallery_entries(gallery):
    """Stored feature vectors of a gallery (public API: the features of each identity)."""
    return int(sum(len(gallery.features(track_id)) for track_id in gallery.ids))


def make_frames(n_live, n_frames, new_per_frame, dim, seed=0, positions=True, package=None):
    """Detections of ``n_frames`` frames: ``n_live`` static objects (seen every frame, small noise) plus
    ``new_per_frame`` objects seen once each; features and (unless ``positions`` is False) world
    positions precomputed (``package``'s Detection objects)."""
    Detection = _submodule(package, "detection").Detection
    rng = np.random.default_rng(seed)
    side = math.ceil(math.sqrt(n_live))
    boxes = np.array([[100.0 * (i % side), 100.0 * (i // side), 40.0, 60.0] for i in range(n_live)])
    labels = rng.choice(TRACKED_LABELS, n_live)
    features = _unit(rng, n_live, dim)
    places = rng.uniform(0, 10, (n_live, 3))
    bottom = 100.0 * side + 200.0
    frames = []
    placed = (lambda point: point) if positions else (lambda point: None)      # the same draws either way
    for _ in range(n_frames):
        noisy = features + 0.03 * rng.standard_normal(features.shape).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)        # unit length, as complete_detections gives
        detections = [Detection(boxes[i] + rng.normal(0, 0.5, 4) * [1, 1, 0, 0], 0.9, labels[i], feature=noisy[i],
                                world_position=placed(places[i] + rng.normal(0, 0.01, 3))) for i in range(n_live)]
        fresh = _unit(rng, new_per_frame, dim)
        for j in range(new_per_frame):
            box = [rng.uniform(0, 100.0 * side), bottom + rng.uniform(0, 2000.0), 40.0, 60.0]
            detections.append(Detection(box, 0.9, rng.choice(TRACKED_LABELS), feature=fresh[j],
                                        world_position=placed(rng.uniform(0, 10, 3))))
        frames.append(detections)
    return frames


def time_tracker(gallery, n_live, frames=64, new_per_frame=2, dim=128, warmup=None, seed=0, positions=True,
                 nn_budget=None, package=None):
    """Mean milliseconds of ``Tracker.update`` per timed frame (total time over the timed frames, so
    that the gallery writes every ``gallery_write_interval`` frames count) with ``n_live`` confirmed
    tracks and a copy of ``gallery`` (detections with world positions unless ``positions`` is False);
    returns (ms per frame, facts). ``nn_budget``: features kept per live track (TrackerConfig's by default).
    ``package``: the tracker package to time (:func:`tracker_package`; ``gallery`` must be one of its)."""
    Tracker = _submodule(package, "tracker").Tracker
    bank_size = getattr(gallery, "bank_size", getattr(gallery, "feature_budget", None))
    config = _config(package, bank_size)
    if nn_budget is not None:
        config.nn_budget = nn_budget
    warmup = config.n_init + 2 if warmup is None else warmup
    detections = make_frames(n_live, warmup + frames, new_per_frame, dim, seed, positions, package)
    tracker = Tracker(config, gallery=copy.deepcopy(gallery))
    # warm-up (untimed) without gallery look-ups: with all n_live objects new at once, a look-up is one
    # assignment of n_live queries against every identity of their classes, which is not what is timed
    config.use_gallery = False
    for frame in detections[:warmup]:
        tracker.update(frame)
    config.use_gallery = True
    if hasattr(tracker, "write_gallery"):    # older versions: the warm-up's observations written untimed
        tracker.write_gallery()
    live = len(tracker.confirmed_tracks)
    times, outputs = [], []
    for frame in detections[warmup:]:
        started = time.perf_counter()
        out = tracker.update(frame)
        times.append(time.perf_counter() - started)
        outputs.append(len(out))
    return 1000.0 * sum(times) / len(times), {"nn_budget": config.nn_budget, "confirmed_after_warmup": live, "tracks_out_per_frame": _median(outputs)}


def bench_tracker(live_counts, gallery_sizes, repeats, frames, new_per_frame, dim, bank_size, echo=print,
                  positions=True, nn_budget=None, baseline=None):
    indexes = ["exact"] + (["faiss"] if machine_facts()["faiss"] else [])
    galleries, stored, baseline_galleries = {}, {}, {}
    builds = []
    for index in indexes:
        for entries in gallery_sizes:
            gallery, seconds = build_gallery(entries, dim, bank_size, index, positions=positions)
            if baseline is not None:            # the same identities, in the baseline's own gallery class
                baseline_galleries[index, entries] = build_gallery(entries, dim, bank_size, index, positions=positions,
                                                                   package=baseline)[0]
            galleries[index, entries] = gallery
            stored[index, entries] = gallery_entries(gallery)
            builds.append({"index": index, "entries": stored[index, entries], "identities": len(gallery),
                           "seconds": round(seconds, 3), "adds_per_second": stored[index, entries] / seconds})
            echo(f"  gallery of {stored[index, entries]} entries ({len(gallery)} identities, {index}) built "
                 f"in {seconds:.1f} s")
    runs = {(index, entries, live): [] for (index, entries) in galleries for live in live_counts}
    baseline_runs = {key: [] for key in runs}
    facts = {}
    for repeat in range(repeats):             # interleaved: every cell once per repeat
        for (index, entries), gallery in galleries.items():
            for live in live_counts:
                # with a baseline, the two versions one after the other on the same frames, in turn first
                first_this = repeat % 2 == 0
                for version in ("this", "baseline") if first_this else ("baseline", "this"):
                    if version == "baseline" and baseline is None:
                        continue
                    ms, fact = time_tracker(gallery if version == "this" else baseline_galleries[index, entries],
                                            live, frames, new_per_frame, dim, seed=repeat, positions=positions,
                                            nn_budget=nn_budget, package=None if version == "this" else baseline)
                    if version == "this":
                        runs[index, entries, live].append(ms)
                        facts[index, entries, live] = fact
                    else:
                        baseline_runs[index, entries, live].append(ms)
    rows = []
    for (index, entries, live), values in runs.items():
        gallery = galleries[index, entries]
        rows.append({"index": index, "live_tracks": live, "gallery_entries": stored[index, entries],
                     "gallery_entries_requested": entries, "gallery_identities": len(gallery),
                     "ms_per_frame": _median(values), "ms_per_frame_runs": values,
                     "new_objects_per_frame": new_per_frame, **facts[index, entries, live]})
        if baseline is not None:
            before = baseline_runs[index, entries, live]
            rows[-1].update(baseline_ms_per_frame=_median(before), baseline_ms_per_frame_runs=before,
                            ratio_to_baseline=_median([now / then for now, then in zip(values, before)]))
    for row in rows:
        base_gallery = next(r for r in rows if r["index"] == row["index"] and r["live_tracks"] == row["live_tracks"]
                            and r["gallery_entries_requested"] == min(gallery_sizes))
        base_live = next(r for r in rows if r["index"] == row["index"] and r["live_tracks"] == min(live_counts)
                         and r["gallery_entries_requested"] == row["gallery_entries_requested"])
        row["ratio_to_smallest_gallery"] = row["ms_per_frame"] / base_gallery["ms_per_frame"]
        row["ratio_to_fewest_tracks"] = row["ms_per_frame"] / base_live["ms_per_frame"]
    return {"rows": rows, "gallery_builds": builds, "repeats": repeats, "frames_per_run": frames,
            "baseline": None if baseline is None else str(Path(baseline.__file__).parent.parent),
            "feature_dim": dim, "bank_size": bank_size, "world_positions": bool(positions),
            "notes": ["Tracker.update time per frame, embedding excluded (precomputed unit features"
                      + (" and world positions" if positions else "") + "); mean over the frames of a run "
                      "then median over runs",
                      "entries = stored feature vectors = identities x bank_size; identities' classes drawn "
                      "uniformly from 10 NYU40 classes",
                      "world positions uniform in a 10 m cube for identities and detections (the gallery "
                      "searches appearance only where the class and 1 m world gates leave a match possible)"
                      if positions else "no world positions (RGB-only tracking): every identity of a "
                      "query's class is searched by appearance",
                      "exact search only: faiss is not installed here" if "faiss" not in indexes
                      else "faiss cells: mean-feature preselection (IndexFlatIP) + exact comparison"]}


# ------------------------------------------------------------------------------------ (b) embedder

def load_embedder(spec, device=None, variant="concat"):
    """(embedder, description, note). ``default`` falls back to the untrained ``variant`` when the
    shipped model is missing; a checkpoint path or ``variant:NAME`` are used as given."""
    from reid.checkpoint import CheckpointNotFoundError
    from reid.embedder import Embedder
    if spec == "default":
        try:
            return Embedder.default(device=device), "shipped default model", None
        except CheckpointNotFoundError:
            embedder = Embedder.from_variant(variant, device=device)
            return embedder, f"variant {variant} (untrained, default config)", \
                "the shipped default model is missing: timing an untrained model of the same architecture"
    if parse_ensemble(spec) is not None and not Path(spec).exists():
        return EnsembleEmbedder.from_spec(spec, device=device), f"ensemble {spec}", None
    if spec.startswith("variant:"):
        name = spec.split(":", 1)[1]
        return Embedder.from_variant(name, device=device), f"variant {name} (untrained, default config)", None
    return Embedder.from_checkpoint(spec, device=device), f"checkpoint {spec}", None


def with_precision(embedder, precision, compile=None, backend=None):
    """The embedder's model at another inference precision (the model shared unless it must be
    converted, i.e. float16), compiled or not, on another backend (None: as ``embedder``). Raises
    ValueError where the device cannot run that precision or backend."""
    from reid.embedder import Embedder
    if isinstance(embedder, EnsembleEmbedder):
        return EnsembleEmbedder(*(with_precision(m, precision, compile, backend) for m in embedder.members),
                                embedder.weight)
    compile = embedder.compiled if compile is None else compile
    backend = embedder.backend if backend is None else backend
    if precision == embedder.precision and compile == embedder.compiled and backend == embedder.backend:
        return embedder
    model = copy.deepcopy(embedder.model) if "float16" in (precision, embedder.precision) else embedder.model
    return Embedder(model.float(), device=embedder.device, batch_size=embedder.batch_size, precision=precision,
                    metadata=embedder.metadata, compile=compile, backend=backend)


def members(embedder):
    """The embedders that make up ``embedder``: its two members for an ensemble, else itself."""
    return getattr(embedder, "members", (embedder,))


def images_per_object(embedder):
    """Stream images one object costs ``embedder``: its crop kinds, summed over an ensemble's members."""
    return sum(len(m.crop_kinds) for m in members(embedder))


def random_crops(embedder, batch, rng):
    """One dict of random uint8 crops per member, of that member's kinds and size."""
    return [{k: rng.integers(0, 256, (batch, m.config.img_size, m.config.img_size, 3), dtype=np.uint8)
             for k in m.crop_kinds} for m in members(embedder)]


def embed_random_crops(embedder, crops):
    """Features of :func:`random_crops`' crops: each member's, combined for an ensemble."""
    features = [m.embed_crops(c) for m, c in zip(members(embedder), crops)]
    return features[0] if len(features) == 1 else combine_features(*features, embedder.weight)


def embedder_mode(row):
    """An embedder row's precision, "compiled" when it ran through ``torch.compile``, and its
    backend when that is not torch."""
    backend = row.get("backend", "torch")
    return (row.get("precision", "float32") + (" compiled" if row.get("compiled") else "")
            + (f" {backend}" if backend != "torch" else ""))


def bench_embedder(embedder, batch_sizes, repeats, min_objects, echo=print, precisions=None, compiled=False,
                   backends=None):
    """Objects/s of ``embed_crops`` on random crops per batch size, precision and backend.

    With several ``precisions`` (and, with ``compiled``, each of them also through ``torch.compile``;
    with ``onnxruntime`` in ``backends``, also those of ``precisions`` ONNX Runtime runs, float32 and
    int8, or float32 when it runs none of them; int8 is not timed on torch) their runs alternate
    (one run of each per repeat, same crops), and each row after the first carries
    ``ratio_to_first``: the median of the per-run throughput ratios against the first row of its
    batch size (the first precision, torch, not compiled), side by side, and ``min_cosine_to_first``:
    the smallest cosine between its features and the first row's. Compiled rows are warmed up
    (compiled) before timing.
    """
    images = images_per_object(embedder)
    precisions = list(precisions or [embedder.precision])
    backends = list(backends or [embedder.backend])
    modes = []
    for backend in backends:
        if backend == "onnxruntime":
            runnable = [p for p in precisions if p in ONNX_RUNTIME_PRECISIONS] or ["float32"]
            modes += [(p, False, backend) for p in runnable]
        else:
            runnable = [p for p in precisions if p != "int8"]   # int8 runs on ONNX Runtime only
            modes += [(p, c, backend) for c in ([False, True] if compiled else [False]) for p in runnable]
    embedders = [with_precision(embedder, p, compile=c, backend=b) for p, c, b in modes]
    rng = np.random.default_rng(0)
    rows = []
    for batch in batch_sizes:
        crops = random_crops(embedder, batch, rng)
        calls = max(1, math.ceil(min_objects / batch))
        first_features = None
        rates = [[] for _ in embedders]
        cosines = []
        for index, each in enumerate(embedders):
            for member in members(each):
                member.batch_size = batch
            features = embed_random_crops(each, crops)  # warm-up
            if each.compiled:
                features = embed_random_crops(each, crops)  # a dynamic-shape recompile may follow the first call
            assert features.shape == (batch, each.dim)
            if first_features is None:
                first_features = features
            cosines.append(float(np.min(np.sum(features * first_features, axis=1))))
        for _ in range(repeats):
            for index, each in enumerate(embedders):
                started = time.perf_counter()
                for _ in range(calls):
                    embed_random_crops(each, crops)
                for member in members(each):
                    _sync(member)
                rates[index].append(calls * batch / (time.perf_counter() - started))
        for index, (precision, is_compiled, backend) in enumerate(modes):
            objects_per_s = _median(rates[index])
            row = {"batch_size": batch, "precision": precision, "compiled": is_compiled, "backend": backend,
                   "objects_per_s": objects_per_s,
                   "images_per_s": objects_per_s * images, "ms_per_batch": 1000.0 * batch / objects_per_s,
                   "objects_per_s_runs": rates[index], "objects_per_run": calls * batch}
            line = f"  batch {batch:>3} {embedder_mode(row):>19}: {objects_per_s:8.1f} objects/s ({objects_per_s * images:8.1f} images/s)"
            if index:
                row["ratio_to_first"] = _median([a / b for a, b in zip(rates[index], rates[0])])
                row["min_cosine_to_first"] = cosines[index]
                line += f", x{row['ratio_to_first']:.2f} vs {embedder_mode(first_row)}, min cosine {cosines[index]:.5f}"
            else:
                first_row = row
            rows.append(row)
            echo(line)
    return rows


def bench_training(embedder, instances, views_per_instance, steps, repeats, echo=print):
    """Training throughput of the embedder's architecture: a copy of its model in float32 and train
    mode, ``steps`` optimiser steps per run on one batch of ``instances`` x ``views_per_instance``
    random crop sets (forward, batch-all triplet loss, backward, gradient clipping, AdamW), as
    ``reid.train`` takes them on the CPU (no augmentation, no data loading).

    Returns
    -------
    dict
        ``views_per_s`` and ``steps_per_s`` (medians over ``repeats`` runs), the runs, the batch.
    """
    import torch
    from reid.losses import triplet_loss
    model = copy.deepcopy(embedder.model).float().train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    size, kinds = embedder.config.img_size, embedder.crop_kinds
    batch = instances * views_per_instance
    rng = np.random.default_rng(0)
    crops = {k: torch.from_numpy(rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)) for k in kinds}
    labels = torch.arange(instances).repeat_interleave(views_per_instance).to(embedder.device)

    def train_step():
        embeddings = model(model.prepare_inputs(crops))
        loss = triplet_loss(embeddings.float(), labels, margin=0.2, mining="batch-all").loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()

    train_step()  # warm-up
    _sync(embedder)
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(steps):
            train_step()
        _sync(embedder)
        rates.append(steps * batch / (time.perf_counter() - started))
    views_per_s = _median(rates)
    echo(f"  {instances} instances x {views_per_instance} views: {views_per_s:.1f} training views/s "
         f"({views_per_s / batch:.2f} steps/s)")
    return {"instances": instances, "views_per_instance": views_per_instance, "steps_per_run": steps,
            "views_per_s": views_per_s, "steps_per_s": views_per_s / batch, "views_per_s_runs": rates,
            "images_per_view": len(kinds), "device": str(embedder.device),
            "notes": ["reid.train's step on random crops (float32, no augmentation or data loading): forward, "
                      "batch-all triplet loss, backward, gradient clipping, AdamW; a view counts its stream images"]}


def _sync(embedder):
    if embedder.device.type == "cuda":
        import torch
        torch.cuda.synchronize(embedder.device)


# ------------------------------------------------------------------------------------ (c) end to end

class _TimedEmbedder:
    """Wraps an embedder to add up the time spent embedding."""

    def __init__(self, embedder):
        self.embedder, self.seconds = embedder, 0.0

    def embed(self, rgb, boxes, masks=None):
        started = time.perf_counter()
        try:
            return self.embedder.embed(rgb, boxes, masks)
        finally:
            self.seconds += time.perf_counter() - started


class _RecordingTracker:
    """Wraps a tracker to keep each frame's complete detections (features and world positions computed)."""

    def __init__(self, tracker):
        self.tracker, self.frames = tracker, []

    def update(self, detections, frame_index=None):
        self.frames.append(detections)
        return self.tracker.update(detections, frame_index)

    def __getattr__(self, name):
        return getattr(self.tracker, name)


def time_scene_updates(frames, repeats):
    """``Tracker.update`` alone on a scene's recorded detections (features and world positions already
    computed): mean milliseconds per frame of each of ``repeats`` runs, and the workload (mean
    detections and confirmed live tracks per frame)."""
    from tracker.tracker import Tracker, TrackerConfig
    runs, detected, live = [], [], []
    for _ in range(repeats):
        tracker = Tracker(TrackerConfig())
        seconds = 0.0
        for detections in frames:
            started = time.perf_counter()
            tracker.update(detections)
            seconds += time.perf_counter() - started
            detected.append(len(detections))
            live.append(len(tracker.confirmed_tracks))
        runs.append(1000.0 * seconds / max(len(frames), 1))
    return runs, {"detections_per_frame": float(np.mean(detected)) if detected else 0.0,
                  "confirmed_tracks_per_frame": float(np.mean(live)) if live else 0.0}


def bench_end_to_end(scene_name, root, embedder, repeats, max_frames, use_depth=True):
    from reid.data.scannet import ScanNetScene
    from tracker.detectors import create_detector
    from tracker.run import track_scene
    from tracker.tracker import Tracker, TrackerConfig
    scene = ScanNetScene.open(scene_name, root)
    runs, recorded = [], None
    with tempfile.TemporaryDirectory(prefix="speed-e2e-") as out:
        for repeat in range(repeats):
            timed = _TimedEmbedder(embedder)
            tracker = Tracker(TrackerConfig())
            if repeat == 0:
                recorded = _RecordingTracker(tracker)
            summary = track_scene(scene, create_detector("gt"), timed, recorded if repeat == 0 else tracker, out,
                                  max_frames=max_frames, progress=False, use_depth=use_depth)
            runs.append({"frames": summary["frames"], "seconds": summary["seconds"],
                         "frames_per_second": summary["frames_per_second"], "embedding_seconds": timed.seconds})
    fps = [r["frames_per_second"] for r in runs]
    share = [r["embedding_seconds"] / r["seconds"] for r in runs if r["seconds"] > 0]
    update_ms, workload = time_scene_updates(recorded.frames, repeats)
    return {"scene": scene.name, "root": str(root), "frames": runs[0]["frames"], "frames_per_second": _median(fps),
            "frames_per_second_runs": fps, "embedding_share": _median(share), "use_depth": use_depth,
            "update_ms_per_frame": _median(update_ms), "update_ms_runs": update_ms, **workload,
            "notes": ["tracker.run.track_scene: read frame, ground-truth detector, embed, Tracker.update, "
                      "MOT lines; outputs written to a temporary folder",
                      "update_ms_per_frame: Tracker.update alone on the first run's detections (features and "
                      "world positions computed there), mean over the frames of a run, median over runs"]}


# ------------------------------------------------------------------------------------ (e) loaded machine

LOAD_POLICIES = ("library defaults", "configured")
"""The thread policies ``--load`` compares: ``python -m tracker.run --threads 0`` (torch, OpenMP and OpenCV
as their libraries set themselves up) and ``tracker.run``'s own (``--threads`` left out, or ``--threads N``
when the benchmark is given one: :func:`reid.cli.configure_threads`)."""

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def busy_processes(count):
    """``count`` processes spinning in pure Python (``while True: pass``), each wanting a whole core."""
    import subprocess
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def stop_processes(processes):
    for process in processes:
        process.kill()
    for process in processes:
        process.wait()


def demo_scene(folder):
    """The demo room of the issue reports: ``python -m reid.data.generate --scenes 1 --frames 400 --size
    320x240 --seed 0`` written into ``folder``; returns (scene name, root)."""
    from reid.data.generate import generate_scene
    generate_scene(folder, index=0, seed=0, frames=400, size=(320, 240))
    return "scene0000_00", folder


class RunnableSampler:
    """The machine's runnable threads (``/proc/loadavg``'s fourth field, less the sampling thread itself),
    sampled every ``interval`` seconds while the ``with`` block runs: ``mean`` afterwards (None where there
    is no ``/proc/loadavg``). Unlike the load average it does not lag behind, so a run alone right after a
    loaded one reads as alone; it counts the run's own busy threads too."""

    def __init__(self, interval=0.2):
        import threading
        self.interval, self.samples, self.mean = interval, [], None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while True:
            try:
                running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
            except (OSError, ValueError, IndexError):
                return
            self.samples.append(max(running - 1, 0))
            if self._stop.wait(self.interval):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.mean = float(np.mean(self.samples)) if self.samples else None
        return False


def run_tracker_process(scene, root, out, max_frames, threads_arguments, rgb_only=False):
    """One ``python -m tracker.run SCENE --detector gt --quiet`` in a child process: its wall seconds, CPU
    seconds (user + system, from ``os.wait4``), frames, frames/s over the wall time (start-up included) and
    of the tracking loop alone, the 1-minute load average at its start and end and the mean number of
    runnable threads on the machine while it ran (:class:`RunnableSampler`)."""
    import subprocess
    command = [sys.executable, "-m", "tracker.run", str(scene), "--root", str(root), "--detector", "gt",
               "--out", str(out), "--quiet", "--max-frames", str(max_frames), *threads_arguments]
    if rgb_only:
        command.append("--rgb-only")
    repository = str(Path(__file__).resolve().parents[1])     # this checkout's tracker package
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (repository, os.environ.get("PYTHONPATH")) if p))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryFile() as output, RunnableSampler() as runnable:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            output.seek(0)
            raise RuntimeError(f"{' '.join(command[1:])} failed ({process.returncode}): "
                               f"{output.read().decode(errors='replace').strip()[-500:]}")
    summary = json.loads((Path(out) / f"{Path(scene).name}.summary.json").read_text())
    return {"wall_seconds": wall, "cpu_seconds": usage.ru_utime + usage.ru_stime, "frames": summary["frames"],
            "frames_per_second": summary["frames"] / wall, "loop_frames_per_second": summary["frames_per_second"],
            "load_average_start": load_before, "load_average_end": os.getloadavg()[0],
            "runnable_mean": runnable.mean, "context_switches_involuntary": usage.ru_nivcsw}


def bench_load(scene, root, load, max_frames, repeats, threads=None, echo=print, rgb_only=False):
    """``python -m tracker.run`` alone and beside ``load`` busy processes, under each of
    :data:`LOAD_POLICIES`: one row per (policy, busy processes) with the medians over ``repeats`` runs of
    wall seconds, CPU seconds and frames/s, the load averages, and ``slowdown`` (wall time against the
    same policy alone). Each repeat runs every cell once, alone first, the policies in turn first."""
    policies = {"library defaults": ["--threads", "0"],
                "configured": [] if threads is None else ["--threads", str(threads)]}
    runs = {(policy, busy): [] for busy in (0, load) for policy in LOAD_POLICIES}
    with tempfile.TemporaryDirectory(prefix="speed-load-") as out:
        for repeat in range(repeats):
            for busy in (0, load):
                processes = busy_processes(busy)
                try:
                    time.sleep(1.0 if busy else 0.0)          # the busy processes running before the timing
                    for policy in (LOAD_POLICIES if repeat % 2 == 0 else LOAD_POLICIES[::-1]):
                        run = run_tracker_process(scene, root, out, max_frames, policies[policy], rgb_only)
                        runs[policy, busy].append(run)
                        echo(f"  {policy:>16}, {busy} busy process{'es' * (busy != 1)}: "
                             f"{run['wall_seconds']:6.1f} s wall, "
                             f"{run['cpu_seconds']:6.1f} s CPU, {run['frames_per_second']:5.2f} frames/s, "
                             f"{'-' if run['runnable_mean'] is None else format(run['runnable_mean'], '.1f')} "
                             f"runnable threads, load average {run['load_average_start']:.2f} -> "
                             f"{run['load_average_end']:.2f}")
                finally:
                    stop_processes(processes)
    rows = []
    for (policy, busy), cell in runs.items():
        row = {"policy": policy, "arguments": policies[policy], "busy_processes": busy, "runs": cell,
               "frames": cell[0]["frames"]}
        for key in ("wall_seconds", "cpu_seconds", "loop_frames_per_second", "load_average_start", "load_average_end",
                    "runnable_mean"):
            values = [run[key] for run in cell if run[key] is not None]
            row[key] = _median(values) if values else None
        row["frames_per_second"] = row["frames"] / row["wall_seconds"]       # of the median run, as in the table
        row["cores_used"] = _median([run["cpu_seconds"] / run["wall_seconds"] for run in cell])
        rows.append(row)
    for row in rows:
        alone = next(r for r in rows if r["policy"] == row["policy"] and r["busy_processes"] == 0)
        row["slowdown"] = row["wall_seconds"] / alone["wall_seconds"]
        row["cpu_ratio"] = row["cpu_seconds"] / alone["cpu_seconds"]
    return {"scene": Path(str(scene)).name, "root": str(root), "load": load, "max_frames": max_frames,
            "repeats": repeats, "rows": rows, "cpus_usable": available_cpus(),
            "environment": {name: os.environ.get(name) for name in THREAD_VARIABLES},
            "notes": [f"python -m tracker.run on {Path(str(scene)).name} (--detector gt, --max-frames {max_frames}), "
                      f"alone and beside {load} process{'es' * (load != 1)} running 'while True: pass' (started "
                      "and stopped by the benchmark); medians over the repeats",
                      "library defaults: --threads 0 (torch, OpenMP and OpenCV as they set themselves up); "
                      "configured: tracker.run's policy (reid.cli.configure_threads: torch threads = usable CPUs "
                      "or --threads, GOMP_SPINCOUNT=1000, OpenCV single-threaded)",
                      "wall and CPU seconds of the whole process (start-up and model loading included; CPU = user "
                      "+ system, os.wait4); frames/s = frames / wall seconds; cores used = CPU / wall seconds; "
                      "slowdown = wall seconds against the same policy alone",
                      "runnable threads: the machine's runnable threads while a run ran (mean of /proc/loadavg "
                      "samples every 0.2 s; the run's own and the busy processes' included, other work on the "
                      "machine too); load average: the 1-minute load average at the start and end of a run (it "
                      "lags: a run alone after a loaded one starts high)"]}


def load_markdown(part):
    """The ``--load`` part as a markdown table: policy x busy processes."""
    lines = ["| policy | busy processes | wall s | CPU s | frames/s | cores used | slowdown | runnable threads "
             "| load average (start -> end) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in part["rows"]:
        lines.append(f"| {row['policy']} (`{' '.join(row['arguments']) or 'no --threads'}`) | "
                     f"{row['busy_processes']} | {row['wall_seconds']:.1f} | {row['cpu_seconds']:.1f} | "
                     f"{row['frames_per_second']:.2f} | {row['cores_used']:.2f} | {row['slowdown']:.2f} | "
                     f"{'-' if row.get('runnable_mean') is None else format(row['runnable_mean'], '.1f')} | "
                     f"{row['load_average_start']:.2f} -> {row['load_average_end']:.2f} |")
    return lines


# ------------------------------------------------------------------------------------ output

def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def speed_figure(result):
    plt = pyplot()
    panels = [p for p in ("tracker", "embedder", "end_to_end") if isinstance(result.get(p), dict)
              and (result[p].get("rows") or result[p].get("frames_per_second"))]
    figure, axes = plt.subplots(1, max(1, len(panels)), figsize=(5.2 * max(1, len(panels)), 4.2), squeeze=False)
    for axis, panel in zip(axes[0], panels):
        part = result[panel]
        if panel == "tracker":
            for index in sorted({r["index"] for r in part["rows"]}):
                for live in sorted({r["live_tracks"] for r in part["rows"]}):
                    rows = sorted((r for r in part["rows"] if r["index"] == index and r["live_tracks"] == live),
                                  key=lambda r: r["gallery_entries"])
                    axis.plot([r["gallery_entries"] for r in rows], [r["ms_per_frame"] for r in rows], marker="o",
                              label=f"{live} live tracks" + ("" if index == "exact" else f" ({index})"))
            axis.set_xscale("log")
            axis.set_yscale("log")
            axis.set_xlabel("gallery entries (stored features)")
            axis.set_ylabel("Tracker.update, ms per frame")
            axis.set_title("(a) tracker update, embedding excluded")
            axis.legend(fontsize=8)
        elif panel == "embedder":
            for mode in dict.fromkeys(embedder_mode(r) for r in part["rows"]):
                rows = [r for r in part["rows"] if embedder_mode(r) == mode]
                axis.plot([r["batch_size"] for r in rows], [r["objects_per_s"] for r in rows], marker="o",
                          label=f"objects/s, {mode}")
                axis.plot([r["batch_size"] for r in rows], [r["images_per_s"] for r in rows], marker="s",
                          linestyle="--", label=f"stream images/s, {mode}")
            axis.set_xscale("log", base=2)
            batches = sorted({r["batch_size"] for r in part["rows"]})
            axis.set_xticks(batches, [str(b) for b in batches])
            axis.set_xlabel("batch size (objects)")
            axis.set_ylabel("throughput per second")
            axis.set_title(f"(b) embedder: {part['model']}", fontsize=9)
            axis.legend(fontsize=8)
        else:
            fps = part["frames_per_second"]
            share = part.get("embedding_share")
            axis.bar(["end to end"], [fps], color="tab:green")
            if finite(share):
                axis.bar(["end to end"], [fps * share], color="tab:orange", label="share of time embedding")
                axis.legend(fontsize=8)
            axis.set_ylabel("frames per second")
            axis.set_title(f"(c) tracker.run loop on {part['scene']}", fontsize=9)
        axis.grid(alpha=0.3, which="both")
    machine = result["machine"]
    figure.suptitle(f"{machine['cpu_count']} CPUs, torch {machine['torch_threads']} threads, "
                    f"device {machine['device']}",
                    fontsize=9)
    return figure


def print_tables(result, echo=print):
    machine = result["machine"]
    echo(f"machine: {machine['machine']}, {machine['cpu_count']} CPUs ({machine['cpus_usable']} usable), torch "
         f"{machine['torch']} with {machine['torch_threads']} threads, device {machine['device']}, OMP_NUM_THREADS="
         f"{machine['OMP_NUM_THREADS']}, load average {machine['load_average_1min_at_start']}")
    part = result.get("tracker")
    if isinstance(part, dict) and part.get("rows"):
        echo("\n(a) Tracker.update, ms per frame (median), embedding excluded; "
             f"{part['rows'][0]['new_objects_per_frame']} unseen objects per frame searched in the gallery"
             + ("" if part.get("world_positions", True) else "; no world positions (RGB only)"))
        entries = sorted({r["gallery_entries"] for r in part["rows"]})
        for index in sorted({r["index"] for r in part["rows"]}):
            echo(f"{'live tracks':>12} | " + " | ".join(f"{e:>10,}" for e in entries) + f" | ({index} search)")
            for live in sorted({r["live_tracks"] for r in part["rows"]}):
                cells = {r["gallery_entries"]: r for r in part["rows"]
                         if r["index"] == index and r["live_tracks"] == live}
                echo(f"{live:>12} | " + " | ".join(f"{cells[e]['ms_per_frame']:10.2f}" for e in entries))
                if part.get("baseline"):
                    echo(f"{'baseline':>12} | " + " | ".join(f"{cells[e]['baseline_ms_per_frame']:10.2f}"
                                                          for e in entries))
                    echo(f"{'ratio':>12} | " + " | ".join(f"{cells[e]['ratio_to_baseline']:10.3f}" for e in entries))
        for note in part["notes"]:
            echo(f"  note: {note}")
        if part.get("baseline"):
            echo(f"  note: baseline = the tracker package of {part['baseline']}, timed run for run alternately with "
                 "this one on the same frames; ratio = median of the per-run ratios (this / baseline)")
    elif part and part != SKIPPED_BY_LOAD:
        echo(f"\n(a) tracker update: {part}")
    part = result.get("embedder")
    if isinstance(part, dict) and part.get("rows"):
        echo(f"\n(b) embedder throughput: {part['model']}, {part['images_per_object']} stream images per object")
        echo(f"{'batch':>6} | {'precision':>18} | {'objects/s':>10} | {'images/s':>10} | {'ms/batch':>9} | "
             f"{'ratio':>6} | {'min cosine':>10}")
        for r in part["rows"]:
            ratio = f"{r['ratio_to_first']:6.2f}" if "ratio_to_first" in r else f"{'':>6}"
            cosine = f"{r['min_cosine_to_first']:10.5f}" if "min_cosine_to_first" in r else f"{'':>10}"
            echo(f"{r['batch_size']:>6} | {embedder_mode(r):>19} | {r['objects_per_s']:10.1f} | "
                 f"{r['images_per_s']:10.1f} | {r['ms_per_batch']:9.1f} | {ratio} | {cosine}")
        for note in part.get("notes", []):
            echo(f"  note: {note}")
    elif part and part != SKIPPED_BY_LOAD:
        echo(f"\n(b) embedder: {part}")
    part = result.get("training")
    if isinstance(part, dict) and "views_per_s" in part:
        echo(f"\n(d) training throughput: {part['model']}, batch {part['instances']} x {part['views_per_instance']}: "
             f"{part['views_per_s']:.1f} views/s ({part['steps_per_s']:.2f} steps/s, "
             f"{part['views_per_s'] * part['images_per_view']:.1f} stream images/s)")
        for note in part.get("notes", []):
            echo(f"  note: {note}")
    elif part and part != SKIPPED_BY_LOAD:
        echo(f"\n(d) training: {part}")
    part = result.get("end_to_end")
    if isinstance(part, dict) and "frames_per_second" in part:
        echo(f"\n(c) end to end on {part['scene']}: {part['frames_per_second']:.2f} frames/s over {part['frames']} "
             f"frames (median of {len(part['frames_per_second_runs'])}), "
             f"embedding {100 * part['embedding_share']:.0f} % "
             f"of the time")
        if "update_ms_per_frame" in part:
            echo(f"    Tracker.update alone on these frames: {part['update_ms_per_frame']:.3f} ms per frame (mean over "
                 f"frames, median of {len(part['update_ms_runs'])} runs) with {part['detections_per_frame']:.1f} "
                 f"detections and {part['confirmed_tracks_per_frame']:.1f} confirmed live tracks per frame")
    elif part and part != SKIPPED_BY_LOAD:
        echo(f"\n(c) end to end: {part.get('skipped', part)}")
    part = result.get("load")
    if isinstance(part, dict) and part.get("rows"):
        busy = part["load"]
        echo(f"\n(e) loaded machine: python -m tracker.run on {part['scene']}, {part['rows'][0]['frames']} frames, "
             f"alone and beside {busy} busy process{'es' * (busy != 1)} on {part['cpus_usable']} usable CPUs "
             f"(median of {part['repeats']})")
        for line in load_markdown(part):
            echo(line)
        for note in part.get("notes", []):
            echo(f"  note: {note}")
    elif part and part != SKIPPED_BY_LOAD:
        echo(f"\n(e) loaded machine: {part.get('skipped', part)}")


def main(argv=None):
    parser = ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="out/speed", help="output folder (default out/speed)")
    parser.add_argument("--quick", action="store_true",
                        help="a fast smoke run: 10 and 50 tracks, 1e3 and 1e4 entries, batches 1 and 8, 2 repeats")
    parser.add_argument("--repeats", type=positive_int, help="runs per figure, the median is reported (default 5)")
    parser.add_argument("--live", nargs="+", type=count, help="live track counts (default 10 50 100 200)")
    parser.add_argument("--gallery-sizes", nargs="+", type=count,
                        help="gallery entries (stored features) (default 1e3 1e4 1e5 1e6)")
    parser.add_argument("--frames", type=positive_int, help="timed frames per tracker run (default 64)")
    parser.add_argument("--new-per-frame", type=int, default=2, help="unseen objects per frame (default 2)")
    parser.add_argument("--dim", type=positive_int, default=128, help="feature length (default 128)")
    parser.add_argument("--bank-size", type=positive_int, default=100,
                        help="features per gallery identity (default 100, TrackerConfig's)")
    parser.add_argument("--nn-budget", type=positive_int,
                        help="features kept per live track (default 100, TrackerConfig's nn_budget)")
    parser.add_argument("--batch-sizes", nargs="+", type=count, help="embedder batch sizes (default 1 8 32 64)")
    parser.add_argument("--min-objects", type=positive_int, help="objects embedded per timed run (default 64)")
    parser.add_argument("--model", default="default",
                        help="embedder: 'default' (falls back to the untrained concat variant when the shipped "
                             "model is missing), a checkpoint path, variant:NAME, or an ensemble A+B:W of two "
                             "of these (timed as one)")
    parser.add_argument("--scene", help="scene for the end-to-end run (with --root); skipped without")
    parser.add_argument("--root", help="dataset root of --scene")
    parser.add_argument("--max-frames", type=positive_int, help="frames of the end-to-end run (default 30)")
    parser.add_argument("--rgb-only", action="store_true", help="end-to-end run without depth and pose")
    parser.add_argument("--baseline", metavar="DIR",
                        help="also time the tracker package of DIR (e.g. a git worktree of an older commit), "
                             "alternately with this one, and report the ratio")
    parser.add_argument("--no-positions", action="store_true",
                        help="tracker part without world positions (RGB-only tracking: no world gate narrows "
                             "the gallery search)")
    parser.add_argument("--train-batch", nargs=2, type=positive_int, metavar=("P", "K"),
                        help="training throughput batch: P instances x K views (default 16 4, reid.train's)")
    parser.add_argument("--train-steps", type=positive_int, help="training steps per run (default 3)")
    parser.add_argument("--skip", nargs="+", choices=("tracker", "embedder", "training", "end-to-end"), default=[],
                        help="parts not to run")
    parser.add_argument("--device", help="embedder device (default: cuda when available)")
    add_precision_argument(parser, nargs="+", note="; several are timed alternately, run for run, with ratios to "
                                                  "the first")
    parser.add_argument("--compile", action="store_true",
                        help="embedder: also time each precision through torch.compile, alternately with the eager "
                             "model (compile time not counted)")
    add_backend_argument(parser, nargs="+", note="; with onnxruntime, float32 and/or int8 (those of --precision, "
                                                 "else float32) through ONNX Runtime are timed alternately with "
                                                 "the torch rows")
    parser.add_argument("--threads", type=positive_int,
                        help="torch threads (default: torch's choice); with --load, the --threads of the configured "
                             "policy's runs (default: tracker.run's own)")
    parser.add_argument("--load", type=positive_int, metavar="N",
                        help="instead of (a)-(d): python -m tracker.run on --scene (default: the 400-frame demo room, "
                             "generated) alone and beside N busy processes, with the libraries' thread defaults "
                             "(--threads 0) and tracker.run's thread policy; wall and CPU seconds, frames/s "
                             "(--max-frames default 100, --repeats default 2)")
    args = parser.parse_args(argv)
    require_matplotlib(parser.prog)
    setup_logging(quiet=True)
    if args.new_per_frame < 0:
        parser.error("--new-per-frame must be >= 0")
    if args.load:
        args.max_frames = args.max_frames or (QUICK_LOAD if args.quick else LOAD)["max_frames"]
        args.repeats = args.repeats or (QUICK_LOAD if args.quick else LOAD)["repeats"]
    defaults = QUICK if args.quick else dict(live=LIVE_TRACKS, gallery_sizes=GALLERY_ENTRIES, batch_sizes=BATCH_SIZES,
                                             frames=64, repeats=5, min_objects=64, max_frames=30,
                                             train_batch=(16, 4), train_steps=3)
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    result = {"machine": machine_facts(args.device), "settings": {
        k: getattr(args, k) for k in ("quick", "repeats", "live", "gallery_sizes", "frames", "new_per_frame", "dim",
                                      "bank_size", "batch_sizes", "min_objects", "model", "scene", "root",
                                      "max_frames", "no_positions", "nn_budget", "baseline", "precision",
                                      "train_batch", "train_steps", "compile", "backend", "load",
                                      "threads")}}
    echo = lambda line: print(line, flush=True)  # noqa: E731
    if args.load:
        return load_mode(args, result, echo, parser.prog)
    try:
        if "tracker" in args.skip:
            result["tracker"] = {"skipped": "--skip tracker"}
        else:
            echo("(a) tracker update ...")
            baseline = tracker_package(args.baseline) if args.baseline else None
            result["tracker"] = bench_tracker(args.live, args.gallery_sizes, args.repeats, args.frames,
                                              args.new_per_frame, args.dim, args.bank_size, echo,
                                              positions=not args.no_positions, nn_budget=args.nn_budget,
                                              baseline=baseline)
        embedder = None
        if "embedder" not in args.skip or "training" not in args.skip or \
                (args.scene and "end-to-end" not in args.skip):
            embedder, description, note = load_embedder(args.model, args.device)
            if args.precision or args.backend:  # end to end runs the first precision and backend
                embedder = with_precision(embedder, (args.precision or [embedder.precision])[0],
                                          backend=(args.backend or [embedder.backend])[0])
        if "embedder" in args.skip:
            result["embedder"] = {"skipped": "--skip embedder"}
        else:
            echo(f"(b) embedder throughput: {description} ...")
            rows = bench_embedder(embedder, args.batch_sizes, args.repeats, args.min_objects, echo,
                                  precisions=args.precision, compiled=args.compile, backends=args.backend)
            configs = [m.config for m in members(embedder)]
            result["embedder"] = {
                "model": description, "variant": "+".join(c.variant for c in configs),
                "trunk": "+".join(c.trunk for c in configs), "img_size": "+".join(str(c.img_size) for c in configs),
                "dim": embedder.dim, "images_per_object": images_per_object(embedder),
                "device": str(embedder.device),
                "rows": rows,
                "notes": [n for n in (note, "model time on ready-made uint8 crops (Embedder.embed_crops); each "
                                            "object counts its stream images (foreground + background for concat)")
                          if n]}
        if "training" in args.skip:
            result["training"] = {"skipped": "--skip training"}
        elif isinstance(embedder, EnsembleEmbedder):
            result["training"] = {"skipped": "an ensemble is not trained: time its members with --model"}
        else:
            echo(f"(d) training throughput: {description} ...")
            result["training"] = bench_training(embedder, *args.train_batch, args.train_steps, args.repeats, echo)
            result["training"]["model"] = description
        if "end-to-end" in args.skip:
            result["end_to_end"] = {"skipped": "--skip end-to-end"}
        elif not args.scene:
            result["end_to_end"] = {"skipped": "no --scene given"}
        else:
            echo(f"(c) end to end on {args.scene} ...")
            result["end_to_end"] = bench_end_to_end(args.scene, args.root, embedder, args.repeats, args.max_frames,
                                                    use_depth=not args.rgb_only)
            result["end_to_end"]["model"] = description
        result["machine"]["load_average_1min_at_end"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") \
            else None
        result = _jsonable(result)
        print()
        print_tables(result, echo)
        out = Path(args.out)
        result.update({k: v for k, v in run_facts("benchmarks.speed").items() if k != "machine"})
        atomic_write_json(out / "speed.json", result)
        save_figure(speed_figure(result), out / "speed.png")
    except (SceneError, OSError, ValueError, RuntimeError, ImportError) as error:
        fail(parser.prog, f"{type(error).__name__}: {error}" if not str(error) else str(error))
    print(f"-> {out / 'speed.json'}, {out / 'speed.png'}")


def load_mode(args, result, echo, prog):
    """``--load N``: part (e) alone (the other parts recorded as skipped); writes ``OUT/speed.json`` and the
    table as ``OUT/load.md``."""
    for name in SPEED_PARTS:
        result[name] = dict(SKIPPED_BY_LOAD)
    out = Path(args.out)
    try:
        with tempfile.TemporaryDirectory(prefix="speed-demo-") as folder:
            if args.scene:
                from reid.data.scannet import ScanNetScene
                scene, root = args.scene, args.root
                ScanNetScene.open(scene, root)                   # a missing scene: one line, before any run
            else:
                echo("(e) generating the demo room (reid.data.generate --scenes 1 --frames 400 --size 320x240 "
                     "--seed 0) ...")
                scene, root = demo_scene(folder)
            echo(f"(e) loaded machine: tracker.run alone and beside {args.load} busy processes ...")
            result["load"] = bench_load(scene, root, args.load, args.max_frames, args.repeats, threads=args.threads,
                                        echo=echo, rgb_only=args.rgb_only)
            if not args.scene:
                result["load"]["scene"] = "demo room (reid.data.generate --frames 400 --size 320x240 --seed 0)"
                result["load"]["root"] = None
        result["machine"]["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
        result = _jsonable(result)
        print()
        print_tables(result, echo)
        result.update({k: v for k, v in run_facts("benchmarks.speed").items() if k != "machine"})
        atomic_write_json(out / "speed.json", result)
        atomic_write_text(out / "load.md", "\n".join(load_markdown(result["load"])) + "\n")
    except (SceneError, OSError, ValueError, RuntimeError, ImportError) as error:
        fail(prog, f"{type(error).__name__}: {error}" if not str(error) else str(error))
    print(f"-> {out / 'speed.json'}, {out / 'load.md'}")


if __name__ == "__main__":
    sys.exit(main())
