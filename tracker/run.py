"""Track the objects of one scene.

``python -m tracker.run SCENE --root ROOT --detector gt|maskrcnn|file --out OUT [--set KEY=VALUE ...]``

Writes ``OUT/SCENE.txt`` (MOTChallenge: ``frame,id,x,y,w,h,score,-1,-1,-1``, frame = ScanNet frame
index + 1, only confirmed tracks updated in that frame), the long-term gallery
``OUT/SCENE.gallery.npz`` beside it, ``OUT/SCENE.summary.json`` (the scene folder, the counts below and
every tracker setting), with ``--video`` an annotated ``OUT/SCENE.mp4`` and, with ``--rerun FILE.rrd``,
a rerun.io recording (:mod:`viewer.recording`; needs ``pip install rerun-sdk``). ``--set`` changes
:class:`tracker.TrackerConfig` settings (as ``benchmarks.tracking --set`` does).

The closing summary counts what went wrong: frames skipped (a colour image that cannot be read, each
also a warning naming its file), frames with unknown pose (normal in ScanNet, which writes an all
``-inf`` pose where its tracking failed: counted, not warned about), frames without depth, detections
without a valid depth under them (matched along their viewing ray, or on appearance alone where the
pose is unknown) and detections dropped as invalid. A missing scene, an unknown setting or a bad value is a one-line error.
"""
import dataclasses
import logging
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    # python -m tracker.run: OpenMP reads its spin count once, when torch loads it (reid.embedder, below), so
    # the command line's thread policy (--threads, reid.cli.configure_threads) goes into the environment
    # before that; importing tracker.run as a library changes nothing.
    from reid.cli import prepare_thread_environment, threads_from_argv
    prepare_thread_environment(threads_from_argv(sys.argv[1:]))

from tqdm import tqdm

from reid.cli import (REID_SPEC_HELP, ArgumentParser, add_backend_argument, add_precision_argument,
                      add_threads_argument, configure_threads, fail, positive_int, setup_logging)
from reid.data.scannet import SceneError, ScanNetScene, load_label_map
from reid.checkpoint import CheckpointError
from reid.embedder import Embedder
from reid.fileio import atomic_write_json
from reid.model import WeightsError

from .config import jsonable_overrides, parse_config_overrides
from .detectors import DETECTORS, create_detector
from .detectors.file import DetectionFileError
from .draw import VideoWriter, draw_tracks
from .detection import complete_detections
from .gallery import EmbeddingModelId, GalleryFileError, LongTermGallery
from .io import mot_lines, write_mot
from .tracker import Tracker, TrackerConfig

log = logging.getLogger("tracker")

#: skipped frames named in the printed summary (the JSON summary names all)
NAMED_SKIPS = 3


def changed_settings(config):
    """The :class:`TrackerConfig` fields that differ from their defaults: dict name -> value."""
    defaults = TrackerConfig()
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
            if getattr(config, f.name) != getattr(defaults, f.name)}


