"""Where a re-ID model confuses identical twins: rank-1 by class and by viewpoint change, and a picture
of its mistakes.

``python -m benchmarks.twin_failures --data ROOT [--scenes S...] [--method default] --out OUT``

The queries and gallery are those of ``benchmarks.reid``'s twins figure (a view of an object that
shares its model with another object of its room; gallery: the views of the same class from the other
camera passes). Each twin query is put in a bucket by its **viewpoint change**: the angle between its
viewing direction (camera to box centre, world coordinates, from the frame's pose) and the closest
viewing direction among the gallery views of the same object. Small angles mean the gallery holds a
view from about where the query was taken, so a miss there is the model's, not the protocol's. In
generated rooms (``meta.json``) each is also put in a bucket by the distance from its object to the
nearest twin: twins side by side share their background.

Writes ``OUT/results.json`` (the tables and every failure: scene, frames, instances, distances),
``OUT/results.md`` and ``OUT/twin_failures.png``: ``--examples`` failures drawn at random (seeded),
one row each: the query, the closest view of the same object (the right answer) and the view of its
twin that came first, with their squared distances.
"""
import sys
from pathlib import Path

import numpy as np

from reid.cli import ArgumentParser, fail, positive_int, setup_logging
from reid.data.nyu40 import class_name
from reid.data.scannet import ScanNetScene, SceneError, read_pose
from reid.evaluate import _valid_pairs
from reid.fileio import atomic_output, atomic_write_json, atomic_write_text
from reid.metrics import squared_distances
from reid.views import scene_folders
from tracker.world import viewing_ray

from .reid import Skip, ViewCache, method_features, parse_checkpoint

ANGLE_BUCKETS = (0, 15, 30, 60, 90, 180)
"""Edges of the viewpoint-change buckets, degrees."""

SPACING_BUCKETS = (0.0, 1.0, 2.0, np.inf)
"""Edges of the buckets of distance to the nearest twin, metres."""


def viewing_directions(views, folders):
    """Unit viewing direction (world) of each view's box centre, (N, 3); NaN rows where the frame's
    pose or the scene's colour intrinsics are unknown."""
    scenes = {Path(folder).name: ScanNetScene(folder) for folder in folders}
    directions = np.full((len(views), 3), np.nan)
    for i, view in enumerate(views):
        scene = scenes[view.scene]
        pose = read_pose(scene.path / "pose" / f"{view.frame}.txt") if (scene.path / "pose").is_dir() else None
        ray = viewing_ray(view.tlwh, scene.intrinsic_color, pose) if scene.intrinsic_color is not None else None
        if ray is not None:
            directions[i] = ray[1]
    return directions


def twin_spacing(views, folders):
    """Distance from each view's object to the nearest other object of its twin group, metres, from a
    generated room's ``meta.json`` (``instances`` positions and ``twin_groups``); NaN where unknown
    (real scans, objects without a twin)."""
    nearest = {}
    for folder in folders:
        meta = ScanNetScene(folder).meta or {}
        positions = {item["id"]: np.asarray(item["position"], dtype=np.float64)
                     for item in meta.get("instances", []) if "position" in item}
        for group in meta.get("twin_groups", []):
            for instance in group:
                others = [np.linalg.norm(positions[instance] - positions[other]) for other in group
                          if other != instance and instance in positions and other in positions]
                if others:
                    nearest[(Path(folder).name, instance)] = float(min(others))
    return np.array([nearest.get((v.scene, v.instance_id), np.nan) for v in views])


