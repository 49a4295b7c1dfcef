"""Object views for re-ID training and evaluation, gathered from scenes in the ScanNet layout.

A *view* is one instance in one frame (its box and mask come from the annotation). Views of one
instance are grouped into *episodes*: runs of frames in which the instance is in view; a new episode
starts when it has been out of view for ``episode_gap`` frames or more, i.e. on another camera pass.
Evaluation takes queries and gallery from different episodes, so a match is never a near-duplicate
neighbouring frame. Training batches hold P instances x K views, the instances drawn from one scene
and class-mates first, so that the negatives include other instances of the same class.
"""
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from .data.nyu40 import STRUCTURE_LABELS
from .data.scannet import majority_labels
from .data.visibility import min_visible_pixels


@dataclass(frozen=True)
class ObjectView:
    """One annotated instance in one frame.

    ``tlwh`` is its mask's box in colour pixels, ``pixels`` its mask area, ``episode`` the index of
    the camera pass (visibility run) it belongs to, counted per instance from 0.
    """

    scene: str
    frame: int
    instance_id: int
    label: int
    tlwh: tuple
    pixels: int
    episode: int


def mask_boxes(instance):
    """Boxes and areas of every instance id in an instance image: dict id -> (tlwh, pixels)."""
    ids = instance.ravel()
    keep = ids > 0
    if not keep.any():
        return {}
    height, width = instance.shape
    rows = np.repeat(np.arange(height), width)[keep]
    cols = np.tile(np.arange(width), height)[keep]
    ids = ids[keep]
    size = ids.max() + 1
    x0 = np.full(size, width)
    y0 = np.full(size, height)
    x1 = np.full(size, -1)
    y1 = np.full(size, -1)
    np.minimum.at(x0, ids, cols)
    np.minimum.at(y0, ids, rows)
    np.maximum.at(x1, ids, cols)
    np.maximum.at(y1, ids, rows)
    counts = np.bincount(ids, minlength=size)
    return {int(i): ((float(x0[i]), float(y0[i]), float(x1[i] - x0[i] + 1), float(y1[i] - y0[i] + 1)), int(counts[i]))
            for i in np.nonzero(counts)[0]}


def collect_views(scene, min_pixels=None, min_side=12, min_fill=0.15, frame_step=1, episode_gap=30,
                  include_structure=False):
    """Views of every instance of a scene that pass the size and visibility filters.

    Parameters
    ----------
    scene : reid.data.scannet.ScanNetScene
    min_pixels : int, optional
        Least mask area (default: 0.1 % of the image, at least 8 px).
    min_side : int
        Least box width and height in pixels.
    min_fill : float
        Least share of the box covered by the mask (drops slivers behind occluders).
    frame_step : int
        Use every n-th frame.
    episode_gap : int
        Frames out of view after which a new episode (camera pass) starts.
    include_structure : bool
        Keep walls, floor and ceiling.

    Returns
    -------
    list of ObjectView
    """
    views, last_seen, episode = [], {}, {}
    size = None
    for index in scene.frame_ids[::frame_step]:
        if size is None:
            size = scene.read_frame(index, depth=False, pose=False, masks=False).size
            threshold = min_pixels or min_visible_pixels(size)
        instance, label = scene.read_masks(index, size)
        if instance is None:
            continue
        labels = majority_labels(instance, label)
        for instance_id, (tlwh, pixels) in mask_boxes(instance).items():
            class_id = labels[instance_id][0]
            if not include_structure and class_id in STRUCTURE_LABELS:
                continue
            if pixels < threshold or min(tlwh[2], tlwh[3]) < min_side or pixels < min_fill * tlwh[2] * tlwh[3]:
                continue
            previous = last_seen.get(instance_id)
            if previous is None:
                episode[instance_id] = 0
            elif index - previous >= episode_gap:
                episode[instance_id] += 1
            last_seen[instance_id] = index
            views.append(ObjectView(scene.name, index, instance_id, class_id, tlwh, pixels, episode[instance_id]))
    return views


