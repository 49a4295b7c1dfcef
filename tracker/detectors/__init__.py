"""Detectors: per frame, boxes + masks + classes as :class:`tracker.detection.Detection` lists.

``gt`` reads the annotation masks (never passing instance ids on), ``file`` reads a detections
file, ``maskrcnn`` runs torchvision's Mask R-CNN. :func:`create_detector` builds one by name.
"""
from .file import FileDetector, save_detections
from .ground_truth import GroundTruthDetector

DETECTORS = ("gt", "maskrcnn", "file")


def create_detector(name, **kwargs):
    """Detector by name: ``gt``, ``maskrcnn`` (kwargs: weights, score_threshold, device) or ``file`` (path)."""
    if name == "gt":
        return GroundTruthDetector(**kwargs)
    if name == "file":
        return FileDetector(**kwargs)
    if name == "maskrcnn":
        from .maskrcnn import MaskRCNNDetector
        return MaskRCNNDetector(**kwargs)
    raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")


__all__ = ["DETECTORS", "FileDetector", "GroundTruthDetector", "create_detector", "save_detections"]
