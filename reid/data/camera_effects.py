"""Camera and light models for generated scenes, drawn from named style families.

The renderer gives perfectly sharp, clean frames under one fixed light. Real captures are not like
that: lenses defocus and vignette, a moving hand-held camera smears the image during the exposure,
the sensor adds photon (shot) and read noise that grow with the gain, and the colour frames are
stored as JPEGs of some quality. Rooms are also lit differently: a warm evening lamp from the side,
cool daylight from a window, neutral ceiling lights.

This module models both sides:

* :class:`CameraEffects` applies lens and sensor effects to a rendered HxWx3 uint8 RGB frame
  (:meth:`CameraEffects.apply`), in linear light, with OpenCV and float32 so that a 320x240 frame
  takes a few milliseconds. :func:`image_motion` gives the image-space motion between two camera
  poses that drives the motion blur.
* :class:`Lighting` holds the light of a scene as pybullet's ``getCameraImage`` takes it
  (:meth:`Lighting.pybullet_kwargs`).
* :data:`CAMERA_PRESETS` and :data:`LIGHT_PRESETS` are named families of parameter ranges;
  :data:`CAMERA_SPLITS` and :data:`LIGHT_SPLITS` split each into disjoint ``"train"`` and ``"val"``
  halves by name, so that validation rooms are seen through cameras and lights that no training
  room used. :func:`sample_camera` and :func:`sample_lighting` draw a family of the requested half
  and then settings from its ranges, deterministically for a given ``numpy.random.Generator`` state.

Conventions: poses are 4x4 camera-to-world with OpenCV axes (x right, y down, z forward), metres;
intrinsics are 3x3 in pixels (see :mod:`reid.data.geometry`). Pixel values are sRGB-like with the
project's gamma of 2.2 (:data:`reid.data.camera_response.GAMMA`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Optional, Tuple

import cv2
import numpy as np

from .camera_response import GAMMA
from .geometry import project

__all__ = [
    "CameraEffects", "Lighting", "CameraPreset", "LightPreset", "CAMERA_PRESETS", "LIGHT_PRESETS",
    "CAMERA_SPLITS", "LIGHT_SPLITS", "sample_camera", "sample_lighting", "image_motion",
    "colour_temperature_rgb", "fit_aspect",
]

Range = Tuple[float, float]

#: Longest motion-blur streak applied, pixels (longer image motion is clipped to it).
MAX_MOTION_BLUR_PX = 48.0
#: Depth at which the defocus of a depth-dependent lens is evaluated when no depth map is given, metres.
TYPICAL_DEPTH_M = 2.0
#: Largest kernel side that ``cv2.filter2D`` applies directly (larger ones go through a slower DFT).
_DIRECT_KERNEL_SIDE = 11

# uint8 value -> linear light, and linear light (indexed by sqrt(linear) in 16 bits) -> uint8 value.
_TO_LINEAR = ((np.arange(256, dtype=np.float64) / 255.0) ** GAMMA).astype(np.float32)
_SQRT_STEPS = 65535
_FROM_SQRT_LINEAR = np.round(
    (np.arange(_SQRT_STEPS + 1, dtype=np.float64) / _SQRT_STEPS) ** (2.0 / GAMMA) * 255.0).astype(np.uint8)
_LUMA = (0.2126, 0.7152, 0.0722)   # Rec. 709 luminance weights


# --------------------------------------------------------------------------------------------------
# linear light
# --------------------------------------------------------------------------------------------------

def to_linear(rgb: np.ndarray) -> np.ndarray:
    """uint8 image -> linear light.

    Parameters
    ----------
    rgb : ndarray, H x W x C uint8

    Returns
    -------
    ndarray, H x W x C float32 in [0, 1]
    """
    return cv2.LUT(rgb, _TO_LINEAR)


def from_linear(linear: np.ndarray) -> np.ndarray:
    """Linear light -> uint8 image (the inverse of :func:`to_linear`, exact on its values).

    Parameters
    ----------
    linear : ndarray, H x W x C float32
        Clipped to [0, 1] in place.

    Returns
    -------
    ndarray, H x W x C uint8
    """
    np.clip(linear, 0.0, 1.0, out=linear)
    # index a table by sqrt(linear) in 16 bits: fine steps in the shadows, where gamma needs them
    index = cv2.sqrt(linear)
    index *= _SQRT_STEPS
    index += 0.5
    return np.take(_FROM_SQRT_LINEAR, index.astype(np.uint16))


# --------------------------------------------------------------------------------------------------
# kernels and maps
# --------------------------------------------------------------------------------------------------

@lru_cache(maxsize=64)
def disc_kernel(radius_px: float) -> np.ndarray:
    """Normalised anti-aliased disc (pillbox) kernel: the defocus of a circular aperture.

    Parameters
    ----------
    radius_px : float
        Circle-of-confusion radius in pixels.

    Returns
    -------
    ndarray, (2k+1) x (2k+1) float32, k = ceil(radius), summing to 1 (read-only, cached)
    """
    half = max(1, int(math.ceil(radius_px)))
    y, x = np.mgrid[-half:half + 1, -half:half + 1]
    kernel = np.clip(radius_px + 0.5 - np.hypot(x, y), 0.0, 1.0).astype(np.float32)
    kernel /= kernel.sum()
    kernel.flags.writeable = False
    return kernel


def line_kernel(dx: float, dy: float) -> np.ndarray:
    """Normalised anti-aliased line kernel: a uniform streak centred on the pixel.

    Parameters
    ----------
    dx, dy : float
        Streak extent in pixels (column, row); the streak runs from -(dx, dy)/2 to +(dx, dy)/2.

    Returns
    -------
    ndarray, (2k+1) x (2k+1) float32, summing to 1
    """
    half = int(math.ceil(max(abs(dx), abs(dy)) / 2.0)) + 1
    side = 2 * half + 1
    samples = max(2, int(math.ceil(2.0 * math.hypot(dx, dy))) + 1)
    t = np.linspace(-0.5, 0.5, samples)
    x, y = half + t * dx, half + t * dy
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    kernel = np.zeros((side, side), np.float64)
    for ox, oy, weight in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                           (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(kernel, (y0 + oy, x0 + ox), weight)
    return (kernel / kernel.sum()).astype(np.float32)


@lru_cache(maxsize=32)
def vignette_map(width: int, height: int, strength: float) -> np.ndarray:
    """Relative illumination of the image plane: 1 at the centre, ``1 - strength`` in the corners.

    The falloff follows the cos^4 law of a lens whose corners sit 45 degrees off axis,
    ``cos^4(atan(r))`` with ``r`` the distance from the centre over the half diagonal, rescaled so
    that the corners get exactly ``1 - strength``.

    Parameters
    ----------
    width, height : int
        Image size in pixels.
    strength : float
        Corner darkening in [0, 1).

    Returns
    -------
    ndarray, H x W x 3 float32 (read-only, cached per (width, height, strength))
    """
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = np.hypot(x - (width - 1) / 2.0, y - (height - 1) / 2.0) / math.hypot((width - 1) / 2.0, (height - 1) / 2.0)
    cos4 = 1.0 / (1.0 + r ** 2) ** 2
    corner = 0.25                                   # cos^4(45 degrees)
    falloff = (1.0 - cos4) / (1.0 - corner)         # 0 at the centre, 1 in the corners
    gain = (1.0 - strength * falloff).astype(np.float32)
    gain = np.repeat(gain[:, :, None], 3, axis=2)
    gain.flags.writeable = False
    return gain


# --------------------------------------------------------------------------------------------------
# effects on linear float32 images (H x W x 3)
# --------------------------------------------------------------------------------------------------

def _shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Image translated by (dx, dy) pixels, bilinear, borders reflected."""
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT101)