def track_scene(scene, detector, embedder, tracker, out_dir, video=False, frame_step=1, max_frames=None, progress=True,
                use_depth=True, recording=None):
    """Run the tracker over a scene and write its outputs; returns the summary dict.

    Per frame: read it, detect, complete the detections (:func:`tracker.detection.complete_detections`:
    embed with ``embedder``, world positions from depth and pose when ``use_depth``), track.

    ``recording`` (a :class:`viewer.recording.SceneRecording`, optional) logs every tracked frame
    and is closed at the end.

    Besides the outputs' figures the summary counts what went wrong: ``skipped_files`` (colour
    images that could not be read), ``pose_unknown`` and ``no_depth`` (frames tracked without them;
    None when ``use_depth`` is off), of the ``detections`` tracked those without a valid depth under
    them, ``on_ray`` (pose known: matched along their viewing ray) and ``appearance_only`` (pose
    unknown; both None when ``use_depth`` is off), and ``invalid_detections`` (dropped before or by
    the tracker); ``settings``
    holds every tracker setting, ``settings_changed`` those not at their defaults.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines, track_ids = [], set()
    writer = VideoWriter(out_dir / f"{scene.name}.mp4") if video else None
    frame_ids = scene.frame_ids[::frame_step][:max_frames]
    needs_masks = getattr(detector, "name", "") == "gt"
    started = time.perf_counter()
    processed = pose_unknown = no_depth = detected = on_ray = unplaced = 0
    invalid_before, invalid = tracker.invalid_detections, 0
    skipped = []
    try:
        for index in tqdm(frame_ids, desc=scene.name, unit="frame", disable=not progress):
            try:
                frame = scene.read_frame(index, depth=use_depth, pose=use_depth, masks=needs_masks)
            except SceneError as error:
                log.warning("%s", error)
                skipped.append(str(scene.color_path(index) or error))   # the colour file it read
                continue
            if use_depth:
                pose_unknown += frame.pose is None
                no_depth += frame.depth is None
            detections, skipped_detections = complete_detections(detector(frame), frame, embedder, tracker.config)
            invalid += skipped_detections
            detected += len(detections)
            on_ray += sum(d.world_position is None and d.world_ray is not None for d in detections)
            unplaced += sum(d.world_position is None and d.world_ray is None for d in detections)
            tracks = tracker.update(detections, frame.index)
            processed += 1
            lines.extend(mot_lines(index + 1, tracks))
            track_ids.update(track.track_id for track in tracks)
            if writer is not None:
                writer.write(draw_tracks(frame.rgb, tracks))
            if recording is not None:
                recording.log_frame(frame, tracks)
    finally:
        if writer is not None:
            writer.close()
        if recording is not None:
            recording.close()
    seconds = time.perf_counter() - started
    write_mot(out_dir / f"{scene.name}.txt", lines)
    tracker.gallery.save(out_dir / f"{scene.name}.gallery.npz")
    scene_path = getattr(scene, "path", None)       # the scene folder, for python -m viewer.report
    summary = {"scene": scene.name, "scene_path": str(Path(scene_path).resolve()) if scene_path else None,
               "frames": processed, "tracks": len(track_ids),
               "reused_ids": tracker.reactivations, "seconds": seconds,
               "frames_per_second": processed / seconds if seconds > 0 else float("nan"),
               "out": str(out_dir / f"{scene.name}.txt"),
               "skipped_files": skipped, "pose_unknown": pose_unknown if use_depth else None,
               "no_depth": no_depth if use_depth else None, "detections": detected,
               "on_ray": on_ray if use_depth else None, "appearance_only": unplaced if use_depth else None,
               "invalid_detections": invalid + tracker.invalid_detections - invalid_before,
               "settings_changed": jsonable_overrides(changed_settings(tracker.config)),
               "settings": jsonable_overrides(dataclasses.asdict(tracker.config))}
    atomic_write_json(out_dir / f"{scene.name}.summary.json", summary)
    return summary


def summary_lines(summary):
    """The closing summary as printed: the figures, then one line per thing that went wrong and the
    changed settings (each only when there is something to say)."""
    frames = summary["frames"]
    lines = [f"{summary['scene']}: {frames:,} frames, {summary['tracks']} tracks, "
             f"{summary['reused_ids']} IDs re-used from the gallery, {summary['frames_per_second']:.1f} frames/s "
             f"-> {summary['out']}"]
    skipped = summary["skipped_files"]
    if skipped:
        names = ", ".join(skipped[:NAMED_SKIPS]) + (", ..." if len(skipped) > NAMED_SKIPS else "")
        lines.append(f"{len(skipped):,} frame{'s' * (len(skipped) != 1)} skipped ({names})")
    if summary["pose_unknown"]:
        lines.append(f"pose unknown in {summary['pose_unknown']:,} of {frames:,} frames")
    if summary["no_depth"]:
        lines.append(f"no depth in {summary['no_depth']:,} of {frames:,} frames")
    on_ray, alone = summary["on_ray"], summary["appearance_only"]
    if on_ray or alone:
        lines.append(f"{on_ray + alone:,} of {summary['detections']:,} detections without valid depth: "
                     f"{on_ray:,} matched along their viewing ray, {alone:,} on appearance alone (pose unknown)")
    if summary["invalid_detections"]:
        count = summary["invalid_detections"]
        lines.append(f"{count:,} detection{'s' * (count != 1)} dropped as invalid")
    if summary["settings_changed"]:
        lines.append("settings changed: " + ", ".join(f"{key}={value}"
                                                      for key, value in summary["settings_changed"].items()))
    return lines[:1] + [f"  {line}" for line in lines[1:]]


def main(argv=None):
    parser = ArgumentParser(prog="python -m tracker.run", description=__doc__.split("\n")[0])
    parser.add_argument("scene", help="scene name (with --root) or path to the scene folder")
    parser.add_argument("--root", help="dataset root holding scans/<scene> or <scene>")
    parser.add_argument("--detector", choices=DETECTORS, default="gt")
    parser.add_argument("--detections", help="detections file for --detector file")
    parser.add_argument("--maskrcnn-weights", help="local Mask R-CNN state dict (default: torch hub cache)")
    parser.add_argument("--out", default="out", help="output folder (default out/)")
    parser.add_argument("--reid", default="default",
                        help="re-ID model: " + REID_SPEC_HELP)
    parser.add_argument("--gallery", help="a saved gallery to continue from (same room, later visit)")
    parser.add_argument("--rgb-only", action="store_true", help="ignore depth and pose")
    parser.add_argument("--video", action="store_true", help="also write an annotated mp4")
    parser.add_argument("--rerun", metavar="FILE.rrd",
                        help="also write a rerun.io recording (camera, images, boxes, identities in 3D; "
                             "needs pip install rerun-sdk)")
    parser.add_argument("--frame-step", type=positive_int, default=1, help="use every n-th frame")
    parser.add_argument("--max-frames", type=positive_int, help="stop after this many frames")
    parser.add_argument("--label-map", help="scannetv2-labels.combined.tsv, for real ScanNet label ids")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    add_precision_argument(parser)
    parser.add_argument("--compile", action="store_true",
                        help="run the embedder through torch.compile (slow first frames, then faster; needs a C++ "
                             "compiler on the CPU)")
    add_backend_argument(parser)
    add_threads_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        dest="config_overrides",
                        help="tracker.TrackerConfig settings, e.g. --set world_gate_metres=0.5 n_init=5 "
                             "(recorded in the summary)")
    args = parser.parse_args(argv)
    try:
        overrides = parse_config_overrides(args.config_overrides)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    setup_logging(quiet=args.quiet)
    configure_threads(args.threads)
    try:
        label_map = load_label_map(args.label_map) if args.label_map else None
        scene = ScanNetScene.open(args.scene, args.root, label_map=label_map)
        if args.detector == "file":
            if not args.detections:
                parser.error("--detector file needs --detections FILE")
            detector = create_detector("file", path=args.detections)
        elif args.detector == "maskrcnn":
            detector = create_detector("maskrcnn", weights=args.maskrcnn_weights, device=args.device)
        else:
            detector = create_detector("gt")
        embedder = Embedder.from_spec(args.reid, device=args.device, precision=args.precision,
                                       compile=args.compile, backend=args.backend or "torch")
        gallery = LongTermGallery.load(args.gallery) if args.gallery else None
        tracker = Tracker(TrackerConfig(**overrides), gallery=gallery)
        tracker.gallery.check_model(EmbeddingModelId.of(embedder), args.gallery or "gallery")
        recording = None
        if args.rerun:
            from viewer.recording import SceneRecording
            recording = SceneRecording(args.rerun, scene.name)
        summary = track_scene(scene, detector, embedder, tracker, args.out, video=args.video, frame_step=args.frame_step,
                              max_frames=args.max_frames, progress=not args.quiet, use_depth=not args.rgb_only,
                              recording=recording)
    except (SceneError, DetectionFileError, CheckpointError, WeightsError, GalleryFileError, OSError,
            ValueError, ImportError) as error:
        fail(parser.prog, str(error))
    print("\n".join(summary_lines(summary)))


if __name__ == "__main__":
    main()
