"""The Kalman filter of :mod:`tracker.kalman_filter` for many boxes at once (vectorised numpy).

The same model as :class:`tracker.kalman_filter.KalmanFilter` (deepSORT's constant-velocity ``xyah``
box, noise proportional to the box height), written for stacked states so that a frame's tracks are
predicted, gated and corrected in a few array operations instead of one filterpy call per track. The
single-track filterpy wrapper stays the reference: the array functions below reproduce its equations
(filterpy's predict, and its update with the Joseph-form covariance) and are tested against it.

State layout as in the single filter: ``(x, y, a, h, vx, vy, va, vh)``; box centre and height in
pixels, aspect ratio ``width / height``, velocities per frame. ``T`` is the number of filters.
"""
import numpy as np

from .kalman_filter import STD_WEIGHT_POSITION, STD_WEIGHT_VELOCITY, initial_variances

NDIM = 4


def tlwh_to_xyah(boxes):
    """Boxes ``(top-left x, top-left y, width, height)`` as measurements ``(centre x, centre y,
    width / height, height)``, as :meth:`Detection.to_xyah` computes them.

    Parameters
    ----------
    boxes : ndarray, Nx4
        Pixels.

    Returns
    -------
    ndarray, Nx4
    """
    xyah = np.array(boxes, dtype=np.float64).reshape(-1, NDIM)
    xyah[:, :2] += xyah[:, 2:] / 2
    xyah[:, 2] /= xyah[:, 3]
    return xyah


def _heights(mean):
    # a filter may drift to a non-positive height between measurements; keep the noise sane
    return np.maximum(mean[:, 3], 1.0)


def process_noise(mean, std_weight_position=STD_WEIGHT_POSITION, std_weight_velocity=STD_WEIGHT_VELOCITY):
    """Diagonal of the process noise covariance Q of each filter.

    Parameters
    ----------
    mean : ndarray, Tx8
        States before the prediction (their heights set the noise).
    std_weight_position, std_weight_velocity : float or ndarray (T,)
        Standard deviations of position and velocity noise relative to the box height.

    Returns
    -------
    ndarray, Tx8
        Variances: pixels squared for ``x, y, h``, squared (pixels per frame) for their velocities.
    """
    height = _heights(mean)
    std = np.empty((len(mean), 2 * NDIM))
    std[:, 0] = std[:, 1] = std[:, 3] = np.multiply(std_weight_position, height)
    std[:, 2] = 1e-2
    std[:, 4] = std[:, 5] = std[:, 7] = np.multiply(std_weight_velocity, height)
    std[:, 6] = 1e-5
    return np.square(std)


def measurement_noise(mean, std_weight_position=STD_WEIGHT_POSITION):
    """Diagonal of the measurement noise covariance R of each filter.

    Parameters
    ----------
    mean : ndarray, Tx8
        Current states (their heights set the noise).
    std_weight_position : float or ndarray (T,)

    Returns
    -------
    ndarray, Tx4
        Variances of ``x, y, h`` (pixels squared) and ``a``.
    """
    std = np.empty((len(mean), NDIM))
    std[:, 0] = std[:, 1] = std[:, 3] = np.multiply(std_weight_position, _heights(mean))
    std[:, 2] = 1e-1
    return np.square(std)


def _diagonal(matrices):
    """Writable view of the diagonals of C-contiguous stacked square matrices: TxM of TxMxM."""
    count, size = matrices.shape[:2]
    return matrices.reshape(count, size * size)[:, ::size + 1]


def _off_diagonal(matrices):
    """The off-diagonal entries of C-contiguous stacked square matrices: Tx(M-1)x(M+1) view whose
    column 0 holds the diagonal (all but the last) and the others everything else."""
    count, size = matrices.shape[:2]
    return matrices.reshape(count, size * size)[:, :-1].reshape(count, size - 1, size + 1)[:, :, 1:]


def inverse(matrices):
    """Inverses of stacked square matrices (TxMxM, C-contiguous): ``np.linalg.inv``'s result.

    The filters' innovation covariances are diagonal (every box coordinate is filtered on its own, so
    the products that build them add exact zeros off the diagonal); their inverses are then the
    reciprocals of the diagonals, the same bits LAPACK gives, at a fraction of the cost. Anything
    else goes through ``np.linalg.inv``.
    """
    if len(matrices) and matrices.shape[1] > 1 and not _off_diagonal(matrices).any():
        result = np.zeros(matrices.shape)
        _diagonal(result)[...] = 1.0 / _diagonal(matrices)
        return result
    return np.linalg.inv(matrices)


