"""Object crops for the re-ID embedding (paper, section 3).

Each detected object is cut out of the frame with its box expanded by ``margin`` pixels on every
side (clipped to the image) and resized to ``size`` x ``size``. From that crop three kinds of input
are made:

``full``
    the plain crop;
``foreground``
    the crop with every non-object pixel set to the fill colour (the *masked foreground*);
``background``
    the crop with every object pixel set to the fill colour (the *masked background*).

Inside a crop, foreground and background are exactly complementary: every pixel keeps its colour
in one of the two and holds the fill colour in the other.

Without masks (box-only detections) the object is its (unexpanded) box: ``foreground`` is then the
full crop and ``background`` is the crop with the box region filled.

Invalid objects raise ``ValueError`` naming the object's index (chosen over a returned validity
mask so that a caller never embeds a meaningless crop by accident): a box with zero or negative
width/height or non-finite values, a box entirely outside the image, or a mask with no pixel inside
its expanded box. Use :func:`valid_objects` to filter detections cheaply beforehand.

Coordinates: boxes are ``tlwh`` (left, top, width, height) in pixels, float; pixel ``(x, y)`` covers
``[x, x + 1) x [y, y + 1)``, so a box ``(x, y, w, h)`` covers the pixels whose centres lie in it once
rounded outwards: columns ``floor(x) .. ceil(x + w) - 1``.

This module is numpy + OpenCV only (no torch).
"""
from __future__ import annotations

from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

CROP_KINDS: Tuple[str, ...] = ("foreground", "background", "full")
"""The crop kinds :func:`make_crops` can make."""

DEFAULT_MARGIN = 10
"""Pixels added on every side of a box before cropping (paper: 10 px)."""

Fill = Union[int, Sequence[int]]


def box_from_mask(mask: np.ndarray) -> Optional[np.ndarray]:
    """Tightest ``tlwh`` box around a mask's pixels.

    Parameters
    ----------
    mask : array_like, shape (H, W)
        Object mask; non-zero / True pixels belong to the object.

    Returns
    -------
    numpy.ndarray of shape (4,), float64, or None
        ``(x, y, w, h)`` in pixels with ``x`` the first column and ``w = last - first + 1`` (the box
        covers whole pixels), or ``None`` when the mask has no pixel.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"box_from_mask: mask must be HxW, got shape {mask.shape}")
    cols = np.flatnonzero(mask.any(axis=0))
    if cols.size == 0:
        return None
    rows = np.flatnonzero(mask.any(axis=1))
    x0, x1, y0, y1 = cols[0], cols[-1], rows[0], rows[-1]
    return np.array([x0, y0, x1 - x0 + 1, y1 - y0 + 1], dtype=np.float64)


def boxes_from_masks(masks: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`box_from_mask` for N masks.

    Parameters
    ----------
    masks : array_like, shape (N, H, W)

    Returns
    -------
    boxes : numpy.ndarray, shape (N, 4), float64
        ``tlwh`` boxes; rows of empty masks are all zero.
    nonempty : numpy.ndarray, shape (N,), bool
        False where a mask has no pixel.
    """
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"boxes_from_masks: masks must be NxHxW, got shape {masks.shape}")
    n, h, w = masks.shape
    cols = masks.any(axis=1)  # N x W
    rows = masks.any(axis=2)  # N x H
    nonempty = cols.any(axis=1)
    x0 = cols.argmax(axis=1)
    x1 = w - 1 - cols[:, ::-1].argmax(axis=1)
    y0 = rows.argmax(axis=1)
    y1 = h - 1 - rows[:, ::-1].argmax(axis=1)
    boxes = np.stack([x0, y0, x1 - x0 + 1, y1 - y0 + 1], axis=1).astype(np.float64)
    boxes[~nonempty] = 0.0
    return boxes, nonempty


