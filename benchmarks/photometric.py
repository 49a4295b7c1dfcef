"""Seeded camera photometric changes between frames: exposure and white balance.

Under a fixed camera response (the generator's ``--camera-response fixed``) an object's colours are
the same in every camera pass and a plain colour histogram is a strong re-identification baseline.
Real RGB-D captures (ScanNet's, for one) run auto-exposure and auto white balance: the same chair is
brighter or bluer from one pass to the next. The generator's default camera models that smoothly
(:mod:`reid.data.camera_response`); this module applies a harsher, independent random change to
whole frames, before cropping, so that the benchmarks can measure what survives it.

At level ``L`` each frame gets, from ``numpy.random.default_rng([seed, crc32(scene), frame])``:

- an exposure gain ``2 ** e`` on all channels, ``e ~ N(0, L)`` stops (level 0.5: a 1-sigma frame is
  41 % brighter or 29 % darker);
- a white-balance gain ``2 ** r`` on red and ``2 ** b`` on blue relative to green,
  ``r, b ~ N(0, L / 4)`` stops;

then values are clipped to [0, 255] (over-exposure saturates as in a camera). Level 0 returns the
frame unchanged. The change depends only on (seed, scene, frame), so every method of a benchmark
sees the same frames.
"""
import zlib

import numpy as np

WHITE_BALANCE_RATIO = 0.25
"""Standard deviation of the red/blue white-balance gains, in stops, per unit level."""


class PhotometricChange:
    """Per-frame exposure and white-balance change of level ``level`` (>= 0), seeded.

    Parameters
    ----------
    level : float
        Exposure standard deviation in stops; white balance gets ``level / 4``.
    seed : int
    """

    def __init__(self, level, seed=0):
        level = float(level)
        if not np.isfinite(level) or level < 0:
            raise ValueError(f"photometric level must be a finite number >= 0, got {level}")
        self.level = level
        self.seed = int(seed)

    def gains(self, scene, frame):
        """Per-channel RGB gains of one frame, (3,) float64."""
        rng = np.random.default_rng([self.seed, zlib.crc32(str(scene).encode()), int(frame)])
        exposure, red, blue = rng.standard_normal(3)
        exposure *= self.level
        red *= self.level * WHITE_BALANCE_RATIO
        blue *= self.level * WHITE_BALANCE_RATIO
        return 2.0 ** np.array([exposure + red, exposure, exposure + blue])

    def __call__(self, scene, frame, rgb):
        """The changed frame: HxWx3 uint8 RGB in, HxWx3 uint8 out (a new array; level 0: ``rgb`` itself)."""
        if self.level == 0:
            return rgb
        changed = rgb.astype(np.float32) * self.gains(scene, frame).astype(np.float32)
        return np.clip(np.rint(changed), 0, 255).astype(np.uint8)

    def describe(self):
        return (f"exposure N(0, {self.level:g}) stops, white balance (red, blue) N(0, "
                f"{self.level * WHITE_BALANCE_RATIO:g}) stops per frame, seed {self.seed}")