# Entries of a flattened 8x8 covariance that couple a box coordinate with itself or its velocity:
# (position, position), (position, velocity), (velocity, position), (velocity, velocity), 4 each.
_PP, _PV, _VP, _VV = slice(0, 36, 9), slice(4, 40, 9), slice(32, 60, 9), slice(36, 64, 9)
_COUPLED = np.zeros(64, dtype=bool)
for _block in (_PP, _PV, _VP, _VV):
    _COUPLED[_block] = True
_UNCOUPLED = np.flatnonzero(~_COUPLED)


def per_coordinate(covariance):
    """Whether stacked 8x8 covariances (Tx8x8) couple each box coordinate only with its own velocity.

    The filters' covariances stay so from their start (diagonal) through every prediction and
    correction (``F``, ``Q``, ``H`` and ``R`` treat the four coordinates apart): each is then four
    independent 2x2 blocks, and :func:`update` computes only those blocks.
    """
    covariance = np.asarray(covariance)
    return covariance.shape[1:] == (2 * NDIM, 2 * NDIM) and not np.ascontiguousarray(
        covariance).reshape(len(covariance), 64)[:, _UNCOUPLED].any()


def _blocks(covariance):
    """The four per-coordinate blocks' entries of C-contiguous Tx8x8 covariances: four Tx4 views."""
    flat = covariance.reshape(len(covariance), 64)
    return flat[:, _PP], flat[:, _PV], flat[:, _VP], flat[:, _VV]


def _from_blocks(position_position, position_velocity, velocity_position, velocity_velocity):
    """Tx8x8 covariances with the given per-coordinate blocks (Tx4 each) and zeros elsewhere."""
    flat = np.zeros((len(position_position), 64))
    flat[:, _PP], flat[:, _PV] = position_position, position_velocity
    flat[:, _VP], flat[:, _VV] = velocity_position, velocity_velocity
    return flat.reshape(-1, 2 * NDIM, 2 * NDIM)


def _add_to_diagonal(matrices, diagonals):
    """``matrices + diag(diagonals)`` for stacked square matrices (a new array)."""
    out = np.array(matrices, dtype=np.float64, order="C")
    _diagonal(out)[...] += diagonals
    return out


def initiate(measurements, std_weight_position=STD_WEIGHT_POSITION, std_weight_velocity=STD_WEIGHT_VELOCITY):
    """New states at measured boxes, velocities 0 (the start of :class:`KalmanFilter`).

    Parameters
    ----------
    measurements : ndarray, Tx4
        Boxes in ``xyah``.
    std_weight_position, std_weight_velocity : float

    Returns
    -------
    mean : ndarray, Tx8
    covariance : ndarray, Tx8x8
        Diagonal: :func:`tracker.kalman_filter.initial_variances`.
    """
    measurements = np.asarray(measurements, dtype=np.float64).reshape(-1, NDIM)
    mean = np.zeros((len(measurements), 2 * NDIM))
    mean[:, :NDIM] = measurements
    covariance = np.zeros((len(measurements), 2 * NDIM, 2 * NDIM))
    _diagonal(covariance)[...] = initial_variances(measurements, std_weight_position, std_weight_velocity)
    return mean, covariance


def predict(mean, covariance, std_weight_position=STD_WEIGHT_POSITION, std_weight_velocity=STD_WEIGHT_VELOCITY):
    """Advance every state by one frame: ``x <- F x``, ``P <- F P F^T + Q``.

    ``F`` adds the velocities to the box (dt = 1 frame); the sums are formed in the same order as
    filterpy's ``dot(dot(F, P), F.T) + Q``, so the results match its predict.

    Parameters
    ----------
    mean : ndarray, Tx8
    covariance : ndarray, Tx8x8
    std_weight_position, std_weight_velocity : float or ndarray (T,)

    Returns
    -------
    mean : ndarray, Tx8
    covariance : ndarray, Tx8x8
        New arrays; the inputs are not modified.
    """
    mean = np.asarray(mean, dtype=np.float64)
    covariance = np.asarray(covariance, dtype=np.float64)
    noise = process_noise(mean, std_weight_position, std_weight_velocity)
    predicted = mean.copy()
    predicted[:, :NDIM] += mean[:, NDIM:]
    f_p = covariance.copy()                                   # F P: position rows gain velocity rows
    f_p[:, :NDIM, :] += covariance[:, NDIM:, :]
    f_p_ft = f_p.copy()                                       # (F P) F^T: the same for the columns
    f_p_ft[:, :, :NDIM] += f_p[:, :, NDIM:]
    _diagonal(f_p_ft)[...] += noise                            # + Q
    return predicted, f_p_ft


