"""Object-model variants: every variant builds, sits right, splits cleanly, is deterministic, differs
from its siblings in shape, and renders."""
import colorsys
import itertools
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest

from reid.data import furniture_variants as fv
from reid.data.furniture import ObjectModel, box
from reid.data.geometry import intrinsics_for_fov, look_at
from reid.data.render import SceneRenderer, pybullet

TEXTURE_KINDS = ("wall", "floor", "ceiling", "wood", "fabric", "metal", "plastic", "stone")
ALL_VARIANTS = [(kind, variant) for kind in fv.KINDS for variant in fv.variants(kind)]
SURFACE_KINDS = ("table", "desk", "cabinet", "bookshelf", "sofa")


class FakeMaterials:
    """The materials interface in miniature: noisy flat textures and HSV colours; remembers textures."""

    def __init__(self):
        self.textures = []

    def texture(self, rng, kind, size=(64, 64)):
        assert kind in TEXTURE_KINDS, kind
        w, h = size
        image = np.clip(rng.uniform(30, 230, 3) + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)
        self.textures.append(image)
        return image

    def colour(self, rng, hue=(0.0, 1.0), saturation=(0.2, 0.8), value=(0.3, 0.9)):
        return np.array(colorsys.hsv_to_rgb(rng.uniform(*hue) % 1.0, rng.uniform(*saturation), rng.uniform(*value)))


def build(kind, variant, seed=0, materials=None):
    return fv.build(kind, variant, np.random.default_rng(seed), f"{kind}-{variant}", materials or FakeMaterials())


@pytest.mark.parametrize("kind,variant", ALL_VARIANTS)
def test_variant_builds_a_well_formed_model(kind, variant):
    for seed in range(3):
        materials = FakeMaterials()
        model = build(kind, variant, seed, materials)
        assert isinstance(model, ObjectModel) and model.name == f"{kind}-{variant}"
        assert model.label == fv.KIND_LABELS[kind]
        assert 1 <= len(model.parts) <= 30
        w, d, h = model.size
        assert min(w, d, h) > 0
        lo, hi = fv.model_bounds(model)
        tolerance = 1e-6 + 0.01 * max(model.size)
        assert np.all(lo >= -np.array([w / 2, d / 2, 0]) - tolerance)
        assert np.all(hi <= np.array([w / 2, d / 2, h]) + tolerance)
        assert abs(lo[2]) < 0.005, "the model stands on z = 0"
        # the footprint is centred: the parts reach both sides of the origin
        assert hi[0] > 0.3 * w / 2 and -lo[0] > 0.3 * w / 2 and hi[1] > 0.3 * d / 2 and -lo[1] > 0.3 * d / 2
        known = {id(image) for image in materials.textures}
        for part in model.parts:
            assert part.shape in ("box", "cylinder", "sphere") and min(part.size) > 0
            if part.texture is not None:
                assert id(part.texture) in known, "every texture comes from the materials"
                assert part.texture.dtype == np.uint8 and part.texture.ndim == 3
            assert all(0.0 <= c <= 1.0 for c in part.rgba)
        for surface in model.surfaces:
            assert -w / 2 - 1e-6 <= surface.x0 < surface.x1 <= w / 2 + 1e-6
            assert -d / 2 - 1e-6 <= surface.y0 < surface.y1 <= d / 2 + 1e-6
            assert 0 < surface.z <= h + 1e-6 and surface.clearance > 0


@pytest.mark.parametrize("kind", SURFACE_KINDS)
def test_supporting_models_have_surfaces(kind):
    for variant in fv.variants(kind):
        for seed in range(3):
            assert build(kind, variant, seed).surfaces, (kind, variant)


