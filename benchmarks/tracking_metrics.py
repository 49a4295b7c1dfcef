"""Tracking metrics: ground truth from instance masks, TrackEval (HOTA, IDF1, MOTA, IDSW), revisit accuracy.

Sequences are given as plain arrays so that the metrics can be checked on hand-made tracks:

- ground truth: ``N x 6`` rows ``frame, instance_id, x, y, w, h`` (MOT frame numbers, 1-based);
- tracker output: ``N x 6`` rows ``frame, track_id, x, y, w, h`` (the first six MOTChallenge columns).

:func:`trackeval_metrics` writes TrackEval's MOTChallenge folder layout into a temporary folder and runs
its Python API in-process, quietly. :func:`revisit_accuracy` is the project's own metric: of the
objects that come back into view after a long gap, the share that get their old ID back.
"""
import contextlib
import io
import math
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from scipy.optimize import linear_sum_assignment

from reid.data.nyu40 import STRUCTURE_LABELS
from reid.data.scannet import majority_labels
from reid.data.visibility import Revisit, find_revisits
from reid.dataset import mask_boxes

BENCHMARK = "SCANNET"
SPLIT = "test"


# ---------------------------------------------------------------------------------------- ground truth
def gt_boxes(instance, label, min_pixels, include_structure=False):
    """Ground-truth boxes of one frame: dict instance id -> tlwh (float array).

    Instances with at least ``min_pixels`` pixels, structure classes (NYU40 wall, floor, ceiling)
    left out unless ``include_structure``: the objects the ground-truth detector reports.
    """
    if instance is None or label is None:
        return {}
    labels = majority_labels(instance, label)
    boxes = {}
    for instance_id, (tlwh, pixels) in mask_boxes(instance).items():
        if pixels < min_pixels or (labels[instance_id][0] in STRUCTURE_LABELS and not include_structure):
            continue
        boxes[int(instance_id)] = np.asarray(tlwh, dtype=np.float64)
    return boxes


def rows_from_boxes(frame_number, boxes):
    """``frame, id, x, y, w, h`` rows from a dict id -> tlwh (or an iterable of (id, tlwh))."""
    items = boxes.items() if isinstance(boxes, dict) else boxes
    return [[float(frame_number), float(i), *map(float, tlwh)] for i, tlwh in items]


def as_rows(rows):
    """Rows as an N x 6 float array (``frame, id, x, y, w, h``); extra columns are dropped."""
    array = np.asarray(rows, dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, 6))
    return array.reshape(len(array), -1)[:, :6]


