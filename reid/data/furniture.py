"""Procedural object models for generated scenes, as lists of primitive parts.

A model lives in its own frame: origin at the centre of its footprint on the floor (for wall-mounted
models: at the bottom centre of the side that touches the wall), x along its width, its front facing
+y, z up; metres. Placing one model several times gives identical instances ("twins").
"""
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import textures
from .nyu40 import NYU40_IDS


@dataclass(eq=False)
class Part:
    """One primitive of a model.

    shape : "box" (size = full extents x, y, z), "cylinder" (size = radius, length along z) or
    "sphere" (size = radius,); position : centre in the model frame; euler : rotation (roll, pitch,
    yaw) in radians; rgba : colour in [0, 1]; texture : HxWx3 uint8 image or None.
    """

    shape: str
    size: tuple
    position: tuple
    rgba: tuple = (1.0, 1.0, 1.0, 1.0)
    texture: Optional[np.ndarray] = None
    euler: tuple = (0.0, 0.0, 0.0)


@dataclass(eq=False)
class Surface:
    """A horizontal rectangle of a model that can hold small objects (model frame, metres)."""

    x0: float
    y0: float
    x1: float
    y1: float
    z: float
    clearance: float = 1.0


@dataclass(eq=False)
class ObjectModel:
    """A named model: its NYU40 class, parts, bounding size (w, d, h) and support surfaces."""

    name: str
    label: int
    parts: list
    size: tuple
    surfaces: list = field(default_factory=list)

    @property
    def class_name(self):
        from .nyu40 import class_name
        return class_name(self.label)


def _rgba(colour, alpha=1.0):
    return (float(colour[0]), float(colour[1]), float(colour[2]), alpha)


def box(extents, centre, colour=(1, 1, 1), texture=None, euler=(0.0, 0.0, 0.0)):
    """A box part from full extents and centre."""
    return Part("box", tuple(float(e) for e in extents), tuple(float(c) for c in centre),
                _rgba((1, 1, 1) if texture is not None else colour), texture, euler)


def cylinder(radius, length, centre, colour=(1, 1, 1), texture=None, euler=(0.0, 0.0, 0.0)):
    """An upright (z) cylinder part unless rotated by ``euler``."""
    return Part("cylinder", (float(radius), float(length)), tuple(float(c) for c in centre),
                _rgba((1, 1, 1) if texture is not None else colour), texture, euler)


def sphere(radius, centre, colour):
    return Part("sphere", (float(radius),), tuple(float(c) for c in centre), _rgba(colour))


def _wood_or_paint(rng):
    if rng.random() < 0.6:
        colour = textures.random_colour(rng, hue=(0.05, 0.12), saturation=(0.35, 0.7), value=(0.3, 0.8))
        return textures.wood(rng, colour, (64, 64))
    return textures.plain(rng, textures.random_colour(rng, saturation=(0.0, 0.5), value=(0.2, 0.95)), (32, 32))


def chair(rng, name):
    """A chair in one of three styles (four legs + panel back, slatted back, office swivel)."""
    width, depth = rng.uniform(0.42, 0.52), rng.uniform(0.40, 0.50)
    seat_height, back_height = rng.uniform(0.42, 0.48), rng.uniform(0.35, 0.55)
    thick = rng.uniform(0.03, 0.07)
    frame = _wood_or_paint(rng)
    seat = textures.fabric(rng, textures.random_colour(rng), (48, 48)) if rng.random() < 0.6 else frame
    style = rng.integers(0, 3)
    parts = [box((width, depth, thick), (0, 0, seat_height - thick / 2), texture=seat)]
    leg = rng.uniform(0.025, 0.045)
    top = seat_height - thick
    if style < 2:
        for sx in (-1, 1):
            for sy in (-1, 1):
                parts.append(box((leg, leg, top), (sx * (width - leg) / 2, sy * (depth - leg) / 2, top / 2),
                                 texture=frame))
    else:
        metal = textures.random_colour(rng, saturation=(0.0, 0.1), value=(0.15, 0.6))
        parts.append(cylinder(0.025, top - 0.06, (0, 0, 0.06 + (top - 0.06) / 2), metal))
        for angle in np.arange(5) * 2 * np.pi / 5:
            parts.append(box((0.3, 0.04, 0.03), (0.15 * np.cos(angle), 0.15 * np.sin(angle), 0.04),
                             metal, euler=(0, 0, angle)))
    back_y = -depth / 2 + thick / 2
    if style == 1:
        for sx in (-1, 1):
            parts.append(box((leg, thick, back_height), (sx * (width - leg) / 2, back_y, seat_height + back_height / 2),
                             texture=frame))
        slats = int(rng.integers(2, 5))
        for k in range(slats):
            z = seat_height + back_height * (k + 1) / (slats + 1)
            parts.append(box((width - 2 * leg, thick * 0.8, back_height / (2 * slats + 2)), (0, back_y, z),
                             texture=frame))
        parts.append(box((width, thick, 0.05), (0, back_y, seat_height + back_height - 0.025), texture=frame))
    else:
        parts.append(box((width * rng.uniform(0.85, 1.0), thick, back_height),
                         (0, back_y, seat_height + back_height / 2), texture=seat))
    if style == 2 or rng.random() < 0.25:  # armrests
        for sx in (-1, 1):
            parts.append(box((0.05, depth * 0.7, 0.04), (sx * (width / 2 - 0.025), 0, seat_height + 0.22), texture=frame))
            parts.append(box((0.03, 0.03, 0.22), (sx * (width / 2 - 0.025), depth * 0.2, seat_height + 0.11), texture=frame))
    return ObjectModel(name, NYU40_IDS["chair"], parts, (width, depth, seat_height + back_height))