def project(mean, covariance, std_weight_position=STD_WEIGHT_POSITION):
    """The state distributions in measurement space.

    Parameters
    ----------
    mean : ndarray, Tx8
    covariance : ndarray, Tx8x8
    std_weight_position : float or ndarray (T,)

    Returns
    -------
    mean : ndarray, Tx4
        Predicted boxes, ``xyah``.
    covariance : ndarray, Tx4x4
        Innovation covariances ``H P H^T + R``.
    """
    mean = np.asarray(mean, dtype=np.float64)
    covariance = np.asarray(covariance, dtype=np.float64)
    return mean[:, :NDIM].copy(), _add_to_diagonal(covariance[:, :NDIM, :NDIM],
                                                    measurement_noise(mean, std_weight_position))


def update(mean, covariance, measurement, std_weight_position=STD_WEIGHT_POSITION):
    """Correct each state with its measured box (filterpy's update, Joseph-form covariance).

    Parameters
    ----------
    mean : ndarray, Tx8
    covariance : ndarray, Tx8x8
    measurement : ndarray, Tx4
        One box per filter, ``xyah``.
    std_weight_position : float or ndarray (T,)

    Returns
    -------
    mean : ndarray, Tx8
    covariance : ndarray, Tx8x8
        New arrays; the inputs are not modified.
    """
    mean = np.asarray(mean, dtype=np.float64)
    covariance = np.ascontiguousarray(covariance, dtype=np.float64)
    measurement = np.asarray(measurement, dtype=np.float64).reshape(-1, NDIM)
    noise = measurement_noise(mean, std_weight_position)
    innovation = measurement - mean[:, :NDIM]                                   # y = z - H x
    if len(covariance) and per_coordinate(covariance):
        return _update_per_coordinate(mean, covariance, innovation, noise)
    p_ht = covariance[:, :, :NDIM]                                              # P H^T, Tx8x4
    innovation_covariance = _add_to_diagonal(p_ht[:, :NDIM, :], noise)         # S = H P H^T + R
    gain = np.matmul(p_ht, inverse(innovation_covariance))                    # K = P H^T S^-1
    corrected = mean + np.matmul(gain, innovation[:, :, None])[:, :, 0]
    i_kh = np.zeros(covariance.shape)                                          # I - K H
    i_kh[:, :, :NDIM] = -gain
    _diagonal(i_kh)[...] += 1.0
    k_r = gain * noise[:, None, :]                                              # K R (R diagonal)
    corrected_covariance = (np.matmul(np.matmul(i_kh, covariance), i_kh.transpose(0, 2, 1))
                            + np.matmul(k_r, gain.transpose(0, 2, 1)))
    return corrected, corrected_covariance


def _update_per_coordinate(mean, covariance, innovation, noise):
    """:func:`update` for covariances of independent coordinates (:func:`per_coordinate`).

    Per coordinate, with the block ``[[pp, pv], [vp, vv]]``, ``s = pp + r`` and the gains
    ``k = pp / s``, ``g = vp / s``: the products of :func:`update`'s general path reduced to their
    non-zero terms, formed in the same order (tested to give the same bits).
    """
    pp, pv, vp, vv = _blocks(covariance)
    inverse_innovation = 1.0 / (pp + noise)                                    # S^-1 (diagonal)
    position_gain, velocity_gain = pp * inverse_innovation, vp * inverse_innovation
    corrected = np.empty_like(mean)
    corrected[:, :NDIM] = mean[:, :NDIM] + position_gain * innovation
    corrected[:, NDIM:] = mean[:, NDIM:] + velocity_gain * innovation
    keep = 1.0 - position_gain                                                  # I - K H, Joseph form
    ikh_p_pp, ikh_p_pv = keep * pp, keep * pv                                   # (I - K H) P
    ikh_p_vp, ikh_p_vv = -velocity_gain * pp + vp, -velocity_gain * pv + vv
    k_r_position, k_r_velocity = position_gain * noise, velocity_gain * noise  # K R
    return corrected, _from_blocks(
        ikh_p_pp * keep + k_r_position * position_gain,
        (ikh_p_pp * -velocity_gain + ikh_p_pv) + k_r_position * velocity_gain,
        ikh_p_vp * keep + k_r_velocity * position_gain,
        (ikh_p_vp * -velocity_gain + ikh_p_vv) + k_r_velocity * velocity_gain)


