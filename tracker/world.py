"""World position of a detected object from its mask, the depth image and the camera pose, or, without
depth, the ray it lies on."""
import numpy as np

from reid.data.geometry import backproject

MIN_VALID_DEPTHS = 10
"""Fewest valid depth samples under a mask for a position to be trusted."""

MAX_MASK_SAMPLES = 5000
"""Mask pixels mapped to the depth image at most (larger masks are subsampled evenly)."""


def _matrix3(intrinsic):
    return np.asarray(intrinsic, dtype=np.float64)[:3, :3]


def _finite_pose(pose):
    """``pose`` as a 4x4 float64 array, or None when it is missing, of another shape or not finite."""
    if pose is None:
        return None
    pose = np.asarray(pose, dtype=np.float64)
    return pose if pose.shape == (4, 4) and np.isfinite(pose).all() else None


def _central_box_pixels(tlwh, max_samples, fraction=0.5):
    """Pixels (v, u) of the central ``fraction`` of a box, on an even grid of about ``max_samples``
    at most (those outside the image are dropped later, when mapped to the depth image)."""
    x, y, w, h = tlwh
    cx, cy = x + w / 2, y + h / 2
    u0, u1 = max(int(np.ceil(cx - fraction * w / 2)), 0), int(np.floor(cx + fraction * w / 2))
    v0, v1 = max(int(np.ceil(cy - fraction * h / 2)), 0), int(np.floor(cy + fraction * h / 2))
    if u1 < u0 or v1 < v0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    step = max(1, int(np.ceil(np.sqrt((u1 - u0 + 1) * (v1 - v0 + 1) / max_samples))))
    v, u = np.mgrid[v0:v1 + 1:step, u0:u1 + 1:step]
    return v.ravel(), u.ravel()


def _mask_pixels(mask, max_samples):
    """Pixels (v, u) of a mask, subsampled on an even grid to about ``max_samples`` when larger."""
    rows = np.flatnonzero(mask.any(axis=1))
    if not rows.size:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    cols = np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    count = np.count_nonzero(mask[top:bottom, left:right])
    step = max(1, int(np.ceil(np.sqrt(count / max_samples))))
    v, u = np.nonzero(mask[top:bottom:step, left:right:step])
    return v * step + top, u * step + left


def color_to_depth_pixels(v, u, intrinsic_color, intrinsic_depth, depth_shape):
    """Map colour-image pixels to the nearest depth-image pixels through the two intrinsics.

    Pixel centres sit at integer coordinates: ``u_d = (u_c - cx_c) / fx_c * fx_d + cx_d`` (same for
    rows). Pixels falling outside the depth image are dropped.

    Returns
    -------
    (v_d, u_d) : tuple of int64 arrays
        Unique depth pixels.
    """
    kc, kd = _matrix3(intrinsic_color), _matrix3(intrinsic_depth)
    u_d = np.rint((u - kc[0, 2]) / kc[0, 0] * kd[0, 0] + kd[0, 2]).astype(np.int64)
    v_d = np.rint((v - kc[1, 2]) / kc[1, 1] * kd[1, 1] + kd[1, 2]).astype(np.int64)
    inside = (u_d >= 0) & (u_d < depth_shape[1]) & (v_d >= 0) & (v_d < depth_shape[0])
    flat = np.unique(v_d[inside] * depth_shape[1] + u_d[inside])
    return flat // depth_shape[1], flat % depth_shape[1]


