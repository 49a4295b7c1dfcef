"""Named, geometrically different object-model variants per class ("style families" of models).

Every variant is a builder ``builder(rng, name, materials) -> ObjectModel`` that follows the
conventions of :mod:`reid.data.furniture`: the model's origin is the centre of its footprint on the
floor (or on the surface it stands on), x runs along its width, its front faces +y, z is up, metres;
``size = (w, d, h)`` bounds every part (the footprint is symmetric about the origin) and
``surfaces`` are the rectangles that hold small objects. Builders draw their dimensions from
``rng`` and every colour and texture from ``materials`` (see :class:`MaterialsLike`), so one
builder gives a new model at each call, and the same geometry can wear procedural or photographic
looks. A twin group is one model placed several times: all randomness happens at build time.

The variants of each class are split by name into two disjoint halves (:data:`MODEL_SPLITS`), so
that training rooms and validation rooms can be furnished from different model families::

    variant = sample_variant(rng, "chair", "train")
    model = build("chair", variant, rng, "chair_twin", materials)

Kinds (the names the room layout uses): ``chair``, ``table`` (dining), ``desk``, ``monitor``,
``mug``, ``floor_lamp``, ``desk_lamp``, ``plant`` (on the floor), ``small_plant`` (on a surface),
``pillow``, ``sofa``, ``bookshelf``, ``cabinet``, ``box`` (on the floor) and ``small_box`` (on a
surface).
"""
import dataclasses
import functools

import numpy as np

from .furniture import ObjectModel, Part, Surface, box, cylinder, sphere
from .nyu40 import NYU40_IDS

HALVES = ("train", "val")
"""The two halves every class's variants are split into."""

KIND_LABELS = {
    "chair": NYU40_IDS["chair"], "table": NYU40_IDS["table"], "desk": NYU40_IDS["desk"],
    "monitor": NYU40_IDS["television"], "mug": NYU40_IDS["otherprop"], "floor_lamp": NYU40_IDS["lamp"],
    "desk_lamp": NYU40_IDS["lamp"], "plant": NYU40_IDS["otherprop"], "small_plant": NYU40_IDS["otherprop"],
    "pillow": NYU40_IDS["pillow"], "sofa": NYU40_IDS["sofa"], "bookshelf": NYU40_IDS["bookshelf"],
    "cabinet": NYU40_IDS["cabinet"], "box": NYU40_IDS["box"], "small_box": NYU40_IDS["box"],
}
"""Kind -> NYU40 label id of its models."""


class MaterialsLike:
    """The interface builders need from ``materials`` (documentation only; nothing inherits it).

    ``texture(rng, kind, size=(W, H))`` returns an HxWx3 uint8 image for ``kind`` in ("wall",
    "floor", "ceiling", "wood", "fabric", "metal", "plastic", "stone"); ``colour(rng, hue=(0, 1),
    saturation=(0.2, 0.8), value=(0.3, 0.9))`` returns an RGB float array in [0, 1].
    """

    def texture(self, rng, kind, size=(64, 64)):
        raise NotImplementedError

    def colour(self, rng, hue=(0.0, 1.0), saturation=(0.2, 0.8), value=(0.3, 0.9)):
        raise NotImplementedError


# --------------------------------------------------------------------------------------------------
# Parts: a "finish" is either a texture (HxWx3 uint8 image) or an RGB colour.

def _is_texture(finish):
    return isinstance(finish, np.ndarray) and finish.ndim == 3


def _box(extents, centre, finish, euler=(0.0, 0.0, 0.0)):
    """A box part (full extents, centre) wearing ``finish``."""
    if _is_texture(finish):
        return box(extents, centre, texture=finish, euler=euler)
    return box(extents, centre, colour=finish, euler=euler)


def _cylinder(radius, length, centre, finish, euler=(0.0, 0.0, 0.0)):
    """A cylinder part (upright unless rotated) wearing ``finish``."""
    if _is_texture(finish):
        return cylinder(radius, length, centre, texture=finish, euler=euler)
    return cylinder(radius, length, centre, colour=finish, euler=euler)


def _sphere(radius, centre, finish):
    """A sphere part wearing ``finish``."""
    if _is_texture(finish):
        return Part("sphere", (float(radius),), tuple(float(c) for c in centre), (1.0, 1.0, 1.0, 1.0), finish)
    return sphere(radius, centre, finish)


def _axis_euler(direction):
    """Euler angles (roll, pitch, yaw) that turn a part's z axis onto ``direction``.

    The part's y axis stays horizontal (perpendicular to the direction's horizontal projection);
    for a vertical direction the part is not rotated.
    """
    dx, dy, dz = np.asarray(direction, dtype=float) / np.linalg.norm(direction)
    horizontal = np.hypot(dx, dy)
    yaw = float(np.arctan2(dy, dx)) if horizontal > 1e-9 else 0.0
    return (0.0, float(np.arctan2(horizontal, dz)), yaw)


def _rod(start, end, radius, finish):
    """A cylinder from point ``start`` to point ``end``."""
    start, end = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
    return _cylinder(radius, np.linalg.norm(end - start), (start + end) / 2, finish, _axis_euler(end - start))


def _bar(start, end, width, thickness, finish):
    """A box from point ``start`` to point ``end``.

    ``width`` runs horizontally across the bar, ``thickness`` across it in the vertical plane that
    holds the bar (for a vertical bar: width along y, thickness along x).
    """
    start, end = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
    return _box((thickness, width, np.linalg.norm(end - start)), (start + end) / 2, finish, _axis_euler(end - start))


def _floor_lift(radius, start, end):
    """How far a tilted cylinder's lower end must rise so that its rim does not cut the floor."""
    direction = np.asarray(end, dtype=float) - np.asarray(start, dtype=float)
    return radius * np.hypot(direction[0], direction[1]) / np.linalg.norm(direction)


def _rotation(euler):
    """The rotation matrix pybullet builds from ``euler`` = (roll, pitch, yaw): Rz @ Ry @ Rx."""
    roll, pitch, yaw = euler
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def part_bounds(part):
    """Axis-aligned bounds (lo, hi) of one part in the model frame.

    Parameters
    ----------
    part : reid.data.furniture.Part

    Returns
    -------
    lo, hi : ndarray, 3
    """
    centre = np.asarray(part.position, dtype=float)
    rotation = _rotation(part.euler)
    if part.shape == "box":
        half = np.abs(rotation) @ (np.asarray(part.size, dtype=float) / 2)
    elif part.shape == "cylinder":
        radius, length = part.size
        axis = rotation[:, 2]
        half = np.abs(axis) * length / 2 + radius * np.sqrt(np.clip(1 - axis ** 2, 0.0, None))
    elif part.shape == "sphere":
        half = np.full(3, float(part.size[0]))
    else:
        raise ValueError(f"unknown part shape {part.shape!r}")
    return centre - half, centre + half


def model_bounds(model_or_parts):
    """Axis-aligned bounds (lo, hi) of a model (or a list of parts) in its own frame."""
    parts = model_or_parts.parts if isinstance(model_or_parts, ObjectModel) else model_or_parts
    bounds = [part_bounds(part) for part in parts]
    return np.min([lo for lo, _ in bounds], axis=0), np.max([hi for _, hi in bounds], axis=0)


def _shifted(parts, offset):
    """Copies of ``parts`` moved by ``offset`` (x, y, z)."""
    return [dataclasses.replace(part, position=tuple(float(p + o) for p, o in zip(part.position, offset)))
            for part in parts]


def _centred(parts, surfaces=()):
    """Parts (and surfaces) moved so that the footprint is centred and the lowest point is at z = 0."""
    lo, hi = model_bounds(parts)
    offset = (-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2])
    moved_surfaces = [Surface(s.x0 + offset[0], s.y0 + offset[1], s.x1 + offset[0], s.y1 + offset[1], s.z + offset[2],
                              s.clearance) for s in surfaces]
    return _shifted(parts, offset), moved_surfaces


def _model(name, kind, parts, surfaces=()):
    """An :class:`ObjectModel` of ``kind`` whose size bounds its parts symmetrically about the origin."""
    lo, hi = model_bounds(parts)
    size = (2 * max(-lo[0], hi[0]), 2 * max(-lo[1], hi[1]), hi[2])
    return ObjectModel(name, KIND_LABELS[kind], parts, tuple(float(s) for s in size), list(surfaces))


def _top_surface(width, depth, height, margin=0.05):
    """The usable top of a ``width`` x ``depth`` board at ``height``."""
    return Surface(-width / 2 + margin, -depth / 2 + margin, width / 2 - margin, depth / 2 - margin, height)


# --------------------------------------------------------------------------------------------------
# Finishes, all drawn from ``materials``.

def _wood(rng, materials, size=(64, 64)):
    return materials.texture(rng, "wood", size=size)


def _fabric(rng, materials, size=(48, 48)):
    return materials.texture(rng, "fabric", size=size)


def _plastic(rng, materials, size=(32, 32)):
    return materials.texture(rng, "plastic", size=size)


def _metal(rng, materials, size=(32, 32)):
    return materials.texture(rng, "metal", size=size)


def _stone(rng, materials, size=(32, 32)):
    return materials.texture(rng, "stone", size=size)


def _wood_or_paint(rng, materials):
    """Wood (60 %) or a painted (plastic) finish, as furniture frames wear."""
    return _wood(rng, materials) if rng.random() < 0.6 else _plastic(rng, materials)


def _metal_colour(rng, materials):
    """Steel, chrome or black metal for thin tubes."""
    return materials.colour(rng, saturation=(0.0, 0.1), value=(0.12, 0.85))


def _dark_plastic_colour(rng, materials):
    return materials.colour(rng, saturation=(0.0, 0.12), value=(0.05, 0.45))


def _screen_colour(rng, materials):
    """A lit screen: dark-to-bright bluish grey."""
    return materials.colour(rng, hue=(0.5, 0.7), saturation=(0.1, 0.6), value=(0.15, 0.85))


def _leaf_colour(rng, materials):
    return materials.colour(rng, hue=(0.2, 0.4), saturation=(0.4, 0.9), value=(0.2, 0.6))


def _soil_colour(rng, materials):
    return materials.colour(rng, hue=(0.05, 0.1), saturation=(0.3, 0.6), value=(0.1, 0.25))


def _cardboard_colour(rng, materials):
    return materials.colour(rng, hue=(0.07, 0.11), saturation=(0.35, 0.6), value=(0.5, 0.8))


def _vary(colour, rng, spread=0.15):
    """``colour`` a little lighter or darker."""
    return np.clip(np.asarray(colour, dtype=float) * rng.uniform(1 - spread, 1 + spread), 0.0, 1.0)


def _corner_legs(width, depth, thickness, height, finish, inset=0.0, round_legs=False):
    """Four upright legs from the floor to ``height`` under the corners of a ``width`` x ``depth`` top."""
    legs = []
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (width / 2 - inset - thickness / 2), sy * (depth / 2 - inset - thickness / 2)
            if round_legs:
                legs.append(_cylinder(thickness / 2, height, (x, y, height / 2), finish))
            else:
                legs.append(_box((thickness, thickness, height), (x, y, height / 2), finish))
    return legs


def _splayed_legs(width, depth, top, radius, splay, finish, inset=0.06):
    """Four round legs from under-top corners (height ``top``) out to the floor by ``splay``."""
    legs = []
    for sx in (-1, 1):
        for sy in (-1, 1):
            upper = (sx * (width / 2 - inset), sy * (depth / 2 - inset), top)
            lower = [sx * (width / 2 - inset + splay), sy * (depth / 2 - inset + splay), 0.0]
            lower[2] = _floor_lift(radius, lower, upper)
            legs.append(_rod(lower, upper, radius, finish))
    return legs


