"""Object report: one self-contained HTML page of what a tracker run found in a scene.

``python -m viewer.report OUT/SCENE [--root ROOT] [--out REPORT.html] [--return-gap N] [--thumbnails K]``

Reads what ``python -m tracker.run SCENE --out OUT`` wrote (``OUT/SCENE.txt``, the MOT lines;
``OUT/SCENE.gallery.npz``, the long-term gallery; ``OUT/SCENE.summary.json``, which names the scene
folder) and the scene's colour frames and poses, and writes one HTML page (default
``OUT/SCENE.report.html``) with one row per identity of the MOT file:

- its ID (in its colour, that of the ``--video`` mp4 and the rerun recording) and class;
- up to ``K`` (default 6) thumbnails cut from the colour frames at its tracked boxes, spread over the
  times it was seen;
- a timeline bar over the scene's frames showing where it was seen (ScanNet frame indices);
- how often it came back: the gaps of more than ``N`` frames (default 30) out of view between two
  sightings;
- its world position (the gallery's, metres).

At the top, a top-down map (world x-y plane, inline SVG) of the identities and the camera path; a
run without depth or poses gets a line saying there is no map. The page needs no network when
viewed: images are inline base64 JPEGs, the CSS is inline and there is no script. It is written
atomically.

Bad input is one line on stderr and exit code 2: a missing or unreadable tracks file, gallery or
summary, a scene that cannot be found, or tracked frames that the scene has no colour image for.
"""
import base64
import html
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

import cv2
import numpy as np

from reid.cli import ArgumentParser, fail, positive_int, setup_logging
from reid.data.nyu40 import class_name
from reid.data.scannet import FrameError, SceneError, ScanNetScene, read_color
from reid.fileio import atomic_write_text

from reid.data.scannet import read_pose

from tracker.draw import track_colour_rgb
from tracker.gallery import GalleryFileError, LongTermGallery
from tracker.io import read_mot

log = logging.getLogger("tracker")

PROG = "python -m viewer.report"

DEFAULT_RETURN_GAP = 30
"""Frames out of view after which seeing an identity again counts as a return: more than this many
frames between two sightings (the default of ``reid.dataset.collect_views``' episode gap, which starts a
new episode one frame earlier: at a frame index difference of 30)."""

DEFAULT_THUMBNAILS = 6
THUMBNAIL_HEIGHT = 56
THUMBNAIL_MAX_WIDTH = 72
THUMBNAIL_MARGIN = 0.08
"""Context added around a box on each side when cutting its thumbnail, as a fraction of its size."""
SLIVER_FRACTION = 0.25
"""A seen range whose largest box is under this fraction of the identity's largest one gets no
thumbnail of its own (the object is cut off at the image border there)."""
JPEG_QUALITY = 82

MAX_PATH_POINTS = 1500
"""Camera poses read for the map's camera path at most (evenly spaced over the scene's frames)."""
MAP_MAX_WIDTH, MAP_MAX_HEIGHT, MAP_MARGIN = 640, 520, 36


class ReportInputError(ValueError):
    """Run outputs or a scene that cannot be reported; the message names the file and says why."""


# ---------------------------------------------------------------------------------------- reading
@dataclass
class RunOutputs:
    """What one ``python -m tracker.run`` wrote for a scene.

    Attributes
    ----------
    prefix : Path
        ``OUT/SCENE``: the files are ``prefix`` + ``.txt``, ``.gallery.npz``, ``.summary.json``.
    mot : ndarray, N x 10
        The MOT lines (``frame,id,x,y,w,h,score,-1,-1,-1``, frame = ScanNet index + 1).
    gallery : LongTermGallery
    summary : dict or None
        The summary file, when there is one.
    """

    prefix: Path
    mot: np.ndarray
    gallery: LongTermGallery
    summary: Optional[dict]

    @property
    def scene_name(self):
        return self.prefix.name

    @property
    def mot_path(self):
        return output_path(self.prefix, ".txt")


def output_path(prefix, suffix):
    """``OUT/SCENE`` + ``suffix`` (the scene name may hold dots, so no ``with_suffix``)."""
    return prefix.with_name(prefix.name + suffix)


def run_prefix(text):
    """``OUT/SCENE`` from the command line, also accepted as ``OUT/SCENE.txt``."""
    prefix = Path(text)
    return prefix.with_name(prefix.name[:-len(".txt")]) if prefix.name.endswith(".txt") else prefix