def disc_blur(linear: np.ndarray, radius_px: float) -> np.ndarray:
    """Defocus with a uniform circle of confusion of ``radius_px`` (no-op below 0.25 px)."""
    if radius_px < 0.25:
        return linear
    return cv2.filter2D(linear, -1, disc_kernel(round(float(radius_px), 2)), borderType=cv2.BORDER_REFLECT101)


def motion_blur(linear: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Uniform streak of extent (dx, dy) pixels, centred (no-op below half a pixel).

    Short streaks use one direct ``cv2.filter2D``; long ones a box built by repeated doubling
    (``log2`` of the length in shifted-and-averaged copies), which costs far less than the DFT
    that ``filter2D`` would switch to.
    """
    length = math.hypot(dx, dy)
    if length < 0.5:
        return linear
    if 2 * (int(math.ceil(max(abs(dx), abs(dy)) / 2.0)) + 1) + 1 <= _DIRECT_KERNEL_SIDE:
        return cv2.filter2D(linear, -1, line_kernel(dx, dy), borderType=cv2.BORDER_REFLECT101)
    stages = int(math.ceil(math.log2(length + 1.0)))
    samples = 2 ** stages                           # samples at spacing length / (samples - 1) <= 1 px
    step_x, step_y = dx / (samples - 1), dy / (samples - 1)
    out = linear
    for stage in range(stages):
        scale = float(2 ** stage)
        out = cv2.addWeighted(out, 0.5, _shift(out, scale * step_x, scale * step_y), 0.5, 0.0)
    return _shift(out, -dx / 2.0, -dy / 2.0)       # the samples ran from 0 to (dx, dy): centre them


def lateral_chromatic_aberration(linear: np.ndarray, corner_shift_px: float) -> np.ndarray:
    """Red magnified and blue shrunk about the image centre, by ``corner_shift_px`` at the corners."""
    if corner_shift_px < 0.05:
        return linear
    height, width = linear.shape[:2]
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    relative = corner_shift_px / math.hypot(cx, cy)
    red, green, blue = cv2.split(linear)
    channels = [red, green, blue]
    for index, scale in ((0, 1.0 + relative), (2, 1.0 - relative)):
        matrix = np.float32([[scale, 0, (1 - scale) * cx], [0, scale, (1 - scale) * cy]])
        channels[index] = cv2.warpAffine(channels[index], matrix, (width, height), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_REFLECT101)
    return cv2.merge(channels)


def _standard_normal(rng: np.random.Generator, shape) -> np.ndarray:
    """float32 standard normal noise of ``shape``, seeded from ``rng`` (OpenCV's generator: ~5x numpy's speed).

    Re-seeds the calling thread's OpenCV RNG (``cv2.setRNGSeed``).
    """
    cv2.setRNGSeed(int(rng.integers(0, 2 ** 31 - 1)))
    noise = np.empty((int(np.prod(shape)), 1), np.float32)   # one channel: cv2's scalar std covers channel 0 only
    cv2.randn(noise, 0.0, 1.0)
    return noise.reshape(shape)


# --------------------------------------------------------------------------------------------------
# camera
# --------------------------------------------------------------------------------------------------

@dataclass
class CameraEffects:
    """Lens and sensor effects of one camera, applied to rendered frames.

    The defaults are an ideal camera (sharp, noiseless, no falloff); :meth:`apply` then returns the
    frame unchanged.

    Parameters
    ----------
    defocus_radius_px : float
        Circle-of-confusion radius in pixels; 0 is sharp. Without ``focus_distance_m`` the whole frame
        gets it. With a focus distance it is the radius far away (at infinity), and a point at depth
        ``z`` gets ``defocus_radius_px * |1 - focus_distance_m / z|`` (thin lens), up to twice that
        radius for near points: sharp at the focus distance, blurrier away from it.
    focus_distance_m : float or None
        Focus distance in metres for depth-dependent defocus (needs the depth map in :meth:`apply`;
        without one the radius at :data:`TYPICAL_DEPTH_M` is used everywhere).
    exposure_fraction : float
        Share of the frame interval the shutter is open, in (0, 1]: the motion-blur streak is this
        share of the image motion over one frame interval (:func:`image_motion`).
    full_well_e : float or None
        Electrons collected at full scale (linear signal 1) at gain 1; None is a noiseless sensor.
        The shot noise of a linear signal ``s`` at gain ``g`` has standard deviation
        ``sqrt(s * g / full_well_e)``.
    read_noise_e : float
        Read noise in electrons (standard deviation ``read_noise_e * g / full_well_e``): the noise
        floor of dark regions.
    gain : float
        Analog gain (ISO over base ISO), >= 1: fewer photons per output level, so more noise. It does
        not change the brightness (the exposure is assumed to have been set for it).
    chroma_noise : float
        Share of the noise that is independent per channel (coloured speckle), in [0, 1]; the rest is
        common to the three channels (luminance grain). Each channel keeps its full noise level.
    vignetting : float
        Corner darkening in [0, 1): the corners get ``1 - vignetting`` of the centre's light, with a
        cos^4-like falloff (:func:`vignette_map`).
    chromatic_aberration_px : float
        Lateral chromatic aberration: red shifted outwards and blue inwards by this many pixels in the
        corners, proportionally to the distance from the centre.
    native_scale : float
        The sensor's resolution relative to the frame written, in (0, 1]: below 1 the frame is
        recorded at that fraction of its size and scaled up to it (a low-resolution sensor or video
        mode behind an upscaling pipeline), after the noise, so noise and detail both come out soft.
    jpeg_quality : int
        JPEG quality (1-100) the colour frames are to be written with (the generator applies it).
    """

    defocus_radius_px: float = 0.0
    focus_distance_m: Optional[float] = None
    exposure_fraction: float = 0.5
    full_well_e: Optional[float] = None
    read_noise_e: float = 0.0
    gain: float = 1.0
    chroma_noise: float = 0.0
    vignetting: float = 0.0
    chromatic_aberration_px: float = 0.0
    jpeg_quality: int = 95
    native_scale: float = 1.0

    def __post_init__(self):
        checks = (
            (self.defocus_radius_px >= 0, "defocus_radius_px must be >= 0"),
            (self.focus_distance_m is None or self.focus_distance_m > 0, "focus_distance_m must be > 0 or None"),
            (0 < self.exposure_fraction <= 1, "exposure_fraction must be in (0, 1]"),
            (self.full_well_e is None or self.full_well_e > 0, "full_well_e must be > 0 or None"),
            (self.read_noise_e >= 0, "read_noise_e must be >= 0"),
            (self.gain >= 1, "gain must be >= 1"),
            (0 <= self.chroma_noise <= 1, "chroma_noise must be in [0, 1]"),
            (0 <= self.vignetting < 1, "vignetting must be in [0, 1)"),
            (self.chromatic_aberration_px >= 0, "chromatic_aberration_px must be >= 0"),
            (1 <= int(self.jpeg_quality) <= 100, "jpeg_quality must be in 1..100"),
            (0 < self.native_scale <= 1, "native_scale must be in (0, 1]"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(f"{message}, got {self!r}")
        self.jpeg_quality = int(self.jpeg_quality)

    def describe(self) -> dict:
        """Plain-data settings, for a scene's ``meta.json``."""
        settings = {key: (round(value, 4) if isinstance(value, float) else value)
                    for key, value in asdict(self).items()}
        return {"model": "camera-effects", **settings}

    def noise_std(self, linear_signal, gain_scale: float = 1.0):
        """Standard deviation of the sensor noise at a linear signal level.

        Parameters
        ----------
        linear_signal : float or ndarray
            Linear light in [0, 1].
        gain_scale : float
            Extra gain on top of :attr:`gain` (see :meth:`apply`).

        Returns
        -------
        float or ndarray, linear-light units (0 for a noiseless sensor)
        """
        if self.full_well_e is None:
            return np.zeros_like(np.asarray(linear_signal, dtype=np.float32))
        electrons_per_unit = self.full_well_e / (self.gain * gain_scale)
        return np.sqrt(np.maximum(linear_signal, 0.0) / electrons_per_unit
                       + (self.read_noise_e / electrons_per_unit) ** 2)

    def defocus_radius_at(self, depth_m):
        """Circle-of-confusion radius in pixels at a depth (0 or non-finite: far away).

        Parameters
        ----------
        depth_m : float or ndarray
            Depth along the optical axis, metres.

        Returns
        -------
        float32 ndarray of the shape of ``depth_m``, pixels
        """
        radius = np.float32(self.defocus_radius_px)
        depth_m = np.asarray(depth_m, dtype=np.float32)
        if self.focus_distance_m is None:
            return np.full(depth_m.shape, radius, np.float32)
        valid = np.isfinite(depth_m) & (depth_m > 0)
        inverse = np.divide(np.float32(self.focus_distance_m), depth_m, out=np.zeros_like(depth_m), where=valid)
        return np.minimum(radius * np.abs(1.0 - inverse), 2.0 * radius).astype(np.float32)

    def apply(self, rgb: np.ndarray, rng: np.random.Generator, motion_px=None, depth=None,
              gain_scale: float = 1.0) -> np.ndarray:
        """A rendered frame as this camera records it.

        In linear light: lateral chromatic aberration, defocus, motion blur, vignetting, then sensor
        noise (the only random part: drawn from ``rng``, so the result is deterministic for a given
        ``rng`` state), then the sensor's resolution (:attr:`native_scale`); then back to uint8. JPEG compression is left to the writer
        (:attr:`jpeg_quality`).

        Parameters
        ----------
        rgb : ndarray, H x W x 3 uint8
            Rendered RGB frame.
        rng : numpy.random.Generator
            Source of the noise (one draw per frame with noise on, none otherwise).
        motion_px : (float, float) or None
            Image-space motion (dx, dy) in pixels over one frame interval, e.g. from
            :func:`image_motion`; the streak is ``exposure_fraction`` of it, at most
            :data:`MAX_MOTION_BLUR_PX`. None: no motion blur.
        depth : ndarray, H x W float, optional
            Depth in metres aligned with ``rgb`` (0: no hit, treated as far), for depth-dependent
            defocus; only used with ``focus_distance_m``.
        gain_scale : float
            Extra gain on top of :attr:`gain`, e.g. the exposure gain an auto-exposure applied to this
            frame (a darker room needs more gain, so it gets more noise). Only scales the noise.

        Returns
        -------
        ndarray, H x W x 3 uint8
        """
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 image, got {rgb.dtype} {rgb.shape}")
        if gain_scale <= 0:
            raise ValueError(f"gain_scale must be > 0, got {gain_scale}")
        height, width = rgb.shape[:2]
        streak = self._streak(motion_px)
        if (self.defocus_radius_px < 0.25 and streak is None and self.vignetting == 0
                and self.chromatic_aberration_px < 0.05 and self.full_well_e is None and self.native_scale >= 1):
            return rgb.copy()
        linear = to_linear(np.ascontiguousarray(rgb))
        linear = lateral_chromatic_aberration(linear, self.chromatic_aberration_px)
        linear = self._defocus(linear, depth)
        if streak is not None:
            linear = motion_blur(linear, *streak)
        if self.vignetting > 0:
            linear = cv2.multiply(linear, vignette_map(width, height, round(float(self.vignetting), 4)))
        if self.full_well_e is not None:
            linear = self._add_noise(linear, rng, gain_scale)
        if self.native_scale < 1:
            small = (max(1, round(width * self.native_scale)), max(1, round(height * self.native_scale)))
            linear = cv2.resize(cv2.resize(linear, small, interpolation=cv2.INTER_AREA), (width, height),
                                interpolation=cv2.INTER_LINEAR)
        return from_linear(linear)

    def _streak(self, motion_px):
        """The motion-blur streak (dx, dy) in pixels for a frame's motion, or None when negligible."""
        if motion_px is None:
            return None
        dx, dy = (float(v) * self.exposure_fraction for v in motion_px)
        length = math.hypot(dx, dy)
        if not math.isfinite(length) or length < 0.5:
            return None
        if length > MAX_MOTION_BLUR_PX:
            dx, dy = dx * MAX_MOTION_BLUR_PX / length, dy * MAX_MOTION_BLUR_PX / length
        return dx, dy

    def _defocus(self, linear: np.ndarray, depth) -> np.ndarray:
        radius = self.defocus_radius_px
        if radius < 0.25:
            return linear
        if self.focus_distance_m is None:
            return disc_blur(linear, radius)
        if depth is None:
            return disc_blur(linear, float(self.defocus_radius_at(TYPICAL_DEPTH_M)))
        depth = np.asarray(depth)
        if depth.shape != linear.shape[:2]:
            raise ValueError(f"depth must be {linear.shape[:2]} to match the image, got {depth.shape}")
        # blend a sharp, a radius-r and a radius-2r copy by each pixel's circle of confusion
        level = self.defocus_radius_at(depth) / np.float32(radius)          # H x W in [0, 2]
        near = disc_blur(linear, radius)
        far = disc_blur(linear, 2.0 * radius)
        to_near = np.clip(level, 0.0, 1.0)[:, :, None]
        to_far = np.clip(level - 1.0, 0.0, 1.0)[:, :, None]
        out = linear + to_near * (near - linear)
        out += to_far * (far - near)
        return out

    def _add_noise(self, linear: np.ndarray, rng: np.random.Generator, gain_scale: float) -> np.ndarray:
        electrons_per_unit = self.full_well_e / (self.gain * gain_scale)
        variance = np.maximum(linear, 0.0) * np.float32(1.0 / electrons_per_unit)
        variance += np.float32((self.read_noise_e / electrons_per_unit) ** 2)
        std = cv2.sqrt(variance)
        height, width = linear.shape[:2]
        chroma = float(self.chroma_noise)
        if chroma >= 1.0:
            unit = _standard_normal(rng, (height, width, 3))
        else:
            common = _standard_normal(rng, (height, width))
            unit = cv2.merge([common, common, common])
            if chroma > 0.0:
                unit = cv2.addWeighted(unit, math.sqrt(1.0 - chroma ** 2),
                                       _standard_normal(rng, (height, width, 3)), chroma, 0.0)
        return linear + cv2.multiply(std, unit)


def image_motion(prev_pose: np.ndarray, pose: np.ndarray, intrinsic: np.ndarray, size, depth_m: float = 2.0):
    """Image-space motion over one frame interval, for motion blur.

    Points at ``depth_m`` in front of the previous camera, under the image centre and four points
    halfway to the corners, are projected into the current camera; their mean displacement is the
    motion of the image content.

    Parameters
    ----------
    prev_pose, pose : ndarray, 4x4
        Camera-to-world poses (OpenCV axes) of the previous and the current frame.
    intrinsic : ndarray, 3x3 or 4x4
        Pixel intrinsics.
    size : (int, int)
        (W, H) in pixels.
    depth_m : float
        Typical scene depth in metres (parallax of translation shrinks with depth; rotation does not
        depend on it).

    Returns
    -------
    (float, float)
        (dx, dy) in pixels; (0, 0) when no sample point stays in front of the camera.
    """
    width, height = size
    k = np.asarray(intrinsic, dtype=np.float64)
    u = (width - 1) / 2.0 + np.array([0.0, -0.25, 0.25, -0.25, 0.25]) * width
    v = (height - 1) / 2.0 + np.array([0.0, -0.25, -0.25, 0.25, 0.25]) * height
    camera_points = np.stack([(u - k[0, 2]) / k[0, 0] * depth_m, (v - k[1, 2]) / k[1, 1] * depth_m,
                              np.full(5, float(depth_m))], axis=1)
    prev_pose = np.asarray(prev_pose, dtype=np.float64)
    world = camera_points @ prev_pose[:3, :3].T + prev_pose[:3, 3]
    uv, z = project(world, k, np.asarray(pose, dtype=np.float64))
    seen = z > 1e-6
    if not seen.any():
        return 0.0, 0.0
    dx = float(np.mean(uv[seen, 0] - u[seen]))
    dy = float(np.mean(uv[seen, 1] - v[seen]))
    return dx, dy


def fit_aspect(size, aspect) -> Tuple[int, int]:
    """The largest (W, H) of aspect ``aspect`` that fits in ``size``, both sides even.

    Parameters
    ----------
    size : (int, int)
        Requested (W, H) in pixels.
    aspect : (int, int)
        Width to height ratio, e.g. (16, 9).
    """
    width, height = size
    aspect_w, aspect_h = aspect
    if width * aspect_h > height * aspect_w:
        width = height * aspect_w / aspect_h
    else:
        height = width * aspect_h / aspect_w
    return int(round(width / 2.0)) * 2, int(round(height / 2.0)) * 2


# --------------------------------------------------------------------------------------------------
# lighting
# --------------------------------------------------------------------------------------------------

def colour_temperature_rgb(kelvin: float) -> Tuple[float, float, float]:
    """RGB multipliers of a black-body light, normalised to unit luminance.

    Uses Tanner Helland's fit of the black-body colour in sRGB (valid 1000-40000 K); 6500 K is
    about white, lower temperatures are warmer (red up, blue down), higher ones cooler.

    Parameters
    ----------
    kelvin : float
        Colour temperature in kelvin.

    Returns
    -------
    (float, float, float)
        Red, green, blue multipliers with Rec. 709 luminance 1.
    """
    if not 1000 <= kelvin <= 40000:
        raise ValueError(f"colour temperature must be in 1000..40000 K, got {kelvin}")
    t = kelvin / 100.0
    if t <= 66:
        red = 255.0
        green = 99.4708025861 * math.log(t) - 161.1195681661
        blue = 0.0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307
    else:
        red = 329.698727446 * (t - 60) ** -0.1332047592
        green = 288.1221695283 * (t - 60) ** -0.0755148492
        blue = 255.0
    rgb = np.clip([red, green, blue], 0.0, 255.0) / 255.0
    rgb = rgb / float(np.dot(rgb, _LUMA))
    return tuple(float(c) for c in rgb)


@dataclass
class Lighting:
    """The light of a scene, as pybullet's TinyRenderer takes it.

    The defaults reproduce the renderer's former fixed light (white, ambient 0.55, diffuse 0.5,
    specular 0.05).

    Parameters
    ----------
    direction : (float, float, float)
        Direction towards the light in the world frame (z up); normalised on construction.
    colour : (float, float, float)
        RGB multipliers of the directional light (e.g. :func:`colour_temperature_rgb`); near 1.
    colour_temperature_k : float or None
        The colour temperature ``colour`` came from, kelvin (informational).
    intensity : float
        Overall scale of the ambient, diffuse and specular coefficients.
    ambient, diffuse, specular : float
        Coefficients of the renderer's Phong model before ``intensity``.
    shadow : bool
        Whether TinyRenderer casts shadows (a shadow-map pass: slower).

    Notes
    -----
    TinyRenderer multiplies only the diffuse and specular terms by ``lightColor``; the ambient term
    stays white. The tint of a warm or cool light therefore shows on the lit faces, about in
    proportion to ``diffuse / (ambient + diffuse)``.
    """

    direction: Tuple[float, float, float] = (0.3, 0.2, 1.0)
    colour: Tuple[float, float, float] = (1.0, 1.0, 1.0)
    colour_temperature_k: Optional[float] = None
    intensity: float = 1.0
    ambient: float = 0.55
    diffuse: float = 0.5
    specular: float = 0.05
    shadow: bool = False

    def __post_init__(self):
        direction = np.asarray(self.direction, dtype=np.float64)
        norm = float(np.linalg.norm(direction)) if direction.shape == (3,) else 0.0
        if not norm > 0:
            raise ValueError(f"direction must be a non-zero 3-vector, got {self.direction!r}")
        colour = np.asarray(self.colour, dtype=np.float64)
        if colour.shape != (3,) or (colour < 0).any():
            raise ValueError(f"colour must be 3 non-negative multipliers, got {self.colour!r}")
        for name in ("intensity", "ambient", "diffuse", "specular"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        self.direction = tuple(float(v) for v in direction / norm)
        self.colour = tuple(float(v) for v in colour)
        self.shadow = bool(self.shadow)

    @classmethod
    def from_temperature(cls, kelvin: float, **kwargs) -> "Lighting":
        """A light of black-body colour ``kelvin`` (other fields as keyword arguments)."""
        return cls(colour=colour_temperature_rgb(kelvin), colour_temperature_k=float(kelvin), **kwargs)

    def pybullet_kwargs(self) -> dict:
        """Keyword arguments for ``pybullet.getCameraImage`` (with ``renderer=ER_TINY_RENDERER``)."""
        return {
            "lightDirection": list(self.direction),
            "lightColor": list(self.colour),
            "lightAmbientCoeff": self.intensity * self.ambient,
            "lightDiffuseCoeff": self.intensity * self.diffuse,
            "lightSpecularCoeff": self.intensity * self.specular,
            "shadow": int(self.shadow),
        }

    def describe(self) -> dict:
        """Plain-data settings, for a scene's ``meta.json``."""
        def rounded(value):
            if isinstance(value, float):
                return round(value, 4)
            if isinstance(value, (tuple, list)):
                return [rounded(v) for v in value]
            return value
        return {"model": "directional+ambient", **{key: rounded(value) for key, value in asdict(self).items()}}


# --------------------------------------------------------------------------------------------------
# preset families
# --------------------------------------------------------------------------------------------------

def _uniform(rng: np.random.Generator, bounds: Range) -> float:
    low, high = bounds
    return float(low) if low == high else float(rng.uniform(low, high))


def _log_uniform(rng: np.random.Generator, bounds: Range) -> float:
    low, high = bounds
    return float(low) if low == high else float(np.exp(rng.uniform(np.log(low), np.log(high))))


@dataclass(frozen=True)
class CameraPreset:
    """A family of cameras: ranges of :class:`CameraEffects` settings and of the field of view.

    Every range is ``(low, high)``; :meth:`sample` draws uniformly inside (log-uniformly for the
    full-well capacity and the gain). ``focus_distance_m=None`` makes the defocus uniform over the
    frame. ``aspect`` is the family's native width:height ratio; the pixel size is the caller's
    choice (:func:`fit_aspect`).
    """

    horizontal_fov_deg: Range
    aspect: Tuple[int, int]
    defocus_radius_px: Range
    exposure_fraction: Range
    full_well_e: Range
    read_noise_e: Range
    gain: Range
    chroma_noise: Range
    vignetting: Range
    chromatic_aberration_px: Range
    jpeg_quality: Tuple[int, int]
    focus_distance_m: Optional[Range] = None
    native_scale: Range = (1.0, 1.0)

    def sample(self, rng: np.random.Generator) -> Tuple[CameraEffects, float]:
        """Draw one camera: ``(CameraEffects, horizontal_fov_deg)``."""
        fov = _uniform(rng, self.horizontal_fov_deg)
        effects = CameraEffects(
            defocus_radius_px=_uniform(rng, self.defocus_radius_px),
            focus_distance_m=None if self.focus_distance_m is None else _uniform(rng, self.focus_distance_m),
            exposure_fraction=_uniform(rng, self.exposure_fraction),
            full_well_e=_log_uniform(rng, self.full_well_e),
            read_noise_e=_uniform(rng, self.read_noise_e),
            gain=_log_uniform(rng, self.gain),
            chroma_noise=_uniform(rng, self.chroma_noise),
            vignetting=_uniform(rng, self.vignetting),
            chromatic_aberration_px=_uniform(rng, self.chromatic_aberration_px),
            jpeg_quality=int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1)),
            native_scale=_uniform(rng, self.native_scale),
        )
        return effects, fov