def _curved_panel(width, height, thickness, bend, centre_y, bottom, finish, segments=3):
    """A panel bent round vertical joints: an odd number of flat segments, the outer ones turned
    forward (+y) by ``bend`` radians more at each joint.

    Returns
    -------
    parts : list of Part
    frames : list of ((x, y, z), yaw)
        Centre and yaw of each segment, to add facings (screens) on them.
    """
    if segments % 2 != 1:
        raise ValueError("a curved panel needs an odd number of segments")
    piece = width / segments
    z = bottom + height / 2
    frames = [((0.0, centre_y, z), 0.0)]
    for side in (-1.0, 1.0):
        edge = np.array([side * piece / 2, centre_y])
        for joint in range(1, segments // 2 + 1):
            angle = bend * joint
            step = piece * np.array([side * np.cos(angle), np.sin(angle)])
            frames.append(((float(edge[0] + step[0] / 2), float(edge[1] + step[1] / 2), z), float(side * angle)))
            edge = edge + step
    parts = [_box((piece, thickness, height), centre, finish, euler=(0.0, 0.0, yaw)) for centre, yaw in frames]
    return parts, frames


# --------------------------------------------------------------------------------------------------
# Chairs (NYU40 "chair"); seat height 0.42-0.50 m.

def chair_four_leg_panel(rng, name, materials):
    """Four square legs, a flat seat and a solid panel back."""
    width, depth = rng.uniform(0.42, 0.52), rng.uniform(0.40, 0.50)
    seat_height, back_height = rng.uniform(0.42, 0.48), rng.uniform(0.35, 0.55)
    thick, leg = rng.uniform(0.03, 0.06), rng.uniform(0.03, 0.045)
    frame = _wood_or_paint(rng, materials)
    seat = _fabric(rng, materials) if rng.random() < 0.5 else frame
    back_thick = rng.uniform(0.02, 0.04)
    parts = [_box((width, depth, thick), (0, 0, seat_height - thick / 2), seat)]
    parts += _corner_legs(width, depth, leg, seat_height - thick, frame)
    parts.append(_box((width * rng.uniform(0.85, 1.0), back_thick, back_height),
                      (0, -depth / 2 + back_thick / 2, seat_height + back_height / 2), seat))
    return _model(name, "chair", parts)


def chair_slatted_back(rng, name, materials):
    """Four legs, two back posts, horizontal slats and a top rail."""
    width, depth = rng.uniform(0.42, 0.52), rng.uniform(0.40, 0.50)
    seat_height, back_height = rng.uniform(0.42, 0.48), rng.uniform(0.4, 0.55)
    thick, leg = rng.uniform(0.03, 0.05), rng.uniform(0.03, 0.045)
    frame = _wood_or_paint(rng, materials)
    seat = _fabric(rng, materials) if rng.random() < 0.4 else frame
    parts = [_box((width, depth, thick), (0, 0, seat_height - thick / 2), seat)]
    parts += _corner_legs(width, depth, leg, seat_height - thick, frame)
    back_y = -depth / 2 + leg / 2
    for sx in (-1, 1):
        parts.append(_box((leg, leg, back_height), (sx * (width - leg) / 2, back_y, seat_height + back_height / 2),
                          frame))
    slats = int(rng.integers(2, 5))
    for k in range(slats):
        z = seat_height + (back_height - 0.06) * (k + 1) / (slats + 1)
        parts.append(_box((width - 2 * leg, leg * 0.6, back_height / (2 * slats + 2)), (0, back_y, z), frame))
    parts.append(_box((width, leg * 1.2, 0.06), (0, back_y, seat_height + back_height - 0.03), frame))
    return _model(name, "chair", parts)


def chair_spindle_back(rng, name, materials):
    """A Windsor chair: thick seat on splayed round legs, vertical spindles under a bow rail."""
    width, depth = rng.uniform(0.44, 0.52), rng.uniform(0.42, 0.50)
    seat_height, back_height = rng.uniform(0.43, 0.47), rng.uniform(0.40, 0.55)
    thick = rng.uniform(0.035, 0.05)
    wood = _wood(rng, materials)
    leg_radius, splay = rng.uniform(0.016, 0.021), rng.uniform(0.025, 0.05)
    parts = [_box((width, depth, thick), (0, 0, seat_height - thick / 2), wood)]
    parts += _splayed_legs(width, depth, seat_height - thick, leg_radius, splay, wood, inset=0.07)
    stretcher_z = rng.uniform(0.14, 0.2)
    for sx in (-1, 1):  # side stretchers, then one across the middle: an H
        x = sx * (width / 2 - 0.07 + splay * (1 - stretcher_z / (seat_height - thick)))
        parts.append(_rod((x, -depth / 2 + 0.08, stretcher_z), (x, depth / 2 - 0.08, stretcher_z), 0.011, wood))
    parts.append(_rod((-width / 2 + 0.08, 0, stretcher_z), (width / 2 - 0.08, 0, stretcher_z), 0.011, wood))
    back_y = -depth / 2 + 0.035
    rail_height = rng.uniform(0.05, 0.07)
    top = seat_height + back_height
    spindles = int(rng.integers(5, 10))
    spindle_radius = rng.uniform(0.007, 0.011)
    span = width * 0.4
    rail_width, bend = width * rng.uniform(0.85, 0.98), rng.uniform(0.15, 0.3)
    parts += _curved_panel(rail_width, rail_height, 0.035, bend, back_y, top - rail_height, wood)[0]
    for k in range(spindles):
        x = -span + 2 * span * k / (spindles - 1)
        forward = max(0.0, abs(x) - rail_width / 6) * np.tan(bend)   # follow the bow of the rail
        parts.append(_rod((x, back_y, seat_height - 0.005), (x, back_y + forward, top - rail_height / 2),
                          spindle_radius, wood))
    return _model(name, "chair", parts)


def chair_ladder_back(rng, name, materials):
    """Round posts running from the floor to a tall back, thin rungs across, a rush seat, finials."""
    width, depth = rng.uniform(0.44, 0.50), rng.uniform(0.40, 0.46)
    seat_height, back_height = rng.uniform(0.43, 0.47), rng.uniform(0.5, 0.65)
    radius = rng.uniform(0.016, 0.022)
    wood = _wood(rng, materials)
    rush = _fabric(rng, materials) if rng.random() < 0.7 else wood
    thick = rng.uniform(0.03, 0.04)
    top = seat_height + back_height
    parts = [_box((width - 0.01, depth - 0.01, thick), (0, 0, seat_height - thick / 2), rush)]
    for sx in (-1, 1):
        x = sx * (width / 2 - radius)
        parts.append(_cylinder(radius, top, (x, -depth / 2 + radius, top / 2), wood))              # back post
        parts.append(_cylinder(radius, seat_height + 0.02, (x, depth / 2 - radius, (seat_height + 0.02) / 2), wood))
        parts.append(_sphere(radius * 1.35, (x, -depth / 2 + radius, top + radius * 0.8), wood))    # finial
        parts.append(_rod((x, -depth / 2 + radius, 0.16), (x, depth / 2 - radius, 0.16), radius * 0.5, wood))
    parts.append(_rod((-width / 2 + radius, depth / 2 - radius, 0.22), (width / 2 - radius, depth / 2 - radius, 0.22),
                      radius * 0.5, wood))
    rungs = int(rng.integers(3, 6))
    rung_height = rng.uniform(0.04, 0.06)
    for k in range(rungs):
        z = seat_height + 0.08 + (back_height - 0.12) * k / (rungs - 1)
        parts.append(_box((width - 2 * radius, 0.016, rung_height), (0, -depth / 2 + radius, z), wood))
    return _model(name, "chair", parts)


def chair_upholstered(rng, name, materials):
    """A padded dining chair: thick upholstered seat block and back with a rolled top, short legs."""
    width, depth = rng.uniform(0.48, 0.56), rng.uniform(0.5, 0.58)
    seat_height, back_height = rng.uniform(0.44, 0.48), rng.uniform(0.42, 0.58)
    leg_height, leg = rng.uniform(0.1, 0.16), rng.uniform(0.035, 0.045)
    back_thick = rng.uniform(0.1, 0.14)
    cloth, legs = _fabric(rng, materials), _wood(rng, materials)
    parts = _corner_legs(width, depth, leg, leg_height, legs, inset=0.02)
    parts.append(_box((width, depth - back_thick, seat_height - leg_height),
                      (0, back_thick / 2, (seat_height + leg_height) / 2), cloth))
    back_top = seat_height + back_height - back_thick / 2
    parts.append(_box((width, back_thick, back_top - leg_height), (0, -depth / 2 + back_thick / 2,
                                                                    (back_top + leg_height) / 2), cloth))
    parts.append(_cylinder(back_thick / 2, width, (0, -depth / 2 + back_thick / 2, back_top), cloth,
                           euler=(0.0, np.pi / 2, 0.0)))
    return _model(name, "chair", parts)


def chair_armchair(rng, name, materials):
    """A small club armchair: solid upholstered sides as arms, thick back, seat cushion, low feet."""
    width, depth = rng.uniform(0.6, 0.7), rng.uniform(0.58, 0.66)
    seat_height, back_height = rng.uniform(0.42, 0.46), rng.uniform(0.36, 0.48)
    arm_height = seat_height + rng.uniform(0.14, 0.2)
    arm, back_thick, foot = rng.uniform(0.09, 0.12), rng.uniform(0.11, 0.14), rng.uniform(0.03, 0.06)
    cloth, feet = _fabric(rng, materials), _wood_or_paint(rng, materials)
    cushion_cloth = _fabric(rng, materials) if rng.random() < 0.3 else cloth
    parts = _corner_legs(width, depth, 0.05, foot, feet, inset=0.03)
    for sx in (-1, 1):
        parts.append(_box((arm, depth, arm_height - foot), (sx * (width - arm) / 2, 0, (arm_height + foot) / 2), cloth))
    inner = width - 2 * arm
    parts.append(_box((inner, back_thick, seat_height + back_height - foot),
                      (0, -depth / 2 + back_thick / 2, (seat_height + back_height + foot) / 2), cloth))
    cushion = rng.uniform(0.08, 0.12)
    parts.append(_box((inner, depth - back_thick, seat_height - cushion - foot),
                      (0, back_thick / 2, (seat_height - cushion + foot) / 2), cloth))
    parts.append(_box((inner - 0.01, depth - back_thick - 0.01, cushion),
                      (0, back_thick / 2, seat_height - cushion / 2), cushion_cloth))
    lean = rng.uniform(0.08, 0.18)
    pad_height = back_height * 0.85
    parts.append(_box((inner - 0.02, 0.09, pad_height),
                      (0, -depth / 2 + back_thick + 0.045 + np.sin(lean) * pad_height / 2 - 0.02,
                       seat_height + pad_height / 2 * np.cos(lean)), cushion_cloth, euler=(float(lean), 0.0, 0.0)))
    return _model(name, "chair", parts)


def chair_sled(rng, name, materials):
    """A sled-base chair: two bent-tube runners carry a moulded seat and a reclined back shell."""
    width, depth = rng.uniform(0.44, 0.50), rng.uniform(0.46, 0.54)
    seat_height, back_height = rng.uniform(0.44, 0.47), rng.uniform(0.36, 0.46)
    tube = rng.uniform(0.009, 0.012)
    metal = _metal_colour(rng, materials)
    shell = _plastic(rng, materials) if rng.random() < 0.6 else _fabric(rng, materials)
    rail_z = seat_height - 0.035
    back_base_y = -depth / 2 + 0.06
    recline = rng.uniform(0.04, 0.1)
    back_top = (0, -depth / 2 + 0.06 - recline, seat_height + back_height * 0.9)
    parts = []
    for sx in (-1, 1):
        x = sx * (width / 2 - 0.03)
        front, rear = depth / 2 - 0.03, -depth / 2 + 0.03
        parts.append(_rod((x, rear, tube), (x, front, tube), tube, metal))                         # runner
        parts.append(_rod((x, front, tube), (x, front - 0.03, rail_z), tube, metal))               # front upright
        parts.append(_rod((x, rear, tube), (x, back_base_y, rail_z), tube, metal))                 # rear upright
        parts.append(_rod((x, back_base_y, rail_z), (x, front - 0.03, rail_z), tube, metal))       # seat rail
        parts.append(_rod((x, back_base_y, rail_z), (x, back_top[1], back_top[2]), tube, metal))   # back support
    parts.append(_box((width - 0.02, depth - 0.05, 0.025), (0, 0.0, rail_z + tube + 0.0125), shell))
    support_foot, support_top = np.array([0, back_base_y, rail_z]), np.array(back_top, dtype=float)
    forward = np.array([0, tube + 0.011, 0])         # the shell lies on the front of the supports
    lower = support_foot + 0.3 * (support_top - support_foot) + forward
    upper = support_foot + 1.12 * (support_top - support_foot) + forward
    parts.append(_bar(lower, upper, width - 0.01, 0.022, shell))
    return _model(name, "chair", parts)


def chair_office_swivel(rng, name, materials):
    """An office chair: five-star base on castors, gas lift, padded seat, tall curved back, arms."""
    width, depth = rng.uniform(0.46, 0.52), rng.uniform(0.44, 0.50)
    seat_height, back_height = rng.uniform(0.44, 0.50), rng.uniform(0.45, 0.7)
    seat_thick, leg_length = rng.uniform(0.07, 0.09), rng.uniform(0.27, 0.32)
    base = _metal_colour(rng, materials) if rng.random() < 0.4 else _dark_plastic_colour(rng, materials)
    cloth = _fabric(rng, materials)
    wheel = 0.025
    parts = [_cylinder(0.05, 0.05, (0, 0, 0.075), base)]
    start = rng.uniform(0, 2 * np.pi / 5)
    for angle in start + np.arange(5) * 2 * np.pi / 5:
        c, s = np.cos(angle), np.sin(angle)
        parts.append(_box((leg_length, 0.045, 0.03), (c * leg_length / 2, s * leg_length / 2, 2 * wheel + 0.015), base,
                          euler=(0.0, 0.0, float(angle))))
        parts.append(_sphere(wheel, (c * (leg_length - 0.01), s * (leg_length - 0.01), wheel), base))
    under = seat_height - seat_thick
    parts.append(_cylinder(0.035, 0.14, (0, 0, 0.17), base))                                      # gas spring sleeve
    parts.append(_cylinder(0.022, under - 0.24, (0, 0, (under + 0.24) / 2 - 0.02), _metal_colour(rng, materials)))
    parts.append(_box((0.22, 0.22, 0.045), (0, 0, under - 0.0225), base))                          # mechanism
    parts.append(_box((width, depth, seat_thick), (0, 0.01, seat_height - seat_thick / 2), cloth))
    back_y, gap = -depth / 2 - 0.02, rng.uniform(0.05, 0.1)
    back_panel_height = back_height - gap
    parts += _curved_panel(width * rng.uniform(0.9, 1.02), back_panel_height, 0.06, rng.uniform(0.25, 0.45), back_y,
                           seat_height + gap, cloth)[0]
    parts.append(_bar((0, -0.1, under - 0.02), (0, back_y - 0.04, seat_height + gap + 0.12), 0.06, 0.025, base))
    if rng.random() < 0.5:   # a headrest
        parts.append(_box((width * 0.45, 0.06, 0.12), (0, back_y - 0.01, seat_height + back_height + 0.08), cloth))
        parts.append(_box((0.04, 0.02, 0.06), (0, back_y - 0.04, seat_height + back_height + 0.01), base))
    if rng.random() < 0.7:   # T arms
        for sx in (-1, 1):
            x = sx * (width / 2 + 0.02)
            parts.append(_box((0.03, 0.05, 0.24), (x, -0.02, under + 0.1), base))
            parts.append(_box((0.07, 0.24, 0.03), (x, 0.0, under + 0.235), base))
    return _model(name, "chair", parts)


def chair_tulip(rng, name, materials):
    """A tulip pedestal chair: round foot, single stem, round cushion in a tub-shaped shell."""
    seat_height, back_height = rng.uniform(0.44, 0.48), rng.uniform(0.26, 0.38)
    seat_radius = rng.uniform(0.22, 0.26)
    foot_radius = seat_radius * rng.uniform(1.0, 1.15)
    shell = _plastic(rng, materials)
    cloth = _fabric(rng, materials)
    parts = [_cylinder(foot_radius, 0.025, (0, 0, 0.0125), shell),
             _cylinder(foot_radius * 0.5, 0.03, (0, 0, 0.04), shell),
             _cylinder(0.035, seat_height - 0.19, (0, 0, 0.055 + (seat_height - 0.19) / 2), shell),
             _cylinder(0.08, 0.06, (0, 0, seat_height - 0.135 + 0.03), shell),
             _cylinder(seat_radius, 0.05, (0, 0, seat_height - 0.075), shell),
             _cylinder(seat_radius - 0.015, 0.05, (0, 0, seat_height - 0.025), cloth)]
    arm_height = rng.uniform(0.12, 0.18)
    segments = 11
    spread = rng.uniform(1.5, 1.8)        # half the angle the tub wraps round, radians
    piece = 2 * seat_radius * np.sin(spread / (segments - 1)) + 0.01
    for theta in np.linspace(-spread, spread, segments):
        height = back_height if abs(theta) <= 0.45 * spread else arm_height     # a back rising from the tub
        bottom = seat_height - 0.08
        centre = (seat_radius * np.sin(theta), -seat_radius * np.cos(theta), bottom + (height + 0.08) / 2)
        parts.append(_box((piece, 0.025, height + 0.08), centre, shell, euler=(0.0, 0.0, float(theta))))
    return _model(name, "chair", parts)


# --------------------------------------------------------------------------------------------------
# Dining tables (NYU40 "table"): the top is a surface.

def _table_dimensions(rng):
    return rng.uniform(1.2, 1.8), rng.uniform(0.75, 0.95), rng.uniform(0.72, 0.77), rng.uniform(0.03, 0.05)


def table_four_leg(rng, name, materials):
    """A top board on four square legs."""
    width, depth, height, thick = _table_dimensions(rng)
    top, legs = _wood_or_paint(rng, materials), _wood_or_paint(rng, materials)
    leg, inset = rng.uniform(0.05, 0.08), rng.uniform(0.02, 0.08)
    parts = [_box((width, depth, thick), (0, 0, height - thick / 2), top)]
    parts += _corner_legs(width, depth, leg, height - thick, legs, inset=inset)
    return _model(name, "table", parts, [_top_surface(width, depth, height)])


def table_apron_round_legs(rng, name, materials):
    """A top on an apron frame with four turned (round, ringed) legs."""
    width, depth, height, thick = _table_dimensions(rng)
    thick = min(thick, 0.035)
    top, frame = _wood(rng, materials), _wood_or_paint(rng, materials)
    radius, inset, apron = rng.uniform(0.025, 0.035), rng.uniform(0.04, 0.08), rng.uniform(0.08, 0.12)
    leg_top = height - thick
    parts = [_box((width, depth, thick), (0, 0, height - thick / 2), top)]
    parts += _corner_legs(width, depth, 2 * radius, leg_top, frame, inset=inset, round_legs=True)
    inner_w, inner_d = width - 2 * inset - 2 * radius, depth - 2 * inset - 2 * radius
    for sy in (-1, 1):
        parts.append(_box((inner_w, 0.02, apron), (0, sy * (depth / 2 - inset - radius), leg_top - apron / 2), frame))
    for sx in (-1, 1):
        parts.append(_box((0.02, inner_d, apron), (sx * (width / 2 - inset - radius), 0, leg_top - apron / 2), frame))
    ring_z = rng.uniform(0.15, 0.3)
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (width / 2 - inset - radius), sy * (depth / 2 - inset - radius)
            parts.append(_cylinder(radius * 1.45, 0.04, (x, y, ring_z), frame))
            parts.append(_cylinder(radius * 1.3, 0.03, (x, y, 0.015), frame))
    return _model(name, "table", parts, [_top_surface(width, depth, height)])


def table_pedestal(rng, name, materials):
    """A rectangular top on one central column standing on a round plate or a cross foot."""
    width, depth = rng.uniform(1.0, 1.4), rng.uniform(0.8, 0.95)
    height, thick = rng.uniform(0.72, 0.77), rng.uniform(0.03, 0.05)
    top, stand = _wood_or_paint(rng, materials), _wood_or_paint(rng, materials)
    column = rng.uniform(0.12, 0.2)
    parts = [_box((width, depth, thick), (0, 0, height - thick / 2), top),
             _box((width * 0.45, depth * 0.5, 0.04), (0, 0, height - thick - 0.02), stand)]
    foot = 0.05
    if rng.random() < 0.5:
        parts.append(_cylinder(rng.uniform(0.3, 0.38), foot, (0, 0, foot / 2), stand))
    else:
        span = rng.uniform(0.6, 0.75)
        parts.append(_box((span, 0.09, foot), (0, 0, foot / 2), stand))
        parts.append(_box((0.09, span, foot), (0, 0, foot / 2), stand))
    column_top = height - thick - 0.04
    parts.append(_box((column, column, column_top - foot), (0, 0, (column_top + foot) / 2), stand))
    return _model(name, "table", parts, [_top_surface(width, depth, height)])


def table_round_pedestal(rng, name, materials):
    """A round top on a round column with a flat foot or four spreading feet."""
    radius, height, thick = rng.uniform(0.5, 0.65), rng.uniform(0.72, 0.77), rng.uniform(0.03, 0.045)
    top, stand = _wood_or_paint(rng, materials), _wood_or_paint(rng, materials)
    column = rng.uniform(0.05, 0.08)
    parts = [_cylinder(radius, thick, (0, 0, height - thick / 2), top),
             _cylinder(column * 2.2, 0.04, (0, 0, height - thick - 0.02), stand),
             _cylinder(column, height - thick - 0.04, (0, 0, (height - thick - 0.04) / 2), stand)]
    if rng.random() < 0.5:
        parts.append(_cylinder(rng.uniform(0.28, 0.36), 0.04, (0, 0, 0.02), stand))
    else:
        reach = rng.uniform(0.3, 0.4)
        for angle in np.pi / 4 + np.arange(4) * np.pi / 2:
            parts.append(_box((reach, 0.06, 0.05), (np.cos(angle) * reach / 2, np.sin(angle) * reach / 2, 0.025), stand,
                              euler=(0.0, 0.0, float(angle))))
    half = radius / np.sqrt(2) - 0.03
    return _model(name, "table", parts, [Surface(-half, -half, half, half, height)])


def table_trestle(rng, name, materials):
    """A top on two end trestles (upright board, foot and cleat) joined by a long stretcher."""
    width, depth, height, thick = _table_dimensions(rng)
    wood = _wood(rng, materials)
    frame = wood if rng.random() < 0.6 else _wood_or_paint(rng, materials)
    inset, board = rng.uniform(0.15, 0.25), rng.uniform(0.05, 0.08)
    upright = rng.uniform(0.12, 0.2)
    foot_height, cleat = rng.uniform(0.06, 0.09), 0.05
    parts = [_box((width, depth, thick), (0, 0, height - thick / 2), wood)]
    for sx in (-1, 1):
        x = sx * (width / 2 - inset)
        parts.append(_box((board + 0.02, depth - 0.1, foot_height), (x, 0, foot_height / 2), frame))
        parts.append(_box((board + 0.02, depth - 0.14, cleat), (x, 0, height - thick - cleat / 2), frame))
        parts.append(_box((board, upright, height - thick - cleat - foot_height),
                          (x, 0, (height - thick - cleat + foot_height) / 2), frame))
    parts.append(_box((width - 2 * inset, 0.05, 0.07), (0, 0, rng.uniform(0.25, 0.4)), frame))
    return _model(name, "table", parts, [_top_surface(width, depth, height)])


def table_x_frame(rng, name, materials):
    """A top on two X-shaped end frames (crossed bars on floor feet) and a stretcher."""
    width, depth, height, thick = _table_dimensions(rng)
    top = _wood_or_paint(rng, materials)
    frame = _metal_colour(rng, materials) if rng.random() < 0.5 else _wood(rng, materials)
    inset, bar = rng.uniform(0.1, 0.2), rng.uniform(0.04, 0.06)
    foot, cleat = 0.04, 0.04
    reach = depth / 2 - 0.08
    low, high = foot + bar / 2, height - thick - cleat / 2
    parts = [_box((width, depth, thick), (0, 0, height - thick / 2), top)]
    for sx in (-1, 1):
        x = sx * (width / 2 - inset)
        parts.append(_box((bar + 0.01, depth - 0.1, foot), (x, 0, foot / 2), frame))
        parts.append(_box((bar + 0.01, depth - 0.1, cleat), (x, 0, high), frame))
        parts.append(_bar((x, -reach, low), (x, reach, high), bar, bar, frame))
        parts.append(_bar((x, reach, low), (x, -reach, high), bar, bar, frame))
    parts.append(_box((width - 2 * inset, bar, bar), (0, 0, (low + high) / 2), frame))
    return _model(name, "table", parts, [_top_surface(width, depth, height)])


# --------------------------------------------------------------------------------------------------
# Desks (NYU40 "desk"): the top is a surface; monitors stand on it.

def _desk_dimensions(rng):
    return rng.uniform(1.1, 1.6), rng.uniform(0.6, 0.75), rng.uniform(0.72, 0.76), rng.uniform(0.025, 0.04)


def desk_panel_sides(rng, name, materials):
    """A top on two side panels with a modesty panel, sometimes a drawer block."""
    width, depth, height, thick = _desk_dimensions(rng)
    top, panel = _wood_or_paint(rng, materials), _wood_or_paint(rng, materials)
    parts = [_box((width, depth, thick), (0, 0, height - thick / 2), top)]
    for sx in (-1, 1):
        parts.append(_box((0.03, depth - 0.02, height - thick), (sx * (width / 2 - 0.03), 0, (height - thick) / 2),
                          panel))
    parts.append(_box((width - 0.1, 0.02, 0.4), (0, -depth / 2 + 0.05, height - thick - 0.2), panel))
    if rng.random() < 0.5:
        side = rng.choice([-1, 1])
        parts.append(_box((0.4, depth - 0.06, 0.55), (side * (width / 2 - 0.25), 0, height - thick - 0.275), panel))
    return _model(name, "desk", parts, [_top_surface(width, depth, height)])


def desk_four_leg_with_drawers(rng, name, materials):
    """A top on four legs with a hanging drawer unit under one side and a back apron."""
    width, depth, height, thick = _desk_dimensions(rng)
    top, frame = _wood_or_paint(rng, materials), _wood_or_paint(rng, materials)
    knob = _metal_colour(rng, materials)
    leg = rng.uniform(0.04, 0.055)
    under = height - thick
    parts = [_box((width, depth, thick), (0, 0, height - thick / 2), top)]
    parts += _corner_legs(width, depth, leg, under, frame, inset=0.02)
    parts.append(_box((width - 0.04 - 2 * leg, 0.02, 0.1), (0, -depth / 2 + 0.02 + leg / 2, under - 0.05), frame))
    side = rng.choice([-1.0, 1.0])
    unit_width, drawers = rng.uniform(0.38, 0.45), int(rng.integers(2, 4))
    unit_height = drawers * rng.uniform(0.11, 0.14)
    x = side * (width / 2 - 0.02 - leg - unit_width / 2)
    parts.append(_box((unit_width, depth - 0.06 - leg, unit_height), (x, 0, under - unit_height / 2), frame))
    front_y = (depth - 0.06 - leg) / 2
    for k in range(drawers):
        z = under - unit_height * (k + 0.5) / drawers
        parts.append(_box((unit_width - 0.02, 0.015, unit_height / drawers - 0.015), (x, front_y + 0.0075, z), frame))
        parts.append(_sphere(0.013, (x, front_y + 0.025, z), knob))
    return _model(name, "desk", parts, [_top_surface(width, depth, height)])


def desk_l_frame_metal(rng, name, materials):
    """A top on two metal L frames (upright at the back, foot and arm running forward), crossbars."""
    width, depth, height, thick = _desk_dimensions(rng)
    top = _wood_or_paint(rng, materials)
    metal = _metal_colour(rng, materials)
    tube = rng.uniform(0.04, 0.06)
    upright_y = -depth / 2 + rng.uniform(0.08, 0.18)
    foot_height, under = 0.03, height - thick
    parts = [_box((width, depth, thick), (0, 0, height - thick / 2), top)]
    for sx in (-1, 1):
        x = sx * (width / 2 - 0.04 - tube / 2)
        parts.append(_box((tube, depth - 0.06, foot_height), (x, 0, foot_height / 2), metal))
        parts.append(_box((tube, depth - 0.1, 0.03), (x, 0, under - 0.015), metal))
        parts.append(_box((tube, tube, under - 0.03 - foot_height), (x, upright_y, (under - 0.03 + foot_height) / 2),
                          metal))
    inner = width - 0.08 - 2 * tube
    parts.append(_box((inner, 0.03, 0.06), (0, upright_y, under - 0.07), metal))
    parts.append(_box((inner, 0.03, 0.04), (0, upright_y, rng.uniform(0.12, 0.25)), metal))
    return _model(name, "desk", parts, [_top_surface(width, depth, height)])


def desk_double_pedestal(rng, name, materials):
    """A top on two drawer pedestals (three drawers each) with a modesty panel between them."""
    width, depth, height, thick = _desk_dimensions(rng)
    width = max(width, 1.25)
    top, body = _wood_or_paint(rng, materials), _wood_or_paint(rng, materials)
    handle = _metal_colour(rng, materials)
    pedestal, plinth = rng.uniform(0.38, 0.45), rng.uniform(0.04, 0.08)
    under = height - thick
    parts = [_box((width, depth, thick), (0, 0, height - thick / 2), top)]
    for sx in (-1, 1):
        x = sx * (width / 2 - 0.02 - pedestal / 2)
        parts.append(_box((pedestal - 0.04, depth - 0.1, plinth), (x, -0.02, plinth / 2), body))
        parts.append(_box((pedestal, depth - 0.04, under - plinth), (x, 0, (under + plinth) / 2), body))
        drawer = (under - plinth) / 3
        for k in range(3):
            z = under - drawer * (k + 0.5)
            parts.append(_box((pedestal - 0.02, 0.015, drawer - 0.015), (x, (depth - 0.04) / 2 + 0.0075, z), body))
            parts.append(_box((0.1, 0.015, 0.015), (x, (depth - 0.04) / 2 + 0.022, z + drawer * 0.25), handle))
    parts.append(_box((width - 2 * pedestal - 0.04, 0.02, 0.45), (0, -depth / 2 + 0.06, under - 0.225), body))
    return _model(name, "desk", parts, [_top_surface(width, depth, height)])


# --------------------------------------------------------------------------------------------------
# Monitors (NYU40 "television"): they face +y and stand on a desk's surface.

def monitor_stand_foot(rng, name, materials):
    """A flat monitor on a rectangular foot and neck."""
    width = rng.uniform(0.45, 0.62)
    height, lift = width * rng.uniform(0.55, 0.65), rng.uniform(0.08, 0.14)
    plastic = _dark_plastic_colour(rng, materials)
    parts = [_box((0.22, 0.18, 0.015), (0, 0, 0.0075), plastic),
             _box((0.05, 0.03, lift + height / 2), (0, -0.03, (lift + height / 2) / 2), plastic),
             _box((width, 0.03, height), (0, 0, lift + height / 2), plastic),
             _box((width - 0.03, 0.004, height - 0.03), (0, 0.017, lift + height / 2), _screen_colour(rng, materials))]
    return _model(name, "monitor", parts)


def monitor_thin_bezel_arm(rng, name, materials):
    """A thin-bezel panel held in front of a desk-mounted pole by an arm; no foot under it."""
    width = rng.uniform(0.5, 0.66)
    height, lift = width * rng.uniform(0.55, 0.62), rng.uniform(0.12, 0.2)
    metal, plastic = _metal_colour(rng, materials), _dark_plastic_colour(rng, materials)
    pole_y, screen_y = -rng.uniform(0.1, 0.14), rng.uniform(0.03, 0.06)
    centre_z = lift + height / 2
    pole_top = centre_z + rng.uniform(0.05, 0.14)
    parts = [_cylinder(0.055, 0.02, (0, pole_y, 0.01), metal),
             _cylinder(0.014, pole_top - 0.02, (0, pole_y, 0.02 + (pole_top - 0.02) / 2), metal),
             _sphere(0.022, (0, pole_y, pole_top), metal),
             _rod((0, pole_y, pole_top), (0, screen_y - 0.03, centre_z + 0.02), 0.014, metal),
             _box((0.1, 0.02, 0.1), (0, screen_y - 0.018, centre_z), metal),
             _box((width, 0.012, height), (0, screen_y, centre_z), plastic),
             _box((width - 0.01, 0.003, height - 0.012), (0, screen_y + 0.0075, centre_z + 0.002),
                  _screen_colour(rng, materials))]
    parts, _ = _centred(parts)
    return _model(name, "monitor", parts)


def monitor_crt_box(rng, name, materials):
    """A deep CRT monitor: a front bezel box on a tapered back box, on a low swivel plinth."""
    width = rng.uniform(0.36, 0.46)
    height, front_depth = width * rng.uniform(0.85, 0.95), rng.uniform(0.07, 0.1)
    back_depth = width * rng.uniform(0.6, 0.8)
    total = front_depth + back_depth
    casing = (materials.colour(rng, hue=(0.08, 0.15), saturation=(0.05, 0.25), value=(0.6, 0.9))
              if rng.random() < 0.6 else _dark_plastic_colour(rng, materials))
    plinth = 0.03
    front_y = total / 2 - front_depth / 2
    parts = [_cylinder(width * 0.3, plinth, (0, 0, plinth / 2), casing),
             _box((width, front_depth, height), (0, front_y, plinth + height / 2), casing),
             _box((width * 0.72, back_depth, height * 0.72),
                  (0, -total / 2 + back_depth / 2, plinth + 0.02 + height * 0.36), casing),
             _box((width * 0.78, 0.012, height * 0.72), (0, total / 2, plinth + height * 0.56),
                  materials.colour(rng, hue=(0.3, 0.6), saturation=(0.1, 0.5), value=(0.1, 0.5))),
             _box((0.04, 0.006, 0.015), (width * 0.3, total / 2 + 0.003, plinth + height * 0.1),
                  _dark_plastic_colour(rng, materials))]
    return _model(name, "monitor", parts)


def monitor_ultrawide(rng, name, materials):
    """A wide, low, curved panel (three facets) on a neck and a V-shaped foot."""
    width = rng.uniform(0.8, 0.95)
    height, lift = width * rng.uniform(0.3, 0.36), rng.uniform(0.08, 0.13)
    plastic = _dark_plastic_colour(rng, materials)
    screen = _screen_colour(rng, materials)
    bend = rng.uniform(0.1, 0.18)
    panels, frames = _curved_panel(width, height, 0.025, bend, 0.0, lift, plastic)
    parts = list(panels)
    piece = width / 3
    for centre, yaw in frames:
        normal = np.array([-np.sin(yaw), np.cos(yaw), 0.0])
        parts.append(_box((piece - 0.012, 0.003, height - 0.02), np.asarray(centre) + normal * 0.014, screen,
                          euler=(0.0, 0.0, yaw)))
    parts.append(_box((0.06, 0.03, lift + height / 2), (0, -0.04, (lift + height / 2) / 2), plastic))
    for sx in (-1, 1):
        parts.append(_box((0.26, 0.05, 0.015), (sx * 0.09, 0.02, 0.0075), plastic, euler=(0.0, 0.0, float(sx * 0.55))))
    parts, _ = _centred(parts)
    return _model(name, "monitor", parts)


def monitor_all_in_one(rng, name, materials):
    """An all-in-one computer: thin body with a wide chin on a slanted plate stand."""
    width = rng.uniform(0.5, 0.62)
    height, chin, lift = width * rng.uniform(0.5, 0.56), rng.uniform(0.06, 0.09), rng.uniform(0.06, 0.1)
    body_thick = rng.uniform(0.012, 0.02)
    silver = materials.colour(rng, saturation=(0.0, 0.08), value=(0.55, 0.92))
    total = chin + height
    body_y = 0.02
    parts = [_box((0.2, 0.18, 0.01), (0, -0.02, 0.005), silver),
             _bar((0, -0.08, 0.01), (0, body_y - body_thick / 2 - 0.006, lift + total * 0.45), 0.14, 0.012, silver),
             _box((width, body_thick, total), (0, body_y, lift + total / 2), silver),
             _box((width - 0.01, 0.003, height - 0.01), (0, body_y + body_thick / 2 + 0.0015, lift + chin + height / 2),
                  _dark_plastic_colour(rng, materials)),
             _box((width - 0.04, 0.002, height - 0.04), (0, body_y + body_thick / 2 + 0.003, lift + chin + height / 2),
                  _screen_colour(rng, materials))]
    parts, _ = _centred(parts)
    return _model(name, "monitor", parts)


# --------------------------------------------------------------------------------------------------
# Mugs and cups (NYU40 "otherprop").

def _mug_handle(radius, bottom, top, reach, colour, thickness=0.011):
    """A C-shaped handle on the +x side of a mug of ``radius`` between heights ``bottom`` and ``top``."""
    inner, span = radius - 0.004, reach + 0.004
    return [_box((span, thickness, thickness), (inner + span / 2, 0, top - thickness / 2), colour),
            _box((span, thickness, thickness), (inner + span / 2, 0, bottom + thickness / 2), colour),
            _box((thickness, thickness, top - bottom), (inner + span - thickness / 2, 0, (top + bottom) / 2), colour)]


def _opening(radius, height, materials, rng):
    """A dark disc just on top of a cup: its opening (or the drink in it)."""
    drink = materials.colour(rng, hue=(0.04, 0.1), saturation=(0.3, 0.8), value=(0.08, 0.35))
    return _cylinder(radius * 0.86, 0.002, (0, 0, height + 0.001), drink)


def mug_classic(rng, name, materials):
    """A straight mug with a C handle."""
    radius, height = rng.uniform(0.036, 0.046), rng.uniform(0.085, 0.105)
    colour = materials.colour(rng, saturation=(0.0, 0.9), value=(0.3, 1.0))
    parts = [_cylinder(radius, height, (0, 0, height / 2), colour), _opening(radius, height, materials, rng)]
    parts += _mug_handle(radius, height * 0.2, height * 0.82, rng.uniform(0.024, 0.03), colour)
    parts, _ = _centred(parts)
    return _model(name, "mug", parts)


def mug_tall_latte(rng, name, materials):
    """A tall, thin latte glass: coffee below, milk foam above, a glass rim; no handle."""
    radius, height = rng.uniform(0.03, 0.037), rng.uniform(0.13, 0.16)
    coffee = materials.colour(rng, hue=(0.05, 0.1), saturation=(0.4, 0.8), value=(0.2, 0.5))
    milk = materials.colour(rng, hue=(0.08, 0.13), saturation=(0.05, 0.3), value=(0.75, 0.98))
    glass = materials.colour(rng, hue=(0.45, 0.6), saturation=(0.0, 0.15), value=(0.7, 0.95))
    split = height * rng.uniform(0.4, 0.6)
    parts = [_cylinder(radius * 1.04, 0.008, (0, 0, 0.004), glass),
             _cylinder(radius, split - 0.008, (0, 0, 0.008 + (split - 0.008) / 2), coffee),
             _cylinder(radius, height - split - 0.01, (0, 0, split + (height - split - 0.01) / 2), milk),
             _cylinder(radius * 1.04, 0.01, (0, 0, height - 0.005), glass)]
    return _model(name, "mug", parts)


def mug_stackable(rng, name, materials):
    """A wide, low, tapered stacking mug (stepped cylinders) with a small loop handle."""
    top_radius, height = rng.uniform(0.044, 0.052), rng.uniform(0.06, 0.075)
    colour = materials.colour(rng, saturation=(0.0, 0.9), value=(0.3, 1.0))
    steps = 4
    parts = []
    for k in range(steps):
        radius = top_radius * (0.72 + 0.28 * (k + 1) / steps)
        parts.append(_cylinder(radius, height / steps, (0, 0, height * (k + 0.5) / steps), colour))
    parts.append(_cylinder(top_radius * 0.74, 0.006, (0, 0, 0.003), materials.colour(rng, saturation=(0, 0.3))))
    parts.append(_opening(top_radius, height, materials, rng))
    parts += _mug_handle(top_radius * 0.92, height * 0.3, height * 0.85, 0.02, colour, thickness=0.009)
    parts, _ = _centred(parts)
    return _model(name, "mug", parts)


def mug_with_band(rng, name, materials):
    """A mug on a foot ring with two coloured bands and a large D handle."""
    radius, height = rng.uniform(0.038, 0.048), rng.uniform(0.09, 0.11)
    colour = materials.colour(rng, saturation=(0.0, 0.4), value=(0.6, 1.0))
    band = materials.colour(rng, saturation=(0.5, 1.0))
    foot = 0.01
    parts = [_cylinder(radius * 0.82, foot, (0, 0, foot / 2), colour),
             _cylinder(radius, height - foot, (0, 0, foot + (height - foot) / 2), colour),
             _cylinder(radius * 1.015, height * 0.12, (0, 0, height * 0.72), band),
             _cylinder(radius * 1.015, height * 0.05, (0, 0, height * 0.5), band),
             _opening(radius, height, materials, rng)]
    parts += _mug_handle(radius, height * 0.12, height * 0.9, rng.uniform(0.03, 0.036), colour, thickness=0.013)
    parts, _ = _centred(parts)
    return _model(name, "mug", parts)


def mug_saucer_cup(rng, name, materials):
    """A small cup (narrow foot, wide lip) with a little handle, standing on a saucer."""
    saucer_radius = rng.uniform(0.065, 0.08)
    radius, height = rng.uniform(0.035, 0.042), rng.uniform(0.05, 0.065)
    colour = materials.colour(rng, saturation=(0.0, 0.5), value=(0.6, 1.0))
    saucer_colour = colour if rng.random() < 0.6 else materials.colour(rng, saturation=(0.0, 0.6), value=(0.5, 1.0))
    base = 0.012
    parts = [_cylinder(saucer_radius * 0.55, 0.004, (0, 0, 0.002), saucer_colour),
             _cylinder(saucer_radius, 0.008, (0, 0, 0.008), saucer_colour),
             _cylinder(radius * 0.75, height * 0.35, (0, 0, base + height * 0.175), colour),
             _cylinder(radius, height * 0.65, (0, 0, base + height * 0.675), colour),
             _opening(radius, base + height, materials, rng)]
    parts += _mug_handle(radius, base + height * 0.4, base + height * 0.9, 0.018, colour, thickness=0.008)
    return _model(name, "mug", parts)


def mug_travel_tumbler(rng, name, materials):
    """A tall travel tumbler: body, rubber grip band, a wider lid with a sip tab; no handle."""
    radius, height = rng.uniform(0.035, 0.042), rng.uniform(0.15, 0.19)
    body = materials.colour(rng, saturation=(0.0, 0.9), value=(0.2, 0.95))
    lid = materials.colour(rng, saturation=(0.0, 0.2), value=(0.05, 0.95))
    lid_height = rng.uniform(0.018, 0.026)
    parts = [_cylinder(radius, height - lid_height, (0, 0, (height - lid_height) / 2), body),
             _cylinder(radius * 1.025, rng.uniform(0.04, 0.06), (0, 0, height * 0.35), lid),
             _cylinder(radius * 1.06, lid_height, (0, 0, height - lid_height / 2), lid),
             _box((0.02, 0.012, 0.008), (0, radius * 0.6, height + 0.004), lid)]
    return _model(name, "mug", parts)


# --------------------------------------------------------------------------------------------------
# Lamps (NYU40 "lamp"): floor lamps 1.3-1.9 m, desk lamps 0.3-0.6 m.

def _lamp_finishes(rng, materials):
    metal = _metal_colour(rng, materials)
    shade = materials.colour(rng, saturation=(0.0, 0.5), value=(0.7, 1.0))
    return metal, shade


def _pole_drum_shade(rng, materials, floor):
    height = rng.uniform(1.4, 1.75) if floor else rng.uniform(0.35, 0.5)
    base_radius = rng.uniform(0.13, 0.17) if floor else rng.uniform(0.06, 0.08)
    shade_height = rng.uniform(0.28, 0.35) if floor else rng.uniform(0.12, 0.15)
    shade_radius = rng.uniform(0.17, 0.24) if floor else rng.uniform(0.07, 0.1)
    metal, shade = _lamp_finishes(rng, materials)
    cloth = _fabric(rng, materials) if rng.random() < 0.4 else shade
    return [_cylinder(base_radius, 0.03, (0, 0, 0.015), metal),
            _cylinder(0.012, height - shade_height, (0, 0, (height - shade_height) / 2), metal),
            _cylinder(shade_radius, shade_height, (0, 0, height - shade_height / 2), cloth),
            _sphere(0.015, (0, 0, height + 0.012), metal)]


def floor_lamp_pole_drum_shade(rng, name, materials):
    """A round base, a straight pole and a drum shade."""
    return _model(name, "floor_lamp", _pole_drum_shade(rng, materials, floor=True))


def desk_lamp_pole_drum_shade(rng, name, materials):
    """A small round base, a straight stem and a drum shade."""
    return _model(name, "desk_lamp", _pole_drum_shade(rng, materials, floor=False))


def _bezier(p0, p1, p2, p3, t):
    t = np.asarray(t)[:, None]
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t ** 2 * p2 + t ** 3 * p3


def _dome(top, radii, step, finish):
    """A dome-like shade hanging from ``top``: stacked cylinders growing downwards."""
    x, y, z = top
    return [_cylinder(radius, step, (x, y, z - step * (k + 0.5)), finish) for k, radius in enumerate(radii)]


def floor_lamp_arc(rng, name, materials):
    """An arc lamp: heavy stone base, upright pole, an arc over the room and a hanging dome shade."""
    reach, pole_height, rise = rng.uniform(0.8, 1.1), rng.uniform(1.25, 1.55), rng.uniform(0.25, 0.4)
    hang = rng.uniform(1.3, 1.6)
    metal, shade = _lamp_finishes(rng, materials)
    stone = _stone(rng, materials)
    y0, y1 = 0.0, reach
    parts = [_box((0.28, 0.28, 0.05), (0, y0, 0.025), stone),
             _cylinder(0.014, pole_height - 0.05, (0, y0, 0.05 + (pole_height - 0.05) / 2), metal)]
    points = _bezier(np.array([y0, pole_height]), np.array([y0, pole_height + rise]),
                     np.array([y1, pole_height + rise]), np.array([y1, hang]), np.linspace(0, 1, 7))
    for a, b in zip(points[:-1], points[1:]):
        parts.append(_rod((0, a[0], a[1]), (0, b[0], b[1]), 0.012, metal))
        parts.append(_sphere(0.013, (0, b[0], b[1]), metal))
    radius = rng.uniform(0.17, 0.22)
    parts += _dome((0, y1, hang), (0.03, radius * 0.45, radius * 0.8, radius), 0.05, shade)
    parts, _ = _centred(parts)
    return _model(name, "floor_lamp", parts)


def floor_lamp_tripod(rng, name, materials):
    """Three splayed wooden legs meeting under a short neck and a large drum shade."""
    apex, spread = rng.uniform(0.95, 1.15), rng.uniform(0.26, 0.34)
    metal, shade = _lamp_finishes(rng, materials)
    legs = _wood(rng, materials) if rng.random() < 0.7 else metal
    radius = rng.uniform(0.014, 0.02)
    shade_radius, shade_height = rng.uniform(0.2, 0.26), rng.uniform(0.3, 0.38)
    neck = rng.uniform(0.15, 0.3)
    parts = []
    for angle in np.pi / 2 + np.arange(3) * 2 * np.pi / 3:
        foot = [spread * np.cos(angle), spread * np.sin(angle), 0.0]
        foot[2] = _floor_lift(radius, foot, (0, 0, apex))
        parts.append(_rod(foot, (0, 0, apex), radius, legs))
    parts.append(_cylinder(0.03, 0.05, (0, 0, apex), metal))
    parts.append(_cylinder(0.012, neck, (0, 0, apex + neck / 2), metal))
    parts.append(_cylinder(shade_radius, shade_height, (0, 0, apex + neck + shade_height / 2 - 0.05), shade))
    parts, _ = _centred(parts)
    return _model(name, "floor_lamp", parts)


def floor_lamp_torchiere(rng, name, materials):
    """A torchiere: a thin pole with a knob, ending in an upward-opening bowl of stacked rings."""
    height = rng.uniform(1.6, 1.85)
    metal, shade = _lamp_finishes(rng, materials)
    bowl = shade if rng.random() < 0.5 else metal
    step = rng.uniform(0.03, 0.04)
    radii = (0.045, 0.1, 0.15, rng.uniform(0.19, 0.23))
    bowl_bottom = height - step * len(radii)
    parts = [_cylinder(rng.uniform(0.13, 0.16), 0.03, (0, 0, 0.015), metal),
             _cylinder(0.011, bowl_bottom - 0.03, (0, 0, 0.03 + (bowl_bottom - 0.03) / 2), metal),
             _sphere(0.03, (0, 0, bowl_bottom * rng.uniform(0.45, 0.6)), metal)]
    parts += [_cylinder(radius, step, (0, 0, bowl_bottom + step * (k + 0.5)), bowl) for k, radius in enumerate(radii)]
    return _model(name, "floor_lamp", parts)


def floor_lamp_globe(rng, name, materials):
    """A pole crowned by a large glass globe, sometimes with two smaller globes on side branches."""
    height = rng.uniform(1.45, 1.8)
    metal, shade = _lamp_finishes(rng, materials)
    globe = rng.uniform(0.14, 0.2)
    pole_top = height - 2 * globe + 0.02
    parts = [_cylinder(rng.uniform(0.13, 0.17), 0.035, (0, 0, 0.0175), metal),
             _cylinder(0.013, pole_top, (0, 0, pole_top / 2), metal),
             _sphere(globe, (0, 0, height - globe), shade)]
    if rng.random() < 0.6:
        small = globe * rng.uniform(0.45, 0.6)
        for sx in (-1, 1):
            joint, end = (0, 0, pole_top * 0.72), (sx * 0.22, 0, pole_top * 0.72 + 0.2)
            parts.append(_rod(joint, end, 0.01, metal))
            parts.append(_sphere(small, (end[0] + sx * small * 0.5, 0, end[2] + small * 0.8), shade))
    return _model(name, "floor_lamp", parts)


def desk_lamp_desk_arm(rng, name, materials):
    """An architect's lamp: round base, two arm sections with joints, a cone head of stacked rings."""
    metal, shade = _lamp_finishes(rng, materials)
    head = shade if rng.random() < 0.5 else metal
    lower, upper = rng.uniform(0.22, 0.3), rng.uniform(0.2, 0.28)
    back, lean = rng.uniform(0.2, 0.45), rng.uniform(0.35, 0.8)
    base = np.array([0.0, 0.0, 0.04])
    elbow = base + lower * np.array([0.0, -np.sin(back), np.cos(back)])
    wrist = elbow + upper * np.array([0.0, np.sin(np.pi / 2 - lean + 0.3), np.cos(np.pi / 2 - lean + 0.3)])
    axis = np.array([0.0, 0.45, -1.0])
    axis /= np.linalg.norm(axis)
    parts = [_cylinder(rng.uniform(0.07, 0.09), 0.025, (0, 0, 0.0125), metal),
             _cylinder(0.018, 0.03, (0, 0, 0.035), metal),
             _rod(base, elbow, 0.008, metal), _sphere(0.017, elbow, metal),
             _rod(elbow, wrist, 0.008, metal), _sphere(0.015, wrist, metal)]
    euler = _axis_euler(axis)
    for k, radius in enumerate((0.025, 0.04, 0.055, rng.uniform(0.065, 0.08))):
        parts.append(_cylinder(radius, 0.028, wrist + axis * (0.015 + 0.028 * k), head, euler))
    parts, _ = _centred(parts)
    return _model(name, "desk_lamp", parts)


def desk_lamp_globe(rng, name, materials):
    """A small base and short neck under a glass globe."""
    metal, shade = _lamp_finishes(rng, materials)
    neck, globe = rng.uniform(0.06, 0.12), rng.uniform(0.08, 0.12)
    parts = [_cylinder(rng.uniform(0.06, 0.08), 0.03, (0, 0, 0.015), metal),
             _cylinder(0.015, neck, (0, 0, 0.03 + neck / 2), metal),
             _cylinder(0.03, 0.02, (0, 0, 0.03 + neck), metal),
             _sphere(globe, (0, 0, 0.03 + neck + globe * 0.92), shade)]
    return _model(name, "desk_lamp", parts)


def desk_lamp_banker(rng, name, materials):
    """A banker's lamp: brass base plate and stem, a horizontal cylindrical shade with end caps."""
    brass = materials.colour(rng, hue=(0.1, 0.14), saturation=(0.45, 0.7), value=(0.45, 0.8))
    shade = materials.colour(rng, hue=(0.28, 0.45), saturation=(0.5, 0.9), value=(0.2, 0.5))
    stem, length, radius = rng.uniform(0.28, 0.36), rng.uniform(0.24, 0.3), rng.uniform(0.042, 0.05)
    parts = [_box((0.24, 0.15, 0.025), (0, 0, 0.0125), brass),
             _cylinder(0.012, stem, (0, -0.03, 0.025 + stem / 2), brass),
             _box((0.03, 0.06, 0.02), (0, -0.005, 0.025 + stem), brass),
             _cylinder(radius, length, (0, 0.02, 0.025 + stem - 0.005), shade, euler=(0.0, np.pi / 2, 0.0))]
    for sx in (-1, 1):
        parts.append(_cylinder(radius * 1.06, 0.008, (sx * length / 2, 0.02, 0.025 + stem - 0.005), brass,
                               euler=(0.0, np.pi / 2, 0.0)))
    parts.append(_rod((0.05, 0.04, 0.025 + stem - radius - 0.005), (0.05, 0.04, 0.025 + stem - radius - 0.1), 0.002,
                      brass))
    parts.append(_sphere(0.007, (0.05, 0.04, 0.025 + stem - radius - 0.103), brass))
    return _model(name, "desk_lamp", parts)


def desk_lamp_mushroom(rng, name, materials):
    """A mushroom lamp: wide heavy foot, thick stem and a flat domed cap of stacked discs."""
    body = materials.colour(rng, saturation=(0.0, 0.8), value=(0.4, 1.0))
    cap_finish = body if rng.random() < 0.6 else materials.colour(rng, saturation=(0.0, 0.3), value=(0.8, 1.0))
    stem, cap = rng.uniform(0.12, 0.2), rng.uniform(0.13, 0.17)
    parts = [_cylinder(rng.uniform(0.08, 0.1), 0.03, (0, 0, 0.015), body),
             _cylinder(rng.uniform(0.025, 0.035), stem, (0, 0, 0.03 + stem / 2), body)]
    top = 0.03 + stem
    for k, radius in enumerate((cap, cap * 0.82, cap * 0.55, cap * 0.25)):
        parts.append(_cylinder(radius, 0.025, (0, 0, top + 0.025 * (k + 0.5)), cap_finish))
    return _model(name, "desk_lamp", parts)


# --------------------------------------------------------------------------------------------------
# Plants (NYU40 "otherprop"); ``small`` ones stand on tables, desks and cabinets.

def _pot(rng, materials, radius, height):
    """A tapered pot with a rim and soil; returns its parts."""
    if rng.random() < 0.4:
        finish = _stone(rng, materials)
    else:
        finish = materials.colour(rng, saturation=(0.2, 0.8), value=(0.3, 0.9))
    rim = max(0.01, height * 0.1)
    return [_cylinder(radius * 0.82, height * 0.5, (0, 0, height * 0.25), finish),
            _cylinder(radius * 0.93, height * 0.5 - rim, (0, 0, height * 0.5 + (height * 0.5 - rim) / 2), finish),
            _cylinder(radius, rim, (0, 0, height - rim / 2), finish),
            _cylinder(radius * 0.88, 0.004, (0, 0, height + 0.002), _soil_colour(rng, materials))]


def _pot_size(rng, small):
    if small:
        return rng.uniform(0.05, 0.075), rng.uniform(0.07, 0.11)
    return rng.uniform(0.12, 0.18), rng.uniform(0.2, 0.3)


def plant_sphere_bush(rng, name, materials, small=False):
    """A pot with a bushy crown of overlapping foliage spheres."""
    kind = "small_plant" if small else "plant"
    pot_radius, pot_height = _pot_size(rng, small)
    leaves = _leaf_colour(rng, materials)
    parts = _pot(rng, materials, pot_radius, pot_height)
    scale = 0.35 if small else 1.0
    for _ in range(int(rng.integers(2, 5) if small else rng.integers(3, 7))):
        radius = rng.uniform(0.1, 0.2) * scale
        parts.append(_sphere(radius, (rng.uniform(-1, 1) * pot_radius * 0.6, rng.uniform(-1, 1) * pot_radius * 0.6,
                                      pot_height + radius * rng.uniform(0.5, 1.3)), _vary(leaves, rng)))
    parts, _ = _centred(parts)
    return _model(name, kind, parts)


def plant_tall_leaves(rng, name, materials, small=False):
    """A pot (or square planter) with long, thin, upright blade leaves fanning out."""
    kind = "small_plant" if small else "plant"
    pot_radius, pot_height = _pot_size(rng, small)
    leaves = _leaf_colour(rng, materials)
    if rng.random() < 0.4:
        planter = _plastic(rng, materials)
        parts = [_box((2 * pot_radius, 2 * pot_radius, pot_height), (0, 0, pot_height / 2), planter),
                 _box((2 * pot_radius - 0.02, 2 * pot_radius - 0.02, 0.004), (0, 0, pot_height + 0.002),
                      _soil_colour(rng, materials))]
    else:
        parts = _pot(rng, materials, pot_radius, pot_height)
    count = int(rng.integers(4, 8) if small else rng.integers(7, 13))
    length_range = (0.12, 0.25) if small else (0.35, 0.85)
    width = rng.uniform(0.018, 0.028) if small else rng.uniform(0.04, 0.07)
    for _ in range(count):
        angle, tilt = rng.uniform(0, 2 * np.pi), rng.uniform(0.05, 0.4)
        length = rng.uniform(*length_range)
        start = np.array([np.cos(angle), np.sin(angle), 0.0]) * rng.uniform(0, 0.4) * pot_radius
        start[2] = pot_height - 0.01
        end = start + length * np.array([np.sin(tilt) * np.cos(angle), np.sin(tilt) * np.sin(angle), np.cos(tilt)])
        parts.append(_bar(start, end, width, width * 0.2, _vary(leaves, rng)))
    parts, _ = _centred(parts)
    return _model(name, kind, parts)


def plant_cactus(rng, name, materials, small=False):
    """A columnar cactus with rounded top and one to three bent arms."""
    kind = "small_plant" if small else "plant"
    pot_radius, pot_height = _pot_size(rng, small)
    green = materials.colour(rng, hue=(0.25, 0.42), saturation=(0.35, 0.75), value=(0.25, 0.55))
    scale = 0.3 if small else 1.0
    radius, height = rng.uniform(0.05, 0.08) * (0.6 if small else 1.0), rng.uniform(0.4, 0.8) * scale
    radius = min(radius, pot_radius * 0.75)
    parts = _pot(rng, materials, pot_radius, pot_height)
    parts += [_cylinder(radius, height, (0, 0, pot_height + height / 2), green),
              _sphere(radius, (0, 0, pot_height + height), green)]
    arms = int(rng.integers(0, 3) if small else rng.integers(1, 4))
    angle = rng.uniform(0, 2 * np.pi)
    for _ in range(arms):
        angle += rng.uniform(2.0, 2.6)
        arm_radius = radius * rng.uniform(0.5, 0.7)
        out, up = (radius + rng.uniform(0.04, 0.09) * scale ** 0.5), rng.uniform(0.1, 0.25) * scale
        z = pot_height + height * rng.uniform(0.3, 0.6)
        direction = np.array([np.cos(angle), np.sin(angle), 0.0])
        elbow = direction * out + np.array([0, 0, z])
        parts.append(_rod(np.array([0, 0, z]), elbow, arm_radius, green))
        parts.append(_sphere(arm_radius, elbow, green))
        parts.append(_cylinder(arm_radius, up, elbow + np.array([0, 0, up / 2]), green))
        parts.append(_sphere(arm_radius, elbow + np.array([0, 0, up]), green))
    parts, _ = _centred(parts)
    return _model(name, kind, parts)


def _trailing_leaves(rng, leaves, rim_radius, rim_height, vines, beads, bead_radius, lowest):
    """Vines of round leaves (beads) spilling over a pot rim and hanging down along its side.

    ``vines`` strands of ``beads`` leaves of about ``bead_radius``; no leaf goes below ``lowest``.
    """
    parts = []
    for angle in rng.uniform(0, 2 * np.pi) + np.arange(vines) * 2 * np.pi / vines + rng.uniform(-0.25, 0.25, vines):
        direction = np.array([np.cos(angle), np.sin(angle), 0.0])
        colour = _vary(leaves, rng)
        spacing = bead_radius * rng.uniform(1.5, 1.9)
        for k in range(beads):
            radius = bead_radius * rng.uniform(0.8, 1.1)
            z = max(rim_height - k * spacing, lowest + radius)
            out = rim_radius + radius * (0.6 if k == 0 else 0.9) + k * bead_radius * 0.15
            parts.append(_sphere(radius, direction * out + np.array([0, 0, z]), colour))
    return parts


def plant_hanging_pot(rng, name, materials):
    """A shepherd's-hook stand: pole on crossed feet, top arm, a hanging pot with trailing leaves."""
    height, arm = rng.uniform(1.3, 1.6), rng.uniform(0.28, 0.36)
    metal, leaves = _metal_colour(rng, materials), _leaf_colour(rng, materials)
    pot_radius, pot_height = rng.uniform(0.13, 0.17), rng.uniform(0.12, 0.16)
    pot_bottom = rng.uniform(0.7, 0.95)
    hook = np.array([arm, 0.0, height - 0.02])
    parts = [_box((0.45, 0.04, 0.03), (0, 0, 0.015), metal, euler=(0.0, 0.0, np.pi / 4)),
             _box((0.45, 0.04, 0.03), (0, 0, 0.015), metal, euler=(0.0, 0.0, -np.pi / 4)),
             _cylinder(0.012, height, (0, 0, height / 2), metal),
             _rod((0, 0, height - 0.02), hook, 0.01, metal),
             _rod(hook, hook - np.array([0, 0, 0.12]), 0.004, metal)]
    pot_top = pot_bottom + pot_height
    for angle in np.arange(3) * 2 * np.pi / 3:
        rim = np.array([arm + pot_radius * 0.95 * np.cos(angle), pot_radius * 0.95 * np.sin(angle), pot_top])
        parts.append(_rod(hook - np.array([0, 0, 0.12]), rim, 0.003, metal))
    pot = _pot(rng, materials, pot_radius, pot_height)
    parts += _shifted(pot, (arm, 0.0, pot_bottom))
    parts.append(_sphere(pot_radius * 0.9, (arm, 0, pot_top + pot_radius * 0.3), leaves))
    trailing = _trailing_leaves(rng, leaves, pot_radius, pot_top, int(rng.integers(4, 6)), 3, rng.uniform(0.03, 0.04),
                                0.3)
    parts += _shifted(trailing, (arm, 0.0, 0.0))
    parts, _ = _centred(parts)
    return _model(name, "plant", parts)


def plant_topiary(rng, name, materials):
    """A ball topiary: square planter, bare stem and one or two clipped foliage balls."""
    side, planter_height = rng.uniform(0.22, 0.32), rng.uniform(0.25, 0.35)
    planter = _wood(rng, materials) if rng.random() < 0.5 else _stone(rng, materials)
    leaves = _leaf_colour(rng, materials)
    stem = _wood(rng, materials)
    ball, stem_height = rng.uniform(0.14, 0.2), rng.uniform(0.3, 0.5)
    parts = [_box((side, side, planter_height - 0.03), (0, 0, (planter_height - 0.03) / 2), planter),
             _box((side + 0.03, side + 0.03, 0.03), (0, 0, planter_height - 0.015), planter),
             _box((side - 0.02, side - 0.02, 0.004), (0, 0, planter_height + 0.002), _soil_colour(rng, materials)),
             _cylinder(0.015, stem_height + ball, (0, 0, planter_height + (stem_height + ball) / 2), stem),
             _sphere(ball, (0, 0, planter_height + stem_height + ball), leaves)]
    if rng.random() < 0.5:
        small = ball * rng.uniform(0.55, 0.75)
        top = planter_height + stem_height + 2 * ball + 0.08
        parts.append(_cylinder(0.012, 0.12, (0, 0, top - 0.04), stem))
        parts.append(_sphere(small, (0, 0, top + small * 0.8), _vary(leaves, rng)))
    return _model(name, "plant", parts)


def small_plant_trailing(rng, name, materials):
    """A small pot with a low crown and leaves trailing over the rim."""
    pot_radius, pot_height = rng.uniform(0.055, 0.08), rng.uniform(0.08, 0.12)
    leaves = _leaf_colour(rng, materials)
    parts = _pot(rng, materials, pot_radius, pot_height)
    parts.append(_sphere(pot_radius * 0.85, (0, 0, pot_height + pot_radius * 0.25), leaves))
    parts += _trailing_leaves(rng, leaves, pot_radius, pot_height, int(rng.integers(5, 8)), 3,
                              rng.uniform(0.012, 0.016), 0.005)
    parts, _ = _centred(parts)
    return _model(name, "small_plant", parts)


def small_plant_succulent_bowl(rng, name, materials):
    """A wide, low bowl of small succulent rosettes."""
    radius, height = rng.uniform(0.07, 0.1), rng.uniform(0.045, 0.065)
    bowl = _stone(rng, materials) if rng.random() < 0.5 else materials.colour(rng, saturation=(0.0, 0.6))
    parts = [_cylinder(radius * 0.6, height / 3, (0, 0, height / 6), bowl),
             _cylinder(radius * 0.85, height / 3, (0, 0, height / 2), bowl),
             _cylinder(radius, height / 3, (0, 0, height * 5 / 6), bowl),
             _cylinder(radius * 0.9, 0.004, (0, 0, height + 0.002), _soil_colour(rng, materials))]
    for _ in range(int(rng.integers(3, 7))):
        r = rng.uniform(0.018, 0.032)
        spot = rng.uniform(0, 1) ** 0.5 * (radius * 0.9 - r)
        angle = rng.uniform(0, 2 * np.pi)
        colour = materials.colour(rng, hue=(0.2, 0.5), saturation=(0.2, 0.6), value=(0.35, 0.75))
        parts.append(_sphere(r, (spot * np.cos(angle), spot * np.sin(angle), height + r * 0.6), colour))
    if rng.random() < 0.5:   # one taller spike
        parts.append(_cylinder(0.01, 0.08, (0, 0, height + 0.04), materials.colour(rng, hue=(0.25, 0.4))))
    parts, _ = _centred(parts)
    return _model(name, "small_plant", parts)


# --------------------------------------------------------------------------------------------------
# Pillows (NYU40 "pillow"): they stand on a sofa's seat, leaning back.

def _grounded_model(name, kind, parts):
    parts, _ = _centred(parts)
    return _model(name, kind, parts)


def pillow_square(rng, name, materials):
    """A square cushion, puffed (two crossing boxes), leaning back."""
    side, thick, lean = rng.uniform(0.35, 0.45), rng.uniform(0.1, 0.13), rng.uniform(0.12, 0.25)
    cloth = _fabric(rng, materials, (32, 32))
    euler = (-float(lean), 0.0, 0.0)
    parts = [_box((side, thick * 0.6, side), (0, 0, 0), cloth, euler),
             _box((side * 0.88, thick, side * 0.88), (0, 0, 0), cloth, euler)]
    return _grounded_model(name, "pillow", parts)


def pillow_bolster(rng, name, materials):
    """A bolster: a cylinder lying along x with contrasting end caps."""
    radius, length = rng.uniform(0.08, 0.11), rng.uniform(0.4, 0.55)
    cloth = _fabric(rng, materials, (32, 32))
    cap = materials.colour(rng, saturation=(0.2, 0.9))
    lying = (0.0, np.pi / 2, 0.0)
    parts = [_cylinder(radius, length, (0, 0, radius), cloth, lying)]
    for sx in (-1, 1):
        parts.append(_cylinder(radius * 0.96, 0.01, (sx * (length / 2 + 0.005), 0, radius), cap, lying))
        parts.append(_sphere(0.015, (sx * (length / 2 + 0.012), 0, radius), cap))
    return _grounded_model(name, "pillow", parts)


def pillow_round(rng, name, materials):
    """A round cushion: a thick disc standing on its edge, leaning back, with a centre button."""
    radius, thick, lean = rng.uniform(0.17, 0.22), rng.uniform(0.08, 0.11), rng.uniform(0.12, 0.25)
    cloth = _fabric(rng, materials, (32, 32))
    button = materials.colour(rng, saturation=(0.0, 0.8), value=(0.2, 0.9))
    axis = np.array([0.0, np.cos(lean), np.sin(lean)])      # the disc faces forward and a little up
    euler = _axis_euler(axis)
    parts = [_cylinder(radius, thick, (0, 0, 0), cloth, euler),
             _cylinder(radius * 0.9, thick * 1.25, (0, 0, 0), cloth, euler),
             _sphere(0.018, axis * thick * 0.62, button)]
    return _grounded_model(name, "pillow", parts)


def pillow_lumbar(rng, name, materials):
    """A long, low lumbar cushion with a piped seam, leaning back."""
    width, height, thick = rng.uniform(0.45, 0.58), rng.uniform(0.26, 0.32), rng.uniform(0.09, 0.12)
    lean = rng.uniform(0.1, 0.22)
    cloth = _fabric(rng, materials, (32, 32))
    piping = materials.colour(rng, saturation=(0.0, 0.9), value=(0.2, 0.95))
    euler = (-float(lean), 0.0, 0.0)
    rotation = _rotation(euler)
    parts = [_box((width, thick * 0.65, height), (0, 0, 0), cloth, euler),
             _box((width * 0.94, thick, height * 0.86), (0, 0, 0), cloth, euler)]
    for sz in (-1, 1):   # piping round the edge
        parts.append(_box((width + 0.012, 0.012, 0.012), rotation @ (0, 0, sz * height / 2), piping, euler))
    for sx in (-1, 1):
        parts.append(_box((0.012, 0.012, height), rotation @ (sx * (width / 2 + 0.006), 0, 0), piping, euler))
    return _grounded_model(name, "pillow", parts)


# --------------------------------------------------------------------------------------------------
# Sofas (NYU40 "sofa"): the back of the seat is a surface (pillows lean there).

PILLOW_STRIP = 0.26
"""Depth of a sofa's pillow surface (room for a leaning pillow up to this deep)."""


def _sofa_dimensions(rng):
    return rng.uniform(1.6, 2.2), rng.uniform(0.8, 0.95), rng.uniform(0.4, 0.46), rng.uniform(0.75, 0.9)


def _seat_surface(width, arm, back_front, seat_height):
    return Surface(-width / 2 + arm + 0.05, back_front, width / 2 - arm - 0.05, back_front + PILLOW_STRIP, seat_height)


def _seat_cushions(count, inner_width, depth, y, bottom, height, finish):
    """``count`` seat cushions side by side with small gaps."""
    piece = inner_width / count
    return [_box((piece - 0.012, depth, height), (-inner_width / 2 + piece * (k + 0.5), y, bottom + height / 2), finish)
            for k in range(count)]


def sofa_box_arms(rng, name, materials):
    """A block sofa: base, two or three seat cushions, a full back and square arms."""
    width, depth, seat, back = _sofa_dimensions(rng)
    cloth = _fabric(rng, materials, (64, 64))
    arm, back_thick, cushion = rng.uniform(0.12, 0.22), 0.2, 0.12
    parts = [_box((width, depth, seat - cushion), (0, 0, (seat - cushion) / 2), cloth),
             _box((width, back_thick, back), (0, -depth / 2 + back_thick / 2, back / 2), cloth)]
    parts += _seat_cushions(int(rng.integers(2, 4)), width - 2 * arm, depth - back_thick, back_thick / 2,
                            seat - cushion, cushion, cloth)
    for sx in (-1, 1):
        parts.append(_box((arm, depth, seat + 0.18), (sx * (width - arm) / 2, 0, (seat + 0.18) / 2), cloth))
    surface = _seat_surface(width, arm, -depth / 2 + back_thick, seat)
    return _model(name, "sofa", parts, [surface])


def sofa_legged_cushions(rng, name, materials):
    """A mid-century sofa: raised on tapered legs, thin arms, loose seat and leaning back cushions."""
    width, depth, seat, back = _sofa_dimensions(rng)
    cloth, legs = _fabric(rng, materials, (64, 64)), _wood(rng, materials)
    leg_height, frame, arm = rng.uniform(0.14, 0.2), 0.09, rng.uniform(0.06, 0.1)
    count = int(rng.integers(2, 4))
    base_top = leg_height + frame
    back_panel = 0.07
    parts = _splayed_legs(width - 0.1, depth - 0.1, leg_height, 0.018, 0.03, legs, inset=0.0)
    parts.append(_box((width, depth, frame), (0, 0, leg_height + frame / 2), cloth))
    parts.append(_box((width, back_panel, back - base_top), (0, -depth / 2 + back_panel / 2, (back + base_top) / 2),
                      cloth))
    arm_top = seat + rng.uniform(0.12, 0.18)
    for sx in (-1, 1):
        parts.append(_box((arm, depth, arm_top - base_top), (sx * (width - arm) / 2, 0, (arm_top + base_top) / 2),
                          cloth))
    inner = width - 2 * arm
    parts += _seat_cushions(count, inner, depth - back_panel, back_panel / 2, base_top, seat - base_top, cloth)
    lean, cushion_height, cushion_thick = rng.uniform(0.15, 0.28), back - seat - rng.uniform(0.03, 0.08), 0.13
    piece = inner / count
    back_front = -depth / 2 + back_panel
    for k in range(count):
        centre = (-inner / 2 + piece * (k + 0.5), back_front + cushion_thick / 2 + np.sin(lean) * cushion_height / 2,
                  seat + np.cos(lean) * cushion_height / 2)
        parts.append(_box((piece - 0.015, cushion_thick, cushion_height), centre, cloth, euler=(float(lean), 0.0, 0.0)))
    surface = _seat_surface(width, arm, back_front + cushion_thick, seat)
    return _model(name, "sofa", parts, [surface])


def sofa_rolled_arm(rng, name, materials):
    """A classic sofa on bun feet with rolled arms and a rolled back top."""
    width, depth, seat, back = _sofa_dimensions(rng)
    cloth, feet = _fabric(rng, materials, (64, 64)), _wood(rng, materials)
    arm, back_thick, foot = rng.uniform(0.16, 0.22), rng.uniform(0.18, 0.24), 0.035
    arm_height, roll = seat + rng.uniform(0.14, 0.2), rng.uniform(0.06, 0.08)
    lift = 2 * foot
    parts = []
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_sphere(foot, (sx * (width / 2 - 0.08), sy * (depth / 2 - 0.08), foot), feet))
    parts.append(_box((width - 2 * arm, depth, seat - 0.13 - lift), (0, 0, (seat - 0.13 + lift) / 2), cloth))
    parts.append(_box((width - 2 * arm + 0.02, depth - back_thick, 0.13), (0, back_thick / 2, seat - 0.065), cloth))
    back_body = back - roll - lift
    parts.append(_box((width - 2 * arm, back_thick, back_body), (0, -depth / 2 + back_thick / 2, lift + back_body / 2),
                      cloth))
    parts.append(_cylinder(roll + 0.01, width - 2 * arm, (0, -depth / 2 + back_thick / 2, back - roll - 0.01), cloth,
                           euler=(0.0, np.pi / 2, 0.0)))
    for sx in (-1, 1):
        x = sx * (width / 2 - arm / 2)
        body = arm_height - lift - arm / 2
        parts.append(_box((arm * 0.8, depth, body), (x - sx * arm * 0.1, 0, lift + body / 2), cloth))
        parts.append(_cylinder(arm / 2, depth, (x, 0, arm_height - arm / 2), cloth, euler=(np.pi / 2, 0.0, 0.0)))
    surface = _seat_surface(width, arm, -depth / 2 + back_thick, seat)
    return _model(name, "sofa", parts, [surface])


