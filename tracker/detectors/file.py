"""A detections file: per frame, boxes, scores, classes and optional RLE masks (JSON).

Format (``"format": "tracker-detections/1"``)::

    {"format": "tracker-detections/1",
     "frames": {"<frame index>": [
         {"tlwh": [x, y, w, h], "score": 0.93, "label": 5,
          "mask": {"size": [H, W], "counts": [n0, n1, ...]}},      # optional
         ...]}}

``tlwh`` is in colour pixels, ``label`` a NYU40 class id, frame indices are ScanNet's (file numbers).
Masks are COCO run-length encodings: uncompressed (``counts`` a list of run lengths, column-major,
starting with background) or COCO's compressed string (needs ``pycocotools``). Frames absent from the
file have no detections.
"""
import json
import logging
from pathlib import Path

import numpy as np

from reid.fileio import atomic_write_text

from ..detection import Detection

FORMAT = "tracker-detections/1"
log = logging.getLogger("tracker")


class DetectionFileError(ValueError):
    """A detections file that cannot be read; the message names the file and the problem."""


def encode_mask(mask):
    """HxW bool -> uncompressed COCO RLE dict (column-major runs, starting with background)."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    changes = np.nonzero(np.diff(flat.astype(np.int8)))[0] + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def decode_mask(rle):
    """COCO RLE dict -> HxW bool mask."""
    height, width = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, (str, bytes)):
        try:
            from pycocotools import mask as mask_utils
        except ImportError:
            raise DetectionFileError("compressed RLE masks need pycocotools (pip install pycocotools), "
                                     "or write uncompressed RLE (a list of counts)") from None
        rle = {"size": [height, width], "counts": counts.encode() if isinstance(counts, str) else counts}
        return mask_utils.decode(rle).astype(bool)
    counts = np.asarray(counts, dtype=np.int64)
    if counts.sum() != height * width or (counts < 0).any():
        raise ValueError(f"run lengths sum to {counts.sum()}, expected {height}x{width} = {height * width}")
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape((height, width), order="F")


def save_detections(path, detections_by_frame):
    """Write ``{frame index: [Detection, ...]}`` to ``path`` atomically (temp file + rename)."""
    frames = {}
    for index, detections in sorted(detections_by_frame.items()):
        frames[str(int(index))] = [
            {"tlwh": [round(float(v), 3) for v in d.tlwh], "score": round(float(d.score), 5), "label": int(d.label),
             **({"mask": encode_mask(d.mask)} if d.mask is not None else {})}
            for d in detections]
    atomic_write_text(path, json.dumps({"format": FORMAT, "frames": frames}))


class FileDetector:
    """Detections read from a detections file (see the module docstring for the format).

    Raises
    ------
    DetectionFileError
        When the file is missing, not JSON, or not in the format; the message names the file.
    """

    name = "file"

    def __init__(self, path):
        self.path = Path(path)
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            raise DetectionFileError(f"{self.path}: detections file not found") from None
        except (OSError, ValueError) as error:
            raise DetectionFileError(f"{self.path}: not a JSON detections file ({error})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("frames"), dict):
            raise DetectionFileError(f"{self.path}: expected a JSON object with \"format\": \"{FORMAT}\" and \"frames\"")
        self._frames = {}
        for key, entries in data["frames"].items():
            try:
                self._frames[int(key)] = [self._parse(entry) for entry in entries]
            except (KeyError, TypeError, ValueError) as error:
                raise DetectionFileError(f"{self.path}: frame {key}: bad detection ({error})") from None

    @staticmethod
    def _parse(entry):
        tlwh = [float(v) for v in entry["tlwh"]]
        if len(tlwh) != 4:
            raise ValueError(f"tlwh has {len(tlwh)} values")
        mask = decode_mask(entry["mask"]) if entry.get("mask") is not None else None
        return Detection(np.array(tlwh), float(entry.get("score", 1.0)), int(entry["label"]), mask=mask)

    def __call__(self, frame):
        """Detections of ``frame`` (anything with an ``index``); masks of another size are dropped."""
        detections = []
        for stored in self._frames.get(frame.index, []):
            mask = stored.mask
            if mask is not None and getattr(frame, "rgb", None) is not None and mask.shape != frame.rgb.shape[:2]:
                log.warning("%s: frame %d: mask of size %s does not match the %s image, used the box only",
                            self.path, frame.index, mask.shape, frame.rgb.shape[:2])
                mask = None
            detections.append(Detection(stored.tlwh.copy(), stored.score, stored.label, mask=mask))
        return detections
