"""Generator speed per style: frames/s on one core for version-2 rooms and each version-3 setting.

``python -m benchmarks.generator --out OUT [--rooms 4] [--frames 100] [--size 320x240] [--seed 0] [--core 0]``

Generates ``--rooms`` rooms per setting into a temporary folder, pinned to one CPU core (``--core``;
Linux only, otherwise unpinned and said so), and reports frames/s per room (rendering, camera and
sensor models, encoding and writing included) with the room's texture family and camera preset. The
settings: ``version 2`` (no split), ``train`` and ``val`` (style families, structured-light depth at
half the colour size), ``val, perfect depth`` (style families, the renderer's depth from the colour
camera). Writes ``OUT/results.json`` (one row per room) and ``OUT/results.md`` (median frames/s per
setting and per texture family).
"""
import os
import platform
import statistics
import tempfile
from pathlib import Path

from reid.cli import ArgumentParser, MissingDependencyError, fail, parse_size, positive_int
from reid.data.generate import generate_scene
from reid.fileio import atomic_write_json, atomic_write_text

from .provenance import run_facts

PROG = "python -m benchmarks.generator"
SETTINGS = {   # name -> generate_scene keyword arguments
    "version 2": dict(split=None),
    "train": dict(split="train"),
    "val": dict(split="val"),
    "val, perfect depth": dict(split="val", sensor_depth=False),
}


def pin_to_core(core):
    """Pin this process to one CPU core; returns a note saying what was done."""
    if not hasattr(os, "sched_setaffinity"):
        return f"not pinned ({platform.system()} has no sched_setaffinity)"
    os.sched_setaffinity(0, {core})
    import cv2
    cv2.setNumThreads(1)
    return f"pinned to core {core}"


def time_settings(rooms, frames, size, seed, echo=print):
    """One row per generated room: setting, split, texture family, camera preset, frames/s."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="generator-speed-") as folder:
        for name, kwargs in SETTINGS.items():
            for index in range(rooms):
                summary = generate_scene(Path(folder) / name.replace(" ", "-").replace(",", ""), index, seed=seed,
                                         frames=frames, size=size, **kwargs)
                row = {"setting": name, "split": kwargs.get("split"), "room": summary["scene"],
                       "textures": summary.get("textures", "procedural (version 2)"),
                       "camera_preset": summary.get("camera_preset"), "frames": frames,
                       "seconds": summary["seconds"], "frames_per_second": frames / summary["seconds"]}
                rows.append(row)
                echo(f"{name:<20} {row['room']}  {row['textures']:<24} {row['camera_preset'] or '-':<16} "
                     f"{row['frames_per_second']:.1f} frames/s")
    return rows


def markdown(rows, context):
    lines = ["# Generator speed", "", f"{context['rooms']} rooms of {context['frames']} frames at {context['size']} per "
             f"setting, seed {context['seed']}, {context['pinning']}; {context['machine']}.", "",
             "| setting | rooms | frames/s, median | min | max |", "|---|---:|---:|---:|---:|"]
    for name in SETTINGS:
        fps = [r["frames_per_second"] for r in rows if r["setting"] == name]
        lines.append(f"| {name} | {len(fps)} | {statistics.median(fps):.1f} | {min(fps):.1f} | {max(fps):.1f} |")
    lines += ["", "| texture family (version-3 rooms) | rooms | frames/s, median |", "|---|---:|---:|"]
    for family in sorted({r["textures"] for r in rows if r["split"]}):
        fps = [r["frames_per_second"] for r in rows if r["split"] and r["textures"] == family]
        lines.append(f"| {family} | {len(fps)} | {statistics.median(fps):.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--rooms", type=positive_int, default=4, help="rooms per setting (default 4)")
    parser.add_argument("--frames", type=positive_int, default=100, help="frames per room (default 100)")
    parser.add_argument("--size", type=parse_size, default=(320, 240), help="colour size WxH (default 320x240)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--core", type=int, default=0, help="CPU core to pin to (default 0)")
    args = parser.parse_args(argv)
    try:
        from reid.data.render import SceneRenderer  # noqa: F401  (pybullet: one error line before any work)
    except MissingDependencyError as error:
        fail(PROG, str(error))
    try:
        pinning = pin_to_core(args.core)
    except OSError as error:
        fail(PROG, f"cannot pin to core {args.core}: {error.strerror}")
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or platform.system()}"
    context = dict(rooms=args.rooms, frames=args.frames, size=f"{args.size[0]}x{args.size[1]}", seed=args.seed,
                   pinning=pinning, machine=machine)
    rows = time_settings(args.rooms, args.frames, args.size, args.seed)
    out = Path(args.out)
    atomic_write_json(out / "results.json", {"context": context, "rows": rows,
                                                 **{k: v for k, v in run_facts("benchmarks.generator").items()
                                                    if k != "machine"}})
    atomic_write_text(out / "results.md", markdown(rows, context))
    print(markdown(rows, context), end="")
    print(f"-> {out / 'results.json'}, {out / 'results.md'}")


if __name__ == "__main__":
    main()
