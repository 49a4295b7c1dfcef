"""World rays: a detection the depth cannot place (outside the depth camera's narrower view, on holes)
still lies on the ray from the camera through its box, and that ray tells twins apart."""
import numpy as np
import pytest

from tracker import Detection, Tracker, TrackerConfig, complete_detections
from tracker.world import ray_distances, viewing_ray

K = np.array([[200.0, 0.0, 160.0], [0.0, 200.0, 120.0], [0.0, 0.0, 1.0]])


def pose_looking_along_x(centre=(0.0, 0.0, 1.5)):
    """Camera-to-world pose: camera at ``centre``, optical axis (OpenCV z) along world +x, image x along
    world -y, image y along world -z."""
    pose = np.eye(4)
    pose[:3, :3] = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    pose[:3, 3] = centre
    return pose


def box_around(point, pose, size=20.0):
    """A size x size box centred on the image of a world point."""
    camera = np.linalg.inv(pose) @ np.append(point, 1.0)
    u, v, w = K @ camera[:3]
    return np.array([u / w - size / 2, v / w - size / 2, size, size])


def test_the_ray_through_a_box_passes_through_the_point_it_shows():
    pose = pose_looking_along_x()
    point = np.array([3.0, 0.4, 1.2])
    ray = viewing_ray(box_around(point, pose), K, pose)
    np.testing.assert_allclose(ray[0], pose[:3, 3])
    assert np.linalg.norm(ray[1]) == pytest.approx(1.0)
    distances = ray_distances(np.stack([point, point + [0.0, 0.0, 1.0], [-2.0, 0.0, 1.5]]), ray[None])
    assert distances[0, 0] == pytest.approx(0.0, abs=1e-9)
    assert distances[1, 0] == pytest.approx(np.sin(np.arccos(np.dot(ray[1], [0.0, 0.0, 1.0]))), abs=1e-9)
    assert distances[2, 0] == pytest.approx(2.0)                    # behind the camera: to the camera centre
    assert np.isnan(ray_distances(np.full((1, 3), np.nan), ray[None])).all()
    assert viewing_ray(box_around(point, pose), K, None) is None
    assert viewing_ray(box_around(point, pose), K, np.full((4, 4), np.inf)) is None


class Frame:
    def __init__(self, depth, pose):
        self.index, self.rgb, self.depth, self.pose = 0, np.zeros((240, 320, 3), np.uint8), depth, pose
        self.intrinsic_color = self.intrinsic_depth = K


def test_complete_detections_gives_a_ray_where_the_depth_cannot_place_a_detection():
    pose = pose_looking_along_x()
    point = np.array([3.0, 0.4, 1.2])
    detection = Detection(box_around(point, pose), 0.9, 5, feature=np.ones(4))
    placed, _ = complete_detections([detection], Frame(np.full((240, 320), 3.0), pose))
    assert placed[0].world_position is not None and placed[0].world_ray is None
    on_ray, _ = complete_detections([detection], Frame(np.zeros((240, 320)), pose))   # no valid depth
    assert on_ray[0].world_position is None
    assert ray_distances(point[None], on_ray[0].world_ray[None])[0, 0] == pytest.approx(0.0, abs=1e-9)
    unposed, _ = complete_detections([detection], Frame(np.zeros((240, 320)), None))
    assert unposed[0].world_position is None and unposed[0].world_ray is None
    assert detection.world_ray is None                                                    # the caller's untouched


def test_a_return_without_depth_takes_the_id_of_the_twin_on_its_ray():
    pose = pose_looking_along_x()
    left, right = np.array([3.0, 0.4, 0.8]), np.array([3.0, -0.4, 0.8])      # twins 0.8 m apart
    look = np.zeros(8)
    look[0] = 1.0
    unlike = lambda k: (look + k * np.eye(8)[1]) / np.linalg.norm(look + k * np.eye(8)[1])  # noqa: E731
    first = [Detection(box_around(left, pose), 0.9, 5, feature=unlike(0.0), world_position=left),
             Detection(box_around(right, pose), 0.9, 5, feature=unlike(0.2), world_position=right)]
    # back, unplaced: it looks a little more like the left twin (0.0002 against 0.016 away), but it is on the
    # ray through the right one
    returning = Detection(box_around(right, pose), 0.9, 5, feature=unlike(0.02))

    def returning_id(with_ray):
        tracker = Tracker(TrackerConfig(n_init=1, max_age=2))
        tracker.update(first, 0)
        ids = {tuple(np.round(t.world_position, 3)): t.track_id for t in tracker.tracks}
        for frame in range(1, 5):                                                    # both out of sight: lost
            tracker.update([], frame)
        ray = viewing_ray(returning.tlwh, K, pose) if with_ray else None
        [track] = tracker.update([Detection(returning.tlwh, 0.9, 5, feature=returning.feature, world_ray=ray)], 5)
        return track.track_id, ids[tuple(np.round(left, 3))], ids[tuple(np.round(right, 3))]

    got, left_id, right_id = returning_id(with_ray=True)
    assert got == right_id
    got, left_id, right_id = returning_id(with_ray=False)
    assert got == left_id                                    # appearance alone: the wrong twin
