"""Texture families (``reid.data.materials``): images of every kind from both halves, determinism,
disjoint halves (by name and by source photograph), the photo tile folder and its licence list."""
import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from reid.data import make_photo_textures as maker
from reid.data import materials

WHEELS = Path("/tmp/wheels")
ALL = [(family, half) for family in materials.TEXTURE_FAMILIES for half in materials.HALVES]


def tile_files():
    return sorted(materials.PHOTO_FOLDER.glob("*.jpg"))


@pytest.mark.parametrize("family, half", ALL)
def test_every_kind_gives_an_rgb_image_of_the_requested_size(family, half):
    looks = materials.materials_for(family, half)
    for kind in materials.TEXTURE_KINDS:
        for seed, size in enumerate([(64, 64), (37, 91), (128, 48), (1, 1)]):
            image = looks.texture(np.random.default_rng(seed), kind, size)
            assert image.shape == (size[1], size[0], 3) and image.dtype == np.uint8, (kind, size)
            if size[0] > 8:
                assert image.std() > 0 or kind in ("ceiling", "plastic"), (kind, "blank image")


@pytest.mark.parametrize("family, half", ALL)
def test_textures_and_colours_depend_only_on_the_rng_state(family, half):
    looks = materials.materials_for(family, half)
    for kind in materials.TEXTURE_KINDS:
        first = looks.texture(np.random.default_rng(7), kind, (48, 32))
        again = looks.texture(np.random.default_rng(7), kind, (48, 32))
        assert np.array_equal(first, again), kind
    images = [looks.texture(np.random.default_rng(seed), "wall", (48, 32)) for seed in range(4)]
    assert any(not np.array_equal(images[0], other) for other in images[1:])
    assert np.array_equal(looks.colour(np.random.default_rng(3)), looks.colour(np.random.default_rng(3)))


@pytest.mark.parametrize("family, half", ALL)
def test_colours_stay_in_their_hsv_ranges(family, half):
    looks = materials.materials_for(family, half)
    for seed in range(20):
        colour = looks.colour(np.random.default_rng(seed), saturation=(0.3, 0.6), value=(0.4, 0.7))
        assert colour.shape == (3,) and np.all(colour >= 0) and np.all(colour <= 1)
        value, saturation = colour.max(), 1 - colour.min() / colour.max()
        assert 0.4 - 1e-6 <= value <= 0.7 + 1e-6 and 0.3 - 1e-6 <= saturation <= 0.6 + 1e-6


@pytest.mark.parametrize("family", materials.TEXTURE_FAMILIES)
def test_halves_are_disjoint_and_cover_the_family(family):
    kinds = materials.entries(family)
    train, val = (materials.TEXTURE_SPLITS[family][half] for half in materials.HALVES)
    assert not set(train) & set(val)
    assert len(set(train)) == len(train) and len(set(val)) == len(val)
    assert set(train) | set(val) == set(kinds)
    assert set(kinds.values()) <= set(materials.TEXTURE_KINDS)


@pytest.mark.parametrize("family", materials.TEXTURE_FAMILIES)
def test_every_kind_used_has_two_entries_in_each_half(family):
    kinds = materials.entries(family)
    for kind in set(kinds.values()):
        for half in materials.HALVES:
            names = [n for n in materials.TEXTURE_SPLITS[family][half] if kinds[n] == kind]
            assert len(names) >= 2, (family, half, kind, names)
    if family == "procedural":
        assert set(kinds.values()) == set(materials.TEXTURE_KINDS)


def test_photo_halves_share_no_source_photograph():
    sources = {half: {materials.photo_source(n) for n in materials.TEXTURE_SPLITS["photo"][half]}
               for half in materials.HALVES}
    assert not sources["train"] & sources["val"]
    assert len(set().union(*sources.values())) >= 20