def read_run(prefix):
    """Read the tracks, gallery and (when present) summary written for ``OUT/SCENE``.

    Raises
    ------
    ReportInputError
        A missing or unreadable tracks file or gallery, an unreadable summary.
    """
    prefix = Path(prefix)
    mot_path = output_path(prefix, ".txt")
    if not mot_path.is_file():
        raise ReportInputError(f"{mot_path}: no tracks file (python -m tracker.run SCENE --out OUT writes "
                               f"OUT/SCENE.txt; give OUT/SCENE)")
    try:
        mot = read_mot(mot_path)
    except ValueError as error:
        raise ReportInputError(f"{mot_path}: not MOTChallenge lines frame,id,x,y,w,h,score,-1,-1,-1 ({error})") \
            from None
    gallery_path = output_path(prefix, ".gallery.npz")
    try:
        gallery = LongTermGallery.load(gallery_path)
    except (FileNotFoundError, GalleryFileError) as error:
        raise ReportInputError(str(error)) from None
    return RunOutputs(prefix, mot, gallery, read_summary(output_path(prefix, ".summary.json")))


def read_summary(path):
    """The run's summary dict, or None when the file does not exist."""
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ReportInputError(f"{path}: unreadable summary ({error})") from None
    if not isinstance(summary, dict):
        raise ReportInputError(f"{path}: unreadable summary (not a JSON object)")
    return summary


def open_scene(run, root=None):
    """The scene the run tracked: ``SCENE`` under ``root`` when given, else the folder the summary names.

    Raises
    ------
    ReportInputError
        No root given and none recorded; the scene folder not found or without colour frames.
    """
    try:
        if root is not None:
            return ScanNetScene.open(run.scene_name, root)
        recorded = (run.summary or {}).get("scene_path")
        if not recorded:
            where = output_path(run.prefix, ".summary.json")
            raise ReportInputError(f"{where}: names no scene folder (missing, or written by an older "
                                   f"tracker.run); give the dataset with --root ROOT")
        return ScanNetScene(recorded)
    except SceneError as error:
        hint = "" if root is not None else " (give the dataset with --root ROOT)"
        raise ReportInputError(f"{error}{hint}") from None


def check_frames_exist(run, scene):
    """Raise :class:`ReportInputError` when tracked frames have no colour image in ``scene``."""
    tracked = np.unique(run.mot[:, 0].astype(np.int64) - 1)
    missing = tracked[~np.isin(tracked, scene.frame_ids)]
    if len(missing):
        shown = ", ".join(str(i) for i in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise ReportInputError(f"{scene.path / 'color'}: no colour image for {len(missing)} tracked frame"
                               f"{'s' * (len(missing) != 1)} of {run.mot_path} ({shown}); another scene, or "
                               f"frames deleted?")


# ------------------------------------------------------------------------------------ identities
@dataclass
class Thumbnail:
    """One crop of an identity: the frame it was cut from, the JPEG as a ``data:`` URI, its size."""

    frame_index: int
    data_uri: str
    width: int
    height: int

    @classmethod
    def of(cls, frame_index, crop):
        """The thumbnail of a crop (RGB) cut from frame ``frame_index``."""
        image = thumbnail_image(crop)
        return cls(frame_index, jpeg_data_uri(image), image.shape[1], image.shape[0])


@dataclass
class IdentityReport:
    """One row of the report.

    Attributes
    ----------
    track_id : int
    label : int or None
        NYU40 class from the gallery (None when the gallery does not hold the identity).
    frames : ndarray (S,) int
        ScanNet frame indices of its sightings (MOT lines), ascending.
    boxes : ndarray (S, 4) float
        Its ``tlwh`` box in each of them.
    ranges : list of (int, int)
        Inclusive frame ranges where it was seen.
    returns : int
        Times it came back after more than the return gap out of view.
    world_position : ndarray (3,) or None
    thumbnails : list of Thumbnail
    """

    track_id: int
    label: Optional[int]
    frames: np.ndarray
    boxes: np.ndarray
    ranges: List[Tuple[int, int]]
    returns: int
    world_position: Optional[np.ndarray]
    thumbnails: List[Thumbnail] = field(default_factory=list)

    @property
    def class_name(self):
        return class_name(self.label) if self.label is not None else "class unknown"


def sightings_by_identity(mot):
    """MOT rows -> dict ID -> (frame indices ascending, tlwh boxes), frame index = MOT frame - 1."""
    sightings = {}
    for track_id in np.unique(mot[:, 1].astype(np.int64)).tolist():
        rows = mot[mot[:, 1].astype(np.int64) == track_id]
        rows = rows[np.argsort(rows[:, 0], kind="stable")]
        sightings[track_id] = (rows[:, 0].astype(np.int64) - 1, rows[:, 2:6].astype(np.float64))
    return sightings


def tracked_frame_step(mot):
    """The run's frame step: the smallest difference between two tracked frames (1 without
    ``--frame-step``); sightings this far apart belong to one seen range."""
    frames = np.unique(mot[:, 0].astype(np.int64))
    return int(np.diff(frames).min()) if len(frames) > 1 else 1


def seen_ranges(frames, step=1):
    """Inclusive ranges ``[(first, last), ...]`` of ascending frame indices, sightings at most
    ``step`` frames apart joined."""
    if not len(frames):
        return []
    breaks = np.flatnonzero(np.diff(frames) > step)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(frames) - 1]])
    return [(int(frames[s]), int(frames[e])) for s, e in zip(starts, ends)]