def sofa_armless(rng, name, materials):
    """An armless bench sofa on slim metal legs with a reclined slab back."""
    width, depth, seat, back = _sofa_dimensions(rng)
    back = back * rng.uniform(0.85, 0.95)
    cloth, metal = _fabric(rng, materials, (64, 64)), _metal_colour(rng, materials)
    leg_height, base = rng.uniform(0.15, 0.2), rng.uniform(0.1, 0.14)
    back_thick, recline = rng.uniform(0.12, 0.16), rng.uniform(0.15, 0.25)
    parts = []
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (width / 2 - 0.12), sy * (depth / 2 - 0.1)
            parts.append(_rod((x, y - sy * 0.04, 0.006), (x, y, leg_height), 0.012, metal))
    parts.append(_box((width, depth, base), (0, 0, leg_height + base / 2), cloth))
    parts.append(_box((width - 0.02, depth - back_thick - 0.02, seat - leg_height - base),
                      (0, back_thick / 2, (seat + leg_height + base) / 2), cloth))
    bottom = leg_height + base
    length = (back - bottom) / np.cos(recline)
    lower = np.array([0.0, -depth / 2 + back_thick / 2 + np.sin(recline) * length * 0.5, bottom])
    upper = lower + length * np.array([0.0, -np.sin(recline), np.cos(recline)])
    parts.append(_bar(lower, upper, width, back_thick, cloth))
    back_front = lower[1] + back_thick / 2 / np.cos(recline) - (seat - bottom) * np.tan(recline)
    parts, (surface,) = _centred(parts, [_seat_surface(width, 0.0, back_front, seat)])
    return _model(name, "sofa", parts, [surface])