def box_iou(boxes_a, boxes_b):
    """IoU of every pair of ``tlwh`` boxes: N x M."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    ax1, ay1 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx1, by1 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    width = np.clip(np.minimum(ax1[:, None], bx1[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    height = np.clip(np.minimum(ay1[:, None], by1[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = width * height
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def valid_detections(detection_tlwh, detection_labels, truth_tlwh, truth_labels, truth_ids, min_iou=0.6):
    """The paper's *valid detection* rule: a detection is valid when it overlaps a ground-truth box of
    the same class with IoU > ``min_iou`` (one detection per ground-truth object, best IoU first).

    Returns
    -------
    ndarray of int, N
        The ground-truth id each detection takes, 0 for detections that are not valid.
    """
    n = len(detection_tlwh)
    result = np.zeros(n, dtype=np.int64)
    if n == 0 or len(truth_tlwh) == 0:
        return result
    iou = box_iou(detection_tlwh, truth_tlwh)
    iou[np.asarray(detection_labels)[:, None] != np.asarray(truth_labels)[None, :]] = 0.0
    rows, cols = linear_sum_assignment(-iou)
    for row, col in zip(rows, cols):
        if iou[row, col] > min_iou:
            result[row] = truth_ids[col]
    return result


class TripletBatchSampler:
    """Batches of P instances x K views for triplet training.

    Each batch draws its instances from one scene, class-mates first (a class with several instances
    in the scene, such as a group of identical chairs, is taken whole), then other instances of the
    scene, then other scenes. Views are drawn without replacement when an instance has enough.

    Parameters
    ----------
    views : sequence of ObjectView
    instances_per_batch, views_per_instance : int
        P and K.
    seed : int
    rank, world_size : int
        Under DDP each process takes every ``world_size``-th batch, starting at ``rank``.
    """

    def __init__(self, views, instances_per_batch=16, views_per_instance=4, seed=0, rank=0, world_size=1):
        self.instances_per_batch = instances_per_batch
        self.views_per_instance = views_per_instance
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0
        by_instance = {}
        for index, view in enumerate(views):
            by_instance.setdefault((view.scene, view.instance_id), []).append(index)
        self.instances = {key: np.array(indices) for key, indices in by_instance.items() if len(indices) >= 2}
        self.scenes = {}
        for (scene, instance_id), indices in self.instances.items():
            label = views[indices[0]].label
            self.scenes.setdefault(scene, {}).setdefault(label, []).append((scene, instance_id))
        if not self.instances:
            raise ValueError("no instance has two or more views: nothing to train on")
        self.batches_per_epoch = max(1, sum(len(v) for v in self.instances.values())
                                     // (instances_per_batch * views_per_instance))

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return len(range(self.rank, self.batches_per_epoch, self.world_size))

    def _batch(self, rng):
        scene_names = sorted(self.scenes)
        sizes = np.array([sum(len(v) for v in self.scenes[s].values()) for s in scene_names], dtype=float)
        scene = scene_names[rng.choice(len(scene_names), p=sizes / sizes.sum())]
        classes = self.scenes[scene]
        twins = [label for label in sorted(classes) if len(classes[label]) > 1]
        chosen = []
        for label in rng.permutation(twins):
            members = classes[label]
            chosen.extend(members[i] for i in rng.permutation(len(members)))
            if len(chosen) >= self.instances_per_batch // 2:
                break
        rest = [key for label in sorted(classes) for key in classes[label] if key not in chosen]
        chosen.extend(rest[i] for i in rng.permutation(len(rest)))
        if len(chosen) < self.instances_per_batch:
            others = [key for key in sorted(self.instances) if key[0] != scene]
            chosen.extend(others[i] for i in rng.permutation(len(others)))
        batch = []
        for key in chosen[:self.instances_per_batch]:
            indices = self.instances[key]
            replace = len(indices) < self.views_per_instance
            batch.extend(rng.choice(indices, self.views_per_instance, replace=replace).tolist())
        return batch

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        for number in range(self.batches_per_epoch):
            batch = self._batch(rng)  # drawn on every rank so that all ranks stay in step
            if number % self.world_size == self.rank:
                yield batch