def test_layout_fits_books_pillows_and_monitors():
    seeds = range(6)
    for variant in fv.variants("bookshelf"):   # rows of books stand at y = 0, up to 0.2 m deep and 0.16 m tall
        for seed in seeds:
            for surface in build("bookshelf", variant, seed).surfaces:
                assert surface.y0 <= -0.1 and surface.y1 >= 0.1 and surface.clearance > 0.17, variant
    sofa_strips = [s for v in fv.variants("sofa") for seed in seeds for s in build("sofa", v, seed).surfaces]
    pillows = [build("pillow", v, seed).size for v in fv.variants("pillow") for seed in seeds]
    assert max(d for _, d, _ in pillows) < min(s.y1 - s.y0 for s in sofa_strips)
    assert max(w for w, _, _ in pillows) < min(s.x1 - s.x0 for s in sofa_strips)
    desk_tops = [build("desk", v, seed).surfaces[0] for v in fv.variants("desk") for seed in seeds]
    monitors = [build("monitor", v, seed).size for v in fv.variants("monitor") for seed in seeds]
    assert max(d for _, d, _ in monitors) < min(s.y1 - s.y0 for s in desk_tops)
    assert max(w for w, _, _ in monitors) < min(s.x1 - s.x0 for s in desk_tops)
    for kind in ("mug", "small_plant", "small_box", "desk_lamp"):
        assert all(build(kind, v, seed).size[2] < 0.6 for v in fv.variants(kind) for seed in seeds), kind


def test_halves_are_disjoint_and_cover_every_variant():
    assert set(fv.MODEL_SPLITS) == set(fv.KINDS) == set(fv.KIND_LABELS)
    for kind in fv.KINDS:
        train, val = fv.variants(kind, "train"), fv.variants(kind, "val")
        assert train and val and not set(train) & set(val)
        assert sorted(train + val) == sorted(fv.variants(kind)), kind
        assert len(set(train)) == len(train) and len(set(val)) == len(val)
    assert len(fv.variants("chair")) >= 6 and len(fv.variants("monitor")) >= 3 and len(fv.variants("mug")) >= 3
    rng = np.random.default_rng(0)
    for half in fv.HALVES:
        drawn = {fv.sample_variant(rng, "chair", half) for _ in range(200)}
        assert drawn == set(fv.variants("chair", half))


def test_unknown_names_raise_value_errors_that_name_them():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="wardrobe"):
        fv.build("wardrobe", "x", rng, "m", FakeMaterials())
    with pytest.raises(ValueError, match="throne"):
        fv.build("chair", "throne", rng, "m", FakeMaterials())
    with pytest.raises(ValueError, match="test"):
        fv.variants("chair", "test")
    with pytest.raises(ValueError, match="wardrobe"):
        fv.sample_variant(rng, "wardrobe", "train")


def _signature(model):
    return [(p.shape, p.size, p.position, p.euler, p.rgba, None if p.texture is None else p.texture.tobytes())
            for p in model.parts], model.size, [vars(s) for s in model.surfaces]


def test_builds_are_deterministic_per_seed_and_vary_across_seeds():
    for kind, variant in ALL_VARIANTS:
        assert _signature(build(kind, variant, 5)) == _signature(build(kind, variant, 5)), (kind, variant)
        sizes = {build(kind, variant, seed).size for seed in range(4)}
        assert len(sizes) == 4, (kind, variant)
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    assert fv.sample_variant(rng_a, "table", "val") == fv.sample_variant(rng_b, "table", "val")
    variant, model = fv.sample_model(rng_a, "mug", "train", "m", FakeMaterials())
    assert variant in fv.variants("mug", "train") and model.label == fv.KIND_LABELS["mug"]