# ---------------------------------------------------------------------------------------- matching
def iou_matrix(a, b):
    """IoU between tlwh boxes ``a`` (N x 4) and ``b`` (M x 4)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    a1, a2 = a[:, None, :2], a[:, None, :2] + a[:, None, 2:]
    b1, b2 = b[None, :, :2], b[None, :, :2] + b[None, :, 2:]
    size = np.clip(np.minimum(a2, b2) - np.maximum(a1, b1), 0, None)
    inter = size[..., 0] * size[..., 1]
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_frame(gt_rows, track_rows, iou_threshold=0.5):
    """One-to-one matching (Hungarian on IoU, pairs with IoU >= threshold) of one frame's boxes.

    ``gt_rows`` and ``track_rows`` are ``frame, id, x, y, w, h`` arrays of a single frame; returns
    dict gt id -> track id.
    """
    gt_rows, track_rows = as_rows(gt_rows), as_rows(track_rows)
    if not len(gt_rows) or not len(track_rows):
        return {}
    iou = iou_matrix(gt_rows[:, 2:6], track_rows[:, 2:6])
    score = np.where(iou >= iou_threshold - 1e-12, iou, 0.0)
    rows, cols = linear_sum_assignment(-score)
    return {int(gt_rows[r, 1]): int(track_rows[c, 1]) for r, c in zip(rows, cols) if score[r, c] > 0}


def match_sequence(gt, tracks, iou_threshold=0.5):
    """Per MOT frame number: dict gt id -> track id (see :func:`match_frame`)."""
    gt, tracks = as_rows(gt), as_rows(tracks)
    matches = {}
    for frame in np.unique(gt[:, 0]).astype(int):
        matches[int(frame)] = match_frame(gt[gt[:, 0] == frame], tracks[tracks[:, 0] == frame], iou_threshold)
    return matches


# ---------------------------------------------------------------------------------------- revisits
@dataclass
class ReturnResult:
    """One return of an instance: the track ID before the gap and the first one after it."""

    revisit: Revisit
    id_before: Optional[int]
    id_after: Optional[int]

    @property
    def kept(self):
        return self.id_before is not None and self.id_before == self.id_after


@dataclass
class RevisitScore:
    """Revisit accuracy of one tracker on one sequence."""

    returns: List[ReturnResult] = field(default_factory=list)

    @property
    def count(self):
        return len(self.returns)

    @property
    def kept(self):
        return sum(r.kept for r in self.returns)

    @property
    def missing(self):
        """Returns without a matched output before or after the gap (counted as failures)."""
        return sum(r.id_before is None or r.id_after is None for r in self.returns)

    @property
    def accuracy(self):
        """Share of returns that kept their ID; NaN when there is no return."""
        return self.kept / self.count if self.count else float("nan")


def visible_by_frame(gt):
    """``(frame numbers, list of sets of ids)`` from ground-truth rows, frames in increasing order."""
    gt = as_rows(gt)
    frames = sorted(set(gt[:, 0].astype(int).tolist()))
    return frames, [set(gt[gt[:, 0] == f, 1].astype(int).tolist()) for f in frames]


def revisit_accuracy(gt, tracks, min_gap=100, window=10, iou_threshold=0.5, frames=None, revisits=None, matches=None):
    """The project's revisit accuracy of a tracker's output on one sequence.

    Parameters
    ----------
    gt, tracks : N x 6 arrays ``frame, id, x, y, w, h`` (MOT frame numbers)
    min_gap : int
        Least frame-number difference between the last sighting and the return
        (:func:`reid.data.visibility.find_revisits`).
    window : int
        The ID after the return is that of the first matched output within the first ``window``
        processed frames from the return on (``frames`` lists the processed frame numbers; by default
        the frames of the ground truth).
    iou_threshold : float
        An output box stands for a ground-truth instance when the two are matched one-to-one in the
        frame with IoU at least this.
    revisits : list of Revisit, optional
        Returns to score (frame numbers as in ``gt``); found from ``gt`` by default.
    matches : dict, optional
        :func:`match_sequence` of ``gt`` and ``tracks`` at ``iou_threshold``, when already computed.

    Returns
    -------
    RevisitScore
        A return counts as kept when the ID matched to the instance at its last matched output at or
        before ``last_seen`` equals the ID of its first matched output after ``back_at`` (within the
        window); no output before or after counts as a failure.
    """
    gt, tracks = as_rows(gt), as_rows(tracks)
    gt_frames, visible = visible_by_frame(gt)
    frames = sorted(set(int(f) for f in (frames if frames is not None else gt_frames)))
    if revisits is None:
        revisits = find_revisits(gt_frames, visible, min_gap=min_gap)
    matches = match_sequence(gt, tracks, iou_threshold) if matches is None else matches
    # instance -> sorted list of (frame, track id) where an output stands for it
    sightings: Dict[int, List] = {}
    for frame in sorted(matches):
        for instance_id, track_id in matches[frame].items():
            sightings.setdefault(instance_id, []).append((frame, track_id))
    frame_array = np.asarray(frames, dtype=np.int64)
    score = RevisitScore()
    for revisit in revisits:
        seen = sightings.get(revisit.instance_id, [])
        before = [track_id for frame, track_id in seen if frame <= revisit.last_seen]
        start = int(np.searchsorted(frame_array, revisit.back_at))
        allowed = frame_array[start:start + window]
        last_allowed = allowed[-1] if len(allowed) else revisit.back_at
        after = [track_id for frame, track_id in seen if revisit.back_at <= frame <= last_allowed]
        score.returns.append(ReturnResult(revisit, before[-1] if before else None, after[0] if after else None))
    return score


def shared_ids(gt, tracks, iou_threshold=0.5, min_frames=5, matches=None):
    """IDs that stand for two or more objects: the tracker's failure at telling twins apart.

    Parameters
    ----------
    gt, tracks : N x 6 arrays ``frame, id, x, y, w, h`` (MOT frame numbers)
    iou_threshold : float
        An output box stands for a ground-truth instance when the two are matched one-to-one in the
        frame (:func:`match_sequence`) with IoU at least this.
    min_frames : int
        Frames an ID must stand for an instance for that instance to count (short overlaps at a
        switch are not a shared identity).
    matches : dict, optional
        :func:`match_sequence` of ``gt`` and ``tracks`` at ``iou_threshold``, when already computed.

    Returns
    -------
    int
        Output IDs that stand for at least two instances for ``min_frames`` frames each.
    """
    frames_per_pair: Dict[tuple, int] = {}
    if matches is None:
        matches = match_sequence(as_rows(gt), as_rows(tracks), iou_threshold)
    for matched in matches.values():
        for instance_id, track_id in matched.items():
            frames_per_pair[(track_id, instance_id)] = frames_per_pair.get((track_id, instance_id), 0) + 1
    instances: Dict[int, int] = {}
    for (track_id, _), count in frames_per_pair.items():
        if count >= min_frames:
            instances[track_id] = instances.get(track_id, 0) + 1
    return sum(1 for count in instances.values() if count >= 2)


# ---------------------------------------------------------------------------------------- TrackEval
class TrackEvalMissing(ImportError):
    """TrackEval is not installed."""


def import_trackeval():
    """``trackeval``, imported quietly (it prints a line about its optional mask datasets)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import trackeval
    except ImportError as error:
        raise TrackEvalMissing(f"TrackEval is not installed ({error}); install the benchmark packages with "
                               f"`pip install --no-deps -r benchmarks/peers.txt`") from None
    return trackeval