# --------------------------------------------------------------------------------------------------
# Bookshelves (NYU40 "bookshelf"): every shelf is a surface with its clearance (books go at y = 0).

def _shelf_surfaces(x0, x1, depth, levels, board):
    """Surfaces on the boards at ``levels`` (centre heights), each up to the next board."""
    return [Surface(x0, -depth / 2 + 0.02, x1, depth / 2 - 0.02, z + board / 2, clearance=float(top - z - board))
            for z, top in zip(levels[:-1], levels[1:])]


def bookshelf_open_shelves(rng, name, materials):
    """Side boards, a back panel and evenly spaced shelves."""
    width, depth, height = rng.uniform(0.7, 1.0), rng.uniform(0.28, 0.36), rng.uniform(1.5, 2.0)
    board, finish = rng.uniform(0.02, 0.035), _wood_or_paint(rng, materials)
    shelves = int(rng.integers(4, 6))
    parts = [_box((board, depth, height), (sx * (width - board) / 2, 0, height / 2), finish) for sx in (-1, 1)]
    parts.append(_box((width, 0.01, height), (0, -depth / 2 + 0.005, height / 2), finish))
    levels = np.linspace(0.05, height - board / 2, shelves + 1)
    parts += [_box((width - 2 * board, depth, board), (0, 0, z), finish) for z in levels]
    surfaces = _shelf_surfaces(-width / 2 + board + 0.01, width / 2 - board - 0.01, depth, levels, board)
    return _model(name, "bookshelf", parts, surfaces)