def table(rng, name, label="table", size=None):
    """A table (or desk top on legs): top board and four legs; its top is a surface."""
    width, depth = size if size else (rng.uniform(1.2, 1.7), rng.uniform(0.75, 0.95))
    height, thick, leg = rng.uniform(0.72, 0.77), rng.uniform(0.03, 0.05), rng.uniform(0.04, 0.07)
    top_texture, leg_texture = _wood_or_paint(rng), _wood_or_paint(rng)
    parts = [box((width, depth, thick), (0, 0, height - thick / 2), texture=top_texture)]
    inset = rng.uniform(0.02, 0.08)
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(box((leg, leg, height - thick),
                             (sx * (width / 2 - inset - leg / 2), sy * (depth / 2 - inset - leg / 2), (height - thick) / 2),
                             texture=leg_texture))
    surface = Surface(-width / 2 + 0.05, -depth / 2 + 0.05, width / 2 - 0.05, depth / 2 - 0.05, height)
    return ObjectModel(name, NYU40_IDS[label], parts, (width, depth, height), [surface])


def desk(rng, name):
    """A desk: top on two side panels with a modesty panel at the back."""
    width, depth = rng.uniform(1.1, 1.6), rng.uniform(0.6, 0.75)
    height, thick = rng.uniform(0.72, 0.76), rng.uniform(0.025, 0.04)
    top_texture, panel_texture = _wood_or_paint(rng), _wood_or_paint(rng)
    parts = [box((width, depth, thick), (0, 0, height - thick / 2), texture=top_texture)]
    for sx in (-1, 1):
        parts.append(box((0.03, depth - 0.02, height - thick), (sx * (width / 2 - 0.03), 0, (height - thick) / 2),
                         texture=panel_texture))
    parts.append(box((width - 0.1, 0.02, 0.4), (0, -depth / 2 + 0.05, height - thick - 0.2), texture=panel_texture))
    if rng.random() < 0.5:  # a drawer block on one side
        side = rng.choice([-1, 1])
        parts.append(box((0.4, depth - 0.06, 0.55), (side * (width / 2 - 0.25), 0, height - thick - 0.275),
                         texture=panel_texture))
    surface = Surface(-width / 2 + 0.05, -depth / 2 + 0.05, width / 2 - 0.05, depth / 2 - 0.05, height)
    return ObjectModel(name, NYU40_IDS["desk"], parts, (width, depth, height), [surface])