def _mot_text(rows, gt):
    lines = []
    for frame, ident, x, y, w, h in as_rows(rows):
        if gt:  # conf = 1 (not zero-marked), class 1 (TrackEval's single MOT class), visibility 1
            lines.append(f"{int(frame)},{int(ident)},{x:.3f},{y:.3f},{w:.3f},{h:.3f},1,1,1")
        else:
            lines.append(f"{int(frame)},{int(ident)},{x:.3f},{y:.3f},{w:.3f},{h:.3f},1,-1,-1,-1")
    return "".join(line + "\n" for line in lines)


def write_mot_layout(folder, gt, tracks, lengths):
    """TrackEval's MOTChallenge layout under ``folder``.

    ``gt``: dict sequence -> gt rows; ``tracks``: dict tracker name -> dict sequence -> rows;
    ``lengths``: dict sequence -> number of frames (the largest MOT frame number at least).
    Returns ``(gt folder, trackers folder, seqmap file)``.
    """
    folder = Path(folder)
    split = f"{BENCHMARK}-{SPLIT}"
    gt_root, trackers_root = folder / "gt", folder / "trackers"
    for seq, rows in gt.items():
        seq_dir = gt_root / split / seq
        (seq_dir / "gt").mkdir(parents=True, exist_ok=True)
        (seq_dir / "gt" / "gt.txt").write_text(_mot_text(rows, gt=True))
        (seq_dir / "seqinfo.ini").write_text(
            f"[Sequence]\nname={seq}\nimDir=img1\nframeRate=30\nseqLength={int(lengths[seq])}\n"
            f"imWidth=0\nimHeight=0\nimExt=.jpg\n")
    seqmap = gt_root / "seqmaps" / f"{split}.txt"
    seqmap.parent.mkdir(parents=True, exist_ok=True)
    seqmap.write_text("name\n" + "".join(f"{seq}\n" for seq in gt))
    for name, per_seq in tracks.items():
        data = trackers_root / split / name / "data"
        data.mkdir(parents=True, exist_ok=True)
        for seq in gt:
            (data / f"{seq}.txt").write_text(_mot_text(per_seq.get(seq, []), gt=False))
    return gt_root, trackers_root, seqmap


def _number(value):
    value = float(np.mean(value))
    return value if math.isfinite(value) else float("nan")


