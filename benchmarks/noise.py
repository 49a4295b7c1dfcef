"""Seeded detection noise: ground-truth detections degraded the way a real detector errs.

Five kinds of error, each with one parameter (:class:`NoiseConfig`):

=================== ======================================================= ===========
kind (``--only``)   what happens                                            at level 1
=================== ======================================================= ===========
``miss``            each detection is dropped with probability ``miss``     0.3
``jitter``          Gaussian noise on x, y, w, h; standard deviation        0.1
                    ``jitter`` x the box width (x, w) or height (y, h)
``fp``              ``false_positives`` = mean of a Poisson number of       1.0 / frame
                    false positives per frame: a random box of a random
                    tracked class with a random blob mask (union of three
                    ellipses) inside it; score 1.0 like the true ones
``confusion``       the label is swapped with probability ``confusion`` to  0.1
                    another tracked NYU40 class present in the scene
``mask``            the mask is eroded or dilated by ``mask_px`` pixels     3 px
                    (elliptic kernel of 2k+1 px; erode or dilate with
                    probability 1/2 each, per detection)
=================== ======================================================= ===========

A ``level`` in [0, 1] sets all five at once, linearly: ``miss = 0.3 level``, ``jitter = 0.1 level``,
``false_positives = 1.0 level``, ``confusion = 0.1 level``, ``mask_px = round(3 level)`` (halves
up: 0.25 -> 1 px, 0.5 -> 2 px, 0.75 -> 2 px). Level 0 is perfect: the clean detections come back
unchanged (the same objects). :meth:`NoiseConfig.from_level` with ``kinds=`` varies some kinds
alone (the others stay at 0).

Order per detection: miss, class confusion, mask erosion/dilation (the box becomes the tight box of
the new mask; a mask that erosion would empty is kept as it was), box jitter. **Masks stay
consistent with boxes by clipping**: after jitter the box is clipped to the image and kept at least
1 px wide and high, and the mask keeps only its pixels that overlap the box (columns
``floor(x) .. ceil(x + w) - 1``, rows likewise: :func:`box_pixels`); when the jittered box has
moved off every mask pixel, the mask becomes the box's pixel rectangle. So a mask never reaches
outside its box, boxes never leave the image and never have zero area. False positives get the
tight box of their blob. The output is sorted by position (as the ``gt`` detector sorts), so list
order tells nothing about which detections are false.

**Determinism and common random numbers.** The draws of one frame come from
``numpy.random.default_rng([seed, frame index])`` in a fixed order whose count depends only on the
number of clean detections, never on the settings: per detection one uniform for miss, two for
confusion (whether, which class), one for the erode/dilate sign, four normals for jitter, then one
uniform for the false-positive count (inverse Poisson CDF) and a fixed number per false positive.
So the same (seed, frame) gives the same output, every tracker sees the same degraded detections,
and the levels are coupled: a detection missed at level 0.5 is missed at level 1 too, jitter grows
along the same direction, and the false positives of a lower level are the first ones of a higher.
"""
import math
from dataclasses import asdict, dataclass, fields

import cv2
import numpy as np

from reid.data.nyu40 import NYU40_CLASSES, STRUCTURE_LABELS
from tracker.detection import Detection

#: kind name (``--only``) -> NoiseConfig field
KINDS = {"miss": "miss", "jitter": "jitter", "fp": "false_positives", "confusion": "confusion", "mask": "mask_px"}

#: tracked NYU40 classes (structure left out): class confusion falls back on them when the scene has
#: no other class, false positives when the scene has none at all
TRACKED_CLASSES = tuple(sorted(set(NYU40_CLASSES) - set(STRUCTURE_LABELS)))

#: false-positive box side, as a fraction of the image side (uniform in this range)
FP_SIZE = (0.1, 0.4)
#: ellipses whose union makes a false positive's blob mask
FP_BLOBS = 3