def cabinet(rng, name):
    """A cabinet: body, door panels with handles; its top is a surface."""
    width, depth, height = rng.uniform(0.6, 1.2), rng.uniform(0.4, 0.5), rng.uniform(0.7, 1.0)
    body = _wood_or_paint(rng)
    door = _wood_or_paint(rng) if rng.random() < 0.5 else body
    handle = textures.random_colour(rng, saturation=(0, 0.2), value=(0.2, 0.9))
    parts = [box((width, depth, height), (0, 0, height / 2), texture=body)]
    doors = 2 if width > 0.8 else 1
    door_width = (width - 0.04) / doors
    for k in range(doors):
        x = -width / 2 + 0.02 + door_width * (k + 0.5)
        parts.append(box((door_width - 0.01, 0.015, height - 0.08), (x, depth / 2 + 0.0075, height / 2), texture=door))
        hx = x + (door_width / 2 - 0.06) * (1 if k == 0 and doors == 2 else -1)
        parts.append(box((0.02, 0.03, 0.12), (hx, depth / 2 + 0.03, height * 0.6), handle))
    surface = Surface(-width / 2 + 0.04, -depth / 2 + 0.04, width / 2 - 0.04, depth / 2 - 0.04, height)
    return ObjectModel(name, NYU40_IDS["cabinet"], parts, (width, depth, height), [surface])


def bookshelf(rng, name):
    """An open bookshelf; every shelf is a surface (with its clearance)."""
    width, depth, height = rng.uniform(0.7, 1.0), rng.uniform(0.28, 0.36), rng.uniform(1.5, 2.0)
    board = rng.uniform(0.02, 0.035)
    texture = _wood_or_paint(rng)
    shelves = int(rng.integers(4, 6))
    parts = [box((board, depth, height), (sx * (width - board) / 2, 0, height / 2), texture=texture) for sx in (-1, 1)]
    parts.append(box((width, 0.01, height), (0, -depth / 2 + 0.005, height / 2), texture=texture))
    surfaces = []
    levels = np.linspace(0.05, height - board / 2, shelves + 1)
    for k, z in enumerate(levels):
        parts.append(box((width - 2 * board, depth, board), (0, 0, z), texture=texture))
        if k < shelves:
            surfaces.append(Surface(-width / 2 + board + 0.01, -depth / 2 + 0.02, width / 2 - board - 0.01,
                                    depth / 2 - 0.02, z + board / 2, clearance=levels[k + 1] - z - board))
    return ObjectModel(name, NYU40_IDS["bookshelf"], parts, (width, depth, height), surfaces)


def books(rng, name, width, max_height=0.3):
    """A row of books standing side by side, ``width`` long."""
    parts, x = [], -width / 2
    depth = rng.uniform(0.14, 0.2)
    while True:
        thick = rng.uniform(0.015, 0.05)
        if x + thick > width / 2:
            break
        height = rng.uniform(0.16, min(0.28, max_height - 0.01))
        colour = textures.random_colour(rng, saturation=(0.3, 0.9), value=(0.2, 0.9))
        parts.append(box((thick * 0.95, depth * rng.uniform(0.85, 1.0), height), (x + thick / 2, 0, height / 2), colour))
        x += thick
    return ObjectModel(name, NYU40_IDS["books"], parts, (width, depth, max_height))


def sofa(rng, name):
    """A sofa: base, seat cushion, back and arms in one fabric; the seat is a surface (pillows)."""
    width, depth = rng.uniform(1.6, 2.2), rng.uniform(0.8, 0.95)
    seat, back = rng.uniform(0.4, 0.46), rng.uniform(0.75, 0.9)
    cloth = textures.fabric(rng, textures.random_colour(rng, saturation=(0.1, 0.7), value=(0.2, 0.8)), (64, 64))
    arm = rng.uniform(0.12, 0.22)
    parts = [box((width, depth, seat - 0.12), (0, 0, (seat - 0.12) / 2), texture=cloth),
             box((width - 2 * arm, depth - 0.2, 0.12), (0, 0.1, seat - 0.06), texture=cloth),
             box((width, 0.2, back), (0, -depth / 2 + 0.1, back / 2), texture=cloth)]
    for sx in (-1, 1):
        parts.append(box((arm, depth, seat + 0.18), (sx * (width - arm) / 2, 0, (seat + 0.18) / 2), texture=cloth))
    surface = Surface(-width / 2 + arm + 0.05, -depth / 2 + 0.22, width / 2 - arm - 0.05, -depth / 2 + 0.4, seat)
    return ObjectModel(name, NYU40_IDS["sofa"], parts, (width, depth, back), [surface])


