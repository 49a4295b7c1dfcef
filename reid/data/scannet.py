"""Reader for scenes in the ScanNet export layout (real ScanNet or generated), read unchanged.

::

    <root>/scans/<scene>/          (or <root>/<scene>/)
      color/<i>.jpg                RGB, any size
      depth/<i>.png                uint16 millimetres, its own size
      pose/<i>.txt                 4x4 camera-to-world; all -inf = pose unknown
      intrinsic/intrinsic_color.txt, intrinsic_depth.txt
      instance-filt/<i>.png        per-pixel instance id, 0 = none
      label-filt/<i>.png           per-pixel class id (NYU40 in generated scenes)

Everything but ``color/`` is optional. A missing or unreadable file is skipped with a warning naming
the file; only a frame whose colour image cannot be read is dropped entirely.
"""
import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

log = logging.getLogger("reid.data")

COLOR_SUFFIXES = (".jpg", ".jpeg", ".png")


class SceneError(Exception):
    """A scene that cannot be read at all."""


class SceneNotFoundError(SceneError, FileNotFoundError):
    """The scene folder does not exist."""


class EmptySceneError(SceneError):
    """The scene folder holds no colour frames."""


class FrameError(SceneError):
    """A frame whose colour image cannot be read."""


def find_scene(name, root=None):
    """Folder of a scene: ``root/scans/name``, ``root/name``, or ``name`` itself as a path.

    Raises
    ------
    SceneNotFoundError
        When none of those is a folder.
    """
    candidates = [Path(root) / "scans" / name, Path(root) / name] if root else [Path(name)]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    tried = " or ".join(str(c) for c in candidates)
    raise SceneNotFoundError(f"scene {name!r} not found: no folder {tried}")