def count_returns(frames, return_gap=DEFAULT_RETURN_GAP):
    """Times an identity came back: gaps of more than ``return_gap`` frames out of view between two
    consecutive sightings (ascending frame indices)."""
    return int((np.diff(frames) - 1 > return_gap).sum())


def largest_in(areas, start, stop):
    """Index of the largest box among sightings ``start`` to ``stop`` - 1 (the first when tied)."""
    return int(start + np.argmax(areas[start:stop]))


def thumbnail_choices(frames, areas, ranges, count, small=SLIVER_FRACTION):
    """Indices into ``frames`` of at most ``count`` sightings to show, in time order.

    Parameters
    ----------
    frames : ndarray (S,) int
        Frame indices of the sightings, ascending.
    areas : ndarray (S,)
        Box area of each sighting.
    ranges : list of (int, int)
        The seen ranges (:func:`seen_ranges`).
    count : int
    small : float
        A range whose largest box is under this fraction of the identity's largest box (the object
        cut off at the image border) gets no place of its own.

    Returns
    -------
    list of int
        First the largest box of every seen range (so that each return shows), ranges spread evenly
        when there are more than ``count``; then the largest box of each of ``count`` equal stretches
        of the sightings, until ``count`` are chosen.
    """
    if count <= 0 or not len(frames):
        return []
    bounds = [(int(np.searchsorted(frames, first)), int(np.searchsorted(frames, last, side="right")))
              for first, last in ranges]
    per_range = [largest_in(areas, start, stop) for start, stop in bounds]
    per_range = [index for index in per_range if areas[index] >= small * areas.max()]
    if len(per_range) > count:
        per_range = [per_range[i] for i in np.linspace(0, len(per_range) - 1, count).round().astype(int)]
    chosen = set(per_range)
    for stretch in np.array_split(np.arange(len(frames)), min(count, len(frames))):
        if len(chosen) >= count:
            break
        if not chosen.intersection(stretch.tolist()):
            chosen.add(largest_in(areas, stretch[0], stretch[-1] + 1))
    return sorted(chosen)


def build_identities(run, return_gap=DEFAULT_RETURN_GAP):
    """One :class:`IdentityReport` per ID of the MOT file (thumbnails not yet cut), by ID."""
    step = tracked_frame_step(run.mot)
    identities = []
    for track_id, (frames, boxes) in sorted(sightings_by_identity(run.mot).items()):
        known = track_id in run.gallery
        if not known:
            log.warning("%s: ID %d is not in the gallery: class and position unknown", run.prefix, track_id)
        identities.append(IdentityReport(
            track_id=track_id, label=run.gallery.label_of(track_id) if known else None, frames=frames,
            boxes=boxes, ranges=seen_ranges(frames, step), returns=count_returns(frames, return_gap),
            world_position=run.gallery.world_position(track_id) if known else None))
    return identities


# ------------------------------------------------------------------------------------ thumbnails
def crop_box(rgb, box, margin=THUMBNAIL_MARGIN):
    """The part of ``rgb`` inside ``box`` (tlwh) widened by ``margin`` on each side, clipped to the
    image; None when nothing of it is inside."""
    x, y, w, h = box
    height, width = rgb.shape[:2]
    left, top = int(np.floor(max(x - margin * w, 0))), int(np.floor(max(y - margin * h, 0)))
    right, bottom = int(np.ceil(min(x + w * (1 + margin), width))), int(np.ceil(min(y + h * (1 + margin), height)))
    if right <= left or bottom <= top:
        return None
    return rgb[top:bottom, left:right]