def _occupancy(model, cells=16, samples=400):
    """Voxel occupancy of the model inside its own bounding box (points sampled in every part)."""
    rng = np.random.default_rng(0)
    lo, hi = fv.model_bounds(model)
    points = []
    for part in model.parts:
        u = rng.uniform(-0.5, 0.5, (samples, 3))
        if part.shape == "box":
            local = u * np.array(part.size)
        elif part.shape == "cylinder":
            radius, length = part.size
            angle, reach = u[:, 0] * 2 * np.pi, radius * np.sqrt(u[:, 1] + 0.5)
            local = np.stack([reach * np.cos(angle), reach * np.sin(angle), u[:, 2] * length], axis=1)
        else:
            direction = rng.normal(size=(samples, 3))
            direction /= np.linalg.norm(direction, axis=1, keepdims=True)
            local = direction * part.size[0] * np.cbrt(u[:, :1] + 0.5)
        points.append(local @ fv._rotation(part.euler).T + np.asarray(part.position))
    index = np.clip(((np.concatenate(points) - lo) / (hi - lo + 1e-9) * cells).astype(int), 0, cells - 1)
    grid = np.zeros((cells,) * 3, dtype=bool)
    grid[index[:, 0], index[:, 1], index[:, 2]] = True
    return grid


def test_variants_of_a_class_differ_in_geometry():
    """No two variants of a class share their silhouette: their voxel occupancies (16^3 inside the
    bounding box) overlap little, or, where they do, their parts differ in number and kind."""
    for kind in fv.KINDS:
        for seed in range(2):
            models = {variant: build(kind, variant, seed) for variant in fv.variants(kind)}
            grids = {variant: _occupancy(model, cells=16) for variant, model in models.items()}
            for a, b in itertools.combinations(models, 2):
                shapes_a = (len(models[a].parts), Counter(p.shape for p in models[a].parts))
                shapes_b = (len(models[b].parts), Counter(p.shape for p in models[b].parts))
                iou = (grids[a] & grids[b]).sum() / (grids[a] | grids[b]).sum()
                assert iou < 0.9, (kind, a, b, iou)
                assert shapes_a != shapes_b or iou < 0.6, (kind, a, b, iou)


def test_rotation_matches_pybullet_and_rods_join_their_end_points():
    euler = (0.3, -0.7, 1.1)
    expected = np.array(pybullet.getMatrixFromQuaternion(pybullet.getQuaternionFromEuler(euler))).reshape(3, 3)
    np.testing.assert_allclose(fv._rotation(euler), expected, atol=1e-12)
    start, end = np.array([0.1, -0.2, 0.0]), np.array([-0.3, 0.4, 0.9])
    rod = fv._rod(start, end, 0.01, (1.0, 0.0, 0.0))
    axis = fv._rotation(rod.euler)[:, 2]
    np.testing.assert_allclose(np.asarray(rod.position) + axis * rod.size[1] / 2, end, atol=1e-12)


@dataclass
class Instance:
    """What SceneRenderer reads of a placed model."""

    instance_id: int
    model: ObjectModel
    position: tuple
    yaw: float = 0.0


@dataclass
class _TinyRoom:
    instances: list


def test_variants_render_into_the_instance_mask():
    floor = ObjectModel("floor", 2, [box((6, 6, 0.02), (0, 0, -0.01), (0.5, 0.5, 0.5))], (6, 6, 0.02))
    picks = [("chair", "office-swivel", (-0.9, 0.0)), ("floor_lamp", "arc", (0.9, 0.3)),
             ("table", "x-frame", (0.0, 1.2)), ("plant", "cactus", (-0.3, -0.8)), ("mug", "saucer-cup", (0.5, -0.9))]
    instances = [Instance(1, floor, (0.0, 0.0, 0.0))]
    for k, (kind, variant, (x, y)) in enumerate(picks):
        instances.append(Instance(k + 2, build(kind, variant, k), (x, y, 0.0), yaw=0.3 * k))
    size = (96, 72)
    with SceneRenderer(_TinyRoom(instances)) as renderer:
        pose = look_at((0.0, -3.2, 1.8), (0.0, 0.2, 0.4))
        rgb, depth, mask = renderer.render(pose, intrinsics_for_fov(*size, 70), size)
    counts = Counter(mask.ravel().tolist())
    for instance in instances[1:]:
        assert counts[instance.instance_id] >= 3, (instance.model.name, counts)
    assert counts[1] > 0 and rgb.shape == (72, 96, 3) and depth[mask > 0].min() > 0
