"""Random room layouts: structure, wall openings, furniture and small objects, with twin groups.

Every placed thing is an :class:`Instance` (instance id, model, position, yaw). Instances that share
one :class:`~reid.data.furniture.ObjectModel` are identical twins; each scene has a group of 4-8
identical chairs plus one or two more twin groups (monitors, mugs, pillows, boxes), scattered so
that twins stand against different backgrounds.
"""
from dataclasses import dataclass, field

import numpy as np

from . import furniture, textures
from .furniture import ObjectModel, box
from .nyu40 import NYU40_IDS

WALL_THICKNESS = 0.1
SKIRTING_HEIGHT = 0.08


@dataclass(eq=False)
class Instance:
    """A model placed in the room: ``position`` (x, y, z) of the model origin, ``yaw`` about z."""

    instance_id: int
    model: ObjectModel
    position: tuple
    yaw: float = 0.0

    def to_world(self, point):
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        x, y, z = point
        return (self.position[0] + c * x - s * y, self.position[1] + s * x + c * y, self.position[2] + z)

    def footprint(self, margin=0.0):
        """Axis-aligned (x0, y0, x1, y1) of the model's footprint in the room."""
        w, d, _ = self.model.size
        corners = np.array([self.to_world((sx * w / 2, sy * d / 2, 0))[:2] for sx in (-1, 1) for sy in (-1, 1)])
        return (*(corners.min(0) - margin), *(corners.max(0) + margin))


@dataclass(eq=False)
class _Wall:
    """One wall seen from inside: start corner, unit direction along it, inward normal, length."""

    start: np.ndarray
    direction: np.ndarray
    normal: np.ndarray
    length: float
    floor_spans: list = field(default_factory=list)  # occupied (s0, s1) at floor level
    high_spans: list = field(default_factory=list)   # occupied (s0, s1) above furniture height

    @property
    def yaw(self):
        """Yaw that turns a model's front (+y) into the room."""
        return float(np.arctan2(-self.normal[0], self.normal[1]))

    def point(self, s, offset=0.0):
        return self.start + s * self.direction + offset * self.normal

    def take(self, rng, width, spans_lists, gap=0.15):
        """A free position (centre s) for something ``width`` wide, claimed in every list given."""
        for _ in range(30):
            s = rng.uniform(width / 2 + 0.1, self.length - width / 2 - 0.1)
            lo, hi = s - width / 2 - gap, s + width / 2 + gap
            if all(hi <= a or lo >= b for spans in spans_lists for a, b in spans):
                for spans in spans_lists:
                    spans.append((s - width / 2, s + width / 2))
                return s
        return None


@dataclass(eq=False)
class Room:
    """A generated room: size (metres), its instances and the free zone where the camera walks."""

    width: float
    depth: float
    height: float
    instances: list
    camera_zone: tuple  # (x, y, radius)

    def twin_groups(self):
        """Lists of instance ids that share one model, two or more each."""
        groups = {}
        for instance in self.instances:
            groups.setdefault(instance.model.name, []).append(instance.instance_id)
        return [ids for ids in groups.values() if len(ids) > 1]


class _Placer:
    """Keeps the instances placed so far and the floor rectangles they take."""

    def __init__(self, rng, width, depth, camera_zone):
        self.rng = rng
        self.width, self.depth = width, depth
        self.camera_zone = camera_zone
        self.instances = []
        self.rects = []
        self.surfaces = []  # (instance, surface, [taken rects in model frame])

    def add(self, model, position, yaw=0.0, solid=True):
        instance = Instance(len(self.instances) + 1, model, tuple(float(p) for p in position), float(yaw))
        self.instances.append(instance)
        if solid:
            self.rects.append(instance.footprint())
        for surface in model.surfaces:
            self.surfaces.append((instance, surface, []))
        return instance

    def fits(self, rect, margin=0.05):
        x0, y0, x1, y1 = rect
        if x0 < -self.width / 2 + margin or x1 > self.width / 2 - margin:
            return False
        if y0 < -self.depth / 2 + margin or y1 > self.depth / 2 - margin:
            return False
        cx, cy, radius = self.camera_zone
        nearest = (np.clip(cx, x0, x1), np.clip(cy, y0, y1))
        if np.hypot(nearest[0] - cx, nearest[1] - cy) < radius:
            return False
        return all(x1 + margin <= a0 or x0 - margin >= a1 or y1 + margin <= b0 or y0 - margin >= b1
                   for a0, b0, a1, b1 in self.rects)

    def on_surface(self, model, kinds=None, facing_front=False, tries=40):
        """Put a small model on a free spot of a random support surface; None when nothing fits."""
        w, d, h = model.size
        candidates = [entry for entry in self.surfaces
                      if entry[1].clearance > h and (kinds is None or entry[0].model.label in kinds)]
        for _ in range(tries):
            if not candidates:
                return None
            instance, surface, taken = candidates[self.rng.integers(len(candidates))]
            if surface.x1 - surface.x0 < w or surface.y1 - surface.y0 < d:
                continue
            x = self.rng.uniform(surface.x0 + w / 2, surface.x1 - w / 2)
            y = self.rng.uniform(surface.y0 + d / 2, surface.y1 - d / 2)
            rect = (x - w / 2, y - d / 2, x + w / 2, y + d / 2)
            if any(not (rect[2] + 0.02 <= a0 or rect[0] - 0.02 >= a1 or rect[3] + 0.02 <= b0 or rect[1] - 0.02 >= b1)
                   for a0, b0, a1, b1 in taken):
                continue
            taken.append(rect)
            turn = 0.0 if facing_front else self.rng.choice([0.0, np.pi])
            yaw = instance.yaw + turn + self.rng.uniform(-0.3, 0.3)
            return self.add(model, instance.to_world((x, y, surface.z)), yaw, solid=False)
        return None


