"""Procedural textures and colours for generated scenes (numpy + OpenCV, RGB uint8 images)."""
import colorsys

import cv2
import numpy as np


def random_colour(rng, hue=(0.0, 1.0), saturation=(0.2, 0.8), value=(0.3, 0.9)):
    """An RGB colour in [0, 1]^3 drawn in HSV ranges."""
    h, s, v = rng.uniform(*hue), rng.uniform(*saturation), rng.uniform(*value)
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v))


def _to_image(values):
    return np.clip(values * 255.0, 0, 255).astype(np.uint8)


def _smooth_noise(rng, size, scale):
    """Value noise in [-1, 1] of shape (h, w): random grid upsampled with bicubic interpolation."""
    w, h = size
    coarse = rng.uniform(-1, 1, (max(2, h // scale), max(2, w // scale))).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def plain(rng, colour, size=(64, 64), noise=0.04):
    """A flat colour with a little grain (paint, plastic)."""
    grain = rng.normal(0, noise, (size[1], size[0], 1))
    return _to_image(colour[None, None, :] * (1 + grain))


def wood(rng, colour, size=(128, 128), planks=1):
    """Wood grain along x, optionally split into planks (floors)."""
    w, h = size
    y = np.linspace(0, 1, h)[:, None]
    x = np.linspace(0, 1, w)[None, :]
    frequency = rng.uniform(20, 45)
    warp = _smooth_noise(rng, size, 24) * rng.uniform(0.5, 1.5)
    grain = 0.5 + 0.5 * np.sin(2 * np.pi * (y * frequency + warp + 0.3 * x))
    shade = 0.82 + 0.18 * grain + 0.05 * _smooth_noise(rng, size, 6)
    image = colour[None, None, :] * shade[:, :, None]
    if planks > 1:
        rows = (np.arange(h) * planks // h)
        offsets = rng.uniform(0.85, 1.1, planks)
        image *= offsets[rows][:, None, None]
        edges = np.diff(rows, prepend=rows[0]) != 0
        image[edges] *= 0.45
    return _to_image(image)


def fabric(rng, colour, size=(64, 64)):
    """A woven fabric: fine crossing threads over the colour."""
    w, h = size
    period = rng.integers(2, 4)
    u = (np.arange(w)[None, :] // period) % 2
    v = (np.arange(h)[:, None] // period) % 2
    weave = np.where(u ^ v, 1.0, 0.9) + rng.normal(0, 0.03, (h, w))
    return _to_image(colour[None, None, :] * weave[:, :, None])


def wallpaper(rng, colour, size=(256, 64)):
    """Wall finish: plain paint, stripes, dots or a diamond pattern, drawn to tile over a wide wall."""
    w, h = size
    style = rng.integers(0, 4)
    base = colour[None, None, :] * np.ones((h, w, 1))
    accent = np.clip(colour * rng.uniform(0.75, 0.9) + rng.uniform(-0.05, 0.05, 3), 0, 1)
    if style == 1:
        period = int(rng.integers(6, 14))
        stripes = (np.arange(w) // (period // 2)) % 2 == 0
        base[:, stripes] = accent
    elif style == 2:
        step = int(rng.integers(8, 16))
        image = _to_image(base)
        for cy in range(step // 2, h, step):
            for cx in range(step // 2, w, step):
                cv2.circle(image, (cx, cy), max(1, step // 5), tuple(int(c) for c in _to_image(accent)), -1)
        return image
    elif style == 3:
        step = float(rng.integers(10, 20))
        yy, xx = np.mgrid[0:h, 0:w]
        diamonds = ((np.abs((xx % step) - step / 2) + np.abs((yy % step) - step / 2)) < step / 4)
        base[diamonds] = accent
    base *= (1 + rng.normal(0, 0.02, (h, w, 1)))
    return _to_image(base)


def tiles(rng, colour, size=(128, 128), count=8):
    """Square floor or ceiling tiles with grout lines."""
    w, h = size
    tile = np.ones((h, w, 1)) * colour[None, None, :]
    tile *= rng.uniform(0.92, 1.05, (count, count))[(np.arange(h) * count // h)][:, (np.arange(w) * count // w)][:, :, None]
    grout_u = (np.arange(w) * count) % w < count
    grout_v = (np.arange(h) * count) % h < count
    tile[:, grout_u] *= 0.6
    tile[grout_v, :] *= 0.6
    return _to_image(tile)


def painting(rng, size=(96, 72)):
    """An abstract picture: a gradient sky with random shapes, different for every call."""
    w, h = size
    top, bottom = random_colour(rng, value=(0.5, 1.0)), random_colour(rng, value=(0.2, 0.8))
    t = np.linspace(0, 1, h)[:, None, None]
    image = _to_image(top[None, None, :] * (1 - t) + bottom[None, None, :] * t * np.ones((1, w, 1)))
    for _ in range(rng.integers(3, 9)):
        colour = tuple(int(c) for c in _to_image(random_colour(rng, saturation=(0.3, 1.0))))
        kind = rng.integers(0, 3)
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        if kind == 0:
            cv2.circle(image, (cx, cy), int(rng.integers(3, h // 2)), colour, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(image, (cx, cy), (cx + int(rng.integers(4, w // 2)), cy + int(rng.integers(4, h // 2))),
                          colour, -1)
        else:
            points = rng.integers(0, [w, h], size=(3, 2)).astype(np.int32)
            cv2.fillPoly(image, [points], colour, cv2.LINE_AA)
    return image


def screen(rng, size=(96, 64)):
    """A computer screen: dark desktop with a few windows."""
    w, h = size
    image = _to_image(np.ones((h, w, 3)) * random_colour(rng, value=(0.1, 0.4))[None, None, :])
    for _ in range(rng.integers(1, 4)):
        x0, y0 = int(rng.integers(0, w * 2 // 3)), int(rng.integers(0, h * 2 // 3))
        x1, y1 = x0 + int(rng.integers(w // 4, w // 2)), y0 + int(rng.integers(h // 4, h // 2))
        cv2.rectangle(image, (x0, y0), (x1, y1), (235, 235, 235), -1)
        cv2.rectangle(image, (x0, y0), (x1, y0 + 4), tuple(int(c) for c in _to_image(random_colour(rng))), -1)
        for line in range(y0 + 8, y1 - 2, 5):
            cv2.line(image, (x0 + 3, line), (x0 + 3 + int(rng.integers(5, max(6, x1 - x0 - 6))), line), (90, 90, 90), 1)
    return image


def view_outside(rng, size=(64, 96)):
    """What a window shows: sky over a blurred landscape."""
    w, h = size
    sky = random_colour(rng, hue=(0.52, 0.62), saturation=(0.2, 0.6), value=(0.8, 1.0))
    ground = random_colour(rng, hue=(0.15, 0.35), saturation=(0.3, 0.7), value=(0.3, 0.6))
    horizon = h * rng.uniform(0.5, 0.8) + 6 * _smooth_noise(rng, (w, 1), 8)[0]
    rows = np.arange(h)[:, None]
    image = np.where((rows < horizon[None, :])[:, :, None], sky[None, None, :], ground[None, None, :])
    return _to_image(image * (1 + 0.05 * _smooth_noise(rng, size, 8))[:, :, None])