def twin_failures(features, view_set, directions, spacing=None):
    """Every twin query's outcome.

    Parameters
    ----------
    features : ndarray, N x D
    view_set : reid.views.ViewSet
        Views (crops not needed) and their twin flags.
    directions : ndarray, N x 3
        :func:`viewing_directions`.
    spacing : ndarray, N, optional
        :func:`twin_spacing`.

    Returns
    -------
    list of dict
        One per twin query with a gallery view of its own object: ``query``, ``right`` (the closest
        gallery view of the same object), ``first`` (the gallery view ranked first), their squared
        distances ``right_distance`` and ``first_distance``, ``correct`` and ``angle`` (degrees,
        viewpoint change to the closest view of the same object; None without poses) and
        ``nearest_twin_m`` (metres, None where unknown).
    """
    identities = view_set.identities()
    labels = np.array([v.label for v in view_set.views])
    queries = np.flatnonzero(view_set.twins)
    galleries = _valid_pairs(view_set, queries, np.arange(len(view_set))) & (labels[queries, None] == labels[None, :])
    distances = np.where(galleries, squared_distances(features[queries], features), np.inf)
    outcomes = []
    for query, gallery, distance in zip(queries, galleries, distances):
        own = gallery & (identities == identities[query])
        if not own.any():
            continue
        first = int(np.argmin(distance))
        right = int(np.flatnonzero(own)[np.argmin(distance[own])])
        cosines = directions[own] @ directions[query]
        angle = float(np.degrees(np.arccos(np.clip(np.nanmax(cosines), -1, 1)))) if np.isfinite(cosines).any() else None
        outcomes.append({"query": int(query), "right": right, "first": first, "correct": bool(own[first]),
                         "right_distance": float(distance[right]), "first_distance": float(distance[first]),
                         "angle": angle, "nearest_twin_m": None if spacing is None or not np.isfinite(spacing[query])
                         else float(spacing[query])})
    return outcomes


def summarise(outcomes, view_set):
    """Twins rank-1 overall, by class, by viewpoint change and by distance to the nearest twin:
    ``{"all": {...}, "by_class": [...], "by_angle": [...], "by_spacing": [...]}``, each entry
    ``queries`` and ``rank1``."""
    def entry(selected, **key):
        return dict(key, queries=len(selected),
                    rank1=float(np.mean([o["correct"] for o in selected])) if selected else None)

    def bucketed(key, edges, name, unknown_name):
        entries = [entry([o for o in outcomes if o[key] is not None and low <= o[key] < high],
                         **{name: f"{low:g}-{high:g}" if np.isfinite(high) else f"{low:g} or more"})
                   for low, high in zip(edges, edges[1:])]
        unknown = [o for o in outcomes if o[key] is None]
        return entries + ([entry(unknown, **{name: unknown_name})] if unknown else [])

    labels = sorted({view_set.views[o["query"]].label for o in outcomes})
    by_class = [entry([o for o in outcomes if view_set.views[o["query"]].label == label], **{"class": class_name(label)})
                for label in labels]
    return {"all": entry(outcomes), "by_class": by_class,
            "by_angle": bucketed("angle", ANGLE_BUCKETS, "degrees", "pose unknown"),
            "by_spacing": bucketed("nearest_twin_m", SPACING_BUCKETS, "metres", "unknown")}


def failure_picture(outcomes, cache, path, examples, seed=0):
    """Draw ``examples`` failures (seeded) as rows of query | right answer | twin ranked first."""
    from PIL import Image, ImageDraw
    failures = [o for o in outcomes if not o["correct"]]
    if not failures:
        return 0
    chosen = np.random.default_rng(seed).choice(len(failures), min(examples, len(failures)), replace=False)
    side, caption = 96, 14
    view_set = cache.get(side, ("full",))
    crops, views = view_set.crops["full"], view_set.views
    picture = Image.new("RGB", (3 * (side + 4), len(chosen) * (side + caption)), "white")
    draw = ImageDraw.Draw(picture)
    for row, k in enumerate(sorted(chosen)):
        failure, top = failures[k], row * (side + caption)
        for column, index in enumerate((failure["query"], failure["right"], failure["first"])):
            picture.paste(Image.fromarray(crops[index]), (column * (side + 4), top))
        view = views[failure["query"]]
        draw.text((2, top + side), f"{view.scene} f{view.frame}: right {failure['right_distance']:.3f}, "
                                   f"first {failure['first_distance']:.3f}", fill="black")
    with atomic_output(path, "wb") as handle:
        picture.save(handle, format="PNG")
    return len(chosen)


