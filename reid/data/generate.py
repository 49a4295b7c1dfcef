"""Generate ScanNet-layout scenes with identical twins and revisits.

``python -m reid.data.generate --out ROOT --scenes N --frames F --size WxH --seed S [--workers K]``
writes ``ROOT/scans/scene%04d_00`` for scene indices ``--first``..``--first+N-1``. A scene depends
only on (seed, scene index, camera response), so any subset can be regenerated alone and comes out
identical. Rendering needs pybullet, the ``generate`` extra (``pip install 'where-did-i-see-it[generate]'``);
importing this module does not.

Colour is recorded, by default, through a simulated auto-exposure / auto-white-balance camera
(``--camera-response auto``), as real RGB-D captures are; ``--camera-response fixed`` keeps the
renderer's fixed response, under which an object has the same colours in every camera pass (the
generator's only behaviour before version 2).

``--split train|val|test`` makes version-3 rooms: each room draws its surface looks (procedural or
photographic textures), object-model variants, light and camera (field of view, defocus and motion
blur, sensor noise, vignetting, JPEG quality) from one half of named families
(:mod:`reid.data.styles`), so that ``train`` rooms and ``val``/``test`` rooms share no style, and
records its depth through a structured-light sensor model (:mod:`reid.data.sensor_depth`): a
separate depth camera a few cm from the colour camera, with its own field of view, near-range and
edge holes, dark-surface dropouts and noise growing with distance (``--perfect-depth`` turns that
off). Without ``--split`` the generator makes version-2 rooms, byte for byte as before.
"""
import json
import logging
import multiprocessing
import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np

from ..cli import ArgumentParser, MissingDependencyError, fail, parse_size, positive_int, setup_logging
from .camera_path import camera_path
from .camera_effects import image_motion
from .camera_response import AutoExposure
from .geometry import intrinsics_for_fov
from .layout import sample_room
from .nyu40 import STRUCTURE_LABELS
from .styles import SPLITS, sample_style, split_code
from .visibility import find_revisits, min_visible_pixels, visible_instances

log = logging.getLogger("reid.data")

GENERATOR_VERSION = 3  # 3: style families and sensor depth (with --split); 2: auto-exposure camera by default
LEGACY_VERSION = 2      # what the generator makes without a split
CAMERA_RESPONSES = ("auto", "fixed")
HORIZONTAL_FOV_DEG = 58.0  # ScanNet's colour and depth cameras both see about 58 degrees across


def scene_name(index):
    return f"scene{index:04d}_00"


def _write_matrix(path, matrix):
    np.savetxt(path, matrix, fmt="%.8f")


def _write_text(path, text):
    path.write_text(text)


def _scene_streams(seed, index, split):
    """Random streams of a room: (layout, style, per-frame effects). Version 2 has only the first."""
    if split is None:
        return np.random.default_rng([seed, index]), None, None
    code = split_code(split)
    return tuple(np.random.default_rng([seed, index, GENERATOR_VERSION, code, stream]) for stream in range(3))


