"""Nearest neighbours of the re-ID embedding on real photographs: a picture to look at, not a score.

``python -m benchmarks.real_neighbours --images DIR --boxes BOXES.json --out OUT.png
[--reid default|CHECKPOINT|variant:NAME] [--top 4] [--device cpu|cuda]``

Every box listed in BOXES.json is cut from its image under DIR and embedded box-only (no mask) by the
re-ID model. For each box (the query) the figure gets one row: the query crop, then its ``--top``
nearest crops *from other images* with their cosine distance (1 - cosine similarity of the unit
embeddings). When the boxes carry an ``object`` label, each neighbour is marked as the same object
(green) or another one (red), and the ranks of the query's own object among all the crops of the other
images are printed. The labels only caption the figure and the printout; the neighbours are found from
the embeddings alone.

BOXES.json: ``{"boxes": [{"image": "NAME.jpg", "box": [x, y, w, h], "object": "LABEL"}, ...]}`` (or the
bare list), ``image`` relative to DIR, ``box`` tlwh in the image's own pixels and inside it, ``object``
optional. ``benchmarks/real_neighbours_boxes.json`` lists boxes on the ScanNet and TUM sample frames of
``magicleap/SuperGluePretrainedNetwork`` (``assets/``); see docs/real-images.md. The figure is written
atomically (a temporary file renamed over OUT.png).
"""
from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np

from reid.cli import REID_SPEC_HELP, ArgumentParser, fail, positive_int, setup_logging

PROG = "python -m benchmarks.real_neighbours"
THUMBNAIL = 160
"""Longest side, in pixels, of the crops drawn in the figure (the model reads its own crops)."""


class BoxesError(ValueError):
    """A boxes file, image or box the command cannot use; the message is one line naming it."""