def markdown(method, data, summary):
    def table(title, key, entries):
        return ["", f"| {title} | twin queries | rank-1 |", "|---|---:|---:|"] + [
            f"| {e[key]} | {e['queries']} | {'-' if e['rank1'] is None else format(e['rank1'], '.3f')} |"
            for e in entries]
    lines = [f"# Twins: `{method}` on {data}", "",
             f"Twins rank-1 {summary['all']['rank1']:.3f} over {summary['all']['queries']} queries." if
             summary["all"]["queries"] else "No twin query."]
    lines += table("class", "class", summary["by_class"])
    lines += table("viewpoint change to the closest view of the same object (degrees)", "degrees", summary["by_angle"])
    lines += table("distance to the nearest twin (metres)", "metres", summary["by_spacing"])
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = ArgumentParser(prog="python -m benchmarks.twin_failures", description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", required=True, metavar="ROOT", help="dataset root(s) with scans/<scene>")
    parser.add_argument("--scenes", nargs="+", help="only these scenes (default: all under --data)")
    parser.add_argument("--method", default="default",
                        help="a benchmarks.reid row: default, a shipped head, colour-histogram, a pair A+B:W or "
                             "a --checkpoint NAME (default: default)")
    parser.add_argument("--checkpoint", action="append", type=parse_checkpoint, default=[], metavar="NAME=PATH")
    parser.add_argument("--trunk-weights", help="local trunk weights file (as benchmarks.reid)")
    parser.add_argument("--token-cache", metavar="FOLDER", help="frozen-trunk tokens shared with benchmarks.reid")
    parser.add_argument("--frame-step", type=positive_int, default=5)
    parser.add_argument("--episode-gap", type=positive_int, default=30)
    parser.add_argument("--min-side", type=positive_int, default=12)
    parser.add_argument("--examples", type=positive_int, default=16, help="failures drawn (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="which failures are drawn (default 0)")
    parser.add_argument("--out", required=True, help="output folder")
    args = parser.parse_args(argv)
    setup_logging(quiet=True)
    try:
        folders = scene_folders(args.data, args.scenes)
        if not folders:
            raise SceneError(f"no scenes under {' '.join(args.data)}")
        cache = ViewCache(folders, args.frame_step, args.episode_gap, args.min_side)
        features, view_set, _, _ = method_features(args.method, cache, dict(args.checkpoint),
                                                   trunk_weights=args.trunk_weights, token_cache=args.token_cache)
        outcomes = twin_failures(features, view_set, viewing_directions(view_set.views, folders),
                                 twin_spacing(view_set.views, folders))
        summary = summarise(outcomes, view_set)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        drawn = failure_picture(outcomes, cache, out / "twin_failures.png", args.examples, args.seed)
        views = view_set.views
        atomic_write_json(out / "results.json", {
            "method": args.method, "data": " ".join(args.data), "scenes": [f.name for f in folders],
            "frame_step": args.frame_step, "episode_gap": args.episode_gap, **summary,
            "failures": [dict(o, scene=views[o["query"]].scene,
                              **{f"{k}_frame": views[o[k]].frame for k in ("query", "right", "first")},
                              **{f"{k}_instance": views[o[k]].instance_id for k in ("query", "first")})
                         for o in outcomes if not o["correct"]]})
        text = markdown(args.method, " ".join(args.data), summary)
        atomic_write_text(out / "results.md", text)
    except Skip as error:
        fail(parser.prog, f"{args.method}: {error}")
    except (SceneError, OSError, ValueError) as error:
        fail(parser.prog, str(error))
    print(text, end="")
    print(f"-> {out / 'results.json'}, results.md" + (f", twin_failures.png ({drawn} failures)" if drawn else ""))


if __name__ == "__main__":
    sys.exit(main())