def trackeval_metrics(gt, tracks, lengths=None):
    """HOTA, IDF1, MOTA, IDSW (and friends) of each tracker on each sequence, through TrackEval.

    Parameters
    ----------
    gt : dict sequence name -> N x 6 rows ``frame, id, x, y, w, h`` (MOT frame numbers, 1-based)
    tracks : dict tracker name -> dict sequence name -> rows of the same form
    lengths : dict sequence name -> frames, optional
        Sequence lengths; default: the largest frame number in the sequence's gt and tracks.

    Returns
    -------
    dict tracker -> dict sequence -> dict with ``HOTA``, ``DetA``, ``AssA``, ``IDF1``, ``IDP``, ``IDR``,
    ``MOTA``, ``MOTP``, ``IDSW``, ``FP``, ``FN`` (HOTA, DetA, AssA averaged over TrackEval's IoU
    thresholds, as it reports them).
    """
    trackeval = import_trackeval()
    if lengths is None:
        lengths = {}
        for seq, rows in gt.items():
            frames = [as_rows(rows)[:, 0]] + [as_rows(t.get(seq, []))[:, 0] for t in tracks.values()]
            lengths[seq] = int(max([f.max() for f in frames if len(f)] + [1]))
    names = list(tracks)
    # TrackEval folder names are the tracker names; keep them plain
    folder_names = {name: f"t{i:02d}" for i, name in enumerate(names)}
    with tempfile.TemporaryDirectory(prefix="trackeval-") as temporary:
        gt_root, trackers_root, seqmap = write_mot_layout(
            temporary, gt, {folder_names[n]: tracks[n] for n in names}, lengths)
        eval_config = trackeval.Evaluator.get_default_eval_config()
        eval_config.update(USE_PARALLEL=False, PRINT_RESULTS=False, PRINT_ONLY_COMBINED=False,
                           PRINT_CONFIG=False, TIME_PROGRESS=False, DISPLAY_LESS_PROGRESS=True,
                           OUTPUT_SUMMARY=False, OUTPUT_EMPTY_CLASSES=False, OUTPUT_DETAILED=False,
                           PLOT_CURVES=False, BREAK_ON_ERROR=True, RETURN_ON_ERROR=False, LOG_ON_ERROR=None)
        dataset_config = trackeval.datasets.MotChallenge2DBox.get_default_dataset_config()
        dataset_config.update(GT_FOLDER=str(gt_root), TRACKERS_FOLDER=str(trackers_root),
                              OUTPUT_FOLDER=str(Path(temporary) / "output"), BENCHMARK=BENCHMARK,
                              SPLIT_TO_EVAL=SPLIT, TRACKERS_TO_EVAL=[folder_names[n] for n in names],
                              SEQMAP_FILE=str(seqmap), DO_PREPROC=False, PRINT_CONFIG=False,
                              CLASSES_TO_EVAL=["pedestrian"])
        metric_config = {"THRESHOLD": 0.5, "PRINT_CONFIG": False}
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            evaluator = trackeval.Evaluator(eval_config)
            dataset = trackeval.datasets.MotChallenge2DBox(dataset_config)
            metrics = [trackeval.metrics.HOTA(metric_config), trackeval.metrics.CLEAR(metric_config),
                       trackeval.metrics.Identity(metric_config)]
            results, messages = evaluator.evaluate([dataset], metrics)
    per_tracker = results["MotChallenge2DBox"]
    out = {}
    for name in names:
        res = per_tracker[folder_names[name]]
        out[name] = {}
        for seq in gt:
            r = res[seq]["pedestrian"]
            out[name][seq] = {
                "HOTA": _number(r["HOTA"]["HOTA"]), "DetA": _number(r["HOTA"]["DetA"]),
                "AssA": _number(r["HOTA"]["AssA"]),
                "IDF1": _number(r["Identity"]["IDF1"]), "IDP": _number(r["Identity"]["IDP"]),
                "IDR": _number(r["Identity"]["IDR"]),
                "MOTA": _number(r["CLEAR"]["MOTA"]), "MOTP": _number(r["CLEAR"]["MOTP"]),
                "IDSW": int(r["CLEAR"]["IDSW"]), "FP": int(r["CLEAR"]["CLR_FP"]), "FN": int(r["CLEAR"]["CLR_FN"]),
            }
    return out
