"""One object detection in one frame, and the checks that keep a bad one out of the tracker."""
import logging
from dataclasses import dataclass
from typing import List, NamedTuple, Optional

import numpy as np

log = logging.getLogger("tracker")


@dataclass
class Detection:
    """A detected object in a single image.

    Attributes
    ----------
    tlwh : ndarray, (4,) float
        Bounding box ``(top-left x, top-left y, width, height)`` in pixels of the colour image.
    score : float
        Detector confidence.
    label : int
        NYU40 class id.
    mask : ndarray, HxW bool, optional
        Object pixels at the colour image's size.
    feature : ndarray, (D,) float32, optional
        L2-normalised appearance embedding; computed by the tracker's embedder when missing.
    world_position : ndarray, (3,) float, optional
        Object centre in world coordinates, metres; computed from depth + pose when missing.
    truncated : bool
        The box is cut by the image border, so ``world_position`` is the centre of the visible part
        only: it is matched with a wider world gate. The tracker sets it when it knows the image size.
    """

    tlwh: np.ndarray
    score: float = 1.0
    label: int = 0
    mask: Optional[np.ndarray] = None
    feature: Optional[np.ndarray] = None
    world_position: Optional[np.ndarray] = None
    truncated: bool = False

    def __post_init__(self):
        self.tlwh = np.asarray(self.tlwh, dtype=np.float64).reshape(-1)
        self.score = float(self.score)
        self.label = int(self.label)
        if self.feature is not None:
            self.feature = np.asarray(self.feature, dtype=np.float32).reshape(-1)
        if self.world_position is not None:
            self.world_position = np.asarray(self.world_position, dtype=np.float64).reshape(-1)

    def to_tlbr(self):
        """Box as ``(min x, min y, max x, max y)``, pixels; (4,) ndarray."""
        box = self.tlwh.copy()
        box[2:] += box[:2]
        return box

    def to_xyah(self):
        """Box as ``(centre x, centre y, aspect ratio = width / height, height)``; (4,) ndarray."""
        x, y, width, height = self.tlwh.tolist()
        if height:                           # Python floats: the same results as the array operations
            return np.array([x + width / 2, y + height / 2, width / height, height])
        box = self.tlwh.copy()               # zero height: numpy's inf / nan (Python would raise)
        box[:2] += box[2:] / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            box[2] /= box[3]
        return box


def invalid_reason(detection, image_size=None, feature_dim=None):
    """Why a detection cannot be tracked, or None when it can.

    Parameters
    ----------
    detection : Detection
    image_size : tuple (W, H), optional
        Colour image size in pixels; when given, a box that lies wholly outside the image is invalid
        and a mask of another size is reported.
    feature_dim : int, optional
        Expected feature length, when the tracker already knows it.

    Returns
    -------
    str or None
        A short human-readable reason.
    """
    tlwh = detection.tlwh
    if tlwh.shape != (4,):
        return f"box has {tlwh.size} values, expected 4 (tlwh)"
    if not np.isfinite(tlwh).all():
        return f"box {tlwh.tolist()} is not finite"
    if tlwh[2] <= 0 or tlwh[3] <= 0:
        return f"box {tlwh.tolist()} has zero or negative area"
    if not np.isfinite(detection.score):
        return f"score {detection.score} is not finite"
    if image_size is not None:
        width, height = image_size
        x1, y1, x2, y2 = detection.to_tlbr()
        if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
            return f"box {tlwh.tolist()} lies outside the {width}x{height} image"
    feature = detection.feature
    if feature is not None:
        if feature.ndim != 1 or feature.size == 0:
            return f"feature has shape {feature.shape}, expected (D,)"
        if not np.isfinite(feature).all():
            return "feature has NaN or infinite values"
        if not feature.any():
            return "feature is all zeros"
        if feature_dim is not None and feature.size != feature_dim:
            return f"feature has length {feature.size}, the tracker uses {feature_dim}"
    return None


class CheckedDetections(NamedTuple):
    """What :func:`check_detections` found, with the arrays it stacked on the way.

    Attributes
    ----------
    valid : ndarray, (N,) bool
        True where :func:`invalid_reason` returns None; False where it may not.
    boxes : ndarray, Nx4 float64, or None
        Every box (``tlwh``, pixels), when all are (4,) arrays.
    features : ndarray, KxD float32, or None
        The features that stacked (non-empty (D,) arrays of the expected length), as given.
    feature_rows : list of int
        Which detections those K features are.
    """

    valid: np.ndarray
    boxes: Optional[np.ndarray]
    features: Optional[np.ndarray]
    feature_rows: List[int]


def valid_detections(detections, image_size=None, feature_dim=None):
    """Which detections pass every check of :func:`invalid_reason`, checked for all at once.

    Parameters
    ----------
    detections : list of Detection
    image_size, feature_dim
        As in :func:`invalid_reason`.

    Returns
    -------
    ndarray of bool, (N,)
        True where :func:`invalid_reason` returns None; False where it may not (ask it: an input this
        batched check does not handle, e.g. boxes or features of different shapes, is False here and
        may still be valid).
    """
    return check_detections(detections, image_size, feature_dim).valid