@dataclass(frozen=True)
class LightPreset:
    """A family of lights: ranges of :class:`Lighting` settings.

    ``elevation_deg`` is the angle of the light above the horizon (90: straight overhead); the
    azimuth is uniform all round. The colour comes from a black-body temperature in
    ``colour_temperature_k``.
    """

    elevation_deg: Range
    colour_temperature_k: Range
    intensity: Range
    ambient: Range
    diffuse: Range
    specular: Range

    def sample(self, rng: np.random.Generator) -> Lighting:
        """Draw one light."""
        elevation = math.radians(_uniform(rng, self.elevation_deg))
        azimuth = float(rng.uniform(0.0, 2.0 * math.pi))
        direction = (math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth),
                     math.sin(elevation))
        return Lighting.from_temperature(
            _uniform(rng, self.colour_temperature_k), direction=direction,
            intensity=_uniform(rng, self.intensity), ambient=_uniform(rng, self.ambient),
            diffuse=_uniform(rng, self.diffuse), specular=_uniform(rng, self.specular))


#: Camera families. Field of view in degrees; noise in electrons; blur and aberration in pixels at
#: 320x240-like sizes.
CAMERA_PRESETS = {
    # --- train half: the extremes ---------------------------------------------------------------
    "webcam-cheap": CameraPreset(   # small noisy sensor, soft plastic lens, long exposure, low JPEG
        horizontal_fov_deg=(60, 75), aspect=(16, 9), defocus_radius_px=(0.6, 1.5),
        exposure_fraction=(0.5, 0.9), full_well_e=(2000, 4000), read_noise_e=(5, 10), gain=(1.5, 4),
        chroma_noise=(0.5, 0.9), vignetting=(0.25, 0.45), chromatic_aberration_px=(0.5, 1.5),
        jpeg_quality=(55, 75), native_scale=(0.5, 0.75)),
    "dslr-sharp": CameraPreset(     # large sensor, short shutter, shallow depth of field
        horizontal_fov_deg=(45, 60), aspect=(3, 2), defocus_radius_px=(0.8, 2.0), focus_distance_m=(1.0, 3.0),
        exposure_fraction=(0.05, 0.15), full_well_e=(20000, 40000), read_noise_e=(2, 4), gain=(1, 2),
        chroma_noise=(0.1, 0.3), vignetting=(0.05, 0.2), chromatic_aberration_px=(0.0, 0.3),
        jpeg_quality=(92, 98), native_scale=(1.0, 1.0)),
    "action-cam": CameraPreset(     # very wide, strong falloff and colour fringes, heavy compression
        horizontal_fov_deg=(85, 100), aspect=(16, 9), defocus_radius_px=(0.0, 0.3),
        exposure_fraction=(0.1, 0.4), full_well_e=(3000, 6000), read_noise_e=(3, 6), gain=(1, 4),
        chroma_noise=(0.3, 0.6), vignetting=(0.3, 0.5), chromatic_aberration_px=(1.0, 2.0),
        jpeg_quality=(70, 88), native_scale=(0.6, 0.9)),
    # --- val half: mid-range RGB-D capture cameras ----------------------------------------------
    "kinect-v1": CameraPreset(      # 30 Hz colour camera, rolling exposure indoors
        horizontal_fov_deg=(57, 63), aspect=(4, 3), defocus_radius_px=(0.3, 0.8),
        exposure_fraction=(0.3, 0.6), full_well_e=(3000, 6000), read_noise_e=(4, 8), gain=(1, 4),
        chroma_noise=(0.3, 0.6), vignetting=(0.15, 0.3), chromatic_aberration_px=(0.3, 1.0),
        jpeg_quality=(80, 92), native_scale=(0.6, 0.85)),
    "structure-ipad": CameraPreset(  # ScanNet's capture rig: iPad colour camera + Structure sensor
        horizontal_fov_deg=(55, 65), aspect=(4, 3), defocus_radius_px=(0.0, 0.6),
        exposure_fraction=(0.2, 0.5), full_well_e=(4000, 8000), read_noise_e=(3, 6), gain=(1, 3),
        chroma_noise=(0.2, 0.5), vignetting=(0.1, 0.25), chromatic_aberration_px=(0.0, 0.5),
        jpeg_quality=(85, 95), native_scale=(0.85, 1.0)),
    "phone-wide": CameraPreset(     # phone main camera: wide, clean, short exposure
        horizontal_fov_deg=(68, 80), aspect=(4, 3), defocus_radius_px=(0.0, 0.5),
        exposure_fraction=(0.1, 0.3), full_well_e=(5000, 10000), read_noise_e=(2, 4), gain=(1, 4),
        chroma_noise=(0.2, 0.5), vignetting=(0.2, 0.4), chromatic_aberration_px=(0.5, 1.5),
        jpeg_quality=(85, 95), native_scale=(0.7, 1.0)),
}