def thumbnail_image(crop, height=THUMBNAIL_HEIGHT, max_width=THUMBNAIL_MAX_WIDTH):
    """``crop`` resized to ``height`` pixels high (at most ``max_width`` wide), aspect kept."""
    scale = min(height / crop.shape[0], max_width / crop.shape[1])
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(crop, size, interpolation=interpolation)


def jpeg_data_uri(rgb, quality=JPEG_QUALITY):
    """An RGB image as a ``data:image/jpeg;base64,...`` URI."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def wanted_crops(identities, count):
    """The crops to cut, grouped by frame so each frame is read once: dict frame -> [(identity, box)]."""
    wanted = {}
    for identity in identities:
        areas = identity.boxes[:, 2] * identity.boxes[:, 3]
        for index in thumbnail_choices(identity.frames, areas, identity.ranges, count):
            wanted.setdefault(int(identity.frames[index]), []).append((identity, identity.boxes[index]))
    return wanted


def add_thumbnails(identities, scene, count=DEFAULT_THUMBNAILS):
    """Cut up to ``count`` thumbnails per identity from the scene's colour frames (a frame that cannot
    be read loses its thumbnails, with a warning)."""
    for frame_index, crops in sorted(wanted_crops(identities, count).items()):
        try:
            rgb = read_color(scene.color_path(frame_index))
        except FrameError as error:
            log.warning("%s: no thumbnails from this frame", error)
            continue
        for identity, box in crops:
            crop = crop_box(rgb, box)
            if crop is not None:
                identity.thumbnails.append(Thumbnail.of(frame_index, crop))
    for identity in identities:
        identity.thumbnails.sort(key=lambda thumbnail: thumbnail.frame_index)


# --------------------------------------------------------------------------------------- the map
def read_camera_position(path):
    """The camera centre (3,) of a pose file (:func:`reid.data.scannet.read_pose`), or None when
    missing, unknown or malformed."""
    pose = read_pose(path)
    return None if pose is None else pose[:3, 3].copy()


def camera_path(scene, max_points=MAX_PATH_POINTS):
    """Camera centres along the scene, M x 3 (at most ``max_points`` poses evenly spaced over its
    frames; unknown poses left out), or None when it has no poses."""
    folder = scene.path / "pose"
    if not folder.is_dir():
        return None
    frame_ids = np.asarray(scene.frame_ids)
    picked = frame_ids[np.unique(np.linspace(0, len(frame_ids) - 1, min(max_points, len(frame_ids))).astype(int))]
    positions = [read_camera_position(folder / f"{index}.txt") for index in picked.tolist()]
    positions = [p for p in positions if p is not None]
    return np.array(positions) if positions else None


def hex_colour(track_id):
    """The ID's colour (:func:`tracker.draw.track_colour_rgb`, as in the video) as ``#rrggbb``."""
    return "#{:02x}{:02x}{:02x}".format(*track_colour_rgb(track_id))


@dataclass
class MapFrame:
    """World x-y metres -> SVG pixels: equal scale on both axes, world y pointing up the page."""

    x_min: float
    y_max: float
    scale: float
    width: int
    height: int

    @classmethod
    def fitting(cls, points, pad=0.5):
        """The frame fitting ``points`` (N x 2, metres) with ``pad`` metres around them."""
        low, high = points.min(axis=0) - pad, points.max(axis=0) + pad
        span = np.maximum(high - low, 1e-6)
        scale = float(min((MAP_MAX_WIDTH - 2 * MAP_MARGIN) / span[0], (MAP_MAX_HEIGHT - 2 * MAP_MARGIN) / span[1]))
        width, height = (int(np.ceil(s * scale)) + 2 * MAP_MARGIN for s in span)
        return cls(float(low[0]), float(high[1]), scale, width, height)

    def pixel(self, x, y):
        return MAP_MARGIN + (x - self.x_min) * self.scale, MAP_MARGIN + (self.y_max - y) * self.scale

    def world(self, px, py):
        return self.x_min + (px - MAP_MARGIN) / self.scale, self.y_max - (py - MAP_MARGIN) / self.scale


