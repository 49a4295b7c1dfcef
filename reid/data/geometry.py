"""Pinhole camera geometry in ScanNet's conventions.

Poses are 4x4 camera-to-world matrices with OpenCV camera axes (x right, y down, z forward), in
metres. Intrinsics are 3x3 (or ScanNet's 4x4) matrices in pixels, with pixel ``(u, v)`` centred at
integer coordinates, as OpenCV and ScanNet's ``intrinsic_*.txt`` use them.
"""
import numpy as np


def intrinsic_matrix(fx, fy, cx, cy):
    """3x3 pinhole intrinsics from focal lengths and principal point, all in pixels."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def intrinsics_for_fov(width, height, horizontal_fov_deg):
    """Square-pixel intrinsics with the principal point at the image centre.

    Parameters
    ----------
    width, height : int
        Image size in pixels.
    horizontal_fov_deg : float
        Horizontal field of view in degrees.
    """
    fx = width / (2.0 * np.tan(np.radians(horizontal_fov_deg) / 2.0))
    return intrinsic_matrix(fx, fx, (width - 1) / 2.0, (height - 1) / 2.0)


def scale_intrinsics(intrinsic, from_size, to_size):
    """Intrinsics of the same camera resampled from ``from_size`` to ``to_size`` (both ``(W, H)``)."""
    sx = to_size[0] / from_size[0]
    sy = to_size[1] / from_size[1]
    k = np.array(intrinsic[:3, :3], dtype=np.float64)
    k[0, 0] *= sx
    k[1, 1] *= sy
    # pixel centres sit at integer coordinates: (u + 0.5) * s - 0.5
    k[0, 2] = (k[0, 2] + 0.5) * sx - 0.5
    k[1, 2] = (k[1, 2] + 0.5) * sy - 0.5
    return k


def backproject(depth, intrinsic, pose=None, pixels=None):
    """Pixels with their depth -> 3D points.

    Parameters
    ----------
    depth : ndarray, HxW float
        Depth along the optical axis in metres; 0 or non-finite means no measurement.
    intrinsic : ndarray, 3x3 or 4x4
        Intrinsics of the depth image.
    pose : ndarray, 4x4, optional
        Camera-to-world; without it points stay in camera coordinates.
    pixels : tuple of (v, u) int arrays, optional
        The pixels to back-project (rows, columns); all valid pixels by default.

    Returns
    -------
    points : ndarray, Nx3 float64
        One point per valid pixel, in metres.
    pixels : tuple of (v, u) int arrays
        The pixels the points came from (invalid depths dropped).
    """
    if pixels is None:
        v, u = np.nonzero(np.isfinite(depth) & (depth > 0))
    else:
        v, u = (np.asarray(a) for a in pixels)
        keep = np.isfinite(depth[v, u]) & (depth[v, u] > 0)
        v, u = v[keep], u[keep]
    z = depth[v, u].astype(np.float64)
    k = intrinsic
    x = (u - k[0, 2]) / k[0, 0] * z
    y = (v - k[1, 2]) / k[1, 1] * z
    points = np.stack([x, y, z], axis=1)
    if pose is not None:
        points = points @ pose[:3, :3].T + pose[:3, 3]
    return points, (v, u)


def project(points, intrinsic, pose=None):
    """3D points -> pixel coordinates and depth.

    Parameters
    ----------
    points : ndarray, Nx3
        World points (camera points when ``pose`` is None), metres.
    intrinsic : ndarray, 3x3 or 4x4
    pose : ndarray, 4x4, optional
        Camera-to-world of the camera to project into.

    Returns
    -------
    uv : ndarray, Nx2 float64
        Pixel coordinates (column, row); integer values are pixel centres.
    z : ndarray, N float64
        Depth along the optical axis, metres (<= 0: behind the camera).
    """
    points = np.asarray(points, dtype=np.float64)
    if pose is not None:
        rotation, translation = pose[:3, :3], pose[:3, 3]
        points = (points - translation) @ rotation
    z = points[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = intrinsic[0, 0] * points[:, 0] / z + intrinsic[0, 2]
        v = intrinsic[1, 1] * points[:, 1] / z + intrinsic[1, 2]
    return np.stack([u, v], axis=1), z


def look_at(position, target, up=(0.0, 0.0, 1.0)):
    """Camera-to-world pose (OpenCV axes) of a camera at ``position`` looking at ``target``."""
    position = np.asarray(position, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, down, forward, position
    return pose


def opengl_view_matrix(pose):
    """pybullet view matrix (column-major list of 16) for a camera-to-world pose in OpenCV axes."""
    return np.linalg.inv(pose @ np.diag([1.0, -1.0, -1.0, 1.0])).T.flatten().tolist()


def opengl_projection_matrix(intrinsic, width, height, near, far):
    """pybullet projection matrix (column-major list of 16) reproducing pixel intrinsics exactly.

    OpenGL puts pixel centres at half-integers, ScanNet/OpenCV at integers, hence the half-pixel
    shift of the principal point.
    """
    fx, fy = intrinsic[0, 0], intrinsic[1, 1]
    cx, cy = intrinsic[0, 2] + 0.5, intrinsic[1, 2] + 0.5
    matrix = np.array([
        [2 * fx / width, 0.0, 1 - 2 * cx / width, 0.0],
        [0.0, 2 * fy / height, 2 * cy / height - 1, 0.0],
        [0.0, 0.0, -(far + near) / (far - near), -2 * far * near / (far - near)],
        [0.0, 0.0, -1.0, 0.0],
    ])
    return matrix.T.flatten().tolist()


def linear_depth(zbuffer, near, far):
    """OpenGL z-buffer values in [0, 1] -> depth along the optical axis in metres."""
    zbuffer = np.asarray(zbuffer, dtype=np.float64)
    return far * near / (far - (far - near) * zbuffer)