#: Light families. Elevation in degrees above the horizon, colour temperature in kelvin.
LIGHT_PRESETS = {
    # --- train half -------------------------------------------------------------------------------
    "overhead-neutral": LightPreset(   # ceiling lights: from above, neutral white
        elevation_deg=(60, 88), colour_temperature_k=(3800, 4800), intensity=(0.9, 1.1),
        ambient=(0.5, 0.6), diffuse=(0.45, 0.55), specular=(0.03, 0.08)),
    "warm-evening": LightPreset(       # table and floor lamps: low, warm, dimmer
        elevation_deg=(15, 50), colour_temperature_k=(2600, 3300), intensity=(0.65, 0.9),
        ambient=(0.35, 0.5), diffuse=(0.5, 0.65), specular=(0.03, 0.08)),
    "harsh-side": LightPreset(         # one strong low source: deep contrast, little fill
        elevation_deg=(5, 25), colour_temperature_k=(4500, 6000), intensity=(1.0, 1.2),
        ambient=(0.2, 0.35), diffuse=(0.7, 0.9), specular=(0.08, 0.15)),
    # --- val half ---------------------------------------------------------------------------------
    "window-daylight": LightPreset(    # daylight through a window: from the side and above, cool-neutral
        elevation_deg=(20, 50), colour_temperature_k=(5500, 7000), intensity=(1.0, 1.2),
        ambient=(0.45, 0.6), diffuse=(0.5, 0.7), specular=(0.04, 0.1)),
    "dim-cool": LightPreset(           # overcast dusk, no lamps on: dim and blue
        elevation_deg=(40, 80), colour_temperature_k=(6500, 8500), intensity=(0.45, 0.65),
        ambient=(0.45, 0.6), diffuse=(0.35, 0.5), specular=(0.02, 0.05)),
    "office-fluorescent": LightPreset(  # flat diffuse tube lighting from straight above
        elevation_deg=(75, 90), colour_temperature_k=(4000, 5000), intensity=(0.95, 1.15),
        ambient=(0.6, 0.7), diffuse=(0.3, 0.4), specular=(0.02, 0.05)),
}