def bookshelf_metal_frame(rng, name, materials):
    """Four metal corner posts, thin boards and an X brace at the back; no side panels."""
    width, depth, height = rng.uniform(0.75, 1.1), rng.uniform(0.3, 0.4), rng.uniform(1.4, 1.9)
    metal = _metal_colour(rng, materials)
    boards = _wood_or_paint(rng, materials) if rng.random() < 0.6 else metal
    post, board = rng.uniform(0.025, 0.035), rng.uniform(0.015, 0.025)
    shelves = int(rng.integers(4, 6))
    parts = _corner_legs(width, depth, post, height, metal)
    levels = np.linspace(rng.uniform(0.08, 0.15), height - board / 2, shelves + 1)
    parts += [_box((width - 0.004, depth - 0.004, board), (0, 0, z), boards) for z in levels]
    back_y = -depth / 2 + post / 2
    for sx in (-1, 1):
        parts.append(_rod((-sx * (width / 2 - post), back_y, levels[0]), (sx * (width / 2 - post), back_y, levels[-1]),
                          0.004, metal))
    surfaces = _shelf_surfaces(-width / 2 + post + 0.01, width / 2 - post - 0.01, depth, levels, board)
    return _model(name, "bookshelf", parts, surfaces)


def bookshelf_cube_grid(rng, name, materials):
    """A grid of square cubbies (2-4 across, 3-5 high), a few holding fabric bins."""
    columns, rows = int(rng.integers(2, 4)), int(rng.integers(3, 6))
    cell, board, depth = rng.uniform(0.3, 0.36), rng.uniform(0.02, 0.03), rng.uniform(0.3, 0.38)
    width, height = columns * cell + (columns + 1) * board, rows * cell + (rows + 1) * board
    finish = _wood_or_paint(rng, materials)
    parts = [_box((board, depth, height), (sx * (width - board) / 2, 0, height / 2), finish) for sx in (-1, 1)]
    parts.append(_box((width, 0.008, height), (0, -depth / 2 + 0.004, height / 2), finish))
    levels = board / 2 + np.arange(rows + 1) * (cell + board)
    parts += [_box((width - 2 * board, depth, board), (0, 0, z), finish) for z in levels]
    for k in range(1, columns):
        x = -width / 2 + k * (cell + board) + board / 2
        parts.append(_box((board, depth, height - 2 * board), (x, 0, height / 2), finish))
    bin_count = int(rng.integers(0, min(4, rows * columns - 2)))
    bins = set(rng.choice(rows * columns, size=bin_count, replace=False).tolist())
    bin_cloth = _fabric(rng, materials, (32, 32)) if bins else None
    surfaces = []
    for row in range(rows):
        for column in range(columns):
            x0 = -width / 2 + board + column * (cell + board)
            z = levels[row] + board / 2
            if row * columns + column in bins:
                parts.append(_box((cell - 0.02, depth - 0.03, cell - 0.03),
                                  (x0 + cell / 2, 0.01, z + (cell - 0.03) / 2), bin_cloth))
            else:
                surfaces.append(Surface(x0 + 0.01, -depth / 2 + 0.02, x0 + cell - 0.01, depth / 2 - 0.02, z,
                                        clearance=float(cell)))
    return _model(name, "bookshelf", parts, surfaces)