# ---------------------------------------------------------------- inputs
def load_boxes(path):
    """The entries of a boxes file: a list of ``{"image": str, "box": [x, y, w, h], "object": str | None}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BoxesError(f"boxes file {path} not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BoxesError(f"cannot read boxes file {path}: {error}") from None
    except json.JSONDecodeError as error:
        raise BoxesError(f"boxes file {path} is not JSON: {error}") from None
    entries = data.get("boxes") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise BoxesError(f"boxes file {path}: expected a list of boxes or {{\"boxes\": [...]}}")
    boxes = []
    for i, entry in enumerate(entries):
        where = f"boxes file {path}, box {i}"
        if not isinstance(entry, dict):
            raise BoxesError(f"{where}: expected an object with 'image' and 'box', got {entry!r}")
        image, box, label = entry.get("image"), entry.get("box"), entry.get("object")
        if not isinstance(image, str) or not image:
            raise BoxesError(f"{where}: 'image' must be a file name, got {image!r}")
        if (not isinstance(box, list) or len(box) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in box)):
            raise BoxesError(f"{where} ({image}): 'box' must be four numbers [x, y, w, h], got {box!r}")
        if box[2] <= 0 or box[3] <= 0:
            raise BoxesError(f"{where} ({image}): box {box} has zero area")
        if label is not None and not isinstance(label, str):
            raise BoxesError(f"{where} ({image}): 'object' must be a string, got {label!r}")
        boxes.append({"image": image, "box": [float(v) for v in box], "object": label or None})
    if len({entry["image"] for entry in boxes}) < 2:
        raise BoxesError(f"boxes file {path}: the boxes must come from at least two images (neighbours are "
                         f"taken from other images only)")
    return boxes


def read_images(folder, names):
    """``{name: HxWx3 uint8 RGB}`` for every name, read from ``folder``."""
    import cv2
    folder = Path(folder)
    if not folder.is_dir():
        raise BoxesError(f"image folder {folder} not found")
    images = {}
    for name in dict.fromkeys(names):
        path = folder / name
        if not path.is_file():
            raise BoxesError(f"image {name} not found in {folder} (image names are relative to --images)")
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise BoxesError(f"cannot read image {path} (not an image file OpenCV reads)")
        images[name] = np.ascontiguousarray(bgr[:, :, ::-1])
    return images


def check_boxes_inside(entries, images):
    """A BoxesError naming the first box that does not lie inside its image."""
    for i, entry in enumerate(entries):
        height, width = images[entry["image"]].shape[:2]
        x, y, w, h = entry["box"]
        if x < 0 or y < 0 or x + w > width or y + h > height:
            label = f" ({entry['object']})" if entry["object"] else ""
            raise BoxesError(f"box {i}{label} {[round(v, 1) for v in entry['box']]} lies outside its image "
                             f"{entry['image']} ({width}x{height})")


# ---------------------------------------------------------------- embedding and neighbours
def embed_entries(embedder, entries, images):
    """(N, D) unit rows, one per entry, each image embedded once, box-only (no masks)."""
    features = np.empty((len(entries), embedder.dim), dtype=np.float32)
    for name in dict.fromkeys(entry["image"] for entry in entries):
        rows = [i for i, entry in enumerate(entries) if entry["image"] == name]
        boxes = np.array([entries[i]["box"] for i in rows], dtype=np.float64)
        features[rows] = embedder.embed(images[name], boxes, None)
    return features


def neighbour_table(features, images, labels=None):
    """Per query ``i``: ``{"order": [(j, distance), ...], "same": [rank, ...] or None}``.

    ``order`` holds every crop ``j`` from an image other than ``images[i]``, nearest first (cosine distance
    ``1 - f_i . f_j`` on unit rows; ties by index). ``same`` holds the 1-based ranks in ``order`` of the crops
    whose label equals the query's (None when the query is unlabelled). Labels never change ``order``.
    """
    features = np.asarray(features, dtype=np.float64)
    distances = np.clip(1.0 - features @ features.T, 0.0, 2.0)  # rounding: no -0.000 for identical crops
    labels = list(labels) if labels is not None else [None] * len(features)
    table = []
    for i in range(len(features)):
        others = np.array([j for j in range(len(features)) if images[j] != images[i]], dtype=np.int64)
        ranked = others[np.argsort(distances[i, others], kind="stable")] if len(others) else others
        order = [(int(j), float(distances[i, j])) for j in ranked]
        same = None
        if labels[i] is not None:
            same = [rank for rank, (j, _) in enumerate(order, start=1) if labels[j] == labels[i]]
        table.append({"order": order, "same": same})
    return table


def describe(i, entries, row):
    """One printed line per query: its own object's ranks and its nearest crop."""
    entry = entries[i]
    head = f"query {i:2d}: {entry['object'] or 'box ' + str(i)} in {entry['image']}"
    if not row["order"]:
        return f"{head}: no crops in other images"
    j, distance = row["order"][0]
    nearest = entries[j]["object"] or f"box {j}"
    tail = f"nearest {nearest} in {entries[j]['image']} (d={distance:.3f})"
    if row["same"] is None:
        return f"{head}: {tail}"
    if not row["same"]:
        return f"{head}: no other view of this object; {tail}"
    return (f"{head}: same object at rank {', '.join(map(str, row['same']))} of {len(row['order'])}; {tail}")


# ---------------------------------------------------------------- figure
def thumbnail(rgb, box):
    """The box region of ``rgb``, its longest side scaled to at most :data:`THUMBNAIL` pixels."""
    import cv2
    height, width = rgb.shape[:2]
    x, y, w, h = box
    x0, y0 = max(0, int(math.floor(x))), max(0, int(math.floor(y)))
    x1, y1 = min(width, max(x0 + 1, int(math.ceil(x + w)))), min(height, max(y0 + 1, int(math.ceil(y + h))))
    crop = rgb[y0:y1, x0:x1]
    scale = THUMBNAIL / max(crop.shape[:2])
    if scale < 1:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(np.ascontiguousarray(crop), size, interpolation=cv2.INTER_AREA)
    return crop


def short(name, limit=26):
    stem = Path(name).stem
    return stem if len(stem) <= limit else "..." + stem[-(limit - 3):]