def check_detections(detections, image_size=None, feature_dim=None):
    """:func:`valid_detections`, returning the boxes and features it stacked as well.

    Returns
    -------
    CheckedDetections
    """
    count = len(detections)
    valid = np.zeros(count, dtype=bool)
    if not count:
        return CheckedDetections(valid, np.zeros((0, 4)), None, [])
    boxes = [detection.tlwh for detection in detections]
    scores = [detection.score for detection in detections]
    # boxes other than a (4,) array and scores other than a float are left to invalid_reason
    stacked_boxes = stack_same_shape(boxes, (4,), np.float64) if _every(scores, float) else None
    if stacked_boxes is not None:            # the usual frame: every box a (4,) array, every score a float
        checked, boxes = range(count), stacked_boxes
    else:
        checked = [k for k in range(count) if type(boxes[k]) is np.ndarray and boxes[k].shape == (4,)
                   and type(scores[k]) is float]
        if not checked:
            return CheckedDetections(valid, None, None, [])
        if len(checked) < count:
            boxes, scores = [boxes[k] for k in checked], [scores[k] for k in checked]
        boxes = np.array(boxes, dtype=np.float64)
    scores = np.array(scores, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        fine = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0) & np.isfinite(scores)
        if image_size is not None:
            width, height = image_size
            right, bottom = boxes[:, 2] + boxes[:, 0], boxes[:, 3] + boxes[:, 1]
            fine &= ~((right <= 0) | (bottom <= 0) | (boxes[:, 0] >= width) | (boxes[:, 1] >= height))
    valid[checked] = fine
    all_boxes = boxes if len(checked) == count else None
    features = [detection.feature for detection in detections]
    with_feature = [k for k, feature in enumerate(features) if feature is not None]
    if not with_feature:
        return CheckedDetections(valid, all_boxes, None, [])
    if feature_dim is None:       # no length to check: the features only need to stack
        feature_dim = features[with_feature[0]].size if type(features[with_feature[0]]) is np.ndarray else 0
    # features other than a non-empty (D,) array of the expected length are left to invalid_reason
    stacked = stack_same_shape(features, (feature_dim,)) if len(with_feature) == count and feature_dim else None
    if stacked is not None:                  # the usual frame: every feature a (D,) array
        stackable = list(range(count))
    else:
        stackable = [k for k in with_feature if type(features[k]) is np.ndarray and features[k].ndim == 1
                     and features[k].size == feature_dim and feature_dim > 0]
    fine = np.zeros(count, dtype=bool)
    if stackable and stacked is None:
        stacked = np.array([features[k] for k in stackable])
    if stackable:
        fine[stackable] = np.isfinite(stacked).all(axis=1) & stacked.any(axis=1)
    valid[with_feature] &= fine[with_feature]
    return CheckedDetections(valid, all_boxes, stacked, stackable)


def _every(values, kind):
    """Whether every value (of a non-empty list) is of exactly this type."""
    return set(map(type, values)) == {kind}


def stack_same_shape(arrays, shape, dtype=None):
    """The arrays stacked (``np.array(arrays, dtype)``, Nx``shape``) when every one is an ndarray of
    ``shape``; None otherwise (then look at each)."""
    if not arrays or not _every(arrays, np.ndarray):
        return None
    try:
        stacked = np.array(arrays, dtype=dtype)
    except ValueError:                       # arrays of different shapes
        return None
    return stacked if stacked.shape == (len(arrays),) + tuple(shape) and stacked.dtype != object else None


def touches_border(detection, image_size, margin=2.0):
    """Whether a box reaches within ``margin`` pixels of the border of an image of size (W, H)."""
    width, height = image_size
    x1, y1, x2, y2 = detection.to_tlbr()
    return bool(x1 <= margin or y1 <= margin or x2 >= width - 1 - margin or y2 >= height - 1 - margin)


def sanitize(detection, image_size=None):
    """Drop the optional parts of a detection that cannot be used, with a warning; keep the rest.

    A mask of the wrong size and a non-finite world position are removed (the detection still
    tracks on its box and feature).
    """
    mask = detection.mask
    if mask is not None:
        mask = np.asarray(mask)
        if mask.ndim != 2 or (image_size is not None and mask.shape != (image_size[1], image_size[0])):
            log.warning("detection %s: mask of shape %s does not fit the image, mask ignored",
                        detection.tlwh.tolist(), mask.shape)
            mask = None
        else:
            mask = mask.astype(bool, copy=False)
        detection.mask = mask
    position = detection.world_position
    if position is not None and (position.shape != (3,) or not np.isfinite(position).all()):
        log.warning("detection %s: world position %s is not a finite 3D point, ignored",
                    detection.tlwh.tolist(), position.tolist())
        detection.world_position = None
    return detection


def normalized(feature):
    """The feature scaled to unit length (float32)."""
    feature = np.asarray(feature, dtype=np.float32)
    return feature / np.linalg.norm(feature)


def normalized_rows(features):
    """Each row scaled to unit length (float32), bit for bit as :func:`normalized` scales one feature.

    Parameters
    ----------
    features : ndarray, NxD

    Returns
    -------
    ndarray, NxD float32

    Notes
    -----
    ``np.linalg.norm`` of one float32 vector is ``sqrt(x . x)`` with BLAS's dot product; a stacked
    ``matmul`` of each row with itself is the same dot product (a sum over all rows at once, as
    ``einsum`` or ``norm(..., axis=1)`` would do it, rounds differently).
    """
    features = np.asarray(features, dtype=np.float32)
    norms = np.sqrt(np.matmul(features[:, None, :], features[:, :, None])[:, 0])
    return features / norms
