"""Tracking under detection noise: IDF1, HOTA, MOTA, IDSW and revisit accuracy against noise level.

``python -m benchmarks.robustness --data ROOT --scenes S... --levels 0 0.25 0.5 0.75 1 --out OUT``

The ground-truth detections are degraded by :mod:`benchmarks.noise` (missed detections, box jitter,
false positives, class confusion, eroded/dilated masks; one ``level`` in [0, 1] sets all five, or
``--only KIND`` varies one alone) and :func:`benchmarks.tracking.run_scene` runs every tracker on
them: per frame the degraded detections are computed once and shared by every tracker, and they
depend only on (``--seed``, frame index), so each tracker sees exactly the same errors. Scoring is
that of ``python -m benchmarks.tracking``: TrackEval IDF1/HOTA/MOTA/IDSW against the clean ground
truth (the annotation masks) and revisit accuracy.

Writes ``OUT/results.json`` (one row per level, tracker and scene, with the noise settings, the
noise measured on that scene and the run's settings), ``OUT/results.md`` (mean over scenes per tracker
and level) and ``OUT/robustness.png`` (IDF1 and revisit accuracy against noise level, one line per
tracker). With ``--add-levels`` the rows of an earlier run into the same ``OUT`` with the same
settings are kept for the levels not run now, so the levels can be run one at a time.
"""
import argparse
import json
import logging
from pathlib import Path

from reid.checkpoint import CheckpointError
from reid.cli import ArgumentParser, fail, setup_logging
from reid.data.scannet import SceneError, majority_labels
from reid.fileio import atomic_write_json, atomic_write_text

from .provenance import stamp_rows
from tracker.detectors import create_detector
from tracker.tracker import TrackerConfig

from .noise import FULL, KINDS, NoiseConfig, NoisyDetector
from .plots import finite, pyplot, require_matplotlib, save_figure
from .tracking import (_fmt, add_common_arguments, available_rows, config_note, jsonable_overrides, mean_rows,
                       open_scenes_and_embedder, parse_trackers, run_scene, score_scenes)
from .tracking_metrics import TrackEvalMissing
from .tracking_peers import parse_config_overrides

log = logging.getLogger("benchmarks")
PROG = "python -m benchmarks.robustness"
DEFAULT_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
DEFAULT_TRACKERS = "ours,deepsort"


def scene_classes(scene, frame_ids):
    """Tracked classes present in the frames used (majority label of each annotated instance)."""
    ignored = TrackerConfig().ignored_labels
    classes = set()
    for index in frame_ids:
        instance, label = scene.read_masks(index)
        if instance is None:
            continue
        classes.update(c for c, _ in majority_labels(instance, label).values())
    return sorted(c for c in classes if c and c not in ignored)


def measured_noise(stats):
    """The noise a scene actually got: miss rate, confusion rate (of the kept detections), false
    positives per frame, output detections per frame."""
    frames, clean = stats.get("frames", 0), stats.get("clean", 0)
    kept = clean - stats.get("missed", 0)
    return {
        "frames": frames,
        "clean_detections": clean,
        "miss_rate": stats.get("missed", 0) / clean if clean else None,
        "confusion_rate": stats.get("confused", 0) / kept if kept else None,
        "false_positives_per_frame": stats.get("false_positives", 0) / frames if frames else None,
        "detections_per_frame": stats.get("output", 0) / frames if frames else None,
    }


def run_levels(scenes, rows, levels, kinds=None, seed=0, embedder=None, frame_step=1, max_frames=None,
               min_gap=100, window=10, progress=True, config_overrides=None):
    """Result rows for every level, tracker and scene (the rows of :func:`score_scenes` with ``level``,
    ``noise`` (settings) and ``noise_measured`` added)."""
    base = create_detector("gt")
    classes = {scene.name: scene_classes(scene, scene.frame_ids[::frame_step][:max_frames]) for scene in scenes}
    results = []
    for level in levels:
        config = NoiseConfig.from_level(level, kinds)
        log.info("noise level %.2f: %s", level, config.as_dict())
        runs, measured = {}, {}
        for scene in scenes:
            detector = NoisyDetector(base, config, seed=seed, classes=classes[scene.name])
            runs[scene.name] = run_scene(scene, detector, rows, embedder=embedder, frame_step=frame_step,
                                         max_frames=max_frames, progress=progress,
                                         config_overrides=config_overrides)
            measured[scene.name] = measured_noise(detector.stats)
        for row in score_scenes(runs, rows, min_gap=min_gap, window=window):
            results.append({"level": float(level), **row, "noise": config.as_dict(),
                            "noise_measured": measured[row["scene"]]})
    return results


