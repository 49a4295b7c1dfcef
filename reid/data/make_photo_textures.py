"""Cut the photographic texture tiles of ``reid/data/photo_textures/`` from two wheels' images.

``python -m reid.data.make_photo_textures --robosuite-wheel W --skimage-wheel W --out DIR``

reads the source photographs straight out of the wheel files (``zipfile`` + ``cv2.imdecode``; neither
package is imported or installed), crops each tile of :data:`TILES`, resizes it to at most
:data:`TILE_SIDE` pixels square and writes it as ``DIR/<name>.jpg``, then writes ``DIR/LICENSE.md``,
which lists every tile with its source, licence and processing. The output depends only on the two
wheels (and the OpenCV build's JPEG encoder).

Sources, all permissively licensed:

* robosuite 1.5.2 (MIT): ``robosuite/models/assets/textures/*.png``, photographic material textures
  shipped in the package and covered by its MIT licence (copied into ``LICENSE.md``). Its product
  labels (``can``, ``cereal``, ``soda``) and food textures are not used.
* scikit-image 0.26.0: the sample photographs that ship inside the wheel (not the ones downloaded on
  demand) and whose docstrings in ``skimage/data/_fetchers.py`` release them under CC0 or into the
  public domain (:data:`SKIMAGE_TERMS`).
"""
import argparse
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

ROBOSUITE = "robosuite"
SKIMAGE = "scikit-image"
PACKAGE_VERSIONS = {ROBOSUITE: "1.5.2", SKIMAGE: "0.26.0"}
ROBOSUITE_TEXTURES = "robosuite/models/assets/textures/"
ROBOSUITE_LICENSE = "robosuite-1.5.2.dist-info/licenses/LICENSE"
SKIMAGE_DATA = "skimage/data/"
TILE_SIDE = 256
JPEG_QUALITY = 92

SKIMAGE_TERMS = {
    "brick.png": "CC0 1.0: 'Bricks25' from CC0Textures (cc0textures.com), perspective-corrected, "
                 "grey-levelled and cropped by scikit-image (skimage.data.brick)",
    "gravel.png": "CC0 1.0: 'Gravel04' from CC0Textures (cc0textures.com), cropped and grey-levelled by "
                  "scikit-image (skimage.data.gravel)",
    "grass.png": "CC0 1.0: 'Grass 01' by linolafett (DeviantArt), cropped and grey-levelled by scikit-image "
                 "(skimage.data.grass)",
    "coffee.png": "CC0 by the photographer (Rachel Michetti); photograph courtesy of Pikolo Espresso Bar "
                  "(skimage.data.coffee)",
    "chelsea.png": "CC0 by the photographer (Stefan van der Walt) (skimage.data.chelsea)",
    "astronaut.png": "Public domain: NASA Great Images database, 'No known copyright restrictions, released "
                     "into the public domain' (skimage.data.astronaut)",
}


@dataclass(frozen=True)
class Tile:
    """One texture tile: where it comes from and what surface it stands for.

    name : file stem in the tile folder; kind : one of ``reid.data.materials.TEXTURE_KINDS``;
    package : :data:`ROBOSUITE` or :data:`SKIMAGE`; source : the image's file name in that package's
    texture / data folder; box : crop (x, y, width, height) in source pixels, None for the largest
    centred square.
    """

    name: str
    kind: str
    package: str
    source: str
    box: Optional[tuple] = None

    @property
    def source_path(self):
        """The image's path inside its wheel."""
        return (ROBOSUITE_TEXTURES if self.package == ROBOSUITE else SKIMAGE_DATA) + self.source

    @property
    def reference(self):
        """``package version: path`` of the source photograph (tiles cut from one photograph share it)."""
        return f"{self.package} {PACKAGE_VERSIONS[self.package]}: {self.source_path}"


def _rs(name, kind, source=None, box=None):
    return Tile(name, kind, ROBOSUITE, (source or name) + ".png", box)


def _sk(name, kind, source, box=None):
    return Tile(name, kind, SKIMAGE, source, box)


