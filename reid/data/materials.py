"""Texture families ("materials"): where a generated room's surfaces get their looks.

A family is a set of named entries, each tagged with one of :data:`TEXTURE_KINDS`; every family is
split by name into a ``train`` and a ``val`` half (:data:`TEXTURE_SPLITS`), so that rooms of the two
halves share no texture entry (and, for photographs, no source photograph).

* ``procedural``: the generators of :mod:`reid.data.textures` plus a few more written here (wallpaper
  patterns, parquet, carpet, brushed metal, marble, brick...), each entry one generator.
* ``photo``: photographic tiles in ``photo_textures/`` (cut by :mod:`reid.data.make_photo_textures`
  from robosuite's MIT textures and scikit-image's CC0 / public-domain photographs; see the folder's
  ``LICENSE.md``). A texture is a random crop (40-100 % of the tile, which sets the apparent scale),
  turned by a multiple of 90 degrees, maybe mirrored, colour-shifted (hue, saturation, brightness;
  grey-level tiles are also tinted) and cross-faded at its edges so that it repeats without a seam.
  The family has no ceiling or plastic tiles: ``ceiling`` textures come from the allowed wall tiles,
  ``plastic`` ones are a plain colour of :meth:`PhotoMaterials.colour` with a little grain.

``materials_for(family, split)`` gives a :class:`Materials` restricted to one half; its
``texture(rng, kind, size)`` returns an HxWx3 uint8 RGB image and depends only on the rng's state.
"""
import colorsys
from pathlib import Path

import cv2
import numpy as np

from . import textures
from .make_photo_textures import TILES_BY_NAME

TEXTURE_KINDS = ("wall", "floor", "ceiling", "wood", "fabric", "metal", "plastic", "stone")
TEXTURE_FAMILIES = ("procedural", "photo")
HALVES = ("train", "val")
PHOTO_FOLDER = Path(__file__).parent / "photo_textures"
PHOTO_KIND_FALLBACK = {"ceiling": "wall"}   # kinds without tiles of their own; "plastic": plain colour
PHOTO_TINT = {"metal": 0.08}   # the most saturation a grey-level tile is tinted with, by kind (default 0.25)


# --- procedural generators: (rng, colour, size) -> HxWx3 uint8 ---------------------------------

def _grid(size):
    """Pixel coordinates (yy, xx) of an image of ``size`` (W, H), as broadcastable (H, 1) and (1, W) arrays."""
    return np.arange(size[1], dtype=np.float32)[:, None], np.arange(size[0], dtype=np.float32)[None, :]


def _normal(rng, scale, shape):
    """Gaussian noise (float32) of standard deviation ``scale``."""
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)


def _accent(rng, colour):
    """A second colour close to ``colour`` for patterns (as textures.wallpaper draws it)."""
    return np.clip(colour * rng.uniform(0.75, 0.9) + rng.uniform(-0.05, 0.05, 3), 0, 1)


def _shade(rng, colour, shade, grain=0.02):
    """``colour`` times a (H, W) shading field, with per-pixel grain, as an image."""
    shade = shade * (1 + _normal(rng, grain, shade.shape))
    return textures._to_image(colour.astype(np.float32)[None, None, :] * shade[:, :, None])


def _two_tone(rng, colour, mask, grain=0.02):
    """``colour`` with ``accent`` where ``mask`` is true, with grain."""
    accent = _accent(rng, colour).astype(np.float32)
    image = np.where(mask[:, :, None], accent[None, None, :], colour.astype(np.float32)[None, None, :])
    return textures._to_image(image * (1 + _normal(rng, grain, mask.shape + (1,))))


def _fine_noise(rng, size, sigma=0.8):
    """Per-pixel noise blurred a little, scaled to unit standard deviation, shape (H, W)."""
    noise = cv2.GaussianBlur(_normal(rng, 1.0, (size[1], size[0])), (0, 0), sigma)
    return noise / max(float(noise.std()), 1e-6)


def _paint(rng, colour, size):
    return textures.plain(rng, colour, size, noise=0.02)