def pillow(rng, name):
    """A square cushion standing upright (leaning against a sofa back)."""
    side = rng.uniform(0.35, 0.45)
    cloth = textures.fabric(rng, textures.random_colour(rng, saturation=(0.3, 0.9)), (32, 32))
    parts = [box((side, 0.12, side), (0, 0, side / 2), texture=cloth, euler=(-0.2, 0, 0))]
    return ObjectModel(name, NYU40_IDS["pillow"], parts, (side, 0.2, side))


def lamp(rng, name, floor=True):
    """A floor lamp or a desk lamp: base, pole, shade."""
    height = rng.uniform(1.4, 1.75) if floor else rng.uniform(0.35, 0.5)
    base_radius = 0.15 if floor else 0.07
    metal = textures.random_colour(rng, saturation=(0, 0.3), value=(0.1, 0.8))
    shade = textures.random_colour(rng, saturation=(0.0, 0.5), value=(0.7, 1.0))
    shade_height = 0.3 if floor else 0.14
    shade_radius = rng.uniform(0.17, 0.24) if floor else rng.uniform(0.07, 0.1)
    parts = [cylinder(base_radius, 0.03, (0, 0, 0.015), metal),
             cylinder(0.012, height - shade_height, (0, 0, (height - shade_height) / 2), metal),
             cylinder(shade_radius, shade_height, (0, 0, height - shade_height / 2), shade)]
    return ObjectModel(name, NYU40_IDS["lamp"], parts, (2 * shade_radius, 2 * shade_radius, height))


def monitor(rng, name):
    """A computer monitor: foot, neck, bezel and a lit screen (NYU40 "television")."""
    width = rng.uniform(0.45, 0.62)
    height = width * rng.uniform(0.55, 0.65)
    lift = rng.uniform(0.08, 0.14)
    plastic = textures.random_colour(rng, saturation=(0, 0.1), value=(0.05, 0.5))
    parts = [box((0.22, 0.18, 0.015), (0, 0, 0.0075), plastic),
             box((0.05, 0.03, lift + height / 2), (0, -0.03, (lift + height / 2) / 2), plastic),
             box((width, 0.03, height), (0, 0, lift + height / 2), plastic),
             box((width - 0.03, 0.004, height - 0.03), (0, 0.017, lift + height / 2), texture=textures.screen(rng))]
    return ObjectModel(name, NYU40_IDS["television"], parts, (width, 0.18, lift + height))


def mug(rng, name):
    """A mug: cylinder with a handle (NYU40 "otherprop")."""
    radius, height = rng.uniform(0.035, 0.05), rng.uniform(0.08, 0.11)
    colour = textures.random_colour(rng, saturation=(0.0, 0.9), value=(0.3, 1.0))
    parts = [cylinder(radius, height, (0, 0, height / 2), colour),
             box((0.012, 0.05, height * 0.6), (radius + 0.015, 0, height / 2), colour)]
    if rng.random() < 0.5:  # a coloured band
        band = textures.random_colour(rng, saturation=(0.5, 1.0))
        parts.append(cylinder(radius * 1.02, height * 0.25, (0, 0, height * 0.6), band))
    return ObjectModel(name, NYU40_IDS["otherprop"], parts, (2 * radius + 0.04, 2 * radius, height))


def cardboard_box(rng, name):
    """A closed cardboard box with a tape strip."""
    w, d, h = rng.uniform(0.25, 0.55), rng.uniform(0.25, 0.45), rng.uniform(0.2, 0.45)
    brown = textures.random_colour(rng, hue=(0.07, 0.11), saturation=(0.35, 0.6), value=(0.5, 0.8))
    parts = [box((w, d, h), (0, 0, h / 2), texture=textures.plain(rng, brown, (32, 32), noise=0.06)),
             box((0.05, d + 0.004, 0.004), (0, 0, h), textures.random_colour(rng, value=(0.6, 1.0)))]
    return ObjectModel(name, NYU40_IDS["box"], parts, (w, d, h))


def plant(rng, name):
    """A potted plant: pot and a few foliage spheres (NYU40 "otherprop")."""
    pot_radius, pot_height = rng.uniform(0.1, 0.18), rng.uniform(0.18, 0.3)
    pot = textures.random_colour(rng, saturation=(0.2, 0.8), value=(0.3, 0.9))
    leaves = textures.random_colour(rng, hue=(0.22, 0.4), saturation=(0.4, 0.9), value=(0.25, 0.6))
    parts = [cylinder(pot_radius, pot_height, (0, 0, pot_height / 2), pot)]
    for _ in range(int(rng.integers(2, 5))):
        r = rng.uniform(0.1, 0.2)
        parts.append(sphere(r, (rng.uniform(-0.08, 0.08), rng.uniform(-0.08, 0.08), pot_height + r * rng.uniform(0.6, 1.6)),
                            leaves * rng.uniform(0.8, 1.2)))
    return ObjectModel(name, NYU40_IDS["otherprop"], parts, (0.45, 0.45, pot_height + 0.45))


