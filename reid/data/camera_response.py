"""A simulated auto-exposure / auto-white-balance camera for generated scenes.

The renderer gives every frame the same fixed camera response, so an object has the same colours in
every camera pass. Real RGB-D captures (ScanNet's structure sensor + iPad colour camera) meter each
frame: the exposure follows the brightness of what is in view and the white balance follows its
colour cast, and both adapt over a few frames. :class:`AutoExposure` applies that to a sequence of
rendered frames: per frame it meters the mean linear luminance and the mean of each channel, moves
its exposure and white-balance gains part of the way (``rate``) towards the gains that would bring
the frame to mid-grey and to a grey-world balance, and applies them in linear light. An object thus
changes colour with what surrounds it in view, as in real video, and deterministically (the gains
depend only on the frames).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

__all__ = ["AutoExposure"]

GAMMA = 2.2
_TO_LINEAR = (np.arange(256, dtype=np.float32) / 255.0) ** GAMMA   # uint8 value -> linear light


@dataclass
class AutoExposure:
    """Auto-exposure and grey-world auto-white-balance with first-order adaptation.

    Parameters
    ----------
    target : float
        Mean linear luminance the exposure aims at (0.18: photographic mid-grey).
    rate : float
        Share of the way (in log gain) towards the metered gains taken each frame, in (0, 1];
        1 adapts at once, 0.2 takes about 10 frames.
    strength : float
        How much of the metered correction is applied, in [0, 1]: 1 normalises every frame fully,
        smaller values leave part of the scene's own brightness and cast.
    max_stops : float
        Exposure gain limit, in stops either way.
    """

    target: float = 0.18
    rate: float = 0.2
    strength: float = 0.8
    max_stops: float = 2.0

    def __post_init__(self):
        if not 0 < self.rate <= 1:
            raise ValueError(f"rate must be in (0, 1], got {self.rate}")
        if not 0 <= self.strength <= 1:
            raise ValueError(f"strength must be in [0, 1], got {self.strength}")
        if not (self.target > 0 and self.max_stops >= 0):
            raise ValueError("target must be > 0 and max_stops >= 0")
        self.reset()

    def reset(self):
        """Forget the adaptation state (the next frame is metered from scratch)."""
        self._log_gains = None   # log2 of (red, green, blue) gains, exposure included

    def describe(self):
        """Plain-data settings, for a scene's ``meta.json``."""
        return {"model": "auto-exposure", **asdict(self)}

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """The next frame as the camera would record it.

        Parameters
        ----------
        rgb : ndarray, H x W x 3 uint8 (as rendered, fixed response)

        Returns
        -------
        ndarray, H x W x 3 uint8
        """
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 image, got {rgb.dtype} {rgb.shape}")
        linear = np.take(_TO_LINEAR, rgb)                             # (v / 255) ** GAMMA, by table
        means = linear.reshape(-1, 3).mean(axis=0) + 1e-4
        luminance = float(means @ np.array([0.2126, 0.7152, 0.0722], np.float32))
        exposure = np.clip(self.strength * np.log2(self.target / luminance), -self.max_stops, self.max_stops)
        balance = self.strength * np.log2(means[1] / means)          # grey world: channel means equal
        wanted = exposure + balance
        if self._log_gains is None:
            self._log_gains = wanted
        else:
            self._log_gains = self._log_gains + self.rate * (wanted - self._log_gains)
        # the recorded value depends only on (value, channel): one 256-entry table per channel
        gained = _TO_LINEAR[:, None] * (2.0 ** self._log_gains).astype(np.float32)   # 256 x 3
        table = np.round(np.clip(gained, 0.0, 1.0) ** (1.0 / GAMMA) * 255.0).astype(np.uint8)
        return cv2.LUT(np.ascontiguousarray(rgb), np.ascontiguousarray(table[:, None, :]))

    @property
    def gains(self):
        """Current (red, green, blue) linear gains, or None before the first frame."""
        return None if self._log_gains is None else (2.0 ** self._log_gains).tolist()
