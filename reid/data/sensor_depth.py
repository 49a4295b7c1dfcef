"""What a structured-light RGB-D camera returns for a perfectly rendered depth map.

The renderer's depth is exact. ScanNet (Occipital Structure sensor) and 7-Scenes (Kinect v1) were
captured with structured-light sensors, which project a fixed infrared dot pattern from a projector a
few centimetres beside the infrared camera and measure depth from the pattern's disparity. Their
depth maps differ from the truth in ways that matter to anything that uses depth (back-projection,
depth-based masks, early fusion):

* a limited range: nothing nearer than ``min_range`` is measured, nor anything farther than
  ``max_range``;
* axial noise growing about quadratically with distance, and with the angle between the surface and
  the viewing ray, after Nguyen, Izadi & Lovell (2012), "Modeling Kinect Sensor Noise for Improved 3D
  Reconstruction and Tracking", 3DIMPVT, eq. (5)::

      sigma_z(z, theta) = 0.0012 + 0.0019 (z - 0.4)^2 + 0.0001 / sqrt(z) * theta^2 / (pi/2 - theta)^2

  in metres (z in metres, theta in radians), spatially correlated over a few pixels as the sensor
  matches the pattern in windows;
* quantisation in disparity: the sensor measures disparity in steps of 1/8 pixel of its 580 px
  (640 x 480) infrared camera with a 7.5 cm baseline, so depth comes in steps that grow as z^2
  (about 3 mm at 1 m, 46 mm at 4 m; Khoshelham & Elberink 2012, "Accuracy and Resolution of Kinect
  Depth Data for Indoor Mapping Applications", Sensors 12(2));
* holes: a ragged band along depth discontinuities; the projector's shadow, a band beside each
  foreground edge on the side away from the projector whose width is the disparity jump
  ``f * b * (1/z_fg - 1/z_bg)`` pixels; very dark (infrared-absorbing) surfaces; surfaces seen at
  grazing angles; and small random speckle holes.

:class:`StructuredLightDepth` applies all of this to one frame as a pure function of the depth map,
an optional colour image of the same view and a random generator. Instance and label images are not
touched: only depth degrades, so scoring against the rendered masks stays exact.
:func:`depth_camera_extrinsic` gives the pose of the depth camera in the colour camera's frame, for
rendering depth from where a real depth camera sits.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import cv2
import numpy as np

__all__ = ["StructuredLightDepth", "depth_camera_extrinsic", "nguyen_axial_sigma",
           "SCANNET_HORIZONTAL_FOV_DEG"]

SCANNET_HORIZONTAL_FOV_DEG = 58.0   # the focal length assumed when none is given
FAR_VALUE = 65535                   # what saturating sensors / exports write for "too far"
_NO_HIT_DEPTH = 1.0e4               # metres: stands in for "nothing hit" when looking for jumps
_MAX_EDGE_BAND_PX = 5                # edge holes reach at most this far from a jump
_MAX_THETA = np.float32(np.radians(85.0))   # the angular noise term is clipped here (it diverges at 90)


def nguyen_axial_sigma(z, theta=0.0):
    """Axial (depth) noise of a Kinect v1 after Nguyen, Izadi & Lovell (2012), eq. (5).

    Parameters
    ----------
    z : float or ndarray
        Depth along the optical axis, metres (> 0).
    theta : float or ndarray
        Angle between the surface normal and the viewing ray, radians; clipped to 85 degrees.

    Returns
    -------
    float or ndarray
        Standard deviation of the measured depth, metres.
    """
    z = np.asarray(z, dtype=np.float32)
    theta = np.minimum(np.asarray(theta, dtype=np.float32), _MAX_THETA)
    grazing = theta * theta / ((np.float32(np.pi / 2) - theta) ** 2)
    return np.float32(0.0012) + np.float32(0.0019) * (z - np.float32(0.4)) ** 2 \
        + np.float32(0.0001) * grazing / np.sqrt(z)


@dataclass
class StructuredLightDepth:
    """What a structured-light RGB-D camera (Kinect v1, PrimeSense / Structure sensor) returns for a
    perfect depth map.

    Parameters
    ----------
    min_range, max_range : float
        Metres. Measured depths nearer than ``min_range`` are lost (``invalid_value``); farther than
        ``max_range`` they are lost too (``invalid_value``, or 65535 when ``saturate_far``).
    noise_scale : float
        Multiplies the Nguyen et al. (2012) axial noise sigma (1: a typical Kinect v1).
    noise_correlation_px : float
        Standard deviation, in pixels of the output, of the Gaussian that correlates the noise
        spatially (0: independent per pixel). The noise's per-pixel sigma stays as modelled.
    baseline : float
        Projector-to-infrared-camera baseline, metres (Kinect v1: 0.075). Sets the disparity
        quantisation and the width of the projector shadow.
    native_focal_px : float
        Focal length of the sensor's infrared camera in its native pixels (Kinect v1: about 580 at
        640 x 480); with ``disparity_step_px`` it sets the quantisation, whatever the output size.
    disparity_step_px : float
        Disparity resolution in native pixels (Kinect v1: 1/8). 0 turns quantisation off.
    projector_side : int
        +1: the projector sits on the depth camera's +x side (Kinect v1, seen from the sensor), so
        shadows fall on the -x (left, smaller column) side of foreground objects; -1: the mirror.
    shadow_tolerance_px : float
        Occlusion slack in projector pixels when tracing the shadow (keeps round-off out of it).
    edge_jump : float
        Metres: a pixel whose 3 x 3 neighbourhood spans more than ``max(edge_jump,
        edge_jump_relative * z_near)`` in depth lies on a discontinuity.
    edge_jump_relative : float
        Relative part of the discontinuity threshold, so distant slanted floors are not edges.
    edge_hole_probability : float
        Chance that a pixel on a discontinuity is lost.
    edge_band_px : float
        Decay length, in pixels, of that chance away from the discontinuity:
        ``p = edge_hole_probability * exp(-distance / edge_band_px)``; bands of 1 - 3 px.
    dark_threshold : float
        Grey level (0 - 255, of the colour image as seen from the depth camera) below which a pixel
        may be lost.
    dark_hole_probability : float
        Chance of losing a black pixel; it falls linearly to 0 at ``dark_threshold``.
    grazing_start_deg, grazing_full_deg : float
        Angle between the surface normal and the viewing ray (from the depth gradient) where pixels
        start to be lost, and where they are lost with ``grazing_hole_probability``.
    grazing_hole_probability : float
        Chance of losing a pixel seen at ``grazing_full_deg`` or more.
    speckle_rate : float
        Expected number of speckle holes per pixel (each a blob of 1 - 5 px).
    invalid_value : int
        Written for pixels with no measurement.
    saturate_far : bool
        Write 65535 instead of ``invalid_value`` where the surface is beyond ``max_range`` or
        nothing was hit (some sensors and exports do). Holes (edges, shadow, dark, speckle) and
        too-near pixels stay ``invalid_value``.
    """

    min_range: float = 0.6
    max_range: float = 6.0
    noise_scale: float = 1.0
    noise_correlation_px: float = 0.7
    baseline: float = 0.075
    native_focal_px: float = 580.0
    disparity_step_px: float = 0.125
    projector_side: int = 1
    shadow_tolerance_px: float = 0.25
    edge_jump: float = 0.04
    edge_jump_relative: float = 0.04
    edge_hole_probability: float = 0.8
    edge_band_px: float = 1.0
    dark_threshold: float = 40.0
    dark_hole_probability: float = 0.9
    grazing_start_deg: float = 75.0
    grazing_full_deg: float = 88.0
    grazing_hole_probability: float = 0.9
    speckle_rate: float = 0.0005
    invalid_value: int = 0
    saturate_far: bool = False

    def __post_init__(self):
        if not 0 < self.min_range < self.max_range <= 60.0:
            raise ValueError(f"need 0 < min_range < max_range <= 60 m, got {self.min_range}, {self.max_range}")
        if self.projector_side not in (1, -1):
            raise ValueError(f"projector_side must be +1 or -1, got {self.projector_side}")
        if not 0 <= self.invalid_value <= 65535:
            raise ValueError(f"invalid_value must fit in uint16, got {self.invalid_value}")
        if not self.grazing_start_deg < self.grazing_full_deg:
            raise ValueError("grazing_start_deg must be below grazing_full_deg")
        for name in ("noise_scale", "noise_correlation_px", "baseline", "native_focal_px", "disparity_step_px",
                     "shadow_tolerance_px", "edge_jump", "edge_jump_relative", "edge_band_px", "dark_threshold",
                     "speckle_rate"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("edge_hole_probability", "dark_hole_probability", "grazing_hole_probability"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    # ------------------------------------------------------------------ public API

    @classmethod
    def sample(cls, rng, saturate_far_probability=0.0) -> "StructuredLightDepth":
        """A random but plausible sensor, so that rooms differ.

        Parameters
        ----------
        rng : numpy.random.Generator
        saturate_far_probability : float
            Chance that the sensor writes 65535 for far pixels (0 by default: readers that do not
            expect it would take 65535 for 65.5 m).
        """
        return cls(
            min_range=float(rng.uniform(0.45, 0.8)),
            max_range=float(rng.uniform(4.0, 7.0)),
            noise_scale=float(rng.uniform(0.7, 1.5)),
            noise_correlation_px=float(rng.uniform(0.0, 1.2)),
            projector_side=int(rng.choice([1, -1])),
            edge_jump=float(rng.uniform(0.03, 0.06)),
            edge_hole_probability=float(rng.uniform(0.5, 0.95)),
            edge_band_px=float(rng.uniform(0.6, 1.6)),
            dark_threshold=float(rng.uniform(25.0, 60.0)),
            dark_hole_probability=float(rng.uniform(0.6, 1.0)),
            grazing_start_deg=float(rng.uniform(70.0, 80.0)),
            grazing_hole_probability=float(rng.uniform(0.6, 1.0)),
            speckle_rate=float(rng.uniform(0.0001, 0.002)),
            saturate_far=bool(rng.random() < saturate_far_probability),
        )

    def describe(self) -> dict:
        """Plain-data settings, for a scene's ``meta.json``."""
        return {"model": "structured-light", "noise_model": "Nguyen et al. 2012", **asdict(self)}

    def __call__(self, depth, rng, rgb=None, focal_px=None) -> np.ndarray:
        """The depth image the sensor would record.

        Parameters
        ----------
        depth : ndarray, H x W float
            Perfect depth along the optical axis, metres; 0 (or non-finite) where nothing was hit.
        rng : numpy.random.Generator
            All randomness comes from it: equal states give equal outputs.
        rgb : ndarray, H' x W' x 3 uint8, optional
            Colour of the same view (ideally rendered from the depth camera's pose); resized to
            H x W if its size differs. Without it, no dark-surface holes.
        focal_px : float, optional
            Focal length of ``depth`` in its own pixels; by default that of a 58 degree horizontal
            field of view. The principal point is taken at the image centre.

        Returns
        -------
        ndarray, H x W uint16
            Millimetres; ``invalid_value`` where nothing was measured, 65535 beyond range when
            ``saturate_far``.
        """
        depth = np.asarray(depth)
        if depth.ndim != 2:
            raise ValueError(f"expected an HxW depth map, got shape {depth.shape}")
        true_depth = np.nan_to_num(depth.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
        true_depth = np.maximum(true_depth, np.float32(0.0))
        hit = true_depth > 0
        height, width = true_depth.shape
        if focal_px is None:
            focal_px = width / (2.0 * np.tan(np.radians(SCANNET_HORIZONTAL_FOV_DEG) / 2.0))
        focal_px = float(focal_px)

        theta = _incidence_angle(true_depth, focal_px)
        lost = self._lost_in_projector_shadow(true_depth, focal_px)
        keep_probability = self._keep_probability(true_depth, theta, rgb)

        # random draws, always in this order and of these sizes: deterministic per rng state
        noise = rng.standard_normal((height, width), dtype=np.float32)
        dropout_draw = rng.random((height, width), dtype=np.float32)
        lost |= dropout_draw >= keep_probability
        lost |= self._speckle_holes(rng, (height, width))

        measured = self._measured_depth(true_depth, theta, noise)
        beyond = ~hit | (measured > self.max_range)
        lost |= hit & (measured < self.min_range)

        out = np.rint(measured * np.float32(1000.0))
        np.clip(out, 0, 65534, out=out)
        out = out.astype(np.uint16)
        out[beyond] = FAR_VALUE if self.saturate_far else self.invalid_value
        out[lost] = self.invalid_value
        return out

    # ------------------------------------------------------------------ the parts

    def _measured_depth(self, true_depth, theta, unit_noise):
        """Noisy, disparity-quantised depth in metres (H x W float32; > 0 where ``true_depth > 0``)."""
        noise = _correlated(unit_noise, self.noise_correlation_px)
        sigma = np.float32(self.noise_scale) * nguyen_axial_sigma(np.maximum(true_depth, np.float32(0.05)), theta)
        noisy = true_depth + sigma * noise
        np.maximum(noisy, np.float32(1e-3), out=noisy)
        return self._quantised(noisy)

    def _quantised(self, depth):
        """Depth rounded to the sensor's disparity steps: ``z = f b / (k * step)``, integer k >= 1."""
        if self.disparity_step_px <= 0:
            return depth
        focal_baseline = np.float32(self.native_focal_px * self.baseline)
        step = np.float32(self.disparity_step_px)
        steps = np.maximum(np.rint(focal_baseline / (depth * step)), np.float32(1.0))
        return focal_baseline / (steps * step)

    def _lost_in_projector_shadow(self, true_depth, focal_px):
        """Pixels the projector's pattern cannot reach (H x W bool).

        Rows are epipolar lines (horizontal baseline). With the projector at +x, a point at column u
        and depth z appears in the projector at ``u_p = u - f b / z``; it is in shadow when a point
        to its right (u' > u) lands at a smaller ``u_p'``, i.e. lies in front of it on the
        projector's ray. The band this leaves beside a foreground edge is
        ``f b (1/z_fg - 1/z_bg)`` px wide.
        """
        inverse_depth = np.zeros_like(true_depth)
        np.divide(np.float32(1.0), true_depth, out=inverse_depth, where=true_depth > 0)
        if self.projector_side < 0:
            inverse_depth = inverse_depth[:, ::-1]     # mirror so that the projector is at +x
        columns = np.arange(true_depth.shape[1], dtype=np.float32)
        projector_u = columns - np.float32(focal_px * self.baseline) * inverse_depth
        # smallest projector column among the pixels strictly to the right of each pixel
        nearest_right = np.minimum.accumulate(projector_u[:, ::-1], axis=1)[:, ::-1]
        right_of = np.full_like(projector_u, np.inf)
        right_of[:, :-1] = nearest_right[:, 1:]
        shadow = projector_u > right_of + np.float32(self.shadow_tolerance_px)
        if self.projector_side < 0:
            shadow = shadow[:, ::-1]
        return shadow & (true_depth > 0)

    def _keep_probability(self, true_depth, theta, rgb):
        """Chance that each pixel survives edge, dark-surface and grazing-angle dropout (H x W float32).

        The three are independent, so one uniform draw per pixel decides them together.
        """
        keep = (np.float32(1.0) - self._edge_hole_probability(true_depth))
        keep *= np.float32(1.0) - self._grazing_hole_probability(theta)
        if rgb is not None:
            keep *= np.float32(1.0) - self._dark_hole_probability(rgb, true_depth.shape)
        return keep

    def _edge_hole_probability(self, true_depth):
        """Loss probability near depth discontinuities (H x W float32).

        ``edge_hole_probability * exp(-d / edge_band_px)`` at chessboard distance d (pixels) from the
        nearest discontinuity pixel, up to d = ``_MAX_EDGE_BAND_PX``; 0 beyond.
        """
        if self.edge_hole_probability <= 0:
            return np.zeros_like(true_depth)
        filled = np.where(true_depth > 0, true_depth, np.float32(_NO_HIT_DEPTH))
        square = np.ones((3, 3), np.uint8)
        nearest = cv2.erode(filled, square, borderType=cv2.BORDER_REPLICATE)
        farthest = cv2.dilate(filled, square, borderType=cv2.BORDER_REPLICATE)
        threshold = np.maximum(np.float32(self.edge_jump), np.float32(self.edge_jump_relative) * nearest)
        edge = ((farthest - nearest) > threshold).astype(np.uint8)
        # rings of growing distance by repeated dilation: count = rings + 1 - distance inside, 0 outside
        rings = int(min(_MAX_EDGE_BAND_PX, np.ceil(3.0 * self.edge_band_px)))
        count, grown = edge.copy(), edge
        for _ in range(rings):
            grown = cv2.dilate(grown, square)
            count += grown
        distance = rings - np.arange(rings + 1, dtype=np.float32)          # distance of each count >= 1
        table = np.zeros(rings + 2, np.float32)
        table[1:] = self.edge_hole_probability * np.exp(-distance / max(self.edge_band_px, 1e-3))
        return np.take(table, count)

    def _grazing_hole_probability(self, theta):
        """Loss probability from the incidence angle (H x W float32): 0 below ``grazing_start_deg``,
        rising linearly to ``grazing_hole_probability`` at ``grazing_full_deg``."""
        start, full = np.radians(self.grazing_start_deg), np.radians(self.grazing_full_deg)
        ramp = np.clip((theta - np.float32(start)) * np.float32(1.0 / (full - start)), 0.0, 1.0)
        return np.float32(self.grazing_hole_probability) * ramp

    def _dark_hole_probability(self, rgb, shape):
        """Loss probability of dark surfaces (H x W float32): ``dark_hole_probability`` for black,
        falling linearly to 0 at grey level ``dark_threshold``."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 colour image, got {rgb.dtype} {rgb.shape}")
        grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        if grey.shape != shape:
            grey = cv2.resize(grey, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
        levels = np.arange(256, dtype=np.float32)
        table = self.dark_hole_probability * np.clip(1.0 - levels / max(self.dark_threshold, 1e-6), 0.0, 1.0)
        return np.take(table.astype(np.float32), grey)

    def _speckle_holes(self, rng, shape):
        """Small random holes (H x W bool): Poisson-many seeds, half grown to 3 x 3 crosses, half to
        5 x 5 discs."""
        height, width = shape
        count = int(rng.poisson(self.speckle_rate * height * width))
        rows = rng.integers(0, height, count)
        cols = rng.integers(0, width, count)
        big = rng.random(count) < 0.5
        holes = np.zeros(shape, np.uint8)
        if count == 0:
            return holes.astype(bool)
        small_seeds = np.zeros(shape, np.uint8)
        small_seeds[rows[~big], cols[~big]] = 1
        holes[rows[big], cols[big]] = 1
        holes = cv2.dilate(holes, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
        holes |= cv2.dilate(small_seeds, cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)))
        return holes.astype(bool)


def _correlated(unit_noise, sigma_px):
    """White unit-variance noise blurred by a Gaussian of ``sigma_px`` and rescaled to unit variance."""
    if sigma_px <= 0.05:
        return unit_noise
    kernel = _gaussian_kernel(float(sigma_px))
    blurred = cv2.sepFilter2D(unit_noise, -1, kernel, kernel, borderType=cv2.BORDER_REFLECT)
    blurred *= np.float32(1.0 / float(np.sum(kernel ** 2)))    # 2D variance is (sum k^2)^2
    return blurred


@lru_cache(maxsize=16)
def _gaussian_kernel(sigma_px):
    size = 2 * int(np.ceil(2.5 * sigma_px)) + 1
    return cv2.getGaussianKernel(size, sigma_px, cv2.CV_32F)


@lru_cache(maxsize=16)
def _pixel_rays(height, width, focal_px):
    """Viewing-ray x and y slopes ((u - cx) / f, (v - cy) / f) and the ray lengths, each H x W
    float32, for a centred principal point."""
    x = (np.arange(width, dtype=np.float32) - np.float32((width - 1) / 2.0)) / np.float32(focal_px)
    y = (np.arange(height, dtype=np.float32) - np.float32((height - 1) / 2.0)) / np.float32(focal_px)
    ray_x, ray_y = np.broadcast_to(x[None, :], (height, width)), np.broadcast_to(y[:, None], (height, width))
    length = np.sqrt(ray_x * ray_x + ray_y * ray_y + np.float32(1.0))
    for array in (ray_x, ray_y, length):
        array.flags.writeable = False
    return ray_x, ray_y, length


def _incidence_angle(true_depth, focal_px):
    """Angle between surface normal and viewing ray, radians (H x W float32), from the depth gradient.

    With points ``X = z (rx, ry, 1)`` the normal is parallel to
    ``(-z_u, -z_v, z_u rx + z_v ry + z / f)`` (z_u, z_v: depth derivatives per pixel), whose dot
    product with the ray ``(rx, ry, 1)`` is ``z / f``; so
    ``cos(theta) = (z / f) / (|n| |ray|)``. Depth jumps read as grazing, which only adds to the
    edge holes.
    """
    height, width = true_depth.shape
    ray_x, ray_y, ray_length = _pixel_rays(height, width, focal_px)
    dz_du = cv2.Sobel(true_depth, cv2.CV_32F, 1, 0, ksize=3, scale=0.125, borderType=cv2.BORDER_REPLICATE)
    dz_dv = cv2.Sobel(true_depth, cv2.CV_32F, 0, 1, ksize=3, scale=0.125, borderType=cv2.BORDER_REPLICATE)
    z_over_f = true_depth * np.float32(1.0 / focal_px)
    normal_z = dz_du * ray_x + dz_dv * ray_y + z_over_f
    normal_length = np.sqrt(dz_du * dz_du + dz_dv * dz_dv + normal_z * normal_z)
    cosine = np.ones_like(true_depth)
    np.divide(z_over_f, normal_length * ray_length, out=cosine, where=normal_length > 0)
    return np.arccos(np.clip(cosine, 0.0, 1.0))


def depth_camera_extrinsic(rng=None, baseline=0.025, side=-1):
    """Pose of the depth (infrared) camera in the colour camera's frame, 4 x 4.

    Render depth from ``pose_depth_to_world = pose_color_to_world @ extrinsic`` (OpenCV axes, metres)
    with the depth camera's own intrinsics. Without ``rng`` it is a pure translation of ``baseline``
    metres along ``side`` times the colour camera's x axis. With ``rng`` the length varies by +-20%,
    a millimetre or two of y / z offset is added, and a rotation of up to 0.8 degrees about a random
    axis, as a factory calibration would find.

    Parameters
    ----------
    rng : numpy.random.Generator, optional
    baseline : float
        Colour-to-depth camera distance, metres (Kinect v1 and Structure sensor: about 0.025). Not
        the projector baseline of :class:`StructuredLightDepth`.
    side : int
        -1: the depth camera sits on the colour camera's -x side, as in a Kinect v1 (from the
        sensor's own point of view, x to its right: infrared camera, colour camera, projector);
        +1: on its +x side.

    Returns
    -------
    ndarray, 4 x 4 float64
        Depth-camera-to-colour-camera rigid transform.
    """
    if side not in (1, -1):
        raise ValueError(f"side must be +1 or -1, got {side}")
    extrinsic = np.eye(4)
    if rng is None:
        extrinsic[0, 3] = side * baseline
        return extrinsic
    extrinsic[:3, 3] = [side * baseline * rng.uniform(0.8, 1.2), rng.uniform(-0.002, 0.002),
                        rng.uniform(-0.002, 0.002)]
    axis = rng.standard_normal(3)
    axis /= np.linalg.norm(axis)
    angle = np.radians(rng.uniform(0.0, 0.8))
    rotation_vector = (axis * angle).reshape(3, 1)
    extrinsic[:3, :3] = cv2.Rodrigues(rotation_vector)[0]
    return extrinsic