@dataclass(frozen=True)
class NoiseConfig:
    """How much of each error kind (see the module table); all 0 = perfect detections."""

    miss: float = 0.0
    jitter: float = 0.0
    false_positives: float = 0.0
    confusion: float = 0.0
    mask_px: int = 0

    def __post_init__(self):
        for name in ("miss", "confusion"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
        for name in ("jitter", "false_positives"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if isinstance(self.mask_px, bool) or not isinstance(self.mask_px, (int, np.integer)) or self.mask_px < 0:
            raise ValueError(f"mask_px must be an integer >= 0, got {self.mask_px!r}")

    @classmethod
    def from_level(cls, level, kinds=None):
        """The settings of noise ``level`` in [0, 1] (the module table), for every kind or only ``kinds``
        (names of :data:`KINDS` or field names); the kinds left out stay at 0."""
        level = float(level)
        if not (0.0 <= level <= 1.0):
            raise ValueError(f"noise level must be in [0, 1], got {level}")
        chosen = set(KINDS.values()) if kinds is None else {KINDS.get(k, k) for k in kinds}
        unknown = chosen - set(KINDS.values())
        if unknown:
            raise ValueError(f"unknown noise kind(s) {', '.join(sorted(unknown))}; choose from {', '.join(KINDS)}")
        values = {}
        for field in fields(cls):
            if field.name not in chosen:
                continue
            full = getattr(FULL, field.name)
            values[field.name] = int(math.floor(full * level + 0.5)) if field.name == "mask_px" else full * level
        return cls(**values)

    @property
    def perfect(self):
        return not (self.miss or self.jitter or self.false_positives or self.confusion or self.mask_px)

    def as_dict(self):
        return asdict(self)


#: the settings at level 1
FULL = NoiseConfig(miss=0.3, jitter=0.1, false_positives=1.0, confusion=0.1, mask_px=3)


def frame_rng(seed, index):
    """The generator of frame ``index`` for ``seed``: ``default_rng([seed, index])``."""
    return np.random.default_rng([int(seed), int(index)])


def box_pixels(tlwh, size):
    """The pixel ranges a box overlaps, clipped to an image of size (W, H): ``(x0, y0, x1, y1)``
    with columns ``x0 .. x1 - 1`` and rows ``y0 .. y1 - 1``."""
    width, height = size
    x, y, w, h = (float(v) for v in tlwh)
    x0, y0 = max(int(math.floor(x)), 0), max(int(math.floor(y)), 0)
    x1, y1 = min(int(math.ceil(x + w)), width), min(int(math.ceil(y + h)), height)
    return x0, y0, x1, y1


def clip_box(tlwh, size):
    """The box clipped to an image of size (W, H), at least 1 px wide and high."""
    width, height = size
    x, y, w, h = (float(v) for v in tlwh)
    x1 = min(max(x, 0.0), width - 1.0)
    y1 = min(max(y, 0.0), height - 1.0)
    x2 = min(max(x + w, x1 + 1.0), float(width))
    y2 = min(max(y + h, y1 + 1.0), float(height))
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float64)


def clip_mask(mask, tlwh):
    """The mask's pixels that overlap the box (:func:`box_pixels`); the box's pixel rectangle when none do."""
    height, width = mask.shape
    x0, y0, x1, y1 = box_pixels(tlwh, (width, height))
    clipped = np.zeros_like(mask, dtype=bool)
    clipped[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
    if not clipped.any():
        clipped[y0:y1, x0:x1] = True
    return clipped


def tight_box(mask):
    """tlwh of the pixels of a non-empty mask (the ``gt`` detector's convention: width = columns)."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1], dtype=np.float64)


def _kernel(pixels):
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))


def _poisson(u, mean):
    """Inverse Poisson CDF at ``u`` (so one uniform gives counts that grow with the mean)."""
    if mean <= 0:
        return 0
    k, p = 0, math.exp(-mean)
    cdf = p
    while u > cdf and k < 10_000:
        k += 1
        p *= mean / k
        cdf += p
    return k


def _false_positive(rng, size, classes):
    """One false positive: a random box, a blob mask of three ellipses inside it, a random class."""
    width, height = size
    u = rng.random(4 + 5 * FP_BLOBS + 1)
    box_w = max(3.0, (FP_SIZE[0] + (FP_SIZE[1] - FP_SIZE[0]) * u[0]) * width)
    box_h = max(3.0, (FP_SIZE[0] + (FP_SIZE[1] - FP_SIZE[0]) * u[1]) * height)
    box_w, box_h = min(box_w, width), min(box_h, height)
    x, y = u[2] * (width - box_w), u[3] * (height - box_h)
    canvas = np.zeros((height, width), dtype=np.uint8)
    for b in range(FP_BLOBS):
        cu = u[4 + 5 * b: 9 + 5 * b]
        centre = (int(x + box_w * (0.3 + 0.4 * cu[0])), int(y + box_h * (0.3 + 0.4 * cu[1])))
        axes = (max(1, int(box_w * (0.2 + 0.3 * cu[2]))), max(1, int(box_h * (0.2 + 0.3 * cu[3]))))
        cv2.ellipse(canvas, centre, axes, 180.0 * cu[4], 0, 360, 1, -1)
    mask = clip_mask(canvas.astype(bool), (x, y, box_w, box_h))
    label = classes[min(int(u[-1] * len(classes)), len(classes) - 1)]
    return Detection(tight_box(mask), 1.0, label, mask=mask)


def _classes(classes, detections):
    """Tracked classes to confuse with and draw false positives from, sorted."""
    if classes is None:
        classes = {d.label for d in detections}
    classes = sorted({int(c) for c in classes} - set(STRUCTURE_LABELS) - {0})
    return classes


def degrade(detections, size, config, rng, classes=None, stats=None):
    """A degraded copy of one frame's detections (the inputs are never modified).

    Parameters
    ----------
    detections : list of Detection
        The clean detections (boxes in pixels; masks HxW bool or None).
    size : tuple (W, H)
        Image size.
    config : NoiseConfig
    rng : numpy.random.Generator
        The frame's generator (:func:`frame_rng`); drawn from in the fixed order the module describes.
    classes : iterable of int, optional
        Tracked classes present in the scene (confusion targets, false-positive classes); default the
        classes of these detections. When no other class is left for a confusion, any tracked NYU40
        class; when none at all for a false positive, likewise.
    stats : dict, optional
        Counters updated in place: ``frames``, ``clean``, ``missed``, ``confused``, ``false_positives``,
        ``output``.

    Returns
    -------
    list of Detection, sorted by position; the input list itself (a copy of it) when ``config`` is perfect.
    """
    n = len(detections)
    if stats is not None:
        for key in ("frames", "clean", "missed", "confused", "false_positives", "output"):
            stats.setdefault(key, 0)
        stats["frames"] += 1
        stats["clean"] += n
    if config.perfect:
        if stats is not None:
            stats["output"] += n
        return list(detections)
    width, height = size
    present = _classes(classes, detections)
    u_miss = rng.random(n)
    u_confuse, u_class = rng.random(n), rng.random(n)
    u_sign = rng.random(n)
    z_jitter = rng.standard_normal((n, 4))
    u_count = rng.random()
    kernel = _kernel(config.mask_px) if config.mask_px else None
    out = []
    missed = confused = 0
    for i, clean in enumerate(detections):
        if u_miss[i] < config.miss:
            missed += 1
            continue
        label = clean.label
        if u_confuse[i] < config.confusion:
            others = [c for c in present if c != label] or [c for c in TRACKED_CLASSES if c != label]
            label = others[min(int(u_class[i] * len(others)), len(others) - 1)]
            confused += 1
        tlwh = clean.tlwh.copy()
        mask = None if clean.mask is None else np.asarray(clean.mask, dtype=bool)
        if mask is not None and kernel is not None:
            changed = (cv2.dilate if u_sign[i] < 0.5 else cv2.erode)(mask.astype(np.uint8), kernel).astype(bool)
            if changed.any():
                mask = changed
                tlwh = tight_box(mask)
        if config.jitter:
            tlwh = tlwh + z_jitter[i] * config.jitter * np.array([tlwh[2], tlwh[3], tlwh[2], tlwh[3]])
        tlwh = clip_box(tlwh, (width, height))
        if mask is not None:
            mask = clip_mask(mask, tlwh)
        out.append(Detection(tlwh, clean.score, label, mask=mask))
    count = _poisson(u_count, config.false_positives)
    fp_classes = present or list(TRACKED_CLASSES)
    for _ in range(count):
        out.append(_false_positive(rng, (width, height), fp_classes))
    out.sort(key=lambda d: (d.tlwh[1], d.tlwh[0], d.tlwh[3], d.tlwh[2]))
    if stats is not None:
        stats["missed"] += missed
        stats["confused"] += confused
        stats["false_positives"] += count
        stats["output"] += len(out)
    return out


class NoisyDetector:
    """A detector whose detections are degraded by :func:`degrade`, deterministically per (seed, frame index).

    Parameters
    ----------
    base : callable
        ``base(frame) -> list of Detection`` (e.g. the ``gt`` detector).
    config : NoiseConfig or float
        The noise settings, or a level in [0, 1] (:meth:`NoiseConfig.from_level`).
    seed : int
    classes : iterable of int, optional
        Tracked classes present in the scene (see :func:`degrade`).

    ``stats`` counts what was done over the frames seen (see :func:`degrade`).
    """

    def __init__(self, base, config, seed=0, classes=None):
        self.base = base
        self.config = config if isinstance(config, NoiseConfig) else NoiseConfig.from_level(config)
        self.seed = int(seed)
        self.classes = None if classes is None else sorted({int(c) for c in classes})
        self.name = f"noisy-{getattr(base, 'name', 'detector')}"
        self.stats = {}

    def __call__(self, frame):
        clean = self.base(frame)
        return degrade(clean, frame.size, self.config, frame_rng(self.seed, frame.index), self.classes,
                       stats=self.stats)
