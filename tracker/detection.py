"""One object detection in one frame, the checks that keep a bad one out of the tracker, and the step
that completes a frame's detections before the tracker sees them (feature, world position, cut by the
border)."""
import logging
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from .world import viewing_ray, world_position

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
    world_ray : ndarray, (2, 3) float, optional
        Where no world position could be measured but the camera pose is known (the object lies
        outside the depth camera's narrower view, or on depth holes): the camera centre and the unit
        direction, world coordinates, of the ray through the box centre. The object lies along it, so
        an identity's distance to the ray gates and costs a match as a world distance does.
        :func:`complete_detections` sets it.
    """

    tlwh: np.ndarray
    score: float = 1.0
    label: int = 0
    mask: Optional[np.ndarray] = None
    feature: Optional[np.ndarray] = None
    world_position: Optional[np.ndarray] = None
    truncated: bool = False
    world_ray: Optional[np.ndarray] = None

    def __post_init__(self):
        self.tlwh = np.asarray(self.tlwh, dtype=np.float64).reshape(-1)
        self.score = float(self.score)
        self.label = int(self.label)
        if self.feature is not None:
            self.feature = np.asarray(self.feature, dtype=np.float32).reshape(-1)
        if self.world_position is not None:
            self.world_position = np.asarray(self.world_position, dtype=np.float64).reshape(-1)
        if self.world_ray is not None:
            self.world_ray = np.asarray(self.world_ray, dtype=np.float64)

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


def touches_border(detection, image_size, margin=2.0):
    """Whether a box reaches within ``margin`` pixels of the border of an image of size (W, H)."""
    width, height = image_size
    x1, y1, x2, y2 = detection.to_tlbr()
    return bool(x1 <= margin or y1 <= margin or x2 >= width - 1 - margin or y2 >= height - 1 - margin)


def sanitize(detection, image_size=None):
    """The detection without the optional parts that cannot be used (a mask of the wrong size, a world
    position that is not a finite 3D point, a world ray that is not a point and a unit direction), each
    dropped with a warning; a new object when one is."""
    mask, position = detection.mask, detection.world_position
    if mask is not None and (np.ndim(mask) != 2 or (image_size is not None
                                                    and np.shape(mask) != (image_size[1], image_size[0]))):
        log.warning("detection %s: mask of shape %s does not fit the image, mask ignored",
                    detection.tlwh.tolist(), np.shape(mask))
        detection = replace(detection, mask=None)
    if position is not None and (position.shape != (3,) or not np.isfinite(position).all()):
        log.warning("detection %s: world position %s is not a finite 3D point, ignored",
                    detection.tlwh.tolist(), position.tolist())
        detection = replace(detection, world_position=None)
    ray = detection.world_ray
    if ray is not None and (ray.shape != (2, 3) or not np.isfinite(ray).all()
                            or not np.isclose(np.linalg.norm(ray[1]), 1.0, atol=1e-6)):
        log.warning("detection %s: world ray %s is not a finite point and unit direction (2x3), ignored",
                    detection.tlwh.tolist(), ray.tolist())
        detection = replace(detection, world_ray=None)
    return detection


def normalized(feature):
    """The feature scaled to unit length (float32)."""
    feature = np.asarray(feature, dtype=np.float32)
    return feature / np.linalg.norm(feature)


def embed_detections(embedder, rgb, detections):
    """One batched ``embedder.embed`` call for the detections: N x D float32.

    Masks are used where known; a detection without one (in a frame where others have masks) stands
    for its whole box.
    """
    if not detections:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    boxes = np.stack([d.tlwh for d in detections])
    masks = None
    if any(d.mask is not None for d in detections):
        masks = np.zeros((len(detections),) + rgb.shape[:2], dtype=bool)
        for i, d in enumerate(detections):
            if d.mask is not None:
                masks[i] = d.mask
            else:
                x1, y1, x2, y2 = np.round(d.to_tlbr()).astype(int)
                masks[i, max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)] = True
    return np.asarray(embedder.embed(rgb, boxes, masks), dtype=np.float32)


def complete_detections(detections, frame, embedder=None, config=None):
    """A frame's detections as the tracker takes them: new objects with their feature, world position (or,
    where the pose is known but no depth could place them, world ray) and ``truncated`` flag; the
    caller's are not modified.

    Parameters
    ----------
    detections : list of Detection
    frame : object
        With ``rgb`` (HxWx3 uint8) and optionally ``index``, ``depth`` (metres, its own size), ``pose``
        (4x4 camera-to-world or None), ``intrinsic_color``, ``intrinsic_depth``, like
        ``reid.data.scannet.Frame``.
    embedder : object, optional
        ``embed(rgb, boxes_tlwh, masks) -> NxD``, for the detections without a feature (one batched call).
    config : TrackerConfig, optional
        Its ``ignored_labels``, ``min_score``, ``min_valid_depths`` and ``border_margin`` apply.

    Returns
    -------
    kept : list of Detection
        Tracked classes, valid ones (each invalid one skipped with a warning naming the problem).
    skipped : int
        Invalid detections skipped.
    """
    from .tracker import TrackerConfig
    config = config if config is not None else TrackerConfig()
    rgb = getattr(frame, "rgb", None)
    image_size = (rgb.shape[1], rgb.shape[0]) if rgb is not None else None
    kept, skipped = [], 0
    for detection in detections:
        if detection.label in config.ignored_labels or detection.score < config.min_score:
            continue
        reason = invalid_reason(detection, image_size)
        if reason:
            log.warning("frame %s: detection skipped: %s", getattr(frame, "index", None), reason)
            skipped += 1
            continue
        detection = replace(sanitize(detection, image_size))
        if detection.feature is not None:
            detection.feature = normalized(detection.feature)
        if image_size is not None:
            detection.truncated = detection.truncated or touches_border(detection, image_size, config.border_margin)
        kept.append(detection)
    missing = [d for d in kept if d.feature is None]
    if missing and embedder is not None and rgb is not None:
        features = embed_detections(embedder, rgb, missing)
        if features.shape[:1] != (len(missing),):
            raise ValueError(f"embedder returned features of shape {features.shape} for {len(missing)} boxes")
        dropped = set()
        for detection, feature in zip(missing, features):
            detection.feature = feature
            reason = invalid_reason(detection)
            if reason:
                log.warning("frame %s: detection skipped: embedder output: %s", getattr(frame, "index", None), reason)
                dropped.add(id(detection))
                continue
            detection.feature = normalized(feature)
        skipped += len(dropped)
        kept = [d for d in kept if id(d) not in dropped]
    depth, pose = getattr(frame, "depth", None), getattr(frame, "pose", None)
    intrinsic_color, intrinsic_depth = getattr(frame, "intrinsic_color", None), getattr(frame, "intrinsic_depth", None)
    if intrinsic_depth is None and depth is not None and rgb is not None and depth.shape[:2] == rgb.shape[:2]:
        intrinsic_depth = intrinsic_color
    if depth is not None and pose is not None and intrinsic_color is not None and intrinsic_depth is not None:
        for detection in kept:
            if detection.world_position is None:
                detection.world_position = world_position(detection.mask, depth, intrinsic_color, intrinsic_depth, pose,
                                                          tlwh=detection.tlwh, min_valid_depths=config.min_valid_depths)
    if pose is not None and intrinsic_color is not None:
        for detection in kept:
            if detection.world_position is None and detection.world_ray is None:
                detection.world_ray = viewing_ray(detection.tlwh, intrinsic_color, pose)
    return kept, skipped
