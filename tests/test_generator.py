"""The scene generator: layout, twins, exact geometry, revisits, determinism, the CLI."""
import hashlib
import json
from collections import Counter

import numpy as np
import pytest

from reid.data.generate import generate_scene
from reid.data.geometry import backproject, project
from reid.data.layout import sample_room
from reid.data.nyu40 import NYU40_CLASSES, STRUCTURE_LABELS
from reid.data.scannet import ScanNetScene
from reid.data.visibility import Revisit, find_revisits


def tree_digest(folder):
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize("seed", range(40))
def test_every_room_has_twins_classes_and_structure(seed):
    room = sample_room(np.random.default_rng([seed, 0]))
    labels = Counter(inst.model.label for inst in room.instances)
    assert labels[1] == 4 and labels[2] == 1 and labels[22] == 1 and labels[8] == 1  # walls, floor, ceiling, door
    assert labels[9] >= 1 and labels[11] >= 2  # windows, pictures
    objects = {label for label in labels if label not in STRUCTURE_LABELS | {8, 9, 11}}
    assert len(objects) >= 5
    models = Counter(inst.model.name for inst in room.instances)
    assert 4 <= models["chair_twin"] <= 8
    twin_groups = room.twin_groups()
    assert len(twin_groups) >= 2
    # twins share one model object: identical geometry, colours and textures
    chairs = [inst for inst in room.instances if inst.model.name == "chair_twin"]
    assert all(inst.model is chairs[0].model for inst in chairs)
    # ... and stand in different places
    positions = np.array([inst.position[:2] for inst in chairs])
    assert min(np.linalg.norm(a - b) for i, a in enumerate(positions) for b in positions[i + 1:]) > 0.3
    assert all(label in NYU40_CLASSES for label in labels)


def test_scene_layout_on_disk(tiny_scene):
    folder = tiny_scene / "scans" / "scene0000_00"
    for sub in ("color", "depth", "pose", "instance-filt", "label-filt"):
        assert len(list((folder / sub).iterdir())) == 30, sub
    for name in ("intrinsic_color.txt", "intrinsic_depth.txt", "extrinsic_color.txt", "extrinsic_depth.txt"):
        assert np.loadtxt(folder / "intrinsic" / name).shape == (4, 4)
    meta = json.loads((folder / "meta.json").read_text())
    aggregation = json.loads((folder / "scene0000_00.aggregation.json").read_text())
    assert meta["color_size"] == [96, 72] and meta["depth_size"] == [64, 48]
    by_id = {inst["id"]: inst for inst in meta["instances"]}
    for group in meta["twin_groups"]:
        assert len({by_id[i]["model"] for i in group}) == 1 and len(group) >= 2
    # ScanNet's convention: instance id in instance-filt = objectId + 1
    assert {g["objectId"] + 1: g["label"] for g in aggregation["segGroups"]} == \
        {i: inst["class"] for i, inst in by_id.items()}
    scene = ScanNetScene(folder)
    classes = scene.instance_classes()
    assert classes and all(classes[i] == by_id[i]["label"] for i in classes)  # label-filt holds NYU40 ids
    frame = scene.read_frame(0)
    assert frame.depth.shape == (48, 64) and frame.rgb.shape == (72, 96, 3)
    assert frame.depth[frame.depth > 0].min() > 0.05 and frame.depth.max() < 15


def instance_at(frame, points):
    """Instance id under each world point in the frame's colour image (-1 outside the image)."""
    uv, z = project(points, frame.intrinsic_color, frame.pose)
    u, v = np.round(uv[:, 0]).astype(int), np.round(uv[:, 1]).astype(int)
    h, w = frame.instance.shape
    inside = (z > 0) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    ids = np.full(len(points), -1)
    ids[inside] = frame.instance[v[inside], u[inside]]
    return ids


def reprojection_agreement(scene, a, b):
    """Share of the depth pixels of frame a, back-projected and seen unoccluded in frame b, that land
    on the same instance; their number; the median relative depth error. Depth has its own size and
    intrinsics: instances are looked up in each frame's colour image through its colour intrinsics."""
    fa, fb = scene.read_frame(a), scene.read_frame(b)
    points, _ = backproject(fa.depth, fa.intrinsic_depth, fa.pose)
    uv, z = project(points, fb.intrinsic_depth, fb.pose)
    ub, vb = np.round(uv[:, 0]).astype(int), np.round(uv[:, 1]).astype(int)
    h, w = fb.depth.shape
    inside = (z > 0) & (ub >= 0) & (ub < w) & (vb >= 0) & (vb < h)
    relative_error = np.abs(fb.depth[vb[inside], ub[inside]] - z[inside]) / z[inside]
    unoccluded = np.zeros(len(points), bool)
    unoccluded[inside] = relative_error < 0.01
    ids_a, ids_b = instance_at(fa, points[unoccluded]), instance_at(fb, points[unoccluded])
    seen = (ids_a >= 0) & (ids_b >= 0)
    return (ids_a[seen] == ids_b[seen]).mean(), seen.sum(), np.median(relative_error[relative_error < 0.01])


def test_depth_and_pose_are_geometrically_exact(tmp_path):
    generate_scene(tmp_path, index=3, seed=5, frames=60, size=(160, 120))
    scene = ScanNetScene.open("scene0003_00", tmp_path)
    for a, b in [(0, 2), (20, 23), (59, 57)]:
        agreement, count, depth_error = reprojection_agreement(scene, a, b)
        assert count > 5000
        assert agreement > 0.99, (a, b, agreement)
        assert depth_error < 0.003  # relative: millimetre quantisation and pixel rounding only