def world_position(mask, depth, intrinsic_color, intrinsic_depth, pose, tlwh=None,
                   min_valid_depths=MIN_VALID_DEPTHS):
    """3D centre of an object in world coordinates.

    The masked colour pixels (an even subsample of at most about ``MAX_MASK_SAMPLES`` for large
    masks) are mapped to depth pixels through the intrinsics; the masked valid
    depths (> 0, finite) are back-projected with the depth intrinsics; the per-axis median of those
    camera points is moved to the world with the camera-to-world pose. Points more than 0.5 m
    behind or in front of the median depth (background leaking into the mask) are left out first.

    Parameters
    ----------
    mask : ndarray, HxW bool, or None
        Object pixels at the colour image's size; when None, the central half of ``tlwh`` is used.
    depth : ndarray, HdxWd float or None
        Depth in metres at the depth camera's own size (0 or non-finite: no measurement).
    intrinsic_color, intrinsic_depth : ndarray, 3x3 or 4x4
        Pixel intrinsics of the colour and depth images.
    pose : ndarray, 4x4 or None
        Camera-to-world, metres, OpenCV axes.
    tlwh : ndarray (4,), optional
        Box in colour pixels, used when ``mask`` is None.
    min_valid_depths : int
        Fewest valid depth samples needed.

    Returns
    -------
    ndarray, (3,) float64 metres, or None
        None when the pose or depth is missing, the pose is not finite, or fewer than
        ``min_valid_depths`` masked depths are valid.
    """
    pose = _finite_pose(pose)
    if pose is None or depth is None or intrinsic_color is None or intrinsic_depth is None:
        return None
    depth = np.asarray(depth)
    if mask is not None:
        v, u = _mask_pixels(np.asarray(mask, dtype=bool), MAX_MASK_SAMPLES)
    elif tlwh is not None:
        v, u = _central_box_pixels(np.asarray(tlwh, dtype=np.float64), MAX_MASK_SAMPLES)
    else:
        return None
    if len(v) < 1:
        return None
    v_d, u_d = color_to_depth_pixels(v, u, intrinsic_color, intrinsic_depth, depth.shape)
    points, (v_d, u_d) = backproject(depth, _matrix3(intrinsic_depth), pixels=(v_d, u_d))
    if len(points) < min_valid_depths:
        return None
    median_depth = np.median(points[:, 2])
    points = points[np.abs(points[:, 2] - median_depth) <= 0.5]
    if len(points) < min_valid_depths:
        return None
    camera_point = np.median(points, axis=0)
    return pose[:3, :3] @ camera_point + pose[:3, 3]


def viewing_ray(tlwh, intrinsic_color, pose):
    """The ray from the camera through a box's centre, in world coordinates.

    Parameters
    ----------
    tlwh : ndarray, (4,)
        Box in colour pixels.
    intrinsic_color : ndarray, 3x3 or 4x4
    pose : ndarray, 4x4 or None
        Camera-to-world, metres, OpenCV axes.

    Returns
    -------
    ndarray, (2, 3) float64, or None
        Camera centre (metres) and unit direction; None when the pose is missing or not finite.
    """
    pose = _finite_pose(pose)
    if pose is None:
        return None
    x, y, w, h = np.asarray(tlwh, dtype=np.float64)
    direction = pose[:3, :3] @ np.linalg.solve(_matrix3(intrinsic_color), [x + w / 2, y + h / 2, 1.0])
    return np.stack([pose[:3, 3], direction / np.linalg.norm(direction)])


def ray_distances(centres, rays):
    """Distance from each of some centres to each of some rays (half-lines from the camera), metres.

    Parameters
    ----------
    centres : ndarray, Tx3
        NaN rows for unknown positions.
    rays : ndarray, Nx2x3
        Origin and unit direction of each ray (:func:`viewing_ray`); NaN for none.

    Returns
    -------
    ndarray, TxN
        Distance to the closest point of the ray (its origin for a centre behind the camera); NaN where
        the centre or the ray is unknown.
    """
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 3)
    rays = np.asarray(rays, dtype=np.float64).reshape(-1, 2, 3)
    offsets = centres[:, None, :] - rays[None, :, 0, :]
    along = np.maximum(np.einsum("tnk,nk->tn", offsets, rays[:, 1, :]), 0.0)
    return np.linalg.norm(offsets - along[..., None] * rays[None, :, 1, :], axis=-1)


def point_distances(centres, points):
    """Euclidean distance between each of some centres and each of some points, metres.

    Coordinate-major (3xT, 3xN, 3xTxN contiguous) so that every operation runs along the points; the
    squares are summed x, y, z in turn, as ``np.linalg.norm(..., axis=-1)`` sums them.

    Parameters
    ----------
    centres : ndarray, Tx3
    points : ndarray, Nx3
        NaN rows for unknown positions.

    Returns
    -------
    ndarray, TxN
        NaN where either position is unknown.
    """
    centres = np.ascontiguousarray(np.asarray(centres, dtype=np.float64).reshape(-1, 3).T)
    points = np.ascontiguousarray(np.asarray(points, dtype=np.float64).reshape(-1, 3).T)
    squared = points[:, None, :] - centres[:, :, None]
    squared *= squared
    return np.sqrt((squared[0] + squared[1]) + squared[2])
