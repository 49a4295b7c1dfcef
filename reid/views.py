"""Object views of many scenes with their crops, held in memory for training and evaluation."""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .crops import make_crops
from .data.scannet import ScanNetScene
from .dataset import collect_views


def scene_folders(roots, scenes=None):
    """Scene folders under each root (``ROOT/scans/*`` or ``ROOT/*``), or the named ``scenes`` only."""
    folders = []
    for root in roots:
        root = Path(root)
        base = root / "scans" if (root / "scans").is_dir() else root
        names = scenes or sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
        folders.extend(base / name for name in names if (base / name).is_dir())
    return folders


@dataclass
class ViewSet:
    """Views and their uint8 crops.

    Attributes
    ----------
    views : list of reid.dataset.ObjectView
    crops : dict of str -> ndarray, N x S x S x 3 uint8
    twins : ndarray of bool, N
        The view's instance shares its model with another instance of its scene (generated scenes,
        from ``meta.json``) or, without ``meta.json``, its class with another instance.
    """

    views: list
    crops: dict
    twins: np.ndarray

    def __len__(self):
        return len(self.views)

    def identities(self):
        """One int per view for its (scene, instance) pair."""
        keys = {}
        return np.array([keys.setdefault((v.scene, v.instance_id), len(keys)) for v in self.views])


def load_views(folders, size, kinds, fill=0, margin=10, frame_step=5, min_side=12, episode_gap=30, progress=None,
               frame_transform=None):
    """Collect the views of each scene folder (see :func:`reid.dataset.collect_views`) and cut their
    crops (one frame read per frame used).

    ``frame_transform(scene name, frame index, rgb) -> rgb``, optional, changes each colour frame
    before cropping (e.g. a photometric change; the masks and boxes stay those of the scene)."""
    views, crops, twins = [], {kind: [] for kind in kinds}, []
    for folder in folders:
        scene = ScanNetScene(folder)
        scene_views = collect_views(scene, frame_step=frame_step, min_side=min_side, episode_gap=episode_gap)
        twin_ids = _twin_instances(scene, scene_views)
        by_frame = {}
        for view in scene_views:
            by_frame.setdefault(view.frame, []).append(view)
        for index, frame_views in by_frame.items():
            frame = scene.read_frame(index, depth=False, pose=False, masks=True)
            masks = np.stack([frame.instance == v.instance_id for v in frame_views])
            boxes = np.array([v.tlwh for v in frame_views], dtype=np.float64)
            rgb = frame.rgb if frame_transform is None else frame_transform(scene.name, index, frame.rgb)
            made = make_crops(rgb, boxes, masks, size=size, kinds=kinds, fill=fill, margin=margin)
            for kind in kinds:
                crops[kind].append(made[kind])
            views.extend(frame_views)
            twins.extend(v.instance_id in twin_ids for v in frame_views)
        if progress:
            progress(scene.name, len(scene_views))
    empty = np.zeros((0, size, size, 3), np.uint8)
    return ViewSet(views, {k: np.concatenate(v) if v else empty for k, v in crops.items()}, np.array(twins, bool))


def _twin_instances(scene, views):
    if scene.meta and "twin_groups" in scene.meta:
        return {i for group in scene.meta["twin_groups"] for i in group}
    per_class = {}
    for view in views:
        per_class.setdefault(view.label, set()).add(view.instance_id)
    return {i for ids in per_class.values() if len(ids) > 1 for i in ids}
