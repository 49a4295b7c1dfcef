"""Style families and splits: disjoint halves, what a version-3 room records, version-2 rooms unchanged."""
import hashlib
import json

import cv2
import numpy as np
import pytest

from reid.data import camera_effects, furniture_variants, materials
from reid.data.camera_path import camera_path
from reid.data.generate import generate_scene
from reid.data.layout import sample_room
from reid.data.scannet import ScanNetScene
from reid.data.styles import HALF_OF_SPLIT, SPLITS, sample_style


def room_digest(room):
    """Everything a room is made of: ids, models, poses, parts, colours and texture bytes."""
    digest = hashlib.sha256()
    for inst in room.instances:
        digest.update(f"{inst.instance_id} {inst.model.name} {inst.model.label} "
                      f"{np.round(inst.position, 9).tolist()} {inst.yaw:.9f}".encode())
        for part in inst.model.parts:
            digest.update(f"{part.shape} {np.round(part.size, 9).tolist()} {np.round(part.position, 9).tolist()} "
                          f"{np.round(part.rgba, 9).tolist()}".encode())
            if part.texture is not None:
                digest.update(part.texture.tobytes())
    return digest.hexdigest()


# Computed with the generator before style families existed (commit 6952e41): version-2 rooms and
# camera paths must stay the same, draw for draw.
VERSION2_ROOMS = {
    0: ("5a29041956f1b9ebf3a7f46f4e29208bb8f909e422dd742be4e63736f5a3db8c",
        "0fbde65121e9fa09eca6216756c8c22e8d676ba2573ac7a38808cac8ba75b140"),
    1: ("462824111e6cec2d9a5fe6d58c4f90b754f5983d1e2c1116523c8ba28938d19f",
        "1ee68e82d11b60c42270c83895f914020d65e158ce0531f2757f4e3b44885827"),
    2: ("7591867407e5afebd9629a8fcbdca70cd49b41e450ccfe7db6b466c596869d8c",
        "9c959c56c37b5b9933f161b532879d364cecb0f453ffd0a802343a88c5233254"),
}


@pytest.mark.parametrize("seed", sorted(VERSION2_ROOMS))
def test_version2_rooms_and_paths_are_unchanged(seed):
    rng = np.random.default_rng([seed, 0])
    room = sample_room(rng)
    path = camera_path(rng, room, 60)
    assert room_digest(room) == VERSION2_ROOMS[seed][0]
    assert hashlib.sha256(np.round(path, 9).tobytes()).hexdigest() == VERSION2_ROOMS[seed][1]


def test_every_family_splits_into_disjoint_halves():
    for family in materials.TEXTURE_FAMILIES:
        halves = materials.TEXTURE_SPLITS[family]
        assert set(halves["train"]) and set(halves["val"])
        assert not set(halves["train"]) & set(halves["val"]), family
    photo = materials.TEXTURE_SPLITS["photo"]
    sources = [{materials.photo_source(name) for name in photo[half]} for half in ("train", "val")]
    assert not sources[0] & sources[1], "a photograph cut into tiles of both halves"
    for kind, halves in furniture_variants.MODEL_SPLITS.items():
        assert halves["train"] and halves["val"] and not set(halves["train"]) & set(halves["val"]), kind
    # a variant name shared by two kinds of one class (a globe lamp on the floor and on a desk) is one
    # shape: both sit in the same half
    halves_of = {}
    for kind, halves in furniture_variants.MODEL_SPLITS.items():
        for half, names in halves.items():
            for name in names:
                halves_of.setdefault((furniture_variants.KIND_LABELS[kind], name), set()).add(half)
    assert all(len(halves) == 1 for halves in halves_of.values()), halves_of
    for presets in (camera_effects.CAMERA_SPLITS, camera_effects.LIGHT_SPLITS):
        assert presets["train"] and presets["val"] and not set(presets["train"]) & set(presets["val"])


@pytest.mark.parametrize("split", SPLITS)
def test_a_split_draws_only_from_its_half(split):
    half = HALF_OF_SPLIT[split]
    families, cameras, lights = set(), set(), set()
    for seed in range(24):
        style = sample_style(np.random.default_rng(seed), split)
        assert set(style.materials.names) <= set(materials.TEXTURE_SPLITS[style.materials.family][half])
        assert style.camera_preset in camera_effects.CAMERA_SPLITS[half]
        assert style.light_preset in camera_effects.LIGHT_SPLITS[half]
        room = sample_room(np.random.default_rng(seed), style)
        assert style.models and room.twin_groups()
        for name, variant in style.models.items():
            kind = next(k for k in furniture_variants.MODEL_SPLITS if variant in furniture_variants.MODEL_SPLITS[k][half])
            assert variant in furniture_variants.variants(kind, half), (name, variant)
        families.add(style.materials.family)
        cameras.add(style.camera_preset)
        lights.add(style.light_preset)
    # over 24 rooms every family and most presets of the half turn up
    assert families == set(materials.TEXTURE_FAMILIES)
    assert len(cameras) >= 2 and len(lights) >= 2


def test_unknown_split_is_refused():
    with pytest.raises(ValueError, match="unknown split 'holdout'"):
        sample_style(np.random.default_rng(0), "holdout")