def bookshelf_half_open(rng, name, materials):
    """A closed two-door cupboard at the bottom with open shelves above it."""
    width, depth, height = rng.uniform(0.75, 1.0), rng.uniform(0.3, 0.38), rng.uniform(1.6, 2.0)
    lower, board = rng.uniform(0.7, 0.9), rng.uniform(0.02, 0.03)
    body = _wood_or_paint(rng, materials)
    door = body if rng.random() < 0.6 else _wood_or_paint(rng, materials)
    handle = _metal_colour(rng, materials)
    parts = [_box((width, depth, lower), (0, 0, lower / 2), body)]
    for sx in (-1, 1):
        parts.append(_box((width / 2 - 0.02, 0.015, lower - 0.06), (sx * width / 4, depth / 2 + 0.0075, lower / 2),
                          door))
        parts.append(_box((0.015, 0.025, 0.1), (sx * 0.04, depth / 2 + 0.02, lower * 0.75), handle))
        parts.append(_box((board, depth, height - lower), (sx * (width - board) / 2, 0, (height + lower) / 2), body))
    parts.append(_box((width, 0.01, height - lower), (0, -depth / 2 + 0.005, (height + lower) / 2), body))
    shelves = int(rng.integers(2, 4))
    levels = np.concatenate([[lower - board / 2], np.linspace(lower, height - board / 2, shelves + 1)[1:]])
    parts += [_box((width - 2 * board, depth, board), (0, 0, z), body) for z in levels[1:]]
    surfaces = _shelf_surfaces(-width / 2 + board + 0.01, width / 2 - board - 0.01, depth, levels, board)
    return _model(name, "bookshelf", parts, surfaces)