def expand_box(tlwh, margin: float = DEFAULT_MARGIN, image_size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Grow a box by ``margin`` pixels on each side and clip it to the image.

    Parameters
    ----------
    tlwh : array_like, shape (4,) or (N, 4)
        Boxes ``(x, y, w, h)`` in pixels.
    margin : float
        Pixels added left, right, above and below (paper: 10).
    image_size : (W, H), optional
        Image width and height; the result is clipped to ``[0, W] x [0, H]``. Not clipped if None.

    Returns
    -------
    numpy.ndarray, same shape as ``tlwh``, float64
        Expanded ``tlwh`` boxes. A box that misses the image entirely gets a zero width or height.

    Examples
    --------
    >>> expand_box([5, 20, 30, 40], margin=10, image_size=(100, 80)).tolist()
    [0.0, 10.0, 45.0, 60.0]
    """
    boxes = np.asarray(tlwh, dtype=np.float64)
    if boxes.shape[-1:] != (4,) or boxes.ndim > 2:
        raise ValueError(f"expand_box: boxes must have shape (4,) or (N, 4), got {boxes.shape}")
    x0 = boxes[..., 0] - margin
    y0 = boxes[..., 1] - margin
    x1 = boxes[..., 0] + boxes[..., 2] + margin
    y1 = boxes[..., 1] + boxes[..., 3] + margin
    if image_size is not None:
        width, height = image_size
        x0, x1 = np.clip(x0, 0, width), np.clip(x1, 0, width)
        y0, y1 = np.clip(y0, 0, height), np.clip(y1, 0, height)
    return np.stack([x0, y0, np.maximum(x1 - x0, 0), np.maximum(y1 - y0, 0)], axis=-1)


def _pixel_bounds(tlwh: np.ndarray, width: int, height: int) -> np.ndarray:
    """Integer pixel ranges ``[x0, x1) x [y0, y1)`` covered by ``tlwh`` boxes (rounded outwards,
    clipped to the image). Shape (N, 4) as ``x0, y0, x1, y1``, int64."""
    x0 = np.floor(tlwh[:, 0])
    y0 = np.floor(tlwh[:, 1])
    x1 = np.ceil(tlwh[:, 0] + tlwh[:, 2])
    y1 = np.ceil(tlwh[:, 1] + tlwh[:, 3])
    bounds = np.stack([np.clip(x0, 0, width), np.clip(y0, 0, height),
                       np.clip(x1, 0, width), np.clip(y1, 0, height)], axis=1)
    return bounds.astype(np.int64)


def _check_boxes(boxes, n_expected: Optional[int] = None) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be Nx4 tlwh, got shape {boxes.shape}")
    if n_expected is not None and boxes.shape[0] != n_expected:
        raise ValueError(f"got {boxes.shape[0]} boxes but {n_expected} masks")
    return boxes


def _object_problems(boxes: np.ndarray, masks: Optional[np.ndarray], width: int, height: int,
                     margin: float) -> Tuple[np.ndarray, list]:
    """Expanded pixel bounds (N, 4) and, per object, None or a sentence saying why it is invalid."""
    finite = np.isfinite(boxes).all(axis=1)
    safe = np.where(finite[:, None], boxes, 0.0)
    expanded = _pixel_bounds(expand_box(safe, margin, (width, height)), width, height)
    problems = [None] * len(boxes)
    for i in range(len(boxes)):
        x, y, w, h = boxes[i]
        if not finite[i]:
            problems[i] = f"object {i}: box {boxes[i].tolist()} has non-finite values"
        elif w <= 0 or h <= 0:
            problems[i] = f"object {i}: box {boxes[i].tolist()} has zero area (w={w:g}, h={h:g})"
        elif (min(x + w, width) <= max(x, 0)) or (min(y + h, height) <= max(y, 0)):
            problems[i] = (f"object {i}: box {boxes[i].tolist()} lies outside the "
                           f"{width}x{height} image")
        elif masks is not None:
            ex0, ey0, ex1, ey1 = expanded[i]
            if not masks[i, ey0:ey1, ex0:ex1].any():
                problems[i] = (f"object {i}: mask is empty inside its expanded box "
                               f"{[int(ex0), int(ey0), int(ex1 - ex0), int(ey1 - ey0)]} (tlwh)")
    return expanded, problems


def _check_image(rgb) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be an HxWx3 image, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be uint8 (0-255), got {rgb.dtype}")
    return rgb


def _check_masks(masks, n: int, height: int, width: int) -> Optional[np.ndarray]:
    if masks is None:
        return None
    masks = np.asarray(masks)
    if masks.ndim != 3 or masks.shape[1:] != (height, width):
        raise ValueError(f"masks must be NxHxW = {n}x{height}x{width} (the image's size), "
                         f"got shape {masks.shape}")
    if masks.shape[0] != n:
        raise ValueError(f"got {n} boxes but {masks.shape[0]} masks")
    if masks.dtype != np.bool_:
        masks = masks != 0
    return masks


def valid_objects(image_size: Tuple[int, int], boxes_tlwh, masks=None,
                  margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """Which objects :func:`make_crops` accepts (the others would raise ``ValueError``).

    Parameters
    ----------
    image_size : (W, H)
    boxes_tlwh : array_like, shape (N, 4)
    masks : array_like, shape (N, H, W), optional
    margin : float

    Returns
    -------
    numpy.ndarray, shape (N,), bool
    """
    width, height = image_size
    boxes = _check_boxes(boxes_tlwh)
    masks = _check_masks(masks, len(boxes), height, width)
    _, problems = _object_problems(boxes, masks, width, height, margin)
    return np.array([p is None for p in problems], dtype=bool)


def _fill_colour(fill: Fill) -> np.ndarray:
    colour = np.broadcast_to(np.asarray(fill), (3,))
    if not np.all((colour >= 0) & (colour <= 255)):
        raise ValueError(f"fill must be 0-255 (one value or RGB), got {fill!r}")
    return np.round(colour).astype(np.uint8)


def _resize(image: np.ndarray, size: int, nearest: bool = False) -> np.ndarray:
    h, w = image.shape[:2]
    if nearest:
        interpolation = cv2.INTER_NEAREST
    elif h >= size and w >= size:
        interpolation = cv2.INTER_AREA  # shrinking: no aliasing
    else:
        interpolation = cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=interpolation)


def make_crops(rgb: np.ndarray, boxes_tlwh, masks=None, size: int = 112,
               kinds: Iterable[str] = CROP_KINDS, fill: Fill = 0,
               margin: float = DEFAULT_MARGIN) -> Dict[str, np.ndarray]:
    """Cut every object out of a frame as ``size`` x ``size`` foreground/background/full crops.

    Parameters
    ----------
    rgb : numpy.ndarray, shape (H, W, 3), uint8
        The frame, RGB order.
    boxes_tlwh : array_like, shape (N, 4)
        Object boxes ``(x, y, w, h)`` in pixels (float). Boxes partly outside the image are clipped.
    masks : array_like, shape (N, H, W), bool, optional
        Object masks at the image's size. ``None`` for box-only detections: the object is then its
        box (foreground = full crop, background = crop with the box region filled).
    size : int
        Side of the square output crops in pixels.
    kinds : iterable of str
        Which of ``"foreground"``, ``"background"``, ``"full"`` to make.
    fill : int or (R, G, B)
        Colour (0-255) of the masked-out pixels.
    margin : float
        Pixels added on each side of the box before cropping (clipped to the image).

    Returns
    -------
    dict of str -> numpy.ndarray, each of shape (N, size, size, 3), uint8
        One array per requested kind; N = 0 gives empty (0, size, size, 3) arrays.

    Raises
    ------
    ValueError
        On malformed inputs, or naming the index of the first invalid object (zero-area or
        non-finite box, box entirely outside the image, mask empty inside its expanded box).
    """
    rgb = _check_image(rgb)
    height, width = rgb.shape[:2]
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in CROP_KINDS]
    if unknown:
        raise ValueError(f"unknown crop kinds {unknown}; choose from {list(CROP_KINDS)}")
    size = int(size)
    if size < 1:
        raise ValueError(f"crop size must be >= 1, got {size}")
    colour = _fill_colour(fill)
    boxes = _check_boxes(boxes_tlwh)
    n = len(boxes)
    masks = _check_masks(masks, n, height, width)

    expanded, problems = _object_problems(boxes, masks, width, height, margin)
    for problem in problems:
        if problem is not None:
            raise ValueError(f"make_crops: {problem}")

    full = np.empty((n, size, size, 3), dtype=np.uint8)
    is_object = np.empty((n, size, size), dtype=bool)
    need_object = ("foreground" in kinds and masks is not None) or "background" in kinds
    box_pixels = _pixel_bounds(boxes, width, height) if masks is None else None
    for i in range(n):
        ex0, ey0, ex1, ey1 = expanded[i]
        full[i] = _resize(rgb[ey0:ey1, ex0:ex1], size)
        if not need_object:
            continue
        if masks is not None:
            region = masks[i, ey0:ey1, ex0:ex1]
        else:
            region = np.zeros((ey1 - ey0, ex1 - ex0), dtype=bool)
            bx0, by0, bx1, by1 = box_pixels[i]
            region[by0 - ey0:by1 - ey0, bx0 - ex0:bx1 - ex0] = True
        is_object[i] = _resize(region.view(np.uint8), size, nearest=True).astype(bool)

    out: Dict[str, np.ndarray] = {}
    for kind in kinds:
        if kind == "full" or (kind == "foreground" and masks is None):
            out[kind] = full if kind == "full" else full.copy()
        elif kind == "foreground":
            out[kind] = np.where(is_object[..., None], full, colour)
        else:
            out[kind] = np.where(is_object[..., None], colour, full)
    return out


def stack_crops(crops: Sequence[Mapping[str, np.ndarray]]) -> Dict[str, np.ndarray]:
    """Concatenate several :func:`make_crops` results (e.g. from several frames) kind by kind.

    Parameters
    ----------
    crops : sequence of dict of str -> (N_i, S, S, 3) arrays, all with the same kinds

    Returns
    -------
    dict of str -> numpy.ndarray, shape (sum N_i, S, S, 3)
    """
    if not crops:
        raise ValueError("stack_crops: nothing to stack")
    kinds = set(crops[0])
    if any(set(c) != kinds for c in crops):
        raise ValueError("stack_crops: all crop sets must have the same kinds")
    return {k: np.concatenate([c[k] for c in crops], axis=0) for k in crops[0]}