def grid_step(span_metres):
    """Grid spacing in metres: about 4 to 12 lines over the span."""
    for step in (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0):
        if span_metres / step <= 12:
            return step
    return 100.0


def svg_grid(frame):
    """Metre grid lines with their values along the bottom and the left edge."""
    x_low, y_high = frame.world(0, 0)
    x_high, y_low = frame.world(frame.width, frame.height)
    step = grid_step(max(x_high - x_low, y_high - y_low))
    parts = []
    for x in np.arange(np.ceil(x_low / step) * step, x_high, step):
        px, _ = frame.pixel(x, 0)
        parts.append(f'<line class="grid" x1="{px:.1f}" y1="0" x2="{px:.1f}" y2="{frame.height}"/>'
                     f'<text class="axis" x="{px + 2:.1f}" y="{frame.height - 4}">{x:g}</text>')
    for y in np.arange(np.ceil(y_low / step) * step, y_high, step):
        _, py = frame.pixel(0, y)
        parts.append(f'<line class="grid" x1="0" y1="{py:.1f}" x2="{frame.width}" y2="{py:.1f}"/>'
                     f'<text class="axis" x="2" y="{py - 2:.1f}">{y:g}</text>')
    return "".join(parts)


def svg_camera_path(frame, path):
    """The camera path as a grey line, its start a hollow circle and its end a filled square."""
    if path is None or not len(path):
        return ""
    points = " ".join("{:.1f},{:.1f}".format(*frame.pixel(x, y)) for x, y in path[:, :2])
    start_x, start_y = frame.pixel(*path[0, :2])
    end_x, end_y = frame.pixel(*path[-1, :2])
    return (f'<polyline class="camera" points="{points}"><title>camera path</title></polyline>'
            f'<circle class="camera-start" cx="{start_x:.1f}" cy="{start_y:.1f}" r="5"><title>camera start</title>'
            f'</circle><rect class="camera-end" x="{end_x - 4:.1f}" y="{end_y - 4:.1f}" width="8" height="8">'
            f'<title>camera end</title></rect>')


def svg_identity(frame, identity):
    """An identity as a point in its colour, labelled with its ID."""
    x, y, z = identity.world_position
    px, py = frame.pixel(x, y)
    title = html.escape(f"ID {identity.track_id} {identity.class_name} at ({x:.2f}, {y:.2f}, {z:.2f}) m")
    return (f'<g class="identity"><title>{title}</title>'
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="5" fill="{hex_colour(identity.track_id)}"/>'
            f'<text class="label" x="{px + 7:.1f}" y="{py + 4:.1f}">{identity.track_id}</text></g>')


def svg_top_down_map(identities, path):
    """Inline SVG of the world x-y plane: metre grid, camera path and the placed identities."""
    placed = [identity for identity in identities if identity.world_position is not None]
    points = [identity.world_position[:2] for identity in placed]
    if path is not None:
        points.extend(path[:, :2])
    frame = MapFrame.fitting(np.array(points))
    body = svg_grid(frame) + svg_camera_path(frame, path) + "".join(svg_identity(frame, i) for i in placed)
    return (f'<svg class="map" width="{frame.width}" height="{frame.height}" '
            f'viewBox="0 0 {frame.width} {frame.height}" role="img" aria-label="top-down map">'
            f'<rect class="map-background" width="{frame.width}" height="{frame.height}"/>{body}</svg>')


def map_section(identities, path):
    """The map with its caption, or one line saying why there is none."""
    placed = sum(identity.world_position is not None for identity in identities)
    if not placed:
        reason = ("no identity has a world position (the run had no depth or no poses: --rgb-only, or a "
                  "scene without them)")
        return f'<p class="no-map">No top-down map: {html.escape(reason)}.</p>'
    path_note = ("grey line: the camera path (circle: start, square: end)" if path is not None
                 else "no camera path: the scene has no poses")
    caption = (f"Top-down view of the world x-y plane (metres, y up): {placed} of {len(identities)} identities "
               f"at their world positions, labelled with their IDs; {path_note}.")
    return f'<figure class="map">{svg_top_down_map(identities, path)}<figcaption>{html.escape(caption)}' \
           f'</figcaption></figure>'