def test_tile_folder_matches_the_tile_table_and_the_licence_list():
    files = tile_files()
    names = {path.stem for path in files}
    assert names == set(maker.TILES_BY_NAME) == set(materials.entries("photo"))
    licence = (materials.PHOTO_FOLDER / "LICENSE.md").read_text(encoding="utf-8")
    assert "MIT License" in licence and "CC0" in licence
    for name in names:
        row = next(line for line in licence.splitlines() if line.startswith(f"| {name}.jpg |"))
        assert maker.TILES_BY_NAME[name].source_path in row
    assert sum(path.stat().st_size for path in materials.PHOTO_FOLDER.iterdir()) < 4e6
    for path in files:
        tile, _, _ = materials.load_tile(path.stem)
        assert tile.ndim == 3 and tile.shape[2] == 3 and 64 <= tile.shape[0] == tile.shape[1] <= maker.TILE_SIDE
        assert not tile.flags.writeable


def test_photo_textures_repeat_without_a_seam():
    looks = materials.materials_for("photo", "train")
    for seed in range(10):
        image = looks.texture(np.random.default_rng(seed), "floor", (96, 64)).astype(np.float32)
        inside = np.abs(np.diff(image, axis=1)).mean()
        across = np.abs(image[:, 0] - image[:, -1]).mean()
        assert across < 2 * inside + 2, (seed, across, inside)


def test_unknown_family_split_kind_or_entry_is_refused():
    with pytest.raises(ValueError, match="family"):
        materials.materials_for("watercolour", "train")
    with pytest.raises(ValueError, match="split"):
        materials.materials_for("photo", "test")
    with pytest.raises(ValueError, match="family"):
        materials.entries("watercolour")
    with pytest.raises(ValueError, match="kind"):
        materials.materials_for("procedural", "train").texture(np.random.default_rng(0), "glass")
    with pytest.raises(ValueError):
        materials.PhotoMaterials(["no-such-tile"])
    with pytest.raises(ValueError):
        materials.photo_source("paint")


def test_describe_is_plain_data():
    for family, half in ALL:
        described = json.loads(json.dumps(materials.materials_for(family, half).describe()))
        assert described["family"] == family and described["names"] == list(materials.TEXTURE_SPLITS[family][half])


def test_a_restricted_set_falls_back_to_plain_colours():
    only_walls = materials.PhotoMaterials(["gray-plaster"])
    for kind in ("floor", "plastic"):
        image = only_walls.texture(np.random.default_rng(0), kind, (16, 8))
        assert image.shape == (8, 16, 3)
    assert only_walls.texture(np.random.default_rng(0), "ceiling", (16, 8)).std() > 0   # from the wall tile


def test_textures_are_fast():
    for family, half in ALL:
        looks = materials.materials_for(family, half)
        looks.texture(np.random.default_rng(0), "wall")   # loads tiles
        times = []
        for seed, kind in enumerate(materials.TEXTURE_KINDS * 3):
            start = time.perf_counter()
            looks.texture(np.random.default_rng(seed), kind, (64, 64))
            times.append(time.perf_counter() - start)
        assert np.median(times) < 0.005, (family, half, np.median(times))


ROBOSUITE_WHEEL = next(WHEELS.glob("robosuite-1.5.2-*.whl"), None)
SKIMAGE_WHEEL = next(WHEELS.glob("scikit_image-0.26.0-*.whl"), None)


@pytest.mark.skipif(ROBOSUITE_WHEEL is None or SKIMAGE_WHEEL is None, reason="the source wheels are not in /tmp/wheels")
def test_the_tile_folder_is_reproduced_from_the_wheels(tmp_path):
    maker.make_photo_textures(ROBOSUITE_WHEEL, SKIMAGE_WHEEL, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in materials.PHOTO_FOLDER.iterdir())
    assert (tmp_path / "LICENSE.md").read_text() == (materials.PHOTO_FOLDER / "LICENSE.md").read_text()
    for path in tile_files():
        made, shipped = (cv2.imread(str(p)).astype(np.int16) for p in (tmp_path / path.name, path))
        assert made.shape == shipped.shape and np.abs(made - shipped).max() <= 2, path.name