# --------------------------------------------------------------------------------------------------
# Cabinets (NYU40 "cabinet"): the top is a surface.

def cabinet_two_door(rng, name, materials):
    """A body with one or two door panels and bar handles."""
    width, depth, height = rng.uniform(0.6, 1.2), rng.uniform(0.4, 0.5), rng.uniform(0.7, 1.0)
    body = _wood_or_paint(rng, materials)
    door = _wood_or_paint(rng, materials) if rng.random() < 0.5 else body
    handle = _metal_colour(rng, materials)
    parts = [_box((width, depth, height), (0, 0, height / 2), body)]
    doors = 2 if width > 0.8 else 1
    door_width = (width - 0.04) / doors
    for k in range(doors):
        x = -width / 2 + 0.02 + door_width * (k + 0.5)
        parts.append(_box((door_width - 0.01, 0.015, height - 0.08), (x, depth / 2 + 0.0075, height / 2), door))
        hx = x + (door_width / 2 - 0.06) * (1 if k == 0 and doors == 2 else -1)
        parts.append(_box((0.02, 0.03, 0.12), (hx, depth / 2 + 0.03, height * 0.6), handle))
    return _model(name, "cabinet", parts, [_top_surface(width, depth, height, margin=0.04)])


def cabinet_drawer_chest(rng, name, materials):
    """A chest of drawers on a recessed plinth, with an overhanging top and knobs."""
    width, depth, height = rng.uniform(0.6, 1.0), rng.uniform(0.4, 0.5), rng.uniform(0.75, 1.1)
    body = _wood_or_paint(rng, materials)
    front = body if rng.random() < 0.6 else _wood_or_paint(rng, materials)
    knob = _metal_colour(rng, materials) if rng.random() < 0.6 else _wood(rng, materials)
    plinth, top = rng.uniform(0.06, 0.1), 0.025
    rows = int(rng.integers(3, 6))
    parts = [_box((width - 0.05, depth - 0.05, plinth), (0, -0.01, plinth / 2), body),
             _box((width, depth, height - plinth - top), (0, 0, (height - top + plinth) / 2), body),
             _box((width + 0.02, depth + 0.02, top), (0, 0, height - top / 2), body)]
    row_height = (height - plinth - top - 0.02) / rows
    for row in range(rows):
        z = plinth + 0.01 + row_height * (row + 0.5)
        columns = 2 if (row == rows - 1 and width > 0.8) else 1
        piece = (width - 0.03) / columns
        for column in range(columns):
            x = -width / 2 + 0.015 + piece * (column + 0.5)
            parts.append(_box((piece - 0.012, 0.018, row_height - 0.012), (x, depth / 2 + 0.009, z), front))
            parts.append(_sphere(0.016, (x, depth / 2 + 0.025, z), knob))
    return _model(name, "cabinet", parts, [_top_surface(width, depth, height, margin=0.04)])


