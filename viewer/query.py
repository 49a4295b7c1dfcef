"""Where did I see it? Ask a saved gallery about the object in a photo.

``python -m viewer.query GALLERY --image PHOTO [--box x,y,w,h] [--mask PNG] [--top K] [--class NAME] [--json]``

Embeds the object in the photo (inside ``--box``, default the whole image; ``--mask``: a PNG of the
photo's size, non-zero on the object) with the embedding model that filled the gallery (recorded in
it; ``--reid`` to give it when the gallery's file moved), and prints the ``K`` closest identities:
ID, cosine distance, class, the frames where each was seen (ScanNet frame indices, inclusive ranges;
for a gallery continued over several runs, ``--gallery``, each range says which visit, as each run
numbers its frames from its own 0) and its world position (metres; unknown without depth and pose). ``--json`` prints the same as one
JSON object.

Bad input is one line on stderr and exit code 2: an unreadable photo or mask, a box outside the
photo, an empty gallery, a gallery file that is not one (or of another format version), a gallery
filled by another model than ``--reid``.
"""
import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from reid.cli import ArgumentParser, fail, positive_int, setup_logging
from reid.data.nyu40 import NYU40_IDS, class_name

from tracker.gallery import EmbeddingModelId, GalleryFileError, LongTermGallery

PROG = "python -m viewer.query"


class QueryInputError(ValueError):
    """A photo, box or mask that cannot be queried; the message says which and why."""


def parse_box(text):
    """``"x,y,w,h"`` (pixels, numbers) -> ``(x, y, w, h)`` floats; an argparse error otherwise."""
    try:
        box = tuple(float(part) for part in str(text).split(","))
    except ValueError:
        box = ()
    if len(box) != 4 or not np.isfinite(box).all():
        raise argparse.ArgumentTypeError(f"box {text!r} is not x,y,w,h (four numbers, pixels)")
    if box[2] <= 0 or box[3] <= 0:
        raise argparse.ArgumentTypeError(f"box {text!r} must have a positive width and height")
    return box


def parse_class(text):
    """An NYU40 class name (``chair``) or id (``5``) -> its id; an argparse error otherwise."""
    if text.isdigit():
        return int(text)
    if text not in NYU40_IDS:
        raise argparse.ArgumentTypeError(f"unknown class {text!r}; NYU40 names such as "
                                         f"{', '.join(sorted(NYU40_IDS)[:4])}, ...")
    return NYU40_IDS[text]


@dataclass
class QueryObject:
    """The object to look for: a photo, its box and, optionally, its mask.

    Attributes
    ----------
    rgb : ndarray, HxWx3 uint8
    box : tuple of float
        ``(x, y, w, h)`` pixels, overlapping the photo (parts outside are clipped when cropping).
    mask : ndarray, HxW bool, or None
    """

    rgb: np.ndarray
    box: tuple
    mask: np.ndarray = None

    @classmethod
    def read(cls, photo, box=None, mask=None):
        """Read the photo (and mask) and check the box against them.

        Parameters
        ----------
        photo : str or Path
        box : (x, y, w, h), optional
            Default: the whole photo.
        mask : str or Path, optional
            Image of the photo's size, non-zero on the object.

        Raises
        ------
        QueryInputError
            An unreadable photo or mask, a mask of another size or empty in the box, a box outside
            the photo.
        """
        rgb = read_image(photo, "photo", cv2.IMREAD_COLOR)
        rgb = cv2.cvtColor(rgb, cv2.COLOR_BGR2RGB)
        height, width = rgb.shape[:2]
        if box is None:
            box = (0.0, 0.0, float(width), float(height))
        x, y, w, h = box
        if min(x + w, width) <= max(x, 0) or min(y + h, height) <= max(y, 0):
            raise QueryInputError(f"box {format_box(box)} lies outside the {width}x{height} photo {photo}")
        object_mask = None
        if mask is not None:
            object_mask = read_image(mask, "mask", cv2.IMREAD_GRAYSCALE) > 0
            if object_mask.shape != (height, width):
                raise QueryInputError(f"{mask}: mask is {object_mask.shape[1]}x{object_mask.shape[0]}, "
                                      f"the photo {width}x{height}")
            x0, y0 = max(int(np.floor(x)), 0), max(int(np.floor(y)), 0)
            if not object_mask[y0:int(np.ceil(y + h)), x0:int(np.ceil(x + w))].any():
                raise QueryInputError(f"{mask}: mask is empty inside the box {format_box(box)}")
        return cls(rgb, tuple(float(v) for v in box), object_mask)


