"""Summarise a scene in the ScanNet layout (real or generated).

``python -m reid.data.summary SCENE [--root ROOT] [--label-map scannetv2-labels.combined.tsv]``
prints its frames, image sizes, poses, instances per class, twin groups (generated scenes) and the
objects that come back into view after at least ``--min-gap`` frames away.
"""
import collections


from ..cli import ArgumentParser, fail, positive_int, setup_logging
from .nyu40 import STRUCTURE_LABELS, class_name
from .scannet import SceneError, ScanNetScene, load_label_map, majority_labels, read_pose
from .visibility import find_revisits, min_visible_pixels, visible_instances


def summarise(scene, min_gap=100):
    """Facts about a scene, as a dict (reads masks and poses, not colour, except the first frame)."""
    first = scene.read_frame(scene.frame_ids[0], depth=True, masks=False)
    poses_known = sum(read_pose(scene.path / "pose" / f"{i}.txt") is not None for i in scene.frame_ids) \
        if (scene.path / "pose").is_dir() else 0
    frame_ids, visible, votes = [], [], collections.defaultdict(collections.Counter)
    min_pixels = min_visible_pixels(first.size)
    if scene.has_masks:
        for index in scene.frame_ids:
            instance, label = scene.read_masks(index, first.size)
            if instance is None:
                continue
            frame_ids.append(index)
            visible.append(visible_instances(instance, min_pixels))
            for instance_id, (label_id, count) in majority_labels(instance, label).items():
                votes[instance_id][label_id] += count
    classes = {i: max(c, key=c.get) for i, c in votes.items()}
    objects = {i for i, label in classes.items() if label not in STRUCTURE_LABELS}
    revisits = [r for r in find_revisits(frame_ids, visible, min_gap) if r.instance_id in objects]
    per_class = collections.Counter(class_name(classes[i]) for i in objects)
    twin_groups = []
    if scene.meta:
        labels = {inst["id"]: inst["label"] for inst in scene.meta.get("instances", [])}
        twin_groups = [(class_name(labels.get(group[0], 0)), len(group)) for group in scene.meta.get("twin_groups", [])
                       if labels.get(group[0]) not in STRUCTURE_LABELS]
    return {
        "scene": scene.name, "path": str(scene.path), "frames": len(scene), "color_size": first.size,
        "depth_size": None if first.depth is None else (first.depth.shape[1], first.depth.shape[0]),
        "poses_known": poses_known, "objects": len(objects), "per_class": dict(per_class.most_common()),
        "twin_groups": twin_groups, "revisits": len(revisits),
        "returning_objects": len({r.instance_id for r in revisits}), "min_gap": min_gap,
    }


def format_summary(facts):
    lines = [f"{facts['scene']} ({facts['path']})",
             f"  frames: {facts['frames']}, colour {facts['color_size'][0]}x{facts['color_size'][1]}, depth "
             + ("none" if facts["depth_size"] is None else f"{facts['depth_size'][0]}x{facts['depth_size'][1]}")
             + f", pose known in {facts['poses_known']} frames",
             f"  objects: {facts['objects']} in {len(facts['per_class'])} classes: "
             + ", ".join(f"{name} {count}" for name, count in facts["per_class"].items())]
    if facts["twin_groups"]:
        lines.append("  identical twins: " + ", ".join(f"{count} x {name}" for name, count in facts["twin_groups"]))
    lines.append(f"  back in view after >= {facts['min_gap']} frames away: {facts['returning_objects']} objects "
                 f"({facts['revisits']} returns)")
    return "\n".join(lines)


def main(argv=None):
    parser = ArgumentParser(prog="python -m reid.data.summary", description=__doc__.split("\n")[0])
    parser.add_argument("scene", help="scene name (with --root) or path to the scene folder")
    parser.add_argument("--root", help="dataset root holding scans/<scene> or <scene>")
    parser.add_argument("--label-map", help="scannetv2-labels.combined.tsv, to read real ScanNet label ids as NYU40")
    parser.add_argument("--min-gap", type=positive_int, default=100, help="frames away that make a return (default 100)")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        label_map = load_label_map(args.label_map) if args.label_map else None
        scene = ScanNetScene.open(args.scene, args.root, label_map=label_map)
        print(format_summary(summarise(scene, args.min_gap)))
    except (SceneError, OSError) as error:
        fail(parser.prog, str(error))


if __name__ == "__main__":
    main()