def cabinet_sideboard_legs(rng, name, materials):
    """A long, low sideboard raised on splayed legs, three or four fronts with slot handles."""
    width, depth = rng.uniform(1.2, 1.7), rng.uniform(0.4, 0.48)
    leg_height, body_height = rng.uniform(0.15, 0.25), rng.uniform(0.45, 0.6)
    body, legs = _wood_or_paint(rng, materials), _wood(rng, materials)
    handle = _dark_plastic_colour(rng, materials)
    height = leg_height + body_height
    parts = _splayed_legs(width, depth, leg_height, 0.018, rng.uniform(0.0, 0.03), legs, inset=0.06)
    parts.append(_box((width, depth, body_height), (0, 0, leg_height + body_height / 2), body))
    fronts = int(rng.integers(3, 5))
    piece = (width - 0.03) / fronts
    for k in range(fronts):
        x = -width / 2 + 0.015 + piece * (k + 0.5)
        parts.append(_box((piece - 0.01, 0.015, body_height - 0.05),
                          (x, depth / 2 + 0.0075, leg_height + body_height / 2), body))
        parts.append(_box((0.012, 0.01, body_height * 0.35), (x + (piece / 2 - 0.05) * (-1) ** k, depth / 2 + 0.02,
                                                                leg_height + body_height * 0.55), handle))
    return _model(name, "cabinet", parts, [_top_surface(width, depth, height, margin=0.04)])


def cabinet_filing_metal(rng, name, materials):
    """A narrow, deep metal filing cabinet: two to four drawers with handles and label holders."""
    width, depth = rng.uniform(0.4, 0.5), rng.uniform(0.5, 0.62)
    drawers = int(rng.integers(2, 5))
    drawer_height = rng.uniform(0.28, 0.33)
    height = drawers * drawer_height + 0.03
    metal = _metal(rng, materials)
    handle = _metal_colour(rng, materials)
    parts = [_box((width, depth, height), (0, 0, height / 2), metal)]
    for k in range(drawers):
        z = 0.02 + drawer_height * (k + 0.5)
        parts.append(_box((width - 0.03, 0.015, drawer_height - 0.015), (0, depth / 2 + 0.0075, z), metal))
        parts.append(_box((0.13, 0.025, 0.02), (0, depth / 2 + 0.0275, z + drawer_height * 0.12), handle))
        parts.append(_box((0.08, 0.005, 0.04), (0, depth / 2 + 0.0175, z + drawer_height * 0.3), handle))
    return _model(name, "cabinet", parts, [_top_surface(width, depth, height, margin=0.04)])


# --------------------------------------------------------------------------------------------------
# Boxes (NYU40 "box"); ``small`` ones stand on surfaces.

def _box_size(rng, small):
    if small:
        return rng.uniform(0.12, 0.3), rng.uniform(0.1, 0.24), rng.uniform(0.08, 0.2)
    return rng.uniform(0.25, 0.55), rng.uniform(0.25, 0.45), rng.uniform(0.2, 0.45)


def box_cardboard(rng, name, materials, small=False):
    """A closed cardboard box with a tape strip over the top."""
    w, d, h = _box_size(rng, small)
    parts = [_box((w, d, h), (0, 0, h / 2), _cardboard_colour(rng, materials)),
             _box((0.05, d + 0.004, 0.004), (0, 0, h), materials.colour(rng, value=(0.6, 1.0)))]
    return _model(name, "small_box" if small else "box", parts)


def box_open_flaps(rng, name, materials, small=False):
    """A cardboard box standing open, its four flaps folded out and up."""
    w, d, h = _box_size(rng, small)
    brown = _cardboard_colour(rng, materials)
    inside = np.clip(brown * 0.45, 0, 1)
    parts = [_box((w, d, h), (0, 0, h / 2), brown), _box((w - 0.01, d - 0.01, 0.002), (0, 0, h + 0.001), inside)]
    for sy in (-1, 1):
        angle, length = rng.uniform(0.25, 0.9), d / 2 * rng.uniform(0.85, 1.0)
        start = np.array([0.0, sy * d / 2, h])
        parts.append(_bar(start, start + length * np.array([0.0, sy * np.sin(angle), np.cos(angle)]), w, 0.005, brown))
    for sx in (-1, 1):
        angle, length = rng.uniform(0.25, 0.9), min(w, d) / 2 * rng.uniform(0.7, 0.9)
        start = np.array([sx * w / 2, 0.0, h])
        parts.append(_bar(start, start + length * np.array([sx * np.sin(angle), 0.0, np.cos(angle)]), d, 0.005, brown))
    parts, _ = _centred(parts)
    return _model(name, "small_box" if small else "box", parts)


def box_storage_crate(rng, name, materials, small=False):
    """An open plastic crate: floor, four walls, a thick rim and hand holes in the short ends."""
    w, d, h = _box_size(rng, small)
    plastic = _plastic(rng, materials)
    hole = _dark_plastic_colour(rng, materials)
    wall, rim = 0.012, 0.022
    parts = [_box((w, d, 0.015), (0, 0, 0.0075), plastic)]
    for sy in (-1, 1):
        parts.append(_box((w, wall, h), (0, sy * (d - wall) / 2, h / 2), plastic))
        parts.append(_box((w + 0.01, rim, 0.02), (0, sy * (d / 2 - rim / 2 + 0.005), h - 0.01), plastic))
    for sx in (-1, 1):
        parts.append(_box((wall, d - 2 * wall, h), (sx * (w - wall) / 2, 0, h / 2), plastic))
        parts.append(_box((rim, d + 0.01, 0.02), (sx * (w / 2 - rim / 2 + 0.005), 0, h - 0.01), plastic))
        parts.append(_box((0.004, min(0.1, d * 0.4), min(0.035, h * 0.2)), (sx * (w / 2 + 0.002), 0, h * 0.8), hole))
    return _model(name, "small_box" if small else "box", parts)


def box_lidded(rng, name, materials, small=False):
    """A storage box with an overhanging lid, two side grips and a label."""
    w, d, h = _box_size(rng, small)
    body = _plastic(rng, materials) if rng.random() < 0.5 else _cardboard_colour(rng, materials)
    lid_colour = materials.colour(rng, saturation=(0.0, 0.8), value=(0.2, 0.95))
    lid = min(0.035, h * 0.2)
    parts = [_box((w, d, h - lid * 0.7), (0, 0, (h - lid * 0.7) / 2), body),
             _box((w + 0.016, d + 0.016, lid), (0, 0, h - lid / 2), lid_colour),
             _box((min(0.12, w * 0.4), 0.003, min(0.06, h * 0.3)), (0, d / 2 + 0.0015, h * 0.45),
                  materials.colour(rng, saturation=(0.0, 0.1), value=(0.85, 1.0)))]
    for sx in (-1, 1):
        parts.append(_box((0.015, min(0.09, d * 0.4), 0.02), (sx * (w / 2 + 0.0075), 0, h * 0.72), lid_colour))
    return _model(name, "small_box" if small else "box", parts)


# --------------------------------------------------------------------------------------------------
# The registry and its split.

def _small(builder):
    """``builder`` with ``small=True``, keeping the (rng, name, materials) signature."""
    return functools.wraps(builder)(functools.partial(builder, small=True))


VARIANTS = {
    "chair": {"four-leg-panel": chair_four_leg_panel, "slatted-back": chair_slatted_back,
              "ladder-back": chair_ladder_back, "office-swivel": chair_office_swivel, "tulip": chair_tulip,
              "spindle-back": chair_spindle_back, "upholstered": chair_upholstered, "armchair": chair_armchair,
              "sled": chair_sled},
    "table": {"four-leg": table_four_leg, "round-pedestal": table_round_pedestal, "trestle": table_trestle,
              "apron-round-legs": table_apron_round_legs, "pedestal": table_pedestal, "x-frame": table_x_frame},
    "desk": {"panel-sides": desk_panel_sides, "l-frame-metal": desk_l_frame_metal,
             "four-leg-with-drawers": desk_four_leg_with_drawers, "double-pedestal": desk_double_pedestal},
    "monitor": {"stand-foot": monitor_stand_foot, "crt-box": monitor_crt_box, "ultrawide": monitor_ultrawide,
                "thin-bezel-arm": monitor_thin_bezel_arm, "all-in-one": monitor_all_in_one},
    "mug": {"classic": mug_classic, "stackable": mug_stackable, "saucer-cup": mug_saucer_cup,
            "tall-latte": mug_tall_latte, "with-band": mug_with_band, "travel-tumbler": mug_travel_tumbler},
    "floor_lamp": {"pole-drum-shade": floor_lamp_pole_drum_shade, "arc": floor_lamp_arc,
                   "torchiere": floor_lamp_torchiere, "tripod": floor_lamp_tripod, "globe": floor_lamp_globe},
    "desk_lamp": {"pole-drum-shade": desk_lamp_pole_drum_shade, "desk-arm": desk_lamp_desk_arm,
                  "globe": desk_lamp_globe, "banker": desk_lamp_banker, "mushroom": desk_lamp_mushroom},
    "plant": {"sphere-bush": plant_sphere_bush, "tall-leaves": plant_tall_leaves, "hanging-pot": plant_hanging_pot,
              "cactus": plant_cactus, "topiary": plant_topiary},
    "small_plant": {"sphere-bush": _small(plant_sphere_bush), "tall-leaves": _small(plant_tall_leaves),
                    "trailing": small_plant_trailing, "cactus": _small(plant_cactus),
                    "succulent-bowl": small_plant_succulent_bowl},
    "pillow": {"square": pillow_square, "bolster": pillow_bolster, "round": pillow_round, "lumbar": pillow_lumbar},
    "sofa": {"box-arms": sofa_box_arms, "legged-cushions": sofa_legged_cushions, "rolled-arm": sofa_rolled_arm,
             "armless": sofa_armless},
    "bookshelf": {"open-shelves": bookshelf_open_shelves, "metal-frame": bookshelf_metal_frame,
                  "cube-grid": bookshelf_cube_grid, "half-open": bookshelf_half_open},
    "cabinet": {"two-door": cabinet_two_door, "filing-metal": cabinet_filing_metal,
                "drawer-chest": cabinet_drawer_chest, "sideboard-legs": cabinet_sideboard_legs},
    "box": {"cardboard": box_cardboard, "storage-crate": box_storage_crate, "open-flaps": box_open_flaps,
            "lidded": box_lidded},
    "small_box": {"cardboard": _small(box_cardboard), "storage-crate": _small(box_storage_crate),
                  "open-flaps": _small(box_open_flaps), "lidded": _small(box_lidded)},
}
"""Kind -> {variant name: builder(rng, name, materials) -> ObjectModel}."""

KINDS = tuple(VARIANTS)
"""Every kind with variants."""

MODEL_SPLITS = {
    "chair": {"train": ("four-leg-panel", "slatted-back", "ladder-back", "office-swivel", "tulip"),
              "val": ("spindle-back", "upholstered", "armchair", "sled")},
    "table": {"train": ("four-leg", "round-pedestal", "trestle"), "val": ("apron-round-legs", "pedestal", "x-frame")},
    "desk": {"train": ("panel-sides", "l-frame-metal"), "val": ("four-leg-with-drawers", "double-pedestal")},
    "monitor": {"train": ("stand-foot", "crt-box", "ultrawide"), "val": ("thin-bezel-arm", "all-in-one")},
    "mug": {"train": ("classic", "stackable", "saucer-cup"), "val": ("tall-latte", "with-band", "travel-tumbler")},
    "floor_lamp": {"train": ("pole-drum-shade", "arc", "torchiere"), "val": ("tripod", "globe")},
    "desk_lamp": {"train": ("pole-drum-shade", "desk-arm"), "val": ("banker", "mushroom", "globe")},
    "plant": {"train": ("sphere-bush", "tall-leaves", "hanging-pot"), "val": ("cactus", "topiary")},
    "small_plant": {"train": ("sphere-bush", "tall-leaves", "trailing"), "val": ("cactus", "succulent-bowl")},
    "pillow": {"train": ("square", "bolster"), "val": ("round", "lumbar")},
    "sofa": {"train": ("box-arms", "legged-cushions"), "val": ("rolled-arm", "armless")},
    "bookshelf": {"train": ("open-shelves", "metal-frame"), "val": ("cube-grid", "half-open")},
    "cabinet": {"train": ("two-door", "filing-metal"), "val": ("drawer-chest", "sideboard-legs")},
    "box": {"train": ("cardboard", "storage-crate"), "val": ("open-flaps", "lidded")},
    "small_box": {"train": ("cardboard", "storage-crate"), "val": ("open-flaps", "lidded")},
}
"""Kind -> {"train": variant names, "val": variant names}: two disjoint halves covering every variant."""


def _check_kind(kind):
    if kind not in VARIANTS:
        raise ValueError(f"unknown model kind {kind!r}: choose from {', '.join(KINDS)}")


def variants(kind, split=None):
    """The variant names of ``kind``: all of them (``split=None``) or one half ("train" or "val").

    Raises
    ------
    ValueError
        For an unknown kind or split.
    """
    _check_kind(kind)
    if split is None:
        return tuple(VARIANTS[kind])
    if split not in HALVES:
        raise ValueError(f"unknown model split {split!r}: choose from {', '.join(HALVES)}")
    return MODEL_SPLITS[kind][split]


def sample_variant(rng, kind, split):
    """A variant name of ``kind`` drawn uniformly from ``split``'s half (one ``rng.integers`` draw)."""
    names = variants(kind, split)
    return names[int(rng.integers(len(names)))]


def build(kind, variant, rng, name, materials):
    """Build one model.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    variant : str
        One of ``variants(kind)``.
    rng : numpy.random.Generator
        Draws the model's dimensions (and, through ``materials``, its looks).
    name : str
        The model's name (instances sharing a model are twins).
    materials : object
        With ``texture(rng, kind, size)`` and ``colour(rng, hue, saturation, value)``; see
        :class:`MaterialsLike`.

    Returns
    -------
    ObjectModel

    Raises
    ------
    ValueError
        For an unknown kind or variant.
    """
    _check_kind(kind)
    if variant not in VARIANTS[kind]:
        raise ValueError(f"unknown {kind} variant {variant!r}: choose from {', '.join(VARIANTS[kind])}")
    return VARIANTS[kind][variant](rng, name, materials)


def sample_model(rng, kind, split, name, materials):
    """A new model of ``kind`` from a variant drawn in ``split``'s half; returns (variant, model)."""
    variant = sample_variant(rng, kind, split)
    return variant, build(kind, variant, rng, name, materials)