def neighbours_figure(entries, images, table, top, title):
    """One row per query: the query crop, then its ``top`` nearest crops from other images."""
    from benchmarks.plots import pyplot
    plt = pyplot()
    columns = top + 1
    figure, axes = plt.subplots(len(entries), columns, figsize=(1.9 * columns, 2.25 * len(entries)),
                                squeeze=False)
    crops = [thumbnail(images[e["image"]], e["box"]) for e in entries]
    for i, (entry, row) in enumerate(zip(entries, table)):
        cells = [(i, None, None)] + [(j, rank, d) for rank, (j, d) in enumerate(row["order"][:top], start=1)]
        for column in range(columns):
            axis = axes[i, column]
            axis.set_xticks([])
            axis.set_yticks([])
            if column >= len(cells):
                axis.axis("off")
                continue
            j, rank, distance = cells[column]
            axis.imshow(crops[j])
            label = entries[j]["object"]
            if rank is None:
                colour, width = "black", 3.0
                text = f"query {i}\n{short(entry['image'])}\n{label or ''}"
                if row["same"]:
                    text += f"\nown object at rank {','.join(map(str, row['same']))}"
            else:
                if entry["object"] is None or label is None:
                    colour, verdict = "grey", ""
                elif label == entry["object"]:
                    colour, verdict = "green", "SAME object"
                else:
                    colour, verdict = "red", f"other: {label}"
                width = 3.0 if colour != "grey" else 1.0
                text = f"#{rank}  d={distance:.3f}\n{short(entries[j]['image'])}\n{verdict}"
            axis.set_title(text, fontsize=7, color=colour if colour != "grey" else "black")
            for spine in axis.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(width)
    figure.tight_layout()
    # above the axes: the PNG is saved with bbox_inches="tight", which takes the title in
    figure.suptitle(textwrap.fill(title, 20 * columns), fontsize=9, y=1.0, va="bottom")
    return figure


# ---------------------------------------------------------------- command
def main(argv=None):
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--images", required=True, metavar="DIR", help="folder the boxes' image names are relative to")
    parser.add_argument("--boxes", required=True, metavar="BOXES.json",
                        help="the boxes: {\"boxes\": [{\"image\": NAME, \"box\": [x, y, w, h], \"object\": LABEL}]}")
    parser.add_argument("--out", required=True, metavar="OUT.png", help="the figure (PNG)")
    parser.add_argument("--reid", default="default",
                        help="re-ID model: " + REID_SPEC_HELP)
    parser.add_argument("--top", type=positive_int, default=4, help="neighbours drawn per query (default 4)")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    args = parser.parse_args(argv)
    if Path(args.out).suffix.lower() != ".png":
        parser.error(f"--out {args.out} must name a .png file")
    from benchmarks.plots import require_matplotlib
    require_matplotlib(PROG)
    setup_logging(quiet=True)
    try:
        entries = load_boxes(args.boxes)
        images = read_images(args.images, [entry["image"] for entry in entries])
        check_boxes_inside(entries, images)
    except BoxesError as error:
        fail(PROG, str(error))
    from reid.checkpoint import CheckpointError  # torch: only once the inputs are known to be good
    from reid.embedder import Embedder
    from reid.model import WeightsError
    try:
        embedder = Embedder.from_spec(args.reid, device=args.device)
        features = embed_entries(embedder, entries, images)
    except (CheckpointError, WeightsError, OSError, ValueError, ImportError, RuntimeError) as error:
        fail(PROG, str(error))
    kind = embedder.config.variant if hasattr(embedder, "config") else "ensemble"
    table = neighbour_table(features, [e["image"] for e in entries], [e["object"] for e in entries])
    print(f"{len(entries)} boxes in {len(images)} images, model {args.reid} "
          f"({kind}, {embedder.dim}-d, box-only); neighbours from other images only")
    for i, row in enumerate(table):
        print(describe(i, entries, row))
    found = [row["same"] for row in table if row["same"]]
    if found:
        print(f"{sum(ranks[0] == 1 for ranks in found)} of {len(found)} queries with another view of their object "
              f"have it as the nearest crop")
    title = (f"{args.reid} re-ID model, box-only, on {len(images)} images: each row a query, then its {args.top} "
             f"nearest crops from other images (cosine distance; green: same object, red: another)")
    from benchmarks.plots import save_figure
    try:
        save_figure(neighbours_figure(entries, images, table, args.top, title), args.out, dpi=100)
    except OSError as error:
        fail(PROG, f"cannot write {args.out}: {error}")
    print(f"figure -> {args.out}")


if __name__ == "__main__":
    main()