def generate_scene(root, index, seed=0, frames=400, size=(320, 240), depth_size=None, jpeg_quality=92,
                   overwrite=False, camera_response="auto", split=None, sensor_depth=True):
    """Generate and write one scene; returns its summary dict (``skipped`` if it already existed).

    ``split`` (``train``, ``val`` or ``test``) makes a version-3 room whose styles come from that
    split's half of every style family (:mod:`reid.data.styles`), its depth through a structured-light
    sensor model unless ``sensor_depth=False``; ``jpeg_quality`` is then the camera preset's. None
    (the default) makes the version-2 room of ``(seed, index, camera_response)``.

    ``camera_response="auto"`` (the default) records the colour frames through a simulated
    auto-exposure / auto-white-balance camera (:class:`reid.data.camera_response.AutoExposure`);
    ``"fixed"`` keeps the renderer's fixed response. The geometry, masks and depth are the same
    either way.

    The scene is written into a hidden temporary folder and renamed into place when complete, so an
    interrupted run never leaves a half-written scene behind.

    Needs pybullet (the ``generate`` extra): :class:`reid.cli.MissingDependencyError` without it.
    """
    from .render import SceneRenderer  # pybullet, imported by the generator only
    if camera_response not in CAMERA_RESPONSES:
        raise ValueError(f"camera_response must be one of {', '.join(CAMERA_RESPONSES)}, got {camera_response!r}")
    name = scene_name(index)
    scans = Path(root) / "scans"
    final = scans / name
    if final.exists() and not overwrite:
        return {"scene": name, "skipped": True}
    started = time.perf_counter()
    rng, style_rng, effects_rng = _scene_streams(seed, index, split)
    style = None if split is None else sample_style(style_rng, split, sensor_depth=sensor_depth)
    room = sample_room(rng, style)
    poses = camera_path(rng, room, frames)
    if depth_size is None:   # version 3: a depth camera of half the colour resolution, as ScanNet's
        depth_size = tuple(size) if style is None else (max(1, size[0] // 2), max(1, size[1] // 2))
    depth_size = tuple(depth_size)
    color_fov = HORIZONTAL_FOV_DEG if style is None else style.horizontal_fov
    depth_fov = HORIZONTAL_FOV_DEG if style is None else style.depth_fov
    intrinsic_color = intrinsics_for_fov(size[0], size[1], color_fov)
    intrinsic_depth = intrinsics_for_fov(depth_size[0], depth_size[1], depth_fov)
    depth_extrinsic = np.eye(4) if style is None else style.depth_extrinsic
    separate_depth = (depth_size != tuple(size) or depth_fov != color_fov
                      or not np.array_equal(depth_extrinsic, np.eye(4)))
    light = [rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(1.0, 2.0)]
    lighting = None if style is None else style.lighting.pybullet_kwargs()
    if style is not None:
        jpeg_quality = int(style.camera.jpeg_quality)

    partial = scans / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    for folder in ("color", "depth", "pose", "intrinsic", "instance-filt", "label-filt"):
        (partial / folder).mkdir(parents=True)
    # extrinsic_<camera>.txt: that camera's pose in the colour camera's frame (pose/ holds the colour camera's)
    for camera, intrinsic, extrinsic in (("color", intrinsic_color, np.eye(4)),
                                         ("depth", intrinsic_depth, depth_extrinsic)):
        k4 = np.eye(4)
        k4[:3, :3] = intrinsic
        _write_matrix(partial / "intrinsic" / f"intrinsic_{camera}.txt", k4)
        _write_matrix(partial / "intrinsic" / f"extrinsic_{camera}.txt", extrinsic)

    label_of = np.zeros(len(room.instances) + 1, dtype=np.uint16)
    for instance in room.instances:
        label_of[instance.instance_id] = instance.model.label
    instance_dtype = np.uint8 if len(room.instances) < 256 else np.uint16
    min_pixels = min_visible_pixels(size)
    visible = []
    camera = AutoExposure() if camera_response == "auto" else None
    with SceneRenderer(room, light_direction=light) as renderer:
        for i, pose in enumerate(poses):
            rgb, depth, instance = renderer.render(pose, intrinsic_color, size, lighting)
            depth_rgb = rgb
            if camera is not None:
                rgb = camera(rgb)
            if style is not None:
                motion = image_motion(poses[i - 1] if i else pose, pose, intrinsic_color, size)
                gain = float(np.mean(camera.gains)) if camera is not None else 1.0   # auto exposure amplifies noise too
                rgb = style.camera.apply(rgb, effects_rng, motion_px=motion, depth=depth, gain_scale=gain)
            if separate_depth:
                depth_rgb, depth, _ = renderer.render(pose @ depth_extrinsic, intrinsic_depth, depth_size, lighting)
            cv2.imwrite(str(partial / "color" / f"{i}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
            if style is not None and style.depth_sensor is not None:
                depth_mm = style.depth_sensor(depth, effects_rng, rgb=depth_rgb, focal_px=intrinsic_depth[0, 0])
            else:
                depth_mm = np.clip(np.round(depth * 1000.0), 0, 65535).astype(np.uint16)
            cv2.imwrite(str(partial / "depth" / f"{i}.png"), depth_mm)
            _write_matrix(partial / "pose" / f"{i}.txt", pose)
            cv2.imwrite(str(partial / "instance-filt" / f"{i}.png"), instance.astype(instance_dtype))
            cv2.imwrite(str(partial / "label-filt" / f"{i}.png"), label_of[instance])
            visible.append(visible_instances(instance, min_pixels))

    objects = [inst for inst in room.instances if inst.model.label not in STRUCTURE_LABELS]
    object_ids = {inst.instance_id for inst in objects}
    revisits = [r for r in find_revisits(range(frames), visible, min_gap=100) if r.instance_id in object_ids]
    models = {}
    for inst in room.instances:
        models.setdefault(inst.model.name, []).append(inst.instance_id)
    meta = {
        "scene": name,
        "generator": {"version": LEGACY_VERSION if style is None else GENERATOR_VERSION, "seed": seed, "index": index,
                      **({} if style is None else {"split": split, "sensor_depth": bool(sensor_depth)})},
        "frames": frames,
        "color_size": list(size),
        "depth_size": list(depth_size),
        "room": {"width": room.width, "depth": room.depth, "height": room.height},
        "classes": {str(inst.model.label): inst.model.class_name for inst in room.instances},
        "instances": [{"id": inst.instance_id, "label": inst.model.label, "class": inst.model.class_name,
                       "model": inst.model.name, "position": [round(v, 4) for v in inst.position],
                       "yaw": round(inst.yaw, 4), "size": [round(v, 4) for v in inst.model.size]}
                      for inst in room.instances],
        "models": models,
        "twin_groups": room.twin_groups(),
        "camera_response": camera.describe() if camera is not None else {"model": "fixed"},
        **({} if style is None else {"style": style.describe(), "jpeg_quality": jpeg_quality}),
        "revisits": {"min_gap": 100, "min_pixels": min_pixels,
                     "events": [[r.instance_id, r.last_seen, r.back_at] for r in revisits]},
    }
    _write_text(partial / "meta.json", json.dumps(meta, indent=1))
    aggregation = {
        "sceneId": f"scannet.{name}", "appId": "reid.data.generate", "segmentsFile": f"scannet.{name}_vh_clean_2.0.010000.segs.json",
        "segGroups": [{"id": inst.instance_id - 1, "objectId": inst.instance_id - 1, "segments": [],
                       "label": inst.model.class_name} for inst in room.instances],
    }
    _write_text(partial / f"{name}.aggregation.json", json.dumps(aggregation, indent=1))
    k, kd = intrinsic_color, intrinsic_depth
    _write_text(partial / f"{name}.txt", "\n".join([
        "axisAlignment = " + " ".join(["1", "0", "0", "0", "0", "1", "0", "0", "0", "0", "1", "0", "0", "0", "0", "1"]),
        f"colorHeight = {size[1]}", f"colorWidth = {size[0]}", f"depthHeight = {depth_size[1]}", f"depthWidth = {depth_size[0]}",
        f"fx_color = {k[0, 0]:.6f}", f"fx_depth = {kd[0, 0]:.6f}", f"fy_color = {k[1, 1]:.6f}", f"fy_depth = {kd[1, 1]:.6f}",
        f"mx_color = {k[0, 2]:.6f}", f"mx_depth = {kd[0, 2]:.6f}", f"my_color = {k[1, 2]:.6f}", f"my_depth = {kd[1, 2]:.6f}",
        f"numColorFrames = {frames}", f"numDepthFrames = {frames}", "numIMUmeasurements = 0", "sceneType = Office",
    ]) + "\n")
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    seconds = time.perf_counter() - started
    returning = {r.instance_id for r in revisits}
    styled = {} if style is None else {
        "textures": style.materials.family, "camera_preset": style.camera_preset, "light_preset": style.light_preset}
    return {**styled, "scene": name, "path": str(final), "frames": frames, "split": split, "seconds": round(seconds, 2),
            "frames_per_second": round(frames / seconds, 1), "instances": len(objects),
            "classes": len({inst.model.label for inst in objects}),
            "twin_groups": [len(group) for group in room.twin_groups()
                            if room.instances[group[0] - 1].model.label not in STRUCTURE_LABELS],
            "revisits": len(revisits), "returning_objects": len(returning)}


def _generate_one(kwargs):
    return generate_scene(**kwargs)


def format_summary(summary):
    if summary.get("skipped"):
        return f"{summary['scene']}: already there, skipped (--overwrite to replace)"
    style = (f" [{summary['split']}: {summary['textures']} textures, camera {summary['camera_preset']}, "
             f"light {summary['light_preset']}]" if summary.get("split") else "")
    return (f"{summary['scene']}{style}: {summary['frames']} frames in {summary['seconds']:.1f} s "
            f"({summary['frames_per_second']:.0f} frames/s), {summary['instances']} objects of {summary['classes']} classes, "
            f"twin groups of {summary['twin_groups']}, {summary['returning_objects']} objects back in view after "
            f">= 100 frames away ({summary['revisits']} returns) -> {summary['path']}")


def main(argv=None):
    parser = ArgumentParser(prog="python -m reid.data.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="root folder; scenes go to OUT/scans/sceneXXXX_00")
    parser.add_argument("--scenes", type=positive_int, default=1, help="how many scenes (default 1)")
    parser.add_argument("--first", type=int, default=0, help="index of the first scene (default 0)")
    parser.add_argument("--frames", type=positive_int, default=400, help="frames per scene (default 400)")
    parser.add_argument("--size", type=parse_size, default=(320, 240), help="colour size WxH (default 320x240)")
    parser.add_argument("--depth-size", type=parse_size, default=None,
                        help="depth size WxH, rendered separately with its own intrinsics (default: --size; with "
                             "--split half of --size, as ScanNet's depth camera)")
    parser.add_argument("--seed", type=int, default=0, help="seed; a scene depends only on (seed, index, --camera-response)")
    parser.add_argument("--workers", type=positive_int, default=1, help="scenes rendered in parallel")
    parser.add_argument("--overwrite", action="store_true", help="replace scenes that already exist")
    parser.add_argument("--camera-response", choices=CAMERA_RESPONSES, default="auto",
                        help="auto (default): colour recorded through a simulated auto-exposure / "
                             "auto-white-balance camera, as real captures are; fixed: the renderer's fixed "
                             "response, the same colours in every pass (the generator's version-1 output)")
    parser.add_argument("--split", choices=SPLITS, default=None,
                        help="make version-3 rooms whose textures, object models, light and camera come from "
                             "this split's half of the style families (val and test: the held-out half), with "
                             "structured-light sensor depth; default: version-2 rooms, as before")
    parser.add_argument("--perfect-depth", action="store_true",
                        help="with --split: write the renderer's exact depth from the colour camera instead of "
                             "a structured-light sensor's")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    setup_logging(args.quiet)
    if args.perfect_depth and args.split is None:
        parser.error("--perfect-depth goes with --split (version-2 rooms always have perfect depth)")
    if args.first < 0:
        parser.error(f"--first {args.first} must be >= 0")
    try:
        from .render import SceneRenderer  # noqa: F401  (pybullet: one error line before any work without it)
    except MissingDependencyError as error:
        fail(parser.prog, str(error))
    try:
        (Path(args.out) / "scans").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        parser.exit(2, f"{parser.prog}: error: cannot create {args.out}: {error.strerror}\n")
    jobs = [dict(root=args.out, index=index, seed=args.seed, frames=args.frames, size=args.size,
                 depth_size=args.depth_size, overwrite=args.overwrite, camera_response=args.camera_response,
                 split=args.split, sensor_depth=not args.perfect_depth)
            for index in range(args.first, args.first + args.scenes)]
    started = time.perf_counter()
    if args.workers > 1 and len(jobs) > 1:
        with multiprocessing.get_context("spawn").Pool(min(args.workers, len(jobs))) as pool:
            for summary in pool.imap(_generate_one, jobs):
                print(format_summary(summary), flush=True)
    else:
        for job in jobs:
            print(format_summary(generate_scene(**job)), flush=True)
    if not args.quiet:
        print(f"{len(jobs)} scene(s) in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