TILES = (
    # walls: plaster and paint finishes
    _rs("cream-plaster", "wall"), _rs("light-gray-plaster", "wall"), _rs("yellow-plaster", "wall"),
    _rs("gray-plaster", "wall"), _rs("pink-plaster", "wall"), _rs("white-plaster", "wall"),
    # floors: wood floors, floor tiles, carpet-like
    _rs("wood-tiles", "floor"), _rs("light-wood-floor", "floor", "light-wood"),
    _rs("light-gray-floor-tile", "floor"), _rs("wood-varnished-panels", "floor"),
    _rs("dark-wood-planks", "floor", "dark-wood"), _sk("grass-carpet", "floor", "grass.png"),
    # furniture wood
    _rs("red-wood", "wood"), _rs("green-wood", "wood"), _rs("blue-wood", "wood"), _rs("gray-woodgrain", "wood"),
    _sk("coffee-table-a", "wood", "coffee.png", (476, 0, 124, 124)),
    _sk("coffee-table-b", "wood", "coffee.png", (476, 276, 124, 124)),
    # fabric: felt, fur, technical cloth
    _rs("gray-felt-a", "fabric", "gray-felt", (0, 0, 427, 427)),
    _rs("gray-felt-b", "fabric", "gray-felt", (427, 427, 427, 427)),
    _sk("chelsea-fur-a", "fabric", "chelsea.png", (5, 110, 125, 125)),
    _sk("chelsea-fur-b", "fabric", "chelsea.png", (190, 0, 82, 82)),
    _sk("astronaut-suit-a", "fabric", "astronaut.png", (52, 250, 90, 90)),
    _sk("astronaut-suit-b", "fabric", "astronaut.png", (50, 395, 80, 80)),
    # metal: brushed and scratched steel
    _rs("metal-a", "metal", "metal", (0, 0, 320, 320)), _rs("metal-b", "metal", "metal", (320, 320, 320, 320)),
    _rs("steel-scratched", "metal"),
    _rs("steel-brushed-a", "metal", "steel-brushed", (0, 0, 330, 330)),
    _rs("steel-brushed-b", "metal", "steel-brushed", (330, 330, 330, 330)),
    # stone: brick, gravel, clay, stone tiles
    _rs("white-bricks-a", "stone", "white-bricks", (0, 0, 550, 550)),
    _rs("white-bricks-b", "stone", "white-bricks", (550, 550, 550, 550)),
    _sk("gravel", "stone", "gravel.png"), _rs("clay", "stone"),
    _sk("brick-a", "stone", "brick.png", (0, 0, 256, 256)), _sk("brick-b", "stone", "brick.png", (256, 256, 256, 256)),
    _rs("brass-ambra", "stone"),
)
TILES_BY_NAME = {tile.name: tile for tile in TILES}