def picture(rng, name):
    """A framed picture for a wall (its back at y = 0)."""
    width, height = rng.uniform(0.35, 1.0), rng.uniform(0.3, 0.8)
    frame = textures.random_colour(rng, saturation=(0, 0.6), value=(0.05, 0.9))
    border = rng.uniform(0.02, 0.05)
    canvas = textures.painting(rng, (int(96 * width / height) if width > height else 96, 96))
    parts = [box((width, 0.02, height), (0, 0.01, height / 2), texture=canvas)]
    for sz in (0, 1):
        parts.append(box((width + 2 * border, 0.03, border), (0, 0.015, sz * height + (sz - 0.5) * border), frame))
    for sx in (-1, 1):
        parts.append(box((border, 0.03, height), (sx * (width + border) / 2, 0.015, height / 2), frame))
    return ObjectModel(name, NYU40_IDS["picture"], parts, (width + 2 * border, 0.03, height + 2 * border))


def whiteboard(rng, name):
    """A whiteboard with an aluminium frame and a pen tray."""
    width, height = rng.uniform(1.0, 1.8), rng.uniform(0.8, 1.1)
    white = textures.plain(rng, np.array([0.93, 0.94, 0.95]), (64, 32), noise=0.01)
    alu = np.array([0.7, 0.7, 0.72])
    parts = [box((width, 0.02, height), (0, 0.01, height / 2), texture=white),
             box((width * 0.4, 0.06, 0.02), (0, 0.03, 0.0), alu)]
    for sz in (0, 1):
        parts.append(box((width + 0.04, 0.025, 0.02), (0, 0.0125, sz * height), alu))
    for sx in (-1, 1):
        parts.append(box((0.02, 0.025, height), (sx * (width + 0.02) / 2, 0.0125, height / 2), alu))
    return ObjectModel(name, NYU40_IDS["whiteboard"], parts, (width + 0.04, 0.06, height))


def door(rng, name):
    """A door in its frame, flush with the wall (back at y = 0)."""
    width, height = rng.uniform(0.8, 0.95), rng.uniform(2.0, 2.15)
    leaf = _wood_or_paint(rng)
    frame = textures.random_colour(rng, saturation=(0, 0.3), value=(0.5, 1.0))
    parts = [box((width, 0.04, height), (0, 0.02, height / 2), texture=leaf),
             box((0.12, 0.05, 0.025), (width / 2 - 0.12, 0.06, height * 0.48), np.array([0.75, 0.75, 0.7]))]
    for sx in (-1, 1):
        parts.append(box((0.06, 0.05, height + 0.06), (sx * (width / 2 + 0.03), 0.025, (height + 0.06) / 2), frame))
    parts.append(box((width + 0.12, 0.05, 0.06), (0, 0.025, height + 0.03), frame))
    return ObjectModel(name, NYU40_IDS["door"], parts, (width + 0.12, 0.05, height + 0.06))


def window(rng, name):
    """A window (back at y = 0, bottom at z = 0): frame, glazing bars and a view outside."""
    width, height = rng.uniform(0.8, 1.6), rng.uniform(1.0, 1.4)
    frame = textures.random_colour(rng, saturation=(0, 0.3), value=(0.6, 1.0))
    parts = [box((width, 0.01, height), (0, 0.005, height / 2), texture=textures.view_outside(rng, (64, 64)))]
    for sz in (0, 1):
        parts.append(box((width + 0.1, 0.06, 0.05), (0, 0.03, sz * height), frame))
    for sx in (-1, 0, 1):
        parts.append(box((0.05, 0.06, height), (sx * width / 2, 0.03, height / 2), frame))
    parts.append(box((width + 0.2, 0.16, 0.03), (0, 0.08, -0.04), frame))  # sill
    return ObjectModel(name, NYU40_IDS["window"], parts, (width + 0.2, 0.16, height + 0.1))