def _stripes(rng, colour, size):
    half = int(rng.integers(3, 7))
    return _two_tone(rng, colour, np.broadcast_to((np.arange(size[0]) // half) % 2 == 0, (size[1], size[0])))


def _dots(rng, colour, size):
    yy, xx = _grid(size)
    step = np.float32(rng.integers(8, 16))
    dist = ((xx % step) - step / 2) ** 2 + ((yy % step) - step / 2) ** 2
    return _two_tone(rng, colour, dist < (step / 5) ** 2)


def _diamonds(rng, colour, size):
    yy, xx = _grid(size)
    step = np.float32(rng.integers(10, 20))
    return _two_tone(rng, colour, (np.abs((xx % step) - step / 2) + np.abs((yy % step) - step / 2)) < step / 4)


def _checker(rng, colour, size):
    yy, xx = _grid(size)
    step = np.float32(rng.integers(4, 10))
    return _two_tone(rng, colour, ((xx // step + yy // step) % 2) == 0)


def _stucco(rng, colour, size):
    shade = 1 + 0.05 * textures._smooth_noise(rng, size, 3) + 0.04 * textures._smooth_noise(rng, size, 12)
    return _shade(rng, colour, shade)


def _planks(rng, colour, size):
    return textures.wood(rng, colour, size, planks=int(rng.integers(8, 16)))


def _floor_tiles(rng, colour, size):
    return textures.tiles(rng, colour, size, int(rng.integers(4, 10)))


def _terrazzo(rng, colour, size):
    """Light cement with small chips of three stone colours."""
    w, h = size
    base = np.clip(colour * 0.4 + 0.55, 0, 1).astype(np.float32)
    palette = np.stack([colour * 0.6, colour, np.clip(colour * 0.3 + 0.65, 0, 1)]).astype(np.float32)
    coarse = (h // 2 + 1, w // 2 + 1)
    chips = cv2.resize((rng.random(coarse) < 0.2).astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST)
    chips = cv2.GaussianBlur(chips, (3, 3), 0.6)[:, :, None]
    which = cv2.resize(rng.integers(0, 3, coarse).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    image = base[None, None, :] * (1 - chips) + palette[which] * chips
    return textures._to_image(image * (1 + _normal(rng, 0.02, (h, w, 1))))


def _parquet(rng, colour, size):
    """Basket-weave parquet: square blocks of 3-4 strips, alternately along x and along y."""
    w, h = size
    yy, xx = _grid(size)
    block, strips = int(rng.integers(12, 24)), int(rng.integers(3, 5))
    side = max(w, h)
    grain = textures.wood(rng, colour, (side, side))
    along_x = ((xx // block + yy // block) % 2) == 0
    image = np.where(along_x[:, :, None], grain[:h, :w], grain.transpose(1, 0, 2)[:h, :w])
    across = np.where(along_x, yy % block, xx % block)
    joints = ((across * strips) % block < strips) | (xx % block == 0) | (yy % block == 0)
    image[joints] = (image[joints] * 0.6).astype(np.uint8)
    return image


def _carpet(rng, colour, size):
    w, h = size
    shade = 1 + 0.1 * _fine_noise(rng, size, 0.7) + 0.05 * textures._smooth_noise(rng, size, 16)
    image = colour.astype(np.float32)[None, None, :] * shade[:, :, None] + _normal(rng, 0.015, (h, w, 3))
    return textures._to_image(image)


def _ceiling_paint(rng, colour, size):
    return textures.plain(rng, colour, size, noise=0.01)


def _ceiling_panels(rng, colour, size):
    return textures.tiles(rng, colour, size, int(rng.integers(2, 5)))


def _popcorn(rng, colour, size):
    return _shade(rng, colour, 1 + 0.05 * _fine_noise(rng, size, 1.0), grain=0.01)


def _ceiling_slats(rng, colour, size):
    period = int(rng.integers(6, 12))
    rows = np.where(np.arange(size[1]) % period == 0, 0.85, 1.0).astype(np.float32)
    return _shade(rng, colour, np.broadcast_to(rows[:, None], (size[1], size[0])), grain=0.01)


def _fine_grain(rng, colour, size):
    return textures.wood(rng, colour, size)


def _wood_strips(rng, colour, size):
    return textures.wood(rng, colour, size, planks=int(rng.integers(3, 6)))


def _coarse_grain(rng, colour, size):
    """textures.wood drawn at half resolution and enlarged: grain twice as wide."""
    half = (max(2, size[0] // 2), max(2, size[1] // 2))
    return cv2.resize(textures.wood(rng, colour, half), tuple(size), interpolation=cv2.INTER_LINEAR)


def _rings(rng, colour, size):
    """Flat-sawn ("cathedral") grain: growth rings around a centre outside the board."""
    w, h = size
    yy, xx = _grid(size)
    cx, cy = np.float32(-rng.uniform(0.5, 2.0) * w), np.float32(rng.uniform(0.2, 0.8) * h)
    dist = np.sqrt(((xx - cx) * np.float32(0.25)) ** 2 + (yy - cy) ** 2)
    warp = 3 * textures._smooth_noise(rng, size, 16)
    rings = 0.5 + 0.5 * np.sin(np.float32(2 * np.pi / rng.uniform(4, 9)) * (dist + warp))
    return _shade(rng, colour, 0.8 + 0.2 * rings ** 2 + 0.04 * textures._smooth_noise(rng, size, 4))


def _plain_weave(rng, colour, size):
    return textures.fabric(rng, colour, size)


def _twill(rng, colour, size):
    yy, xx = _grid(size)
    period = np.float32(rng.integers(3, 6))
    return _shade(rng, colour, np.where((xx + yy) % period < period / 2, 1.0, 0.88).astype(np.float32), grain=0.03)


def _heather(rng, colour, size):
    """Mottled yarn: short fibres along x, lighter and darker than the colour."""
    fibres = cv2.blur(_normal(rng, 1.0, (size[1], size[0])), (5, 1))
    return _shade(rng, colour, 1 + 0.3 * fibres, grain=0.02)


def _plaid(rng, colour, size):
    """Tartan: bands of an accent colour across both directions over a plain weave."""
    yy, xx = _grid(size)
    accent = (_accent(rng, colour) * 0.7).astype(np.float32)
    line = textures.random_colour(rng, value=(0.6, 1.0)).astype(np.float32)
    period = np.float32(rng.integers(12, 24))
    band, thin = period * np.float32(rng.uniform(0.25, 0.45)), np.float32(rng.uniform(0, period))
    image = np.broadcast_to(colour.astype(np.float32), (size[1], size[0], 3))
    for coord in (xx, yy):
        phase = coord % period
        image = np.where((phase < band)[:, :, None], 0.5 * image + 0.5 * accent, image)
        image = np.where((np.abs(phase - thin) < 0.75)[:, :, None], 0.6 * image + 0.4 * line, image)
    weave = np.where(((xx // 2) % 2) != ((yy // 2) % 2), np.float32(1.0), np.float32(0.92))
    return textures._to_image(image * weave[:, :, None])


def _brushed(rng, colour, size):
    streaks = cv2.blur(_normal(rng, 1.0, (size[1], size[0])), (15, 1))
    ramp = np.linspace(rng.uniform(0.85, 1.0), rng.uniform(1.0, 1.15), size[0], dtype=np.float32)[None, :]
    return _shade(rng, colour, ramp * (1 + 0.3 * streaks), grain=0.01)


def _polished(rng, colour, size):
    """A smooth reflection: a bright band across a darker gradient."""
    yy, xx = _grid(size)
    t = (xx / max(1, size[0] - 1) + yy / max(1, size[1] - 1)) / 2
    centre, width = np.float32(rng.uniform(0.2, 0.8)), np.float32(rng.uniform(0.1, 0.3))
    shade = 0.75 + 0.2 * t + 0.35 * np.exp(-((t - centre) / width) ** 2)
    return _shade(rng, colour, shade, grain=0.01)


def _satin(rng, colour, size):
    shade = 1 + 0.04 * _fine_noise(rng, size, 0.8) + 0.05 * textures._smooth_noise(rng, size, 16)
    return _shade(rng, colour, shade, grain=0.01)


def _scratched(rng, colour, size):
    w, h = size
    marks = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(15, 40))):
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        angle, length = rng.uniform(0, np.pi), rng.uniform(0.1, 0.5) * max(w, h)
        x1, y1 = x0 + length * np.cos(angle), y0 + length * np.sin(angle)
        cv2.line(marks, (int(x0), int(y0)), (int(x1), int(y1)), float(rng.uniform(0.05, 0.15)), 1)
    return _shade(rng, colour, 0.95 + marks + 0.04 * textures._smooth_noise(rng, size, 12), grain=0.015)


def _gloss(rng, colour, size):
    ramp = np.linspace(rng.uniform(1.05, 1.15), rng.uniform(0.85, 0.95), size[1], dtype=np.float32)[:, None]
    return _shade(rng, colour, np.broadcast_to(ramp, (size[1], size[0])), grain=0.01)


def _matte(rng, colour, size):
    return textures.plain(rng, colour, size, noise=0.04)


def _stipple(rng, colour, size):
    return _shade(rng, colour, 1 + 0.07 * _fine_noise(rng, size, 0.6), grain=0.01)


def _ribbed(rng, colour, size):
    ridges = 1 + 0.08 * np.sin(np.float32(2 * np.pi / rng.uniform(3, 6)) * np.arange(size[0], dtype=np.float32))
    return _shade(rng, colour, np.broadcast_to(ridges[None, :], (size[1], size[0])), grain=0.015)


def _marble(rng, colour, size):
    """Pale stone with thin dark veins along a warped diagonal."""
    yy, xx = _grid(size)
    direction = rng.uniform(0, np.pi)
    along = (xx * np.float32(np.cos(direction)) + yy * np.float32(np.sin(direction))) / max(size)
    warp = 0.6 * textures._smooth_noise(rng, size, 24) + 0.2 * textures._smooth_noise(rng, size, 6)
    veins = (1 - np.abs(np.sin(np.float32(np.pi) * (along * np.float32(rng.uniform(2, 5)) + warp))))
    veins = veins ** np.float32(rng.uniform(12, 30))
    base = np.clip(colour * 0.5 + 0.45, 0, 1)
    return _shade(rng, base, 1 - 0.45 * veins + 0.03 * textures._smooth_noise(rng, size, 8), grain=0.01)


def _brick(rng, colour, size):
    """Running-bond brick with light mortar joints."""
    w, h = size
    height = int(rng.integers(6, 12))
    length = int(height * rng.uniform(2.0, 3.0))
    row = np.arange(h)[:, None] // height
    shifted = np.arange(w)[None, :] + (row % 2) * (length // 2)
    tone = rng.uniform(0.8, 1.1, (h // height + 1, (w + length) // length + 1)).astype(np.float32)
    bricks = colour.astype(np.float32)[None, None, :] * tone[row, shifted // length][:, :, None]
    mortar = (np.arange(h)[:, None] % height == 0) | (shifted % length == 0)
    image = np.where(mortar[:, :, None], np.float32(rng.uniform(0.65, 0.8)), bricks)
    return textures._to_image(image * (1 + _normal(rng, 0.04, (h, w, 1))))


def _granite(rng, colour, size):
    w, h = size
    palette = np.stack([colour * 0.45, colour, np.clip(colour * 0.4 + 0.55, 0, 1)]).astype(np.float32)
    which = rng.choice(3, (h, w), p=[0.3, 0.5, 0.2])
    return textures._to_image(cv2.GaussianBlur(palette[which], (3, 3), 0.5))


def _concrete(rng, colour, size):
    pores = np.where(rng.random((size[1], size[0]), dtype=np.float32) < 0.01, np.float32(0.6), np.float32(1.0))
    shade = pores * (1 + 0.06 * textures._smooth_noise(rng, size, 4) + 0.05 * textures._smooth_noise(rng, size, 20))
    return _shade(rng, colour, shade, grain=0.03)


KIND_COLOURS = {   # HSV ranges of a procedural entry's base colour, by kind
    "wall": dict(saturation=(0.0, 0.35), value=(0.6, 0.95)),
    "floor": dict(hue=(0.03, 0.14), saturation=(0.2, 0.7), value=(0.3, 0.8)),
    "ceiling": dict(saturation=(0.0, 0.1), value=(0.85, 1.0)),
    "wood": dict(hue=(0.05, 0.12), saturation=(0.35, 0.7), value=(0.3, 0.8)),
    "fabric": dict(saturation=(0.1, 0.8), value=(0.2, 0.85)),
    "metal": dict(saturation=(0.0, 0.15), value=(0.25, 0.8)),
    "plastic": dict(saturation=(0.0, 0.8), value=(0.1, 0.95)),
    "stone": dict(saturation=(0.0, 0.3), value=(0.35, 0.9)),
}

PROCEDURAL_ENTRIES = {   # name: (kind, generator, HSV ranges of its colour or None for the kind's)
    "paint": ("wall", _paint, None), "stripes": ("wall", _stripes, None), "dots": ("wall", _dots, None),
    "diamonds": ("wall", _diamonds, None), "checker": ("wall", _checker, None), "stucco": ("wall", _stucco, None),
    "planks": ("floor", _planks, None), "floor-tiles": ("floor", _floor_tiles, None),
    "terrazzo": ("floor", _terrazzo, dict(saturation=(0.0, 0.4), value=(0.3, 0.8))),
    "parquet": ("floor", _parquet, None),
    "carpet": ("floor", _carpet, dict(saturation=(0.1, 0.6), value=(0.2, 0.7))),
    "ceiling-paint": ("ceiling", _ceiling_paint, None), "ceiling-panels": ("ceiling", _ceiling_panels, None),
    "popcorn": ("ceiling", _popcorn, None), "ceiling-slats": ("ceiling", _ceiling_slats, None),
    "fine-grain": ("wood", _fine_grain, None), "wood-strips": ("wood", _wood_strips, None),
    "coarse-grain": ("wood", _coarse_grain, None), "rings": ("wood", _rings, None),
    "plain-weave": ("fabric", _plain_weave, None), "twill": ("fabric", _twill, None),
    "heather": ("fabric", _heather, None), "plaid": ("fabric", _plaid, None),
    "brushed": ("metal", _brushed, None), "polished": ("metal", _polished, None),
    "satin": ("metal", _satin, None), "scratched": ("metal", _scratched, None),
    "gloss": ("plastic", _gloss, None), "matte": ("plastic", _matte, None),
    "stipple": ("plastic", _stipple, None), "ribbed": ("plastic", _ribbed, None),
    "marble-veins": ("stone", _marble, None),
    "brick": ("stone", _brick, dict(hue=(0.0, 0.08), saturation=(0.35, 0.7), value=(0.35, 0.7))),
    "granite": ("stone", _granite, None), "concrete": ("stone", _concrete, None),
}

TEXTURE_SPLITS = {
    "procedural": {
        "train": ("paint", "stripes", "dots", "planks", "floor-tiles", "terrazzo", "ceiling-paint",
                  "ceiling-panels", "fine-grain", "wood-strips", "plain-weave", "twill", "brushed", "polished",
                  "gloss", "matte", "marble-veins", "brick"),
        "val": ("stucco", "diamonds", "checker", "parquet", "carpet", "popcorn", "ceiling-slats", "coarse-grain",
                "rings", "heather", "plaid", "satin", "scratched", "stipple", "ribbed", "granite", "concrete"),
    },
    "photo": {   # the halves share no source photograph (see photo_source)
        "train": ("cream-plaster", "light-gray-plaster", "yellow-plaster",
                  "wood-tiles", "light-wood-floor", "light-gray-floor-tile",
                  "red-wood", "green-wood", "coffee-table-a", "coffee-table-b",
                  "gray-felt-a", "gray-felt-b", "chelsea-fur-a", "chelsea-fur-b",
                  "metal-a", "metal-b", "steel-scratched",
                  "white-bricks-a", "white-bricks-b", "gravel", "clay"),
        "val": ("gray-plaster", "pink-plaster", "white-plaster",
                "wood-varnished-panels", "dark-wood-planks", "grass-carpet",
                "blue-wood", "gray-woodgrain",
                "astronaut-suit-a", "astronaut-suit-b",
                "steel-brushed-a", "steel-brushed-b",
                "brick-a", "brick-b", "brass-ambra"),
    },
}


def entries(family):
    """Every entry of ``family`` as a dict name -> kind."""
    _check_family(family)
    if family == "procedural":
        return {name: kind for name, (kind, _, _) in PROCEDURAL_ENTRIES.items()}
    return {name: tile.kind for name, tile in TILES_BY_NAME.items()}


def photo_source(name):
    """The source photograph of a photo tile, ``"package version: path in the wheel"``."""
    if name not in TILES_BY_NAME:
        raise ValueError(f"unknown photo tile {name!r}")
    return TILES_BY_NAME[name].reference


def _check_family(family):
    if family not in TEXTURE_FAMILIES:
        raise ValueError(f"unknown texture family {family!r}: expected one of {', '.join(TEXTURE_FAMILIES)}")


def _check_kind(kind):
    if kind not in TEXTURE_KINDS:
        raise ValueError(f"unknown texture kind {kind!r}: expected one of {', '.join(TEXTURE_KINDS)}")


def _check_size(size):
    w, h = (int(v) for v in size)
    if w < 1 or h < 1:
        raise ValueError(f"texture size must be positive (W, H), got {size!r}")
    return w, h


class Materials:
    """Where a room's surfaces get their looks: one texture family, restricted to a set of entry names.

    Parameters
    ----------
    names : iterable of str
        The entries of the family this room may use (e.g. one half of :data:`TEXTURE_SPLITS`).
    split : str or None
        The half the names come from, recorded by :meth:`describe`.
    """

    family = None

    def __init__(self, names, split=None):
        kinds = entries(self.family)
        names = tuple(names)
        unknown = [name for name in names if name not in kinds]
        if unknown:
            raise ValueError(f"unknown {self.family} texture entries: {', '.join(unknown)}")
        self.names = names
        self.split = split
        self.names_by_kind = {kind: tuple(n for n in self.names if kinds[n] == kind) for kind in TEXTURE_KINDS}

    def texture(self, rng, kind, size=(64, 64)):
        """An HxWx3 uint8 RGB image of a ``kind`` surface; ``size`` is (W, H)."""
        raise NotImplementedError

    def colour(self, rng, hue=(0.0, 1.0), saturation=(0.2, 0.8), value=(0.3, 0.9)):
        """An RGB colour in [0, 1]^3 for small plain parts, within the given HSV ranges."""
        return textures.random_colour(rng, hue, saturation, value)

    def describe(self):
        """Plain data for a scene's ``meta.json``."""
        return {"family": self.family, "split": self.split, "names": list(self.names)}

    def __repr__(self):
        return f"{type(self).__name__}(split={self.split!r}, {len(self.names)} entries)"


class ProceduralMaterials(Materials):
    """Named procedural generators; colours as :func:`reid.data.textures.random_colour` draws them."""

    family = "procedural"

    def texture(self, rng, kind, size=(64, 64)):
        """A generated ``kind`` texture from one of the allowed entries of that kind (a plain colour if none)."""
        _check_kind(kind)
        size = _check_size(size)
        names = self.names_by_kind[kind]
        if not names:
            return textures.plain(rng, textures.random_colour(rng, **KIND_COLOURS[kind]), size)
        _, generate, ranges = PROCEDURAL_ENTRIES[names[int(rng.integers(len(names)))]]
        return generate(rng, textures.random_colour(rng, **(ranges or KIND_COLOURS[kind])), size)


# --- photographic tiles --------------------------------------------------------------------------

_TILE_CACHE = {}   # path -> (read-only RGB tile, its mean colour in [0, 1]^3, whether it is grey-level)
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)
_LUMA = _RGB_TO_YIQ[0]


def load_tile(name):
    """A photo tile as (read-only HxWx3 uint8 RGB array, mean colour, is grey-level); cached per path."""
    path = PHOTO_FOLDER / f"{name}.jpg"
    if path not in _TILE_CACHE:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"missing photo texture tile {path}")
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        image.setflags(write=False)
        chroma = float((image.max(axis=2).astype(np.int16) - image.min(axis=2)).mean())
        _TILE_CACHE[path] = (image, image.reshape(-1, 3).mean(axis=0) / 255.0, chroma < 4.0)
    return _TILE_CACHE[path]


def _random_crop(rng, tile, size, margin):
    """A crop of 40-100 % of the tile's side with the aspect of ``size`` + ``margin``, resized to it."""
    rotated = np.rot90(tile, int(rng.integers(4)))
    if rng.random() < 0.5:
        rotated = rotated[:, ::-1]
    th, tw = rotated.shape[:2]
    out_w, out_h = size[0] + margin[0], size[1] + margin[1]
    scale = rng.uniform(0.4, 1.0) * min(tw / out_w, th / out_h)   # tile pixels per output pixel
    cw, ch = max(2, int(round(out_w * scale))), max(2, int(round(out_h * scale)))
    x, y = int(rng.integers(0, tw - cw + 1)), int(rng.integers(0, th - ch + 1))
    crop = np.ascontiguousarray(rotated[y:y + ch, x:x + cw])
    shrink = cw > out_w
    return cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _seamless(image, size):
    """``image`` (H + mh, W + mw) cut to ``size`` with the margins cross-faded over the opposite edges.

    The result repeats without a seam: its first columns fade from the pixels that follow its last
    column in ``image`` to its own.
    """
    w, h = size
    image = image.astype(np.float32)
    mw, mh = image.shape[1] - w, image.shape[0] - h
    if mw:
        ramp = ((np.arange(mw) + 0.5) / mw).astype(np.float32)[None, :, None]
        image[:, :mw] = image[:, :mw] * ramp + image[:, w:w + mw] * (1 - ramp)
    if mh:
        ramp = ((np.arange(mh) + 0.5) / mh).astype(np.float32)[:, None, None]
        image[:mh] = image[:mh] * ramp + image[h:h + mh] * (1 - ramp)
    return image[:h, :w]


def _colour_shift(rng, grey, max_tint=0.25):
    """A 3x3 RGB matrix: tint (grey-level tiles only), then hue turn, saturation and brightness scales.

    A grey-level tile is tinted by a colour of random hue and saturation up to ``max_tint``.
    """
    turn = rng.uniform(-0.08, 0.08) * 2 * np.pi
    saturation, brightness = rng.uniform(0.7, 1.3), rng.uniform(0.7, 1.2)
    tint_hue, tint_saturation = rng.uniform(0, 1), rng.uniform(0.0, max_tint)
    tint = np.ones(3)
    if grey:
        tint = np.array(colorsys.hsv_to_rgb(tint_hue, tint_saturation, 1.0))
        tint /= _LUMA @ tint   # keeps the luma
    c, s = np.cos(turn), np.sin(turn)
    yiq = np.array([[brightness, 0, 0], [0, saturation * c, -saturation * s], [0, saturation * s, saturation * c]])
    return (_YIQ_TO_RGB @ yiq @ _RGB_TO_YIQ @ np.diag(tint)).astype(np.float32)


class PhotoMaterials(Materials):
    """Photographic tiles of ``photo_textures/``, randomly cropped, turned and colour-shifted."""

    family = "photo"

    def texture(self, rng, kind, size=(64, 64)):
        """A ``kind`` texture cut from one of the allowed tiles of that kind; repeats without a seam.

        ``ceiling`` uses the wall tiles; ``plastic`` (and a kind without allowed tiles) is a plain
        colour of :meth:`colour` with a little grain.
        """
        _check_kind(kind)
        size = _check_size(size)
        names = self.names_by_kind[PHOTO_KIND_FALLBACK.get(kind, kind)]
        if not names:
            return textures.plain(rng, self.colour(rng), size, noise=0.03)
        tile, _, grey = load_tile(names[int(rng.integers(len(names)))])
        margin = (max(1, size[0] // 6), max(1, size[1] // 6))
        image = _seamless(_random_crop(rng, tile, size, margin), size)
        shifted = cv2.transform(image, _colour_shift(rng, grey, PHOTO_TINT.get(kind, 0.25)))
        return np.clip(shifted + 0.5, 0, 255).astype(np.uint8)

    def colour(self, rng, hue=(0.0, 1.0), saturation=(0.2, 0.8), value=(0.3, 0.9)):
        """The mean colour of a random allowed tile, jittered and clipped to the HSV ranges."""
        if not self.names:
            return super().colour(rng, hue, saturation, value)
        _, mean, _ = load_tile(self.names[int(rng.integers(len(self.names)))])
        h, s, v = colorsys.rgb_to_hsv(*mean)
        h = (h + rng.uniform(-0.03, 0.03)) % 1.0
        s, v = s * rng.uniform(0.8, 1.25), v * rng.uniform(0.85, 1.15)
        if hue[1] - hue[0] < 1.0:
            h = float(np.clip(h, *hue))
        return np.array(colorsys.hsv_to_rgb(h, float(np.clip(s, *saturation)), float(np.clip(v, *value))))


FAMILY_CLASSES = {"procedural": ProceduralMaterials, "photo": PhotoMaterials}


def materials_for(family, split):
    """The :class:`Materials` of ``family`` restricted to its ``split`` half ("train" or "val")."""
    _check_family(family)
    if split not in HALVES:
        raise ValueError(f"unknown texture split {split!r}: expected one of {', '.join(HALVES)}")
    return FAMILY_CLASSES[family](TEXTURE_SPLITS[family][split], split)
