"""Rendering a generated room with pybullet's CPU TinyRenderer: RGB, depth and instance ids at once."""
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from ..cli import import_optional


def _import_pybullet():
    """Import pybullet without the build-time banner it writes on standard error; a
    :class:`reid.cli.MissingDependencyError` naming the ``generate`` extra when it is not installed."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        pybullet = import_optional("pybullet", "the scene generator", "generate")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return pybullet


pybullet = _import_pybullet()

from .geometry import linear_depth, opengl_projection_matrix, opengl_view_matrix


class SceneRenderer:
    """A room loaded into its own pybullet connection.

    Parameters
    ----------
    room : reid.data.layout.Room
    light_direction : sequence of 3 floats
        Direction towards the light (world frame).
    near, far : float
        Clipping planes in metres.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, room, light_direction=(0.3, 0.2, 1.0), near=0.05, far=30.0):
        self.near, self.far = near, far
        self.light_direction = [float(v) for v in light_direction]
        self.client = pybullet.connect(pybullet.DIRECT)
        self._texture_dir = tempfile.TemporaryDirectory(prefix="reid-textures-")
        self._shapes, self._textures = {}, {}
        body_to_instance = {}
        for instance in room.instances:
            body_to_instance[self._add_body(instance)] = instance.instance_id
        self._instance_of_body = np.zeros(max(body_to_instance) + 2, dtype=np.int32)  # index = body id + 1
        for body, instance_id in body_to_instance.items():
            self._instance_of_body[body + 1] = instance_id

    def _shape(self, part):
        key = id(part)
        if key not in self._shapes:
            kwargs = {"rgbaColor": list(part.rgba), "physicsClientId": self.client}
            if part.shape == "box":
                shape = pybullet.createVisualShape(pybullet.GEOM_BOX, halfExtents=[s / 2 for s in part.size], **kwargs)
            elif part.shape == "cylinder":
                shape = pybullet.createVisualShape(pybullet.GEOM_CYLINDER, radius=part.size[0], length=part.size[1],
                                                   **kwargs)
            elif part.shape == "sphere":
                shape = pybullet.createVisualShape(pybullet.GEOM_SPHERE, radius=part.size[0], **kwargs)
            else:
                raise ValueError(f"unknown part shape {part.shape!r}")
            self._shapes[key] = (shape, part)  # keep the part alive so its id stays unique
        return self._shapes[key][0]

    def _texture(self, image):
        key = id(image)
        if key not in self._textures:
            path = Path(self._texture_dir.name) / f"{len(self._textures)}.png"
            cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            self._textures[key] = (pybullet.loadTexture(str(path), physicsClientId=self.client), image)
        return self._textures[key][0]

    def _add_body(self, instance):
        parts = instance.model.parts
        n = len(parts)
        body = pybullet.createMultiBody(
            baseMass=0, baseVisualShapeIndex=-1, basePosition=list(instance.position),
            baseOrientation=pybullet.getQuaternionFromEuler([0, 0, instance.yaw]),
            linkMasses=[0] * n, linkCollisionShapeIndices=[-1] * n,
            linkVisualShapeIndices=[self._shape(part) for part in parts],
            linkPositions=[list(part.position) for part in parts],
            linkOrientations=[pybullet.getQuaternionFromEuler(part.euler) for part in parts],
            linkInertialFramePositions=[[0, 0, 0]] * n, linkInertialFrameOrientations=[[0, 0, 0, 1]] * n,
            linkParentIndices=[0] * n, linkJointTypes=[pybullet.JOINT_FIXED] * n, linkJointAxis=[[0, 0, 1]] * n,
            physicsClientId=self.client)
        for link, part in enumerate(parts):
            if part.texture is not None:
                pybullet.changeVisualShape(body, link, textureUniqueId=self._texture(part.texture),
                                           physicsClientId=self.client)
        return body

    def render(self, pose, intrinsic, size, lighting=None):
        """Render one view.

        Parameters
        ----------
        pose : ndarray, 4x4
            Camera-to-world, OpenCV axes.
        intrinsic : ndarray, 3x3
            Pixel intrinsics (pixel centres at integer coordinates).
        size : (int, int)
            (W, H) in pixels.
        lighting : dict, optional
            ``getCameraImage`` light arguments (``lightDirection``, ``lightColor``,
            ``lightAmbientCoeff``, ...) replacing this renderer's fixed light.

        Returns
        -------
        rgb : ndarray, HxWx3 uint8
        depth : ndarray, HxW float32
            Depth along the optical axis, metres.
        instance : ndarray, HxW int32
            Instance id per pixel, 0 where nothing was hit.
        """
        width, height = size
        light = dict(lightDirection=self.light_direction, lightColor=[1, 1, 1], lightAmbientCoeff=0.55,
                     lightDiffuseCoeff=0.5, lightSpecularCoeff=0.05, shadow=0)
        light.update(lighting or {})
        _, _, rgba, zbuffer, segmentation = pybullet.getCameraImage(
            width, height, viewMatrix=opengl_view_matrix(pose),
            projectionMatrix=opengl_projection_matrix(intrinsic, width, height, self.near, self.far),
            renderer=pybullet.ER_TINY_RENDERER, physicsClientId=self.client, **light)
        rgb = np.asarray(rgba, dtype=np.uint8).reshape(height, width, 4)[:, :, :3]
        zbuffer = np.asarray(zbuffer, dtype=np.float32).reshape(height, width)
        segmentation = np.asarray(segmentation, dtype=np.int64).reshape(height, width)
        depth = linear_depth(zbuffer, self.near, self.far).astype(np.float32)
        instance = self._instance_of_body[np.clip(segmentation + 1, 0, len(self._instance_of_body) - 1)]
        depth[instance == 0] = 0.0
        return rgb, depth, instance

    def close(self):
        if self.client is not None:
            pybullet.disconnect(self.client)
            self.client = None
            self._texture_dir.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