#: Disjoint halves of the camera families, by name.
CAMERA_SPLITS = {"train": ("webcam-cheap", "dslr-sharp", "action-cam"),
                 "val": ("kinect-v1", "structure-ipad", "phone-wide")}
#: Disjoint halves of the light families, by name.
LIGHT_SPLITS = {"train": ("overhead-neutral", "warm-evening", "harsh-side"),
                "val": ("window-daylight", "dim-cool", "office-fluorescent")}


def _pick_preset(rng: np.random.Generator, split: str, preset: Optional[str], splits: dict, kind: str) -> str:
    if split not in splits:
        raise ValueError(f"unknown {kind} split {split!r}; expected one of {', '.join(sorted(splits))}")
    names = splits[split]
    if preset is None:
        return names[int(rng.integers(len(names)))]
    if preset not in names:
        known = sorted(n for half in splits.values() for n in half)
        where = f"not in the {split!r} half ({', '.join(names)})" if preset in known else \
            f"unknown; expected one of {', '.join(known)}"
        raise ValueError(f"{kind} preset {preset!r} is {where}")
    return preset


def sample_camera(rng: np.random.Generator, split: str, preset: Optional[str] = None):
    """Draw a camera from a family of one half of :data:`CAMERA_PRESETS`.

    Parameters
    ----------
    rng : numpy.random.Generator
    split : {"train", "val"}
    preset : str, optional
        Force this family (it must belong to ``split``); by default one is drawn uniformly.

    Returns
    -------
    preset_name : str
    effects : CameraEffects
    horizontal_fov_deg : float
    """
    name = _pick_preset(rng, split, preset, CAMERA_SPLITS, "camera")
    effects, fov = CAMERA_PRESETS[name].sample(rng)
    return name, effects, fov


def sample_lighting(rng: np.random.Generator, split: str, preset: Optional[str] = None):
    """Draw a light from a family of one half of :data:`LIGHT_PRESETS`.

    Parameters
    ----------
    rng : numpy.random.Generator
    split : {"train", "val"}
    preset : str, optional
        Force this family (it must belong to ``split``); by default one is drawn uniformly.

    Returns
    -------
    preset_name : str
    lighting : Lighting
    """
    name = _pick_preset(rng, split, preset, LIGHT_SPLITS, "light")
    return name, LIGHT_PRESETS[name].sample(rng)
