"""Constant-velocity Kalman filter of a bounding box in image space (deepSORT's model, on filterpy).

The 8-dimensional state is ``(x, y, a, h, vx, vy, va, vh)``: box centre ``(x, y)`` in pixels, aspect
ratio ``a = width / height``, height ``h`` in pixels, and their velocities per frame. Measurements
are boxes in ``xyah``. Process and measurement noise scale with the box height, as in deepSORT.
"""
import numpy as np
from filterpy.kalman import KalmanFilter as _FilterpyKalmanFilter

CHI2INV95 = {1: 3.8415, 2: 5.9915, 3: 7.8147, 4: 9.4877, 5: 11.070, 6: 12.592, 7: 14.067, 8: 15.507, 9: 16.919}
"""0.95 quantile of the chi-square distribution by degrees of freedom: the Mahalanobis gate."""

STD_WEIGHT_POSITION = 1.0 / 20
STD_WEIGHT_VELOCITY = 1.0 / 160


def initial_variances(measurement, std_weight_position=STD_WEIGHT_POSITION, std_weight_velocity=STD_WEIGHT_VELOCITY):
    """Diagonal of the covariance of a new filter started at a measured box (deepSORT's ``initiate``).

    Parameters
    ----------
    measurement : ndarray, (4,) or Nx4
        Boxes in ``xyah``.
    std_weight_position, std_weight_velocity : float

    Returns
    -------
    ndarray, (8,) or Nx8
        Variances: twice the position noise and ten times the velocity noise of the box height.
    """
    measurement = np.asarray(measurement, dtype=np.float64)
    if measurement.shape == (4,) and isinstance(std_weight_position, float) and isinstance(std_weight_velocity, float):
        # one box (a new track): the same products in Python floats, without array indexing
        height = float(measurement[3])
        position, velocity = 2 * std_weight_position * height, 10 * std_weight_velocity * height
        position, velocity = position * position, velocity * velocity
        return np.array([position, position, 1e-2 * 1e-2, position, velocity, velocity, 1e-5 * 1e-5, velocity])
    height = measurement[..., 3]
    std = np.empty(measurement.shape[:-1] + (8,))
    std[..., 0] = std[..., 1] = std[..., 3] = 2 * std_weight_position * height
    std[..., 2] = 1e-2
    std[..., 4] = std[..., 5] = std[..., 7] = 10 * std_weight_velocity * height
    std[..., 6] = 1e-5
    return np.square(std)


class KalmanFilter:
    """One box's Kalman filter: a thin wrapper of ``filterpy.kalman.KalmanFilter``.

    :mod:`tracker.kalman_batch` runs the same equations for many filters at once (the tracker uses
    it); this class is its reference.

    Parameters
    ----------
    measurement : ndarray, (4,)
        First box, ``xyah``; velocities start at 0.
    std_weight_position, std_weight_velocity : float
        Standard deviations of position and velocity noise relative to the box height.
    """

    ndim = 4

    def __init__(self, measurement, std_weight_position=STD_WEIGHT_POSITION,
                 std_weight_velocity=STD_WEIGHT_VELOCITY):
        self.std_weight_position = std_weight_position
        self.std_weight_velocity = std_weight_velocity
        measurement = np.asarray(measurement, dtype=np.float64)
        self._filter = _FilterpyKalmanFilter(dim_x=2 * self.ndim, dim_z=self.ndim)
        self._filter.F = np.eye(2 * self.ndim)
        self._filter.F[:self.ndim, self.ndim:] = np.eye(self.ndim)   # dt = 1 frame
        self._filter.H = np.eye(self.ndim, 2 * self.ndim)
        self._filter.x = np.concatenate([measurement, np.zeros(self.ndim)])
        self._filter.P = np.diag(initial_variances(measurement, std_weight_position, std_weight_velocity))

    @classmethod
    def from_state(cls, mean, covariance, std_weight_position=STD_WEIGHT_POSITION,
                   std_weight_velocity=STD_WEIGHT_VELOCITY):
        """A filter holding a given state (copied), e.g. a track's row of a
        :class:`~tracker.track_store.TrackStore`.

        Parameters
        ----------
        mean : ndarray, (8,)
        covariance : ndarray, (8, 8)
        """
        mean = np.array(mean, dtype=np.float64).reshape(2 * cls.ndim)
        kf = cls(mean[:cls.ndim], std_weight_position, std_weight_velocity)
        kf.set_state(mean, np.array(covariance, dtype=np.float64).reshape(2 * cls.ndim, 2 * cls.ndim))
        return kf

    @property
    def mean(self):
        """State mean, (8,) ``(x, y, a, h, vx, vy, va, vh)``."""
        return self._filter.x

    @property
    def covariance(self):
        """State covariance, (8, 8)."""
        return self._filter.P

    def set_state(self, mean, covariance):
        """Replace the state, e.g. by the result of a batched step (:mod:`tracker.kalman_batch`).

        Parameters
        ----------
        mean : ndarray, (8,)
        covariance : ndarray, (8, 8)
        """
        self._filter.x = mean
        self._filter.P = covariance

    def _height(self):
        # a filter may drift to a non-positive height between measurements; keep the noise sane
        return max(float(self._filter.x[3]), 1.0)

    def process_noise(self):
        """Process noise covariance Q for the current height, (8, 8)."""
        height = self._height()
        std_pos = [self.std_weight_position * height, self.std_weight_position * height, 1e-2,
                   self.std_weight_position * height]
        std_vel = [self.std_weight_velocity * height, self.std_weight_velocity * height, 1e-5,
                   self.std_weight_velocity * height]
        return np.diag(np.square(np.r_[std_pos, std_vel]))

    def measurement_noise(self):
        """Measurement noise covariance R for the current height, (4, 4)."""
        height = self._height()
        std = [self.std_weight_position * height, self.std_weight_position * height, 1e-1,
               self.std_weight_position * height]
        return np.diag(np.square(std))

    def predict(self):
        """Advance the state by one frame."""
        self._filter.predict(Q=self.process_noise())

    def project(self):
        """The state distribution in measurement space.

        Returns
        -------
        mean : ndarray, (4,)
            Predicted box, ``xyah``.
        covariance : ndarray, (4, 4)
            Its covariance including measurement noise (the innovation covariance).
        """
        mean = self._filter.H @ self._filter.x
        covariance = self._filter.H @ self._filter.P @ self._filter.H.T + self.measurement_noise()
        return mean, covariance

    def update(self, measurement):
        """Correct the state with a measured box, ``xyah`` (4,)."""
        self._filter.update(np.asarray(measurement, dtype=np.float64), R=self.measurement_noise())

    def gating_distance(self, measurements, only_position=False):
        """Squared Mahalanobis distance between the state and measurements.

        Parameters
        ----------
        measurements : ndarray, Nx4
            Boxes in ``xyah``.
        only_position : bool
            Use only the box centre (2 degrees of freedom) instead of all 4 values.

        Returns
        -------
        ndarray, (N,)
            Squared Mahalanobis distances; compare with ``CHI2INV95[4]`` (or ``[2]``).
        """
        mean, covariance = self.project()
        measurements = np.asarray(measurements, dtype=np.float64).reshape(-1, self.ndim)
        if only_position:
            mean, covariance = mean[:2], covariance[:2, :2]
            measurements = measurements[:, :2]
        cholesky = np.linalg.cholesky(covariance)
        difference = measurements - mean
        # a general solve on the 4x4 triangular factor: far cheaper per call than scipy's wrapper
        z = np.linalg.solve(cholesky, difference.T)
        return np.sum(z * z, axis=0)
