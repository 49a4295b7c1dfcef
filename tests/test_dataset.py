"""Object views, episodes, the valid-detection rule and triplet batches."""
import numpy as np
import pytest

from reid.data.scannet import ScanNetScene
from reid.dataset import (ObjectView, TripletBatchSampler, box_iou, collect_views, mask_boxes,
                          valid_detections)


def test_mask_boxes_by_hand():
    instance = np.zeros((6, 8), np.int32)
    instance[1:3, 2:5] = 4
    instance[5, 7] = 9
    boxes = mask_boxes(instance)
    assert boxes == {4: ((2.0, 1.0, 3.0, 2.0), 6), 9: ((7.0, 5.0, 1.0, 1.0), 1)}


def test_box_iou_and_valid_detections():
    truth = np.array([[0, 0, 10, 10], [20, 0, 10, 10]], float)
    assert box_iou([[0, 0, 10, 10]], [[5, 0, 10, 10]])[0, 0] == pytest.approx(50 / 150)
    detections = np.array([[1, 0, 10, 10],    # IoU 0.82 with truth 0, same class -> valid
                           [20, 0, 10, 10],   # perfect box but wrong class -> not valid
                           [5, 0, 10, 10],    # IoU 0.33 -> not valid
                           [0, 0, 10, 10]])   # duplicate of truth 0: the better one takes it
    result = valid_detections(detections, [5, 7, 5, 5], truth, [5, 5], [11, 12])
    assert result.tolist() == [0, 0, 0, 11]
    result = valid_detections(detections[:1], [5], truth, [5, 5], [11, 12])
    assert result.tolist() == [11]


def test_views_of_a_generated_scene(tiny_scene):
    scene = ScanNetScene.open("scene0000_00", tiny_scene)
    views = collect_views(scene, min_side=4, episode_gap=5)
    assert views
    classes = scene.instance_classes()
    for view in views[:50]:
        assert view.label == classes[view.instance_id] and view.label not in (1, 2, 22)
        frame = scene.read_frame(view.frame)
        v, u = np.nonzero(frame.instance == view.instance_id)
        assert view.tlwh == (u.min(), v.min(), u.max() - u.min() + 1, v.max() - v.min() + 1)
        assert view.pixels == len(u)
    # episodes restart after the gap: an instance's views in one episode are close in time
    by_instance = {}
    for view in views:
        by_instance.setdefault(view.instance_id, []).append(view)
    for instance_views in by_instance.values():
        for a, b in zip(instance_views, instance_views[1:]):
            assert (b.episode == a.episode) == (b.frame - a.frame < 5)
    assert all(view.pixels >= 30 for view in collect_views(scene, min_pixels=30, min_side=1))


def make_views():
    views = []
    # scene a: three identical chairs (class 5), one desk (14); scene b: two mugs (40)
    for scene, instances in (("a", [(1, 5), (2, 5), (3, 5), (4, 14)]), ("b", [(1, 40), (2, 40)])):
        for instance_id, label in instances:
            for frame in range(6):
                views.append(ObjectView(scene, frame, instance_id, label, (0, 0, 10, 10), 100, frame // 3))
    return views


def test_triplet_batches_put_class_mates_together():
    views = make_views()
    sampler = TripletBatchSampler(views, instances_per_batch=4, views_per_instance=2, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 36 // 8
    for batch in batches:
        keys = [(views[i].scene, views[i].instance_id) for i in batch]
        assert len(batch) == 8 and len(set(keys)) == 4
        assert all(keys.count(key) == 2 for key in set(keys))
        labels = [views[i].label for i in batch]
        # every batch holds at least one pair of different instances of the same class
        assert any(labels.count(label) >= 4 for label in labels)
    sampler.set_epoch(1)
    assert list(sampler) != batches
    sampler.set_epoch(0)
    assert list(sampler) == batches


def test_ranks_split_the_batches():
    views = make_views()
    whole = list(TripletBatchSampler(views, 2, 2, seed=3))
    parts = [list(TripletBatchSampler(views, 2, 2, seed=3, rank=r, world_size=2)) for r in (0, 1)]
    assert parts[0] == whole[0::2] and parts[1] == whole[1::2]