def _tiled(image, size):
    """``image`` repeated to cover ``size`` (W, H) pixels."""
    h, w = image.shape[:2]
    reps = (-(-size[1] // h), -(-size[0] // w), 1)
    return np.ascontiguousarray(np.tile(image, reps)[:size[1], :size[0]])


def _structure(rng, width, depth, height, materials=None):
    """Wall, floor and ceiling models with their poses; walls carry their skirting.

    ``materials`` (a :class:`reid.data.materials.Materials`) gives walls, floor and ceiling their
    looks; None keeps the generator's version-2 procedural finishes (and its random draws).
    """
    paint = textures.random_colour(rng, saturation=(0.0, 0.35), value=(0.6, 0.95))
    accent = textures.random_colour(rng, saturation=(0.1, 0.6), value=(0.4, 0.9))
    skirting = textures.random_colour(rng, saturation=(0.0, 0.3), value=(0.2, 1.0))
    walls, models = [], []
    room_finish = None
    corners = [(-width / 2, -depth / 2), (width / 2, -depth / 2), (width / 2, depth / 2), (-width / 2, depth / 2)]
    for k in range(4):
        start, end = np.array(corners[k]), np.array(corners[(k + 1) % 4])
        direction = (end - start) / np.linalg.norm(end - start)
        normal = np.array([-direction[1], direction[0]])
        length = float(np.linalg.norm(end - start))
        walls.append(_Wall(start, direction, normal, length))
        colour = accent if rng.random() < 0.3 else paint
        if materials is None:
            texture = textures.wallpaper(rng, colour, (int(48 * length), int(48 * height)))
        else:  # the room's finish (an accent wall now and then), repeated every ~1.3 m
            if room_finish is None:
                room_finish = materials.texture(rng, "wall", (64, 64))
            finish = materials.texture(rng, "wall", (64, 64)) if colour is accent else room_finish
            texture = _tiled(finish, (int(48 * length), int(48 * height)))
        total = length + 2 * WALL_THICKNESS
        parts = [box((total, WALL_THICKNESS, height), (0, -WALL_THICKNESS / 2, height / 2), texture=texture),
                 box((length, 0.015, SKIRTING_HEIGHT), (0, 0.0075, SKIRTING_HEIGHT / 2), skirting)]
        models.append((ObjectModel(f"wall_{k}", NYU40_IDS["wall"], parts, (total, WALL_THICKNESS, height)),
                       (*(start + end) / 2, 0.0), walls[-1].yaw))
    floor_colour = textures.random_colour(rng, hue=(0.03, 0.14), saturation=(0.2, 0.7), value=(0.3, 0.8))
    if materials is None:
        floor_texture = (textures.wood(rng, floor_colour, (256, 256), planks=int(rng.integers(8, 16)))
                         if rng.random() < 0.6 else textures.tiles(rng, floor_colour, (256, 256), int(rng.integers(6, 12))))
    else:  # the floor finish repeated every ~2 m
        floor_texture = _tiled(materials.texture(rng, "floor", (128, 128)),
                               (int(64 * width), int(64 * depth)))
    models.append((ObjectModel("floor", NYU40_IDS["floor"],
                               [box((width, depth, 0.05), (0, 0, -0.025), texture=floor_texture)], (width, depth, 0.05)),
                   (0.0, 0.0, 0.0), 0.0))
    ceiling = (textures.plain(rng, textures.random_colour(rng, saturation=(0, 0.1), value=(0.85, 1.0)), (32, 32))
               if materials is None else materials.texture(rng, "ceiling", (64, 64)))
    models.append((ObjectModel("ceiling", NYU40_IDS["ceiling"],
                               [box((width, depth, 0.05), (0, 0, 0.025), texture=ceiling)], (width, depth, 0.05)),
                   (0.0, 0.0, height), 0.0))
    return walls, models


def _place_on_wall(placer, wall, model, s, height=0.0, offset=0.0, solid=True):
    x, y = wall.point(s, offset)
    return placer.add(model, (x, y, height), wall.yaw, solid=solid)


# The version-2 builders, by the kind names of reid.data.furniture_variants.
_VERSION2_BUILDERS = {
    "chair": furniture.chair, "table": furniture.table, "desk": furniture.desk, "bookshelf": furniture.bookshelf,
    "cabinet": furniture.cabinet, "sofa": furniture.sofa, "floor_lamp": lambda r, n: furniture.lamp(r, n, floor=True),
    "desk_lamp": lambda r, n: furniture.lamp(r, n, floor=False), "plant": furniture.plant,
    "small_plant": furniture.plant, "box": furniture.cardboard_box, "small_box": furniture.cardboard_box,
    "monitor": furniture.monitor, "mug": furniture.mug, "pillow": furniture.pillow,
}


def _version2_model(rng, kind, name):
    return _VERSION2_BUILDERS[kind](rng, name)


def sample_room(rng, style=None):
    """A random furnished room.

    Parameters
    ----------
    rng : numpy.random.Generator
    style : reid.data.styles.RoomStyle, optional
        Where the room's object models and surface looks come from (one split's half of each
        family). None draws the generator's version-2 room, draw for draw.

    Returns
    -------
    Room
        Its instances in placement order (ids from 1): walls, floor, ceiling, openings, wall
        decorations, furniture, then small objects.
    """
    width, depth, height = rng.uniform(6.0, 8.5), rng.uniform(5.5, 7.5), rng.uniform(2.6, 3.0)
    camera_zone = (rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), 1.1)
    placer = _Placer(rng, width, depth, camera_zone)
    make = _version2_model if style is None else style.build_model
    walls, structure = _structure(rng, width, depth, height, None if style is None else style.materials)
    for model, position, yaw in structure:
        placer.add(model, position, yaw, solid=False)

    # Openings and wall decorations.
    door_wall = walls[rng.integers(4)]
    door = furniture.door(rng, "door")
    s = door_wall.take(rng, door.size[0] + 0.8, [door_wall.floor_spans, door_wall.high_spans])
    _place_on_wall(placer, door_wall, door, s)
    placer.rects.append(placer.instances[-1].footprint(margin=0.45))  # keep the door's swing free
    for k in range(int(rng.integers(1, 3))):
        wall = walls[rng.integers(4)]
        model = furniture.window(rng, f"window_{k}")
        s = wall.take(rng, model.size[0], [wall.high_spans])
        if s is not None:
            _place_on_wall(placer, wall, model, s, height=rng.uniform(0.85, 1.0), solid=False)
    decorations = [furniture.picture(rng, f"picture_{k}") for k in range(int(rng.integers(3, 7)))]
    if rng.random() < 0.5:
        decorations.append(furniture.whiteboard(rng, "whiteboard"))
    for model in decorations:
        wall = walls[rng.integers(4)]
        s = wall.take(rng, model.size[0], [wall.high_spans], gap=0.2)
        if s is not None:
            _place_on_wall(placer, wall, model, s, height=rng.uniform(1.1, 1.9 - model.size[2] / 2), solid=False)

    # The twin chairs: a dining group, desks, and against the walls.
    twin_chair = make(rng, "chair", "chair_twin")
    chairs_wanted = int(rng.integers(4, 9))
    chairs = 0
    dining = make(rng, "table", "table")
    for _ in range(200):
        yaw = rng.choice([0.0, np.pi / 2])
        centre = (rng.uniform(-width / 2, width / 2), rng.uniform(-depth / 2, depth / 2))
        seats_per_side = 2 if dining.size[0] < 1.5 else 3
        trial = Instance(0, dining, (*centre, 0.0), yaw)
        x0, y0, x1, y1 = trial.footprint()
        group = (x0, y0 - 0.6, x1, y1 + 0.6) if yaw == 0.0 else (x0 - 0.6, y0, x1 + 0.6, y1)
        if placer.fits(group):
            table = placer.add(dining, (*centre, 0.0), yaw)
            placer.rects[-1] = group
            # leave one or two twins for desks and walls, so that twins stand against different backgrounds
            seats = [(side, k) for k in range(seats_per_side) for side in (-1, 1)]
            for side, k in seats[:max(2, min(len(seats), chairs_wanted - int(rng.integers(1, 3))))]:
                x = (k - (seats_per_side - 1) / 2) * dining.size[0] / seats_per_side
                position = table.to_world((x, side * (dining.size[1] / 2 + 0.1), 0.0))
                placer.add(twin_chair, position, yaw + (np.pi if side == 1 else 0.0) + rng.uniform(-0.15, 0.15),
                           solid=False)
                chairs += 1
            break

    wall_items = ["desk", "desk", "bookshelf", "cabinet", "sofa", "floor_lamp", "plant", "box", "cabinet", "bookshelf"]
    rng.shuffle(wall_items)
    other_chair = make(rng, "chair", "chair_other")
    desks, sofas = [], []
    for k, kind in enumerate(wall_items):
        model = make(rng, kind, f"{kind}_{k}")
        for _ in range(6):
            wall = walls[rng.integers(4)]
            s = wall.take(rng, model.size[0], [wall.floor_spans] + ([wall.high_spans] if model.size[2] > 0.8 else []))
            if s is None:
                continue
            x, y = wall.point(s, model.size[1] / 2 + 0.02)
            trial = Instance(0, model, (x, y, 0.0), wall.yaw)
            rect = trial.footprint()
            if kind == "desk":  # room for the chair in front
                rx, ry = wall.point(s, model.size[1] + 0.55)
                rect = (min(rect[0], rx - 0.3), min(rect[1], ry - 0.3), max(rect[2], rx + 0.3), max(rect[3], ry + 0.3))
            if placer.fits(rect, margin=0.02):
                instance = placer.add(model, (x, y, 0.0), wall.yaw)
                placer.rects[-1] = rect
                if kind == "desk":
                    desks.append((instance, wall, s))
                elif kind == "sofa":
                    sofas.append(instance)
                break
            wall.floor_spans.pop()
            if model.size[2] > 0.8:
                wall.high_spans.pop()

    for instance, wall, s in desks:
        use_twin = chairs < chairs_wanted
        model = twin_chair if use_twin else other_chair
        x, y = wall.point(s + rng.uniform(-0.15, 0.15), instance.model.size[1] + 0.15)
        placer.add(model, (x, y, 0.0), wall.yaw + np.pi + rng.uniform(-0.4, 0.4), solid=False)
        chairs += use_twin
    for attempt in range(100):  # the rest against the walls, or anywhere free when the walls are full
        if chairs >= chairs_wanted:
            break
        wall = walls[rng.integers(4)]
        if attempt < 30:
            s = wall.take(rng, 0.55, [wall.floor_spans])
            if s is None:
                continue
            x, y = wall.point(s, twin_chair.size[1] / 2 + 0.05)
            yaw = wall.yaw + rng.uniform(-0.2, 0.2)
        else:
            x, y = rng.uniform(-width / 2, width / 2), rng.uniform(-depth / 2, depth / 2)
            yaw = rng.uniform(-np.pi, np.pi)
        if placer.fits(Instance(0, twin_chair, (x, y, 0.0), yaw).footprint(), margin=0.02):
            placer.add(twin_chair, (x, y, 0.0), yaw)
            chairs += 1
        elif attempt < 30:
            wall.floor_spans.pop()

    # Small objects: monitors on desks, books on shelves, pillows on sofas, twin mugs everywhere.
    twin_monitor = make(rng, "monitor", "monitor_twin")
    for instance, _, _ in desks:
        for _ in range(1 if instance.model.size[0] < 1.35 else 2):
            placer.on_surface(twin_monitor, kinds={NYU40_IDS["desk"]}, facing_front=True)
    bookshelf_surfaces = [entry for entry in placer.surfaces if entry[0].model.label == NYU40_IDS["bookshelf"]]
    for k, (instance, surface, taken) in enumerate(bookshelf_surfaces):
        if rng.random() < 0.7:
            row = furniture.books(rng, f"books_{k}", (surface.x1 - surface.x0) * rng.uniform(0.3, 0.7),
                                  max_height=surface.clearance)
            x = rng.uniform(surface.x0 + row.size[0] / 2, surface.x1 - row.size[0] / 2)
            taken.append((x - row.size[0] / 2, surface.y0, x + row.size[0] / 2, surface.y1))
            placer.add(row, instance.to_world((x, 0.0, surface.z)), instance.yaw, solid=False)
    twin_pillow = make(rng, "pillow", "pillow_twin")
    for instance in sofas:
        for _ in range(int(rng.integers(2, 4))):
            placer.on_surface(twin_pillow, kinds={NYU40_IDS["sofa"]})
    twin_mug = make(rng, "mug", "mug_twin")
    for _ in range(int(rng.integers(3, 6))):
        placer.on_surface(twin_mug)
    extras = [make(rng, "desk_lamp", "desk_lamp"), make(rng, "small_plant", "small_plant"),
              make(rng, "small_box", "small_box"), make(rng, "mug", "mug_other")]
    for model in extras:
        if rng.random() < 0.7:
            placer.on_surface(model)
    return Room(width, depth, height, placer.instances, camera_zone)