def test_exact_with_depth_at_its_own_resolution(tiny_scene):
    scene = ScanNetScene.open("scene0000_00", tiny_scene)
    agreement, count, _ = reprojection_agreement(scene, 0, 0)
    assert count == 64 * 48 and agreement == 1.0  # depth and colour cameras agree pixel for pixel
    agreement, count, _ = reprojection_agreement(scene, 0, 1)
    assert count > 500 and agreement > 0.96  # at 64x48 a few percent of the pixels lie on object edges


@pytest.mark.slow
def test_objects_come_back_after_at_least_100_frames():
    """At 400 frames, at least 5 objects re-enter the view after >= 100 frames away."""
    import tempfile
    with tempfile.TemporaryDirectory() as root:
        summary = generate_scene(root, index=0, seed=11, frames=400, size=(64, 48))
        meta = json.loads(open(f"{root}/scans/scene0000_00/meta.json").read())
    assert summary["returning_objects"] >= 5, summary
    events = meta["revisits"]["events"]
    assert all(back - last >= 100 for _, last, back in events)


def test_find_revisits_by_hand():
    visible = [{1, 2}, {1}, set(), set(), {2}, {1, 2}]
    frames = [0, 50, 100, 150, 200, 260]
    assert find_revisits(frames, visible, min_gap=100) == [Revisit(2, 0, 200), Revisit(1, 50, 260)]
    assert find_revisits(frames, visible, min_gap=250) == []


@pytest.mark.slow
def test_deterministic_per_seed_and_parallel_workers_agree(tmp_path, run_module):
    args = ["reid.data.generate", "--scenes", "2", "--frames", "6", "--size", "48x36", "--seed", "9", "--quiet"]
    first = run_module(*args, "--out", str(tmp_path / "a"))
    second = run_module(*args, "--out", str(tmp_path / "b"), "--workers", "2")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    for name in ("scene0000_00", "scene0001_00"):
        assert tree_digest(tmp_path / "a" / "scans" / name) == tree_digest(tmp_path / "b" / "scans" / name)
    assert tree_digest(tmp_path / "a" / "scans" / "scene0000_00") != tree_digest(tmp_path / "a" / "scans" / "scene0001_00")
    # a scene depends on (seed, index) only: regenerate scene 1 alone
    generate_scene(tmp_path / "c", index=1, seed=9, frames=6, size=(48, 36))
    assert tree_digest(tmp_path / "c" / "scans" / "scene0001_00") == tree_digest(tmp_path / "a" / "scans" / "scene0001_00")
    other = generate_scene(tmp_path / "d", index=1, seed=10, frames=6, size=(48, 36))
    assert tree_digest(tmp_path / "d" / "scans" / "scene0001_00") != tree_digest(tmp_path / "a" / "scans" / "scene0001_00")
    # an existing scene is kept unless --overwrite
    assert generate_scene(tmp_path / "c", index=1, seed=9, frames=6, size=(48, 36))["skipped"]
    assert other["frames"] == 6


def test_camera_response_default_is_auto_and_fixed_is_selectable(tmp_path, run_module):
    args = ["reid.data.generate", "--scenes", "1", "--frames", "6", "--size", "48x36", "--seed", "9", "--quiet"]
    result = run_module(*args, "--out", str(tmp_path / "fixed"), "--camera-response", "fixed")
    assert result.returncode == 0, result.stderr
    generate_scene(tmp_path / "api-fixed", index=0, seed=9, frames=6, size=(48, 36), camera_response="fixed")
    generate_scene(tmp_path / "api-default", index=0, seed=9, frames=6, size=(48, 36))
    cli_fixed = tmp_path / "fixed" / "scans" / "scene0000_00"
    api_default = tmp_path / "api-default" / "scans" / "scene0000_00"
    assert tree_digest(cli_fixed) == tree_digest(tmp_path / "api-fixed" / "scans" / "scene0000_00")
    assert tree_digest(cli_fixed) != tree_digest(api_default)
    assert json.loads((cli_fixed / "meta.json").read_text())["camera_response"] == {"model": "fixed"}
    default_meta = json.loads((api_default / "meta.json").read_text())
    assert default_meta["camera_response"]["model"] == "auto-exposure"
    assert default_meta["generator"]["version"] == 2
    with pytest.raises(ValueError, match="camera_response"):
        generate_scene(tmp_path / "bad", index=0, seed=9, frames=6, size=(48, 36), camera_response="sunny")


@pytest.mark.parametrize("args, message", [
    (["reid.data.generate", "--out", "x", "--size", "320by240"], "320by240"),
    (["reid.data.generate", "--out", "x", "--size", "0x240"], "positive"),
    (["reid.data.generate", "--out", "x", "--frames", "ten"], "ten"),
    (["reid.data.generate", "--out", "x", "--camera-response", "sunny"], "sunny"),
    (["reid.data.summary", "scene0777_00", "--root", "nowhere"], "scene0777_00"),
])
def test_bad_input_is_one_clear_line(tmp_path, run_module, args, message):
    result = run_module(*args, cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_summary_of_empty_and_generated_scene(tmp_path, tiny_scene, run_module):
    (tmp_path / "scans" / "scene0004_00" / "color").mkdir(parents=True)
    result = run_module("reid.data.summary", "scene0004_00", "--root", str(tmp_path))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "no colour frames" in result.stderr
    result = run_module("reid.data.summary", "scene0000_00", "--root", str(tiny_scene))
    assert result.returncode == 0, result.stderr
    assert "frames: 30, colour 96x72, depth 64x48, pose known in 30 frames" in result.stdout
    assert "x chair" in result.stdout
