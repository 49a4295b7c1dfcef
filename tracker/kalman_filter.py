"""Constant-velocity Kalman filter of a bounding box in image space (deepSORT's model), stateless.

The 8-dimensional state is ``(x, y, a, h, vx, vy, va, vh)``: box centre ``(x, y)`` in pixels, aspect
ratio ``a = width / height``, height ``h`` in pixels, and their velocities per frame. Measurements
are boxes in ``xyah``. Process and measurement noise scale with the box height, as in deepSORT.

Every function takes one filter (mean ``(8,)``, covariance ``8x8``) or a stack of them (``Tx8``,
``Tx8x8``) and returns new arrays of the same shape: the tracker predicts all its tracks in one call
(ByteTrack's ``multi_predict``). The equations are those of ``filterpy.kalman.KalmanFilter`` with
``F``, ``H``, ``Q``, ``R`` below (tests compare them).
"""
import numpy as np

CHI2INV95 = {1: 3.8415, 2: 5.9915, 3: 7.8147, 4: 9.4877, 5: 11.070, 6: 12.592, 7: 14.067, 8: 15.507, 9: 16.919}
"""0.95 quantile of the chi-square distribution by degrees of freedom: the Mahalanobis gate."""

STD_WEIGHT_POSITION = 1.0 / 20
STD_WEIGHT_VELOCITY = 1.0 / 160

MOTION = np.eye(8) + np.eye(8, k=4)
"""``F``: the box moves by its velocity each frame."""
OBSERVATION = np.eye(4, 8)
"""``H``: the box is measured, not its velocity."""


def tlwh_to_xyah(boxes):
    """Boxes ``(x, y, w, h)`` -> ``(centre x, centre y, w / h, h)``; (4,) or Nx4 pixels."""
    boxes = np.array(boxes, dtype=np.float64)
    boxes[..., :2] += boxes[..., 2:] / 2
    boxes[..., 2] /= boxes[..., 3]
    return boxes


def xyah_to_tlwh(boxes):
    """Inverse of :func:`tlwh_to_xyah`."""
    boxes = np.array(boxes, dtype=np.float64)
    boxes[..., 2] *= boxes[..., 3]
    boxes[..., :2] -= boxes[..., 2:] / 2
    return boxes


def _noise(height, position, aspect, velocity=None):
    """Diagonal covariance from standard deviations (position ones relative to the box height)."""
    std = [position * height, position * height, np.full_like(height, aspect), position * height]
    if velocity is not None:
        std += [velocity * height, velocity * height, np.full_like(height, 1e-5), velocity * height]
    variances = np.square(np.stack(std, axis=-1))
    matrix = np.zeros(variances.shape + variances.shape[-1:])
    diagonal = np.arange(variances.shape[-1])
    matrix[..., diagonal, diagonal] = variances
    return matrix


def initiate(measurement):
    """A new filter at a measured box (``xyah``, (4,) or Nx4), velocities 0: mean, covariance."""
    measurement = np.asarray(measurement, dtype=np.float64)
    mean = np.concatenate([measurement, np.zeros_like(measurement)], axis=-1)
    covariance = _noise(measurement[..., 3], 2 * STD_WEIGHT_POSITION, 1e-2, 10 * STD_WEIGHT_VELOCITY)
    return mean, covariance


def predict(mean, covariance):
    """One frame ahead: ``x <- F x``, ``P <- F P F^T + Q``."""
    noise = _noise(mean[..., 3], STD_WEIGHT_POSITION, 1e-2, STD_WEIGHT_VELOCITY)
    return mean @ MOTION.T, MOTION @ covariance @ MOTION.T + noise


def project(mean, covariance):
    """The distribution in measurement space: predicted box ``H x`` and ``S = H P H^T + R``."""
    noise = _noise(mean[..., 3], STD_WEIGHT_POSITION, 1e-1)
    return mean[..., :4], covariance[..., :4, :4] + noise


def update(mean, covariance, measurement):
    """Correct with a measured box (``xyah``, one per filter)."""
    projected_mean, projected_covariance = project(mean, covariance)
    gain = np.linalg.solve(projected_covariance, covariance[..., :4, :]).swapaxes(-1, -2)   # P H^T S^-1
    innovation = np.asarray(measurement, dtype=np.float64) - projected_mean
    new_mean = mean + (gain @ innovation[..., None])[..., 0]
    return new_mean, covariance - gain @ projected_covariance @ gain.swapaxes(-1, -2)


def gating_distance(mean, covariance, measurements):
    """Squared Mahalanobis distance of each filter to each measured box.

    Parameters
    ----------
    mean : ndarray, Tx8
    covariance : ndarray, Tx8x8
    measurements : ndarray, Nx4
        Boxes, ``xyah``.

    Returns
    -------
    ndarray, TxN
        Compare with ``CHI2INV95[4]``.
    """
    projected_mean, projected_covariance = project(mean, covariance)
    difference = np.asarray(measurements, dtype=np.float64)[None, :, :] - projected_mean[:, None, :]    # TxNx4
    solved = np.linalg.solve(projected_covariance[:, None], difference[..., None])[..., 0]
    return np.einsum("tni,tni->tn", difference, solved)