def gating_distance(mean, covariance, measurements, std_weight_position=STD_WEIGHT_POSITION, only_position=False):
    """Squared Mahalanobis distance between every state and every measurement.

    Parameters
    ----------
    mean : ndarray, Tx8
    covariance : ndarray, Tx8x8
    measurements : ndarray, Nx4
        Boxes in ``xyah``.
    std_weight_position : float or ndarray (T,)
    only_position : bool
        Use only the box centre (2 degrees of freedom) instead of all 4 values.

    Returns
    -------
    ndarray, TxN
        Squared distances; compare with ``CHI2INV95[4]`` (or ``[2]``).
    """
    measurements = np.asarray(measurements, dtype=np.float64).reshape(-1, NDIM)
    projected_mean, projected_covariance = project(mean, covariance, std_weight_position)
    if only_position:
        projected_mean, projected_covariance = projected_mean[:, :2], projected_covariance[:, :2, :2]
        measurements = measurements[:, :2]
    if not len(projected_mean) or not len(measurements):
        return np.zeros((len(projected_mean), len(measurements)))
    projected_covariance = np.ascontiguousarray(projected_covariance)
    difference = measurements.T[None, :, :] - projected_mean[:, :, None]       # TxdxN
    if not _off_diagonal(projected_covariance).any():
        # diagonal covariances (the filters' own): L^-1 is diag(1 / sqrt(s)), the same bits as below
        z = (1.0 / np.sqrt(_diagonal(projected_covariance)))[:, :, None] * difference
        return np.sum(z * z, axis=1)
    cholesky = np.linalg.cholesky(projected_covariance)
    # z = L^-1 d; inverting the small triangular factor once is faster than a solve per right-hand side
    z = np.matmul(np.linalg.inv(cholesky), difference)                        # TxdxN
    return np.sum(z * z, axis=1)


def pair_gating_distance(mean, covariance, measurements, std_weight_position=STD_WEIGHT_POSITION):
    """Squared Mahalanobis distance of P (state, measurement) pairs: :func:`gating_distance`'s entries
    for those pairs only (the same bits), without the other T x N entries.

    Parameters
    ----------
    mean : ndarray, Px8
        The state of each pair's filter (a filter may appear in several pairs).
    covariance : ndarray, Px8x8
    measurements : ndarray, Px4
        Each pair's box, ``xyah``.
    std_weight_position : float or ndarray (P,)

    Returns
    -------
    ndarray, (P,)
    """
    measurements = np.asarray(measurements, dtype=np.float64).reshape(-1, NDIM)
    if not len(measurements):
        return np.zeros(0)
    projected_mean, projected_covariance = project(mean, covariance, std_weight_position)
    projected_covariance = np.ascontiguousarray(projected_covariance)
    difference = measurements - projected_mean                                      # Px4
    if _off_diagonal(projected_covariance).any():                  # coupled: gating_distance's general path
        z = np.matmul(np.linalg.inv(np.linalg.cholesky(projected_covariance)), difference[:, :, None])[:, :, 0]
        return np.sum(z * z, axis=1)
    z = (1.0 / np.sqrt(_diagonal(projected_covariance))) * difference
    z = z * z
    return ((z[:, 0] + z[:, 1]) + z[:, 2]) + z[:, 3]        # in the order gating_distance's sum adds them


# ---------------------------------------------------------------------------- lists of filters
def _stack(filters):
    """States and position-noise weights of the filters: Tx8, Tx8x8, (T,)."""
    mean = np.array([f.mean for f in filters], dtype=np.float64)
    covariance = np.array([f.covariance for f in filters], dtype=np.float64)
    return mean, covariance, np.array([f.std_weight_position for f in filters], dtype=np.float64)


def _scatter(filters, mean, covariance):
    """Give each filter its row of the new states (rows of fresh arrays: no filter shares memory)."""
    for f, m, c in zip(filters, mean, covariance):
        f.set_state(m, c)


def predict_filters(filters):
    """:meth:`KalmanFilter.predict` of each filter, computed in one batch.

    Parameters
    ----------
    filters : list of KalmanFilter
        Their states are replaced by the predicted ones.
    """
    if not filters:
        return
    mean, covariance, position = _stack(filters)
    velocity = np.array([f.std_weight_velocity for f in filters], dtype=np.float64)
    _scatter(filters, *predict(mean, covariance, position, velocity))


def update_filters(filters, measurements):
    """:meth:`KalmanFilter.update` of each filter with its own box, computed in one batch.

    Parameters
    ----------
    filters : list of KalmanFilter
        Their states are replaced by the corrected ones.
    measurements : ndarray, Tx4
        One box per filter, ``xyah``.
    """
    if not filters:
        return
    mean, covariance, position = _stack(filters)
    _scatter(filters, *update(mean, covariance, measurements, position))


def gating_distance_filters(filters, measurements, only_position=False):
    """:meth:`KalmanFilter.gating_distance` of each filter, computed in one batch.

    Parameters
    ----------
    filters : list of KalmanFilter
    measurements : ndarray, Nx4
        Boxes in ``xyah``.
    only_position : bool

    Returns
    -------
    ndarray, TxN
        Squared Mahalanobis distances, one row per filter.
    """
    measurements = np.asarray(measurements, dtype=np.float64).reshape(-1, NDIM)
    if not filters:
        return np.zeros((0, len(measurements)))
    mean, covariance, position = _stack(filters)
    return gating_distance(mean, covariance, measurements, position, only_position)