def level_means(results):
    """Mean rows (:func:`benchmarks.tracking.mean_rows`) per level: list of rows with ``level``."""
    means = []
    for level in dict.fromkeys(r["level"] for r in results):
        mine = [r for r in results if r["level"] == level]
        for row in mean_rows(mine):
            row["level"] = level
            rates = {}
            for key in ("miss_rate", "confusion_rate", "false_positives_per_frame", "detections_per_frame"):
                values = [r["noise_measured"][key] for r in mine
                          if r["tracker"] == row["tracker"] and r["noise_measured"][key] is not None]
                rates[key] = sum(values) / len(values) if values else None
            row["noise_measured"] = rates
            row["noise"] = mine[0]["noise"]
            means.append(row)
    return means


def markdown_table(results, settings="", notes=()):
    """Noise settings per level (set and measured), then mean metrics per tracker and level."""
    means = level_means(results)
    lines = ["# Robustness to detection noise", ""]
    if settings:
        lines += [settings, ""]
    lines += ["| level | miss | jitter (x size) | false pos./frame | confusion | mask ± px | "
              "measured miss | measured false pos./frame | measured confusion | detections/frame |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    seen = set()
    for row in means:
        if row["level"] in seen:
            continue
        seen.add(row["level"])
        noise, got = row["noise"], row["noise_measured"]
        lines.append(f"| {row['level']:.2f} | {noise['miss']:.3f} | {noise['jitter']:.3f} | "
                     f"{noise['false_positives']:.2f} | {noise['confusion']:.3f} | {noise['mask_px']} | "
                     f"{_fmt(got['miss_rate'])} | {_fmt(got['false_positives_per_frame'], 2)} | "
                     f"{_fmt(got['confusion_rate'])} | {_fmt(got['detections_per_frame'], 2)} |")
    lines += ["", "| tracker | level | IDF1 | HOTA | MOTA | IDSW | revisit acc. | returns kept |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for tracker in dict.fromkeys(r["tracker"] for r in means):
        for row in (r for r in means if r["tracker"] == tracker):
            lines.append(f"| {tracker} | {row['level']:.2f} | {_fmt(row['IDF1'])} | {_fmt(row['HOTA'])} | "
                         f"{_fmt(row['MOTA'])} | {_fmt(row['IDSW'], 1)} | {_fmt(row['revisit_accuracy'])} | "
                         f"{row['revisits_kept']}/{row['revisits']} |")
    lines += ["", "Each cell: unweighted mean over the scenes (revisit accuracy over the scenes with returns; "
              "returns summed). HOTA, IDF1, MOTA, IDSW: TrackEval (MOTChallenge 2D box, IoU 0.5) against the "
              "clean ground truth. Noise (benchmarks/noise.py): at level L, miss 0.3 L, jitter 0.1 L of the box "
              "size, Poisson 1.0 L false positives per frame, class confusion 0.1 L, masks eroded or dilated by "
              "round(3 L) px; the same degraded detections for every tracker. Measured confusion: of the kept "
              "detections. Per-scene rows: results.json."]
    for note in notes:
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def robustness_figure(results, title="Tracking under detection noise"):
    """Two panels, IDF1 and revisit accuracy (means over scenes) against noise level, a line per tracker."""
    plt = pyplot()
    means = level_means(results)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, key, label in ((axes[0], "IDF1", "IDF1"), (axes[1], "revisit_accuracy", "revisit accuracy")):
        drawn = False
        for tracker in dict.fromkeys(r["tracker"] for r in means):
            points = [(r["level"], r[key]) for r in means if r["tracker"] == tracker and finite(r[key])]
            if points:
                axis.plot(*zip(*points), marker="o", label=tracker)
                drawn = True
        if not drawn:
            axis.text(0.5, 0.5, "no returns in these scenes" if key == "revisit_accuracy" else "no data",
                      ha="center", va="center", transform=axis.transAxes, color="grey")
        axis.set_xlabel("noise level")
        axis.set_ylabel(label)
        axis.set_ylim(0, 1.02)
        axis.set_xlim(-0.02, 1.02)
        axis.grid(alpha=0.3)
        if drawn:
            axis.legend(fontsize=8, loc="best")
    figure.suptitle(title)
    return figure


def run_settings(args, rows, overrides):
    """What must be equal for rows of two runs to be put in one table (everything but the levels)."""
    return {"scenes": list(args.scenes), "trackers": list(rows), "seed": args.seed,
            "kinds": sorted(args.only) if args.only else None, "frame_step": args.frame_step,
            "max_frames": args.max_frames, "min_gap": args.min_gap, "window": args.revisit_window,
            "reid": args.reid, "data": str(Path(args.data).resolve()),
            "config_overrides": jsonable_overrides(overrides)}


def earlier_rows(path, settings, levels):
    """Rows of ``path`` (an earlier results.json) for levels other than ``levels``; [] when absent.

    Raises ValueError naming the file when it cannot be read or was made with other settings.
    """
    path = Path(path)
    if not path.exists():
        return []
    try:
        rows = json.loads(path.read_text())
        assert isinstance(rows, list) and all(isinstance(r, dict) and "level" in r for r in rows)
    except (OSError, ValueError, AssertionError):
        raise ValueError(f"{path}: not a results.json of benchmarks.robustness") from None
    different = [r for r in rows if r.get("settings") != settings]
    if different:
        raise ValueError(f"{path}: made with other settings than this run (--add-levels keeps only rows of "
                         f"the same scenes, trackers, seed, kinds, frames, re-ID and tracker settings); use "
                         f"another --out")
    return [r for r in rows if r["level"] not in levels]


def noise_level(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (0.0 <= value <= 1.0):
        raise argparse.ArgumentTypeError(f"noise level {text!r} is outside [0, 1]")
    return value


def build_parser():
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="dataset root holding scans/<scene> or <scene>")
    parser.add_argument("--scenes", nargs="+", required=True, help="scene names (need instance and label masks)")
    parser.add_argument("--levels", nargs="+", type=noise_level, default=list(DEFAULT_LEVELS),
                        help="noise levels in [0, 1] (default 0 0.25 0.5 0.75 1); at level 1: miss "
                             f"{FULL.miss}, jitter {FULL.jitter} of the box size, {FULL.false_positives} false "
                             f"positive(s) per frame, confusion {FULL.confusion}, masks ±{FULL.mask_px} px")
    parser.add_argument("--only", nargs="+", choices=tuple(KINDS),
                        help="vary only these kinds of noise (the others stay at 0); default all")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--trackers", default=DEFAULT_TRACKERS,
                        help=f"comma-separated rows of benchmarks.tracking (default {DEFAULT_TRACKERS})")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0); noise depends on (seed, frame)")
    parser.add_argument("--add-levels", action="store_true",
                        help="keep the other levels of an earlier run into --out with the same settings")
    add_common_arguments(parser)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    require_matplotlib(PROG)
    setup_logging(quiet=args.quiet)
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    try:
        rows = parse_trackers(args.trackers)
    except ValueError as error:
        parser.error(str(error))
    levels = list(dict.fromkeys(args.levels))
    try:
        overrides = parse_config_overrides(args.config_overrides)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    rows, notes = available_rows(rows, explicit=args.trackers != DEFAULT_TRACKERS)
    if not rows:
        fail(PROG, "no tracker left to run: " + "; ".join(notes))
    settings = run_settings(args, rows, overrides)
    try:
        kept = earlier_rows(Path(args.out) / "results.json", settings, levels) if args.add_levels else []
        scenes, embedder = open_scenes_and_embedder(args, rows)
        results = run_levels(scenes, rows, levels, kinds=args.only, seed=args.seed, embedder=embedder,
                             frame_step=args.frame_step, max_frames=args.max_frames, min_gap=args.min_gap,
                             window=args.revisit_window, progress=not args.quiet, config_overrides=overrides)
    except (SceneError, TrackEvalMissing, CheckpointError, OSError, ValueError) as error:
        fail(PROG, str(error))
    for row in results:
        row["settings"] = settings
    results = sorted(kept + results, key=lambda r: r["level"])       # stable: trackers and scenes keep their order
    out = Path(args.out)
    limit = f", at most {args.max_frames} frames" if args.max_frames else ""
    kinds = ", ".join(args.only) if args.only else "all kinds"
    settings = (f"Ground-truth detections degraded ({kinds}, seed {args.seed}), scenes {', '.join(args.scenes)}, "
                f"frame step {args.frame_step}{limit}, re-ID `{args.reid}`, returns after >= {args.min_gap} "
                f"frames away, window {args.revisit_window} frames{config_note(overrides)}.")
    markdown = markdown_table(results, settings, notes)
    atomic_write_json(out / "results.json", stamp_rows(results, "benchmarks.robustness"))
    atomic_write_text(out / "results.md", markdown)
    save_figure(robustness_figure(results), out / "robustness.png")
    print(markdown, end="")
    print(f"-> {out / 'results.json'}, {out / 'results.md'}, {out / 'robustness.png'}")


if __name__ == "__main__":
    main()