def read_image(path, what, flags):
    """An image file as a numpy array; a QueryInputError naming the file when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise QueryInputError(f"{path}: {what} not found")
    image = cv2.imread(str(path), flags)
    if image is None:
        raise QueryInputError(f"{path}: cannot read the {what} (not an image file OpenCV decodes)")
    return image


def format_box(box):
    return ",".join(f"{v:g}" for v in box)


def format_frames(ranges):
    """``[FrameRange(1, 12, 40), FrameRange(1, 97, 97)]`` -> ``"12-40, 97"``; with several visits each
    says which: ``"visit 1: 12-40; visit 2: 3-9"``."""
    visits = list(dict.fromkeys(r.visit for r in ranges))
    if len(visits) <= 1:
        return ", ".join(str(r) for r in ranges)
    return "; ".join(f"visit {visit}: " + ", ".join(str(r) for r in ranges if r.visit == visit) for visit in visits)


def format_position(position):
    if position is None:
        return "position unknown"
    return "at ({:.2f}, {:.2f}, {:.2f}) m".format(*position)


def load_gallery(path):
    """The gallery at ``path``, refusing an empty one (a QueryInputError)."""
    gallery = LongTermGallery.load(path)
    if not len(gallery) or not gallery.feature_dim:
        raise QueryInputError(f"{path}: the gallery holds no identities to search (nothing was tracked into it)")
    return gallery


def open_embedder(gallery, gallery_path, spec=None, device=None):
    """The embedding model to query ``gallery`` with: ``spec`` (``--reid``), else the model recorded
    in the gallery (``default`` for an older file, with a warning); refused when it is not the model
    that filled the gallery (:class:`tracker.gallery.GalleryModelError`)."""
    from reid.checkpoint import CheckpointNotFoundError
    from reid.embedder import Embedder
    recorded = spec is None and gallery.model is not None
    if spec is None:
        spec = gallery.model.name if recorded else "default"
    try:
        embedder = Embedder.from_spec(spec, device=device)
    except CheckpointNotFoundError as error:
        if recorded:
            raise CheckpointNotFoundError(f"{error} (the model that filled {gallery_path}); "
                                          f"give its new place with --reid") from error
        raise
    gallery.check_model(EmbeddingModelId.of(embedder), gallery_path)
    return embedder


def result_record(rank, result):
    """One identity found, as a JSON-ready dict."""
    position = result.world_position
    return {"rank": rank, "id": result.track_id, "distance": round(result.distance, 6), "class_id": result.label,
            "class": class_name(result.label),
            "frames": [{"visit": r.visit, "first": r.first, "last": r.last} for r in result.frames],
            "n_observations": result.n_observations,
            "world_position": None if position is None else [round(float(v), 4) for v in position]}


def result_line(rank, result):
    """One identity found, as a printed line."""
    return (f"{rank:2d}. ID {result.track_id:<4d} {class_name(result.label):<14s} distance {result.distance:.3f}  "
            f"seen in {result.n_observations} frames: {format_frames(result.frames)}  "
            f"{format_position(result.world_position)}")


def main(argv=None):
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("gallery", help="a saved gallery (OUT/SCENE.gallery.npz from python -m tracker.run)")
    parser.add_argument("--image", required=True, help="photo of the object")
    parser.add_argument("--box", type=parse_box, help="the object's box in the photo, x,y,w,h pixels "
                                                      "(default: the whole photo)")
    parser.add_argument("--mask", help="PNG of the photo's size, non-zero on the object (optional)")
    parser.add_argument("--top", type=positive_int, default=5, help="how many identities to print (default 5)")
    parser.add_argument("--class", dest="label", type=parse_class,
                        help="only identities of this NYU40 class (name or id)")
    parser.add_argument("--reid", help="the embedding model (as tracker.run --reid); default: the one that "
                                       "filled the gallery, as recorded in it")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    args = parser.parse_args(argv)
    setup_logging(quiet=True)
    from reid.checkpoint import CheckpointError
    from reid.model import WeightsError
    try:
        gallery = load_gallery(args.gallery)
        target = QueryObject.read(args.image, args.box, args.mask)
        embedder = open_embedder(gallery, args.gallery, args.reid, args.device)
        masks = None if target.mask is None else target.mask[None]
        feature = embedder.embed(target.rgb, [target.box], masks)[0]
    except (QueryInputError, GalleryFileError, CheckpointError, WeightsError, OSError, ValueError,
            ImportError) as error:
        fail(PROG, str(error))
    results = gallery.query(feature, label=args.label, k=args.top)
    if args.json:
        print(json.dumps({"gallery": str(args.gallery), "model": gallery.model.name, "photo": str(args.image),
                          "box": list(target.box), "identities": len(gallery),
                          "results": [result_record(rank, r) for rank, r in enumerate(results, 1)]}, indent=1))
        return
    print(f"{len(results)} closest of {len(gallery)} identities in {args.gallery} "
          f"(model {gallery.model}) to the object in {args.image} (box {format_box(target.box)}):")
    for rank, result in enumerate(results, 1):
        print(result_line(rank, result))
    if not results:
        print("  none" + (f" of class {class_name(args.label)}" if args.label is not None else ""))


if __name__ == "__main__":
    sys.exit(main())
