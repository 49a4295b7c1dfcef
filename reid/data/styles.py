"""Room styles: named families of looks, object models, light, camera and depth sensor, split by name.

A generated room (generator version 3) draws each of its styles from one half of a fixed, named
family, so that rooms made for training and rooms made for validation share no texture entry, no
source photograph, no object-model variant, no light preset and no camera preset:

=================  =======================================  ===================================
family             entries                                  defined in
=================  =======================================  ===================================
textures           procedural generators, photo tiles       :mod:`reid.data.materials`
object models      geometric variants per class             :mod:`reid.data.furniture_variants`
light              light presets                            :mod:`reid.data.camera_effects`
camera             camera presets (field of view, blur,     :mod:`reid.data.camera_effects`
                   noise, vignetting, JPEG quality, ...)
depth sensor       structured-light sensor model            :mod:`reid.data.sensor_depth`
=================  =======================================  ===================================

Splits: ``train`` draws from the training halves; ``val`` and ``test`` both draw from the held-out
halves (the other names), from different random streams, so a model trained on ``train`` rooms is
validated and tested on styles it never saw. The depth sensor's parameters are drawn at random in
every split (a sensor model is not a style a re-ID model can learn from colour).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import camera_effects, furniture_variants, materials as materials_module
from .sensor_depth import StructuredLightDepth, depth_camera_extrinsic

SPLITS = ("train", "val", "test")
"""Room splits; ``val`` and ``test`` use the same held-out halves of every family."""

HALF_OF_SPLIT = {"train": "train", "val": "val", "test": "val"}
"""Which half of each family a split draws from."""

PHOTO_SHARE = 0.5
"""Share of rooms whose surfaces come from photographs (the rest: procedural textures)."""


def split_code(split):
    """A split's index in :data:`SPLITS` (part of a room's random stream); ValueError otherwise."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: choose from {', '.join(SPLITS)}")
    return SPLITS.index(split)


@dataclass(eq=False)
class RoomStyle:
    """Everything a version-3 room takes from the style families.

    Attributes
    ----------
    split : str
        ``train``, ``val`` or ``test``.
    materials : reid.data.materials.Materials
        Surface looks (one texture family, one half of its entries).
    camera_preset, light_preset : str
        Names of the camera and light presets drawn.
    camera : reid.data.camera_effects.CameraEffects
        Blur, noise, vignetting and JPEG quality of the colour camera.
    horizontal_fov : float
        Colour camera's horizontal field of view, degrees.
    lighting : reid.data.camera_effects.Lighting
    depth_sensor : reid.data.sensor_depth.StructuredLightDepth or None
        None: perfect rendered depth (``sensor_depth=False``).
    depth_fov : float
        Depth camera's horizontal field of view, degrees.
    depth_extrinsic : ndarray, 4x4
        Depth camera pose in the colour camera's frame (metres): a few cm of baseline.
    models : dict
        Model name -> variant name, filled while the room is built.
    """

    split: str
    materials: object
    camera_preset: str
    camera: object
    horizontal_fov: float
    light_preset: str
    lighting: object
    depth_sensor: Optional[StructuredLightDepth]
    depth_fov: float
    depth_extrinsic: np.ndarray
    models: dict = field(default_factory=dict)

    @property
    def half(self):
        return HALF_OF_SPLIT[self.split]

    def build_model(self, rng, kind, name):
        """A new object model of ``kind`` from this split's half of the model variants."""
        variant = furniture_variants.sample_variant(rng, kind, self.half)
        self.models[name] = variant
        return furniture_variants.build(kind, variant, rng, name, self.materials)

    def describe(self):
        """Plain data for a scene's ``meta.json``."""
        return {
            "split": self.split, "half": self.half,
            "textures": self.materials.describe(),
            "models": dict(self.models),
            "camera": {"preset": self.camera_preset, "horizontal_fov_deg": round(float(self.horizontal_fov), 3),
                       **self.camera.describe()},
            "light": {"preset": self.light_preset, **self.lighting.describe()},
            "depth": {"sensor": None if self.depth_sensor is None else self.depth_sensor.describe(),
                      "horizontal_fov_deg": round(float(self.depth_fov), 3),
                      "extrinsic": np.round(self.depth_extrinsic, 6).tolist()},
        }


def sample_style(rng, split, sensor_depth=True):
    """Draw a room's style from ``split``'s half of every family.

    Parameters
    ----------
    rng : numpy.random.Generator
        The style's own stream (kept apart from the layout's).
    split : str
        One of :data:`SPLITS`.
    sensor_depth : bool
        Depth as a structured-light sensor returns it (default) or the renderer's perfect depth.
    """
    code = split_code(split)
    half = HALF_OF_SPLIT[SPLITS[code]]
    family = "photo" if rng.random() < PHOTO_SHARE else "procedural"
    looks = materials_module.materials_for(family, half)
    camera_preset, camera, fov = camera_effects.sample_camera(rng, half)
    light_preset, lighting = camera_effects.sample_lighting(rng, half)
    sensor = StructuredLightDepth.sample(rng, saturate_far_probability=0.25) if sensor_depth else None
    depth_fov = float(rng.uniform(56.0, 62.0))   # Kinect v1 / Structure sensor: ~57-60 degrees across
    extrinsic = depth_camera_extrinsic(rng) if sensor_depth else np.eye(4)
    return RoomStyle(split, looks, camera_preset, camera, float(fov), light_preset, lighting, sensor,
                     depth_fov if sensor_depth else float(fov), extrinsic)


def families_markdown():
    """Markdown tables of every style family's halves, from the lists the generator draws from."""
    lines = ["| family | kind | training half (`train` rooms) | held-out half (`val`, `test` rooms) |",
             "|---|---|---|---|"]
    for family in materials_module.TEXTURE_FAMILIES:
        kinds = materials_module.entries(family)
        halves = materials_module.TEXTURE_SPLITS[family]
        for kind in materials_module.TEXTURE_KINDS:
            cells = [", ".join(n for n in halves[half] if kinds[n] == kind) for half in ("train", "val")]
            if any(cells):
                lines.append(f"| {family} textures | {kind} | {cells[0] or '-'} | {cells[1] or '-'} |")
    for kind, halves in furniture_variants.MODEL_SPLITS.items():
        lines.append(f"| object models | {kind} | {', '.join(halves['train'])} | {', '.join(halves['val'])} |")
    for family, halves in (("camera", camera_effects.CAMERA_SPLITS), ("light", camera_effects.LIGHT_SPLITS)):
        lines.append(f"| {family} presets | | {', '.join(halves['train'])} | {', '.join(halves['val'])} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":   # python -m reid.data.styles > table.md
    print(families_markdown(), end="")