# ------------------------------------------------------------------------------------- the page
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
p.meta { color: #555; margin: 0.2em 0; font-size: 0.9em; }
figure.map { margin: 1em 0; }
figure.map figcaption, p.no-map { color: #555; font-size: 0.85em; }
svg.map .map-background { fill: #fafafa; stroke: #ccc; }
svg.map .grid { stroke: #e2e2e2; stroke-width: 1; }
svg.map .axis { font-size: 10px; fill: #999; }
svg.map .camera { fill: none; stroke: #999; stroke-width: 1.5; }
svg.map .camera-start { fill: #fff; stroke: #666; stroke-width: 1.5; }
svg.map .camera-end { fill: #666; }
svg.map circle { stroke: #333; stroke-width: 1; }
svg.map .label { font-size: 11px; fill: #222; }
table.identities { border-collapse: collapse; width: 100%; table-layout: fixed; font-size: 0.9em; }
table.identities th { text-align: left; border-bottom: 2px solid #999; padding: 4px 6px; }
table.identities td { border-bottom: 1px solid #ddd; padding: 4px 6px; vertical-align: middle; }
td.id span { display: inline-block; min-width: 2.2em; padding: 2px 4px; border-radius: 3px; text-align: center;
             font-weight: bold; border: 1px solid #333; }
td.thumbs figure { display: inline-block; margin: 0 1px; text-align: center; vertical-align: bottom; }
td.thumbs img { display: block; border: 1px solid #ccc; }
td.thumbs figcaption { font-size: 0.7em; color: #777; }
td.position { white-space: nowrap; }
div.timeline { position: relative; height: 12px; background: #eee; border: 1px solid #ccc; }
div.timeline span { position: absolute; top: 0; bottom: 0; min-width: 2px; }
div.ranges { font-size: 0.75em; color: #666; margin-top: 2px; }
td.number { text-align: right; }
"""


COLUMN_WIDTHS = ('<colgroup><col style="width:4.5%"><col style="width:8%"><col style="width:44%">'
                 '<col style="width:20.5%"><col style="width:5.5%"><col style="width:5.5%"><col style="width:12%">'
                 '</colgroup>')
"""Widths of the table's columns: ID, class, thumbnails, timeline, frames seen, returns, position."""


def percent(value, first, last):
    """Position of frame ``value`` on a timeline over frames ``first`` to ``last`` + 1, in percent."""
    return 100.0 * (value - first) / max(last + 1 - first, 1)


def html_timeline(identity, first, last):
    """The frames where an identity was seen as coloured spans on a bar over the scene's frames."""
    colour = hex_colour(identity.track_id)
    spans = "".join(f'<span style="left:{percent(a, first, last):.3f}%;'
                    f'width:{percent(b + 1, first, last) - percent(a, first, last):.3f}%;background:{colour}" '
                    f'title="frames {a}-{b}"></span>' for a, b in identity.ranges)
    ranges = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in identity.ranges)
    return f'<div class="timeline">{spans}</div><div class="ranges">{html.escape(ranges)}</div>'


def html_thumbnails(identity):
    """The identity's thumbnails, each captioned with its frame index."""
    return "".join(f'<figure><img src="{thumbnail.data_uri}" width="{thumbnail.width}" height="{thumbnail.height}" '
                   f'alt="ID {identity.track_id}, frame '
                   f'{thumbnail.frame_index}"><figcaption>{thumbnail.frame_index}</figcaption></figure>'
                   for thumbnail in identity.thumbnails)


def html_position(position):
    """World position as ``x, y, z`` metres, or ``unknown``."""
    return "unknown" if position is None else "{:.2f}, {:.2f}, {:.2f}".format(*position)


def html_identity_row(identity, first, last):
    """One table row: ID, class, thumbnails, timeline, sightings, returns and world position."""
    return (f'<tr class="identity" id="id-{identity.track_id}">'
            f'<td class="id"><span style="background:{hex_colour(identity.track_id)}">{identity.track_id}</span></td>'
            f'<td class="class">{html.escape(identity.class_name)}</td>'
            f'<td class="thumbs">{html_thumbnails(identity)}</td>'
            f'<td class="when">{html_timeline(identity, first, last)}</td>'
            f'<td class="number sightings">{len(identity.frames)}</td>'
            f'<td class="number returns">{identity.returns}</td>'
            f'<td class="position">{html_position(identity.world_position)}</td></tr>')


def html_identity_table(identities, first, last, return_gap):
    """The table of identities, or a line saying the run confirmed none."""
    if not identities:
        return '<p class="no-identities">No identities: the run confirmed no track.</p>'
    header = ("<tr><th>ID</th><th>class</th><th>seen as</th>"
              f"<th>when (frames {first}&ndash;{last})</th><th>frames seen</th>"
              f'<th title="gaps of more than {return_gap} frames out of view">returns</th>'
              "<th>world x, y, z (m)</th></tr>")
    rows = "".join(html_identity_row(identity, first, last) for identity in identities)
    return f'<table class="identities">{COLUMN_WIDTHS}<thead>{header}</thead><tbody>{rows}</tbody></table>'


def html_meta(run, scene, identities, return_gap):
    """Lines under the title: where the data came from and the run's counts."""
    summary = run.summary or {}
    counts = [f"{len(identities)} identities", f"{len(scene.frame_ids):,} frames in the scene"]
    if "frames" in summary:
        counts.append(f"{summary['frames']:,} tracked")
    if "reused_ids" in summary:
        counts.append(f"{summary['reused_ids']} IDs re-used from the gallery")
    beside = "its gallery and summary" if run.summary is not None else "its gallery; no summary"
    lines = [f"Scene folder: {scene.path}", f"Run: {run.mot_path} ({beside})",
             "; ".join(counts) + ".",
             f"Returns: times an identity was seen again after more than {return_gap} frames out of view. "
             f"Frames are ScanNet frame indices."]
    return "".join(f'<p class="meta">{html.escape(line)}</p>' for line in lines)


def render_page(run, scene, identities, path, return_gap=DEFAULT_RETURN_GAP):
    """The whole report as one HTML document (no external resources)."""
    first, last = int(scene.frame_ids[0]), int(scene.frame_ids[-1])
    title = html.escape(f"Objects in {scene.name}")
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{STYLE}</style></head>'
            f"<body><h1>{title}</h1>{html_meta(run, scene, identities, return_gap)}"
            f"{map_section(identities, path)}{html_identity_table(identities, first, last, return_gap)}"
            "</body></html>\n")


def write_report(prefix, root=None, out=None, return_gap=DEFAULT_RETURN_GAP, thumbnails=DEFAULT_THUMBNAILS):
    """Read a run's outputs and its scene, and write the report atomically.

    Parameters
    ----------
    prefix : str or Path
        ``OUT/SCENE`` of a ``python -m tracker.run`` output.
    root : str or Path, optional
        Dataset root holding the scene (default: the folder named in the run's summary).
    out : str or Path, optional
        The HTML file (default ``OUT/SCENE.report.html``).
    return_gap : int
        Frames out of view after which a sighting counts as a return.
    thumbnails : int
        Thumbnails per identity at most.

    Returns
    -------
    path : Path
        The file written.
    identities : list of IdentityReport

    Raises
    ------
    ReportInputError
        Run outputs or scene that cannot be read, or tracked frames the scene has no colour image for.
    """
    run = read_run(run_prefix(prefix))
    scene = open_scene(run, root)
    check_frames_exist(run, scene)
    identities = build_identities(run, return_gap)
    add_thumbnails(identities, scene, thumbnails)
    page = render_page(run, scene, identities, camera_path(scene), return_gap)
    path = Path(out) if out is not None else output_path(run.prefix, ".report.html")
    atomic_write_text(path, page)
    return path, identities


def main(argv=None):
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("run", metavar="OUT/SCENE", help="output prefix of python -m tracker.run (OUT/SCENE.txt etc.)")
    parser.add_argument("--root", help="dataset root holding scans/<scene> or <scene> (default: the scene folder "
                                       "recorded in OUT/SCENE.summary.json)")
    parser.add_argument("--out", help="the HTML file to write (default OUT/SCENE.report.html)")
    parser.add_argument("--return-gap", type=positive_int, default=DEFAULT_RETURN_GAP,
                        help=f"frames out of view after which a sighting counts as a return (default "
                             f"{DEFAULT_RETURN_GAP})")
    parser.add_argument("--thumbnails", type=positive_int, default=DEFAULT_THUMBNAILS,
                        help=f"thumbnails per identity at most (default {DEFAULT_THUMBNAILS})")
    args = parser.parse_args(argv)
    setup_logging(quiet=True)
    try:
        path, identities = write_report(args.run, root=args.root, out=args.out, return_gap=args.return_gap,
                                        thumbnails=args.thumbnails)
    except (ReportInputError, OSError) as error:
        fail(PROG, str(error))
    print(f"{path}: {len(identities)} identities, {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