def load_label_map(tsv_path, source="id", target="nyu40id"):
    """ScanNet's ``scannetv2-labels.combined.tsv`` -> dict from ScanNet category id to NYU40 id."""
    mapping = {}
    with open(tsv_path, newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            try:
                mapping[int(row[source])] = int(row[target])
            except (KeyError, ValueError):
                continue
    if not mapping:
        raise SceneError(f"{tsv_path}: no {source!r} -> {target!r} rows found")
    return mapping


def read_matrix(path, shape=(4, 4)):
    """A whitespace-separated matrix file, or None (with a warning) when missing or malformed."""
    path = Path(path)
    if not path.is_file():
        log.warning("%s: missing", path)
        return None
    try:
        matrix = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as error:
        log.warning("%s: not a matrix of numbers (%s)", path, error)
        return None
    if matrix.shape != shape:
        log.warning("%s: expected a %dx%d matrix, found %s", path, *shape, "x".join(map(str, matrix.shape)))
        return None
    return matrix


def read_pose(path):
    """Camera-to-world 4x4 pose; None when unknown (ScanNet's all -inf) or unreadable (warning)."""
    pose = read_matrix(path)
    if pose is None:
        return None
    if not np.isfinite(pose).any():
        return None  # ScanNet marks frames without tracking this way: not an error
    if not np.isfinite(pose).all():
        log.warning("%s: pose has non-finite entries", path)
        return None
    return pose


def read_color(path):
    """HxWx3 uint8 RGB image. Raises FrameError naming the file when it cannot be decoded."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FrameError(f"{path}: cannot decode colour image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_depth(path, depth_scale=1000.0):
    """Depth in metres (float32, 0 = no measurement) from a 16-bit PNG, or None with a warning.

    Both invalid codes of RGB-D exports read as 0: 0 and 65535 (the saturated value some sensors and
    drivers write where they measured nothing).
    """
    path = Path(path)
    if not path.is_file():
        log.warning("%s: missing depth", path)
        return None
    depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if depth is None:
        log.warning("%s: cannot decode depth image", path)
        return None
    if depth.dtype != np.uint16 or depth.ndim != 2:
        log.warning("%s: depth must be a single-channel 16-bit PNG, found %s with %d channel(s)",
                    path, depth.dtype, 1 if depth.ndim == 2 else depth.shape[2])
        return None
    metres = depth.astype(np.float32) / np.float32(depth_scale)
    metres[depth == 65535] = 0.0
    return metres


def read_id_image(path, size=None):
    """Single-channel id PNG (instance or label), resized to ``size`` (W, H) with nearest neighbour."""
    path = Path(path)
    if not path.is_file():
        log.warning("%s: missing", path)
        return None
    ids = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if ids is None:
        log.warning("%s: cannot decode id image", path)
        return None
    if ids.ndim != 2 or ids.dtype not in (np.uint8, np.uint16):
        log.warning("%s: id image must be single-channel 8- or 16-bit, found %s %s", path, ids.dtype, ids.shape)
        return None
    if size is not None and (ids.shape[1], ids.shape[0]) != tuple(size):
        ids = cv2.resize(ids, tuple(size), interpolation=cv2.INTER_NEAREST)
    return ids.astype(np.int32)


def majority_labels(instance, label):
    """Per instance id (> 0), the most frequent label under its pixels: dict id -> (label, pixels)."""
    keep = instance > 0
    if not keep.any():
        return {}
    keys = (instance[keep].astype(np.int64) << 32) | label[keep].astype(np.int64)
    unique, counts = np.unique(keys, return_counts=True)
    result = {}
    for key, count in zip(unique.tolist(), counts.tolist()):
        instance_id, label_id = key >> 32, key & 0xFFFFFFFF
        if instance_id not in result or count > result[instance_id][1]:
            result[instance_id] = (label_id, count)
    return result


@dataclass
class Frame:
    """One frame of a scene.

    Attributes
    ----------
    index : int
        ScanNet frame index (the number in the file names).
    rgb : ndarray, HxWx3 uint8
        Colour image, RGB order.
    depth : ndarray, HdxWd float32 or None
        Depth in metres at the depth camera's own size (0 = no measurement).
    pose : ndarray, 4x4 or None
        Camera-to-world, OpenCV axes; None when unknown.
    instance, label : ndarray, HxW int32 or None
        Instance ids (0 = none) and class ids, resized to the colour size with nearest neighbour.
        Instance ids are annotation: for scoring and training, never given to a tracker.
    intrinsic_color, intrinsic_depth : ndarray, 3x3 or None
    color_path : Path
    """

    index: int
    rgb: np.ndarray
    depth: Optional[np.ndarray]
    pose: Optional[np.ndarray]
    instance: Optional[np.ndarray]
    label: Optional[np.ndarray]
    intrinsic_color: Optional[np.ndarray]
    intrinsic_depth: Optional[np.ndarray]
    color_path: Path

    @property
    def size(self):
        """(W, H) of the colour image."""
        return self.rgb.shape[1], self.rgb.shape[0]

    def instance_labels(self):
        """dict instance id -> class id (majority label under the instance), {} without masks."""
        if self.instance is None or self.label is None:
            return {}
        return {i: label for i, (label, _) in majority_labels(self.instance, self.label).items()}


class ScanNetScene:
    """A scene folder in the ScanNet export layout.

    Parameters
    ----------
    path : str or Path
        The scene folder (use :meth:`open` to find it under a root).
    label_map : dict, optional
        Class id in ``label-filt`` -> class id to report (e.g. ScanNet id -> NYU40 from
        :func:`load_label_map`); ids not in the map become 0. Generated scenes need none.
    depth_scale : float
        Depth PNG units per metre (ScanNet: 1000).

    Raises
    ------
    SceneNotFoundError, EmptySceneError
    """

    def __init__(self, path, label_map=None, depth_scale=1000.0):
        self.path = Path(path)
        if not self.path.is_dir():
            raise SceneNotFoundError(f"{self.path}: scene folder not found")
        self.name = self.path.name
        self.depth_scale = depth_scale
        self._color_files = self._index_color()
        if not self._color_files:
            raise EmptySceneError(f"{self.path}: no colour frames in {self.path / 'color'}")
        self.frame_ids = sorted(self._color_files)
        self._label_lookup = None
        if label_map:
            lookup = np.zeros(max(label_map) + 1, dtype=np.int32)
            for source, target in label_map.items():
                lookup[source] = target
            self._label_lookup = lookup
        self.intrinsic_color = self._read_intrinsic("intrinsic_color.txt")
        self.intrinsic_depth = self._read_intrinsic("intrinsic_depth.txt", warn=self.has_depth)
        self.meta = self._read_meta()

    @classmethod
    def open(cls, name, root=None, **kwargs):
        """Scene ``name`` under ``root`` (``root/scans/name`` or ``root/name``), or at path ``name``."""
        return cls(find_scene(name, root), **kwargs)

    def _index_color(self):
        folder = self.path / "color"
        files = {}
        if folder.is_dir():
            for file in folder.iterdir():
                if file.suffix.lower() in COLOR_SUFFIXES and file.stem.isdigit():
                    files[int(file.stem)] = file
        return files

    def _read_intrinsic(self, name, warn=True):
        path = self.path / "intrinsic" / name
        if not path.is_file():
            if warn:
                log.warning("%s: missing intrinsics", path)
            return None
        matrix = read_matrix(path)
        return None if matrix is None else matrix[:3, :3]

    def _read_meta(self):
        path = self.path / "meta.json"
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as error:
            log.warning("%s: unreadable (%s)", path, error)
            return None

    @property
    def has_depth(self):
        return (self.path / "depth").is_dir()

    @property
    def has_masks(self):
        return (self.path / "instance-filt").is_dir() and (self.path / "label-filt").is_dir()

    def __len__(self):
        return len(self.frame_ids)

    def color_path(self, index):
        """Path of frame ``index``'s colour image, or None for an index the scene does not have."""
        return self._color_files.get(index)

    def read_frame(self, index, depth=True, pose=True, masks=True):
        """Read frame ``index``; optional parts that are missing or corrupt become None (warning).

        Raises
        ------
        FrameError
            When the colour image is missing or cannot be decoded.
        """
        color_path = self._color_files.get(index)
        if color_path is None:
            raise FrameError(f"{self.path / 'color'}: no colour image for frame {index}")
        rgb = read_color(color_path)
        size = (rgb.shape[1], rgb.shape[0])
        frame_depth = frame_pose = instance = label = None
        if depth and self.has_depth:
            frame_depth = read_depth(self.path / "depth" / f"{index}.png", self.depth_scale)
        if pose and (self.path / "pose").is_dir():
            frame_pose = read_pose(self.path / "pose" / f"{index}.txt")
        if masks and self.has_masks:
            instance, label = self.read_masks(index, size)
        return Frame(index, rgb, frame_depth, frame_pose, instance, label,
                     self.intrinsic_color, self.intrinsic_depth, color_path)

    def read_masks(self, index, size=None):
        """``(instance, label)`` int32 images of frame ``index`` (resized to ``size`` when given);
        ``(None, None)`` with a warning when either is missing or unreadable."""
        instance = read_id_image(self.path / "instance-filt" / f"{index}.png", size)
        label = read_id_image(self.path / "label-filt" / f"{index}.png", size)
        if instance is None or label is None:
            return None, None
        if self._label_lookup is not None:
            inside = label < len(self._label_lookup)
            label = np.where(inside, self._label_lookup[np.where(inside, label, 0)], 0).astype(np.int32)
        return instance, label

    def frames(self, depth=True, pose=True, masks=True):
        """Iterate over the readable frames in index order; unreadable ones are skipped (warning)."""
        for index in self.frame_ids:
            try:
                yield self.read_frame(index, depth=depth, pose=pose, masks=masks)
            except FrameError as error:
                log.warning("%s", error)

    __iter__ = frames

    def instance_classes(self):
        """Class of every annotated instance: dict id -> class id, by majority over all frames.

        Reads only ``instance-filt`` and ``label-filt``.
        """
        votes = {}
        for index in self.frame_ids:
            instance, label = self.read_masks(index)
            if instance is None:
                continue
            for instance_id, (label, count) in majority_labels(instance, label).items():
                votes.setdefault(instance_id, {}).setdefault(label, 0)
                votes[instance_id][label] += count
        return {i: max(counts, key=counts.get) for i, counts in sorted(votes.items())}
