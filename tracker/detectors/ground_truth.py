"""The ground-truth detector: boxes, masks and classes from ``instance-filt`` + ``label-filt``."""
import numpy as np

from reid.data.nyu40 import STRUCTURE_LABELS
from reid.data.scannet import majority_labels
from reid.data.visibility import min_visible_pixels
from reid.dataset import mask_boxes

from ..detection import Detection


class GroundTruthDetector:
    """Detections from a frame's annotation masks.

    The tracker gets each object's box, mask and class, never its annotation instance id: those ids
    are for scoring only. Detections come ordered by position in the image, not by id.

    Parameters
    ----------
    include_structure : bool
        Also detect walls, floor and ceiling (NYU40 1, 2, 22); off by default.
    min_pixels : int, optional
        Least mask area (default 0.1 % of the image, at least 8 px).
    """

    name = "gt"

    def __init__(self, include_structure=False, min_pixels=None):
        self.include_structure = include_structure
        self.min_pixels = min_pixels

    def __call__(self, frame):
        """Detections of ``frame`` (a :class:`reid.data.scannet.Frame`); [] when it has no masks."""
        if frame.instance is None or frame.label is None:
            return []
        min_pixels = self.min_pixels or min_visible_pixels(frame.size)
        labels = majority_labels(frame.instance, frame.label)
        detections = []
        for instance_id, (tlwh, pixels) in mask_boxes(frame.instance).items():
            label = labels[instance_id][0]
            if pixels < min_pixels or (label in STRUCTURE_LABELS and not self.include_structure):
                continue
            detections.append(Detection(np.array(tlwh), 1.0, label, mask=frame.instance == instance_id))
        detections.sort(key=lambda d: (d.tlwh[1], d.tlwh[0], d.tlwh[3], d.tlwh[2]))
        return detections