def read_wheel_image(wheel, path):
    """An image file inside a wheel (zip) as an HxWx3 uint8 RGB array (alpha dropped, grey expanded)."""
    with zipfile.ZipFile(wheel) as archive:
        data = np.frombuffer(archive.read(path), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{wheel}: cannot decode {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def crop_box(tile, shape):
    """The tile's crop (x, y, width, height) in an image of ``shape``: its box, or the centred square."""
    if tile.box is not None:
        return tile.box
    h, w = shape[:2]
    side = min(h, w)
    return ((w - side) // 2, (h - side) // 2, side, side)


def cut_tile(tile, image):
    """The tile's crop of ``image``, resized (pixel-area averaging) to at most ``TILE_SIDE`` square."""
    x, y, w, h = crop_box(tile, image.shape)
    if x < 0 or y < 0 or x + w > image.shape[1] or y + h > image.shape[0]:
        raise ValueError(f"{tile.name}: crop {tile.box} outside the {image.shape[1]}x{image.shape[0]} source")
    side = min(TILE_SIDE, w, h)
    return cv2.resize(image[y:y + h, x:x + w], (side, side), interpolation=cv2.INTER_AREA)


def processing_note(tile, image, side):
    """What was done to a source image to make the tile, in words."""
    x, y, w, h = crop_box(tile, image.shape)
    grey = " (grey-level source, kept grey)" if np.ptp(image.astype(np.int16), axis=2).max() == 0 else ""
    whole = "whole image" if (w, h) == image.shape[1::-1] else f"crop x={x} y={y} {w}x{h}"
    resized = f"resized to {side}x{side} (pixel-area averaging)" if side != w else "not resized"
    return f"{whole} of {image.shape[1]}x{image.shape[0]}{grey}; {resized}; JPEG quality {JPEG_QUALITY}"


def licence_text(robosuite_wheel):
    """robosuite's MIT licence, as shipped in its wheel."""
    with zipfile.ZipFile(robosuite_wheel) as archive:
        return archive.read(ROBOSUITE_LICENSE).decode("utf-8").strip()


def licence_markdown(rows, mit_text):
    """``LICENSE.md`` of the tile folder: the tile table, then the licences' texts."""
    lines = [
        "# Photographic texture tiles", "",
        "Cut by `python -m reid.data.make_photo_textures` from images that ship inside two Python wheels,",
        "both under permissive terms. Every tile is listed below with its source photograph, licence and",
        "processing; tiles cut from one photograph name the same source.", "",
        "| tile | kind | source package | original file | licence | processing |",
        "|---|---|---|---|---|---|",
    ]
    for tile, note in rows:
        terms = "MIT (robosuite, below)" if tile.package == ROBOSUITE else SKIMAGE_TERMS[tile.source]
        lines.append(f"| {tile.name}.jpg | {tile.kind} | {tile.package} {PACKAGE_VERSIONS[tile.package]} "
                     f"| {tile.source_path} | {terms} | {note} |")
    lines += [
        "", "## robosuite 1.5.2: MIT licence", "",
        "The robosuite tiles are crops / resizes of `robosuite/models/assets/textures/*.png` from",
        "`robosuite-1.5.2-py3-none-any.whl`, distributed under the package's licence:", "",
        "```", mit_text, "```", "",
        "## scikit-image 0.26.0: CC0 / public domain", "",
        "The scikit-image tiles are crops / resizes of sample images in `skimage/data/` of the",
        "`scikit_image-0.26.0` wheel. The documentation of each image (`skimage/data/_fetchers.py`)",
        "states its terms, quoted in the table: released under the Creative Commons CC0 1.0 Universal",
        "Public Domain Dedication (https://creativecommons.org/publicdomain/zero/1.0/) or into the public",
        "domain, with no copyright restrictions. scikit-image itself is BSD-3-Clause licensed.", "",
    ]
    return "\n".join(lines)


def make_photo_textures(robosuite_wheel, skimage_wheel, out):
    """Write every tile of :data:`TILES` and ``LICENSE.md`` into ``out``; returns the tile paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    wheels = {ROBOSUITE: robosuite_wheel, SKIMAGE: skimage_wheel}
    sources, rows, paths = {}, [], []
    for tile in TILES:
        key = (tile.package, tile.source_path)
        if key not in sources:
            sources[key] = read_wheel_image(wheels[tile.package], tile.source_path)
        image = cut_tile(tile, sources[key])
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError(f"cannot encode {tile.name}")
        path = out / f"{tile.name}.jpg"
        path.write_bytes(data.tobytes())
        paths.append(path)
        rows.append((tile, processing_note(tile, sources[key], image.shape[0])))
    (out / "LICENSE.md").write_text(licence_markdown(rows, licence_text(robosuite_wheel)), encoding="utf-8")
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robosuite-wheel", required=True, help="robosuite-1.5.2-py3-none-any.whl")
    parser.add_argument("--skimage-wheel", required=True, help="scikit_image-0.26.0-*.whl")
    parser.add_argument("--out", default=str(Path(__file__).parent / "photo_textures"), help="tile folder")
    args = parser.parse_args(argv)
    paths = make_photo_textures(args.robosuite_wheel, args.skimage_wheel, args.out)
    total = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} tiles, {total / 1e6:.2f} MB, in {args.out}")


if __name__ == "__main__":
    main()