def _tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def styled_rooms(tmp_path_factory):
    root = tmp_path_factory.mktemp("styled")
    made = {}
    for split in ("train", "val", "test"):
        generate_scene(root / split, index=0, seed=5, frames=12, size=(96, 72), split=split)
        made[split] = root / split / "scans" / "scene0000_00"
    generate_scene(root / "again", index=0, seed=5, frames=12, size=(96, 72), split="val")
    made["again"] = root / "again" / "scans" / "scene0000_00"
    generate_scene(root / "perfect", index=0, seed=5, frames=12, size=(96, 72), split="val", sensor_depth=False)
    made["perfect"] = root / "perfect" / "scans" / "scene0000_00"
    return made


def test_a_styled_room_records_its_style_in_meta(styled_rooms):
    for split in ("train", "val", "test"):
        meta = json.loads((styled_rooms[split] / "meta.json").read_text())
        assert meta["generator"]["version"] == 3 and meta["generator"]["split"] == split
        style = meta["style"]
        half = HALF_OF_SPLIT[split]
        assert style["split"] == split and style["half"] == half
        assert set(style["textures"]["names"]) <= set(materials.TEXTURE_SPLITS[style["textures"]["family"]][half])
        assert style["camera"]["preset"] in camera_effects.CAMERA_SPLITS[half]
        assert style["light"]["preset"] in camera_effects.LIGHT_SPLITS[half]
        # every twin group is one model, and the model's variant is recorded
        by_id = {inst["id"]: inst for inst in meta["instances"]}
        for group in meta["twin_groups"]:
            assert len({by_id[i]["model"] for i in group}) == 1
        assert style["models"]["chair_twin"] in furniture_variants.variants("chair", half)


def test_styled_rooms_are_deterministic_and_splits_differ(styled_rooms):
    assert _tree(styled_rooms["val"]) == _tree(styled_rooms["again"])
    val = json.loads((styled_rooms["val"] / "meta.json").read_text())
    test = json.loads((styled_rooms["test"] / "meta.json").read_text())
    assert val["instances"] != test["instances"]   # same seed, another random stream


def test_sensor_depth_is_a_second_camera_with_holes(styled_rooms):
    folder = styled_rooms["val"]
    meta = json.loads((folder / "meta.json").read_text())
    sensor = meta["style"]["depth"]["sensor"]
    assert meta["depth_size"] == [48, 36]   # half the colour size by default, as ScanNet's depth camera
    extrinsic = np.loadtxt(folder / "intrinsic" / "extrinsic_depth.txt")
    baseline = np.linalg.norm(extrinsic[:3, 3])
    assert 0.01 < baseline < 0.05 and np.allclose(extrinsic[:3, :3] @ extrinsic[:3, :3].T, np.eye(3), atol=1e-5)
    assert not np.allclose(np.loadtxt(folder / "intrinsic" / "intrinsic_depth.txt")[0, 0] * 2,
                           np.loadtxt(folder / "intrinsic" / "intrinsic_color.txt")[0, 0])  # its own field of view
    scene = ScanNetScene(folder)
    measured, holes = [], 0
    for index in range(12):
        depth = scene.read_frame(index).depth
        assert depth.shape == (36, 48)
        holes += np.count_nonzero(depth == 0)
        measured.append(depth[depth > 0])
    measured = np.concatenate(measured)
    assert measured.min() >= sensor["min_range"] - 1e-3 and measured.max() <= sensor["max_range"] + 1e-3
    assert holes > 0   # the room is 6-8 m across; a sensor that reaches 4-7 m with edge holes misses some
    # the renderer's perfect depth: registered to colour (same camera), no holes inside the room
    perfect = ScanNetScene(styled_rooms["perfect"])
    assert np.array_equal(np.loadtxt(styled_rooms["perfect"] / "intrinsic" / "extrinsic_depth.txt"), np.eye(4))
    assert all(np.count_nonzero(perfect.read_frame(i).depth == 0) == 0 for i in range(12))


def test_sensor_depth_of_a_room_differs_from_the_perfect_one_by_noise_not_by_offset(styled_rooms):
    noisy = cv2.imread(str(styled_rooms["val"] / "depth" / "6.png"), cv2.IMREAD_UNCHANGED).astype(np.float64)
    perfect = cv2.imread(str(styled_rooms["perfect"] / "depth" / "6.png"), cv2.IMREAD_UNCHANGED).astype(np.float64)
    both = (noisy > 0) & (noisy < 65535) & (perfect > 0)
    assert both.mean() > 0.3
    # a few cm of baseline and another field of view move edges, but the median surface agrees within noise
    assert abs(np.median(noisy[both] - perfect[both])) < 60   # millimetres


@pytest.mark.slow
def test_generate_cli_split_options(tmp_path, run_module):
    done = run_module("reid.data.generate", "--out", str(tmp_path), "--frames", "4", "--size", "64x48",
                      "--split", "train", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "[train: " in done.stdout
    meta = json.loads((tmp_path / "scans" / "scene0000_00" / "meta.json").read_text())
    assert meta["generator"]["split"] == "train"
    bad = run_module("reid.data.generate", "--out", str(tmp_path / "x"), "--split", "holdout")
    assert bad.returncode == 2 and "invalid choice: 'holdout'" in bad.stderr
    lonely = run_module("reid.data.generate", "--out", str(tmp_path / "y"), "--perfect-depth")
    assert lonely.returncode == 2 and "--perfect-depth goes with --split" in lonely.stderr
