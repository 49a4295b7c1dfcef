"""``python -m viewer.report``: the HTML object report of a tracker run, and its one-line errors."""
import json
import re
import shutil
from html.parser import HTMLParser

import numpy as np
import pytest

from tracker.gallery import LongTermGallery
from tracker.io import read_mot
from viewer.report import (count_returns, main, seen_ranges, thumbnail_choices, tracked_frame_step,
                            write_report)

SCENE = "scene0000_00"


class ReportParser(HTMLParser):
    """The parts of a report the tests look at: identity rows, images, map, every URL-like value."""

    def __init__(self):
        super().__init__()
        self.row_ids, self.images, self.svgs, self.no_map_lines, self.references = [], [], 0, 0, []
        self.text = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "identity" in (attrs.get("class") or "").split():
            self.row_ids.append(int(attrs["id"].removeprefix("id-")))
        if tag == "img":
            self.images.append(attrs.get("src") or "")
        if tag == "svg":
            self.svgs += 1
        if tag == "p" and attrs.get("class") == "no-map":
            self.no_map_lines += 1
        self.references.extend(value for name, value in attrs.items()
                               if name in ("src", "href", "xlink:href", "style", "xmlns") and value)

    def handle_data(self, data):
        self.text.append(data)


def parse_report(path):
    parser = ReportParser()
    parser.feed(path.read_text())
    parser.close()
    return parser


@pytest.fixture(scope="module")
def tracked_run(tiny_scene, tiny_checkpoint, tmp_path_factory):
    """``python -m tracker.run`` (in process) over the tiny generated scene: OUT/SCENE prefix."""
    from tracker.run import main as run_main
    out = tmp_path_factory.mktemp("report-run")
    run_main([SCENE, "--root", str(tiny_scene), "--out", str(out), "--reid", str(tiny_checkpoint), "--quiet",
              "--set", "n_init=2"])
    return out / SCENE


def mot_ids(prefix):
    return sorted(set(read_mot(prefix.with_name(prefix.name + ".txt"))[:, 1].astype(int).tolist()))


@pytest.mark.slow  # tracked_run: a tracker run with the embedder (torch) first
def test_report_has_a_row_per_identity_inline_thumbnails_and_no_urls(tracked_run, tmp_path, capsys):
    out = tmp_path / "report.html"
    main([str(tracked_run), "--out", str(out)])       # the scene folder comes from the run's summary
    assert capsys.readouterr().out.startswith(f"{out}: ")
    page = parse_report(out)
    ids = mot_ids(tracked_run)
    assert ids and page.row_ids == ids
    assert page.images and all(re.fullmatch(r"data:image/jpeg;base64,[A-Za-z0-9+/=]+", src) for src in page.images)
    assert len(page.images) <= 6 * len(ids)
    assert page.svgs == 1 and page.no_map_lines == 0            # the scene has depth and poses: a map
    html = out.read_text()
    assert not re.search(r"https?://", html), "the page references a URL"
    assert not re.search(r"<(script|link|iframe)\b", html)
    assert all(value.startswith("data:") or "url(" not in value for value in page.references)
    assert out.stat().st_size < 3_000_000


@pytest.mark.slow  # tracked_run: a tracker run with the embedder (torch) first
def test_report_default_name_and_root_given(tracked_run, tiny_scene, capsys):
    path, identities = write_report(str(tracked_run) + ".txt", root=tiny_scene, thumbnails=2)
    assert path == tracked_run.with_name(SCENE + ".report.html") and path.is_file()
    page = parse_report(path)
    assert page.row_ids == [identity.track_id for identity in identities]
    assert all(len(identity.thumbnails) <= 2 for identity in identities)
    assert not list(path.parent.glob(".*.tmp"))                 # written atomically: no temporary left


def write_run(prefix, mot_rows, gallery, summary):
    """A run's outputs written by hand: MOT rows, gallery and summary dict (None: no summary)."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{int(f)},{int(i)},{x},{y},{w},{h},1.0,-1,-1,-1" for f, i, x, y, w, h in mot_rows]
    prefix.with_name(prefix.name + ".txt").write_text("".join(line + "\n" for line in lines))
    gallery.save(prefix.with_name(prefix.name + ".gallery.npz"))
    if summary is not None:
        prefix.with_name(prefix.name + ".summary.json").write_text(json.dumps(summary))
    return prefix


def hand_written_run(folder, scene_path, with_positions):
    """Two identities, ID 4 seen in frames 0-4 and again 20-24 (ID 9 in 10-12), written by hand."""
    gallery = LongTermGallery()
    rows = []
    for track_id, label, frames in ((4, 5, [*range(0, 5), *range(20, 25)]), (9, 7, range(10, 13))):
        for frame in frames:
            position = np.array([1.0, track_id / 4, 0.5]) if with_positions else None
            gallery.add(track_id, label, world_position=position, frame_index=frame)
            rows.append((frame + 1, track_id, 10, 8, 30, 25))
    return write_run(folder / SCENE, rows, gallery, {"scene": SCENE, "scene_path": str(scene_path)})


def test_returns_counted_with_the_gap_and_no_map_without_positions_or_poses(tiny_scene, tmp_path):
    scene = tmp_path / "data" / SCENE
    shutil.copytree(tiny_scene / "scans" / SCENE, scene)
    shutil.rmtree(scene / "pose")
    prefix = hand_written_run(tmp_path / "out", scene, with_positions=False)
    path, identities = write_report(prefix, return_gap=10)
    by_id = {identity.track_id: identity for identity in identities}
    assert by_id[4].ranges == [(0, 4), (20, 24)] and by_id[4].returns == 1     # 15 frames out of view > 10
    assert by_id[9].ranges == [(10, 12)] and by_id[9].returns == 0
    page = parse_report(path)
    assert page.row_ids == [4, 9] and page.svgs == 0 and page.no_map_lines == 1
    assert "No top-down map" in "".join(page.text)
    _, identities = write_report(prefix, return_gap=30)
    assert [identity.returns for identity in identities] == [0, 0]            # 15 frames: not a return at 30


def test_map_without_camera_path_when_the_scene_has_no_poses(tiny_scene, tmp_path):
    scene = tmp_path / "data" / SCENE
    shutil.copytree(tiny_scene / "scans" / SCENE, scene)
    shutil.rmtree(scene / "pose")
    prefix = hand_written_run(tmp_path / "out", scene, with_positions=True)
    path, _ = write_report(prefix)
    html = path.read_text()
    assert html.count("<svg") == 1 and "camera path" not in html.split("<svg")[1].split("</svg>")[0]
    assert "no camera path" in html


def test_ranges_returns_and_thumbnail_choices():
    frames = np.array([0, 1, 2, 3, 40, 41, 42, 90])
    assert seen_ranges(frames) == [(0, 3), (40, 42), (90, 90)]
    assert seen_ranges(np.array([0, 2, 4, 10]), step=2) == [(0, 4), (10, 10)]
    assert seen_ranges(np.array([], dtype=int)) == []
    assert count_returns(frames, 30) == 2 and count_returns(frames, 36) == 1 and count_returns(frames, 47) == 0
    assert count_returns(np.array([0, 31]), 30) == 0 and count_returns(np.array([0, 32]), 30) == 1   # > 30 out of view
    ones = np.ones(len(frames))
    chosen = thumbnail_choices(frames, ones, seen_ranges(frames), 6)
    assert len(chosen) == 6 and chosen == sorted(set(chosen))
    assert {frames[i] for i in chosen} >= {0, 40, 90}             # every seen range shows
    areas = np.array([3, 1, 1, 9, 3, 1, 1, 3.0])                  # the largest box of a range is its thumbnail
    assert thumbnail_choices(frames, areas, seen_ranges(frames), 3) == [3, 4, 7]
    areas = np.array([1, 1, 1, 9, 9, 9, 9, 2.0])                  # frame 90: a sliver, no place of its own
    assert thumbnail_choices(frames, areas, seen_ranges(frames), 2) == [3, 4]
    many = np.arange(0, 400, 40)                                  # 10 ranges, 3 places: spread over them
    assert [many[i] for i in thumbnail_choices(many, np.ones(10), seen_ranges(many), 3)] == [0, 160, 360]
    assert thumbnail_choices(np.array([5]), np.ones(1), [(5, 5)], 6) == [0]
    assert tracked_frame_step(np.array([[3, 1], [5, 1], [7, 2]], dtype=float)) == 2


# ------------------------------------------------------------------------------------- bad input
def report_error(capsys, *args):
    """Run the report's main with ``args``; its exit code and stderr lines."""
    with pytest.raises(SystemExit) as caught:
        main([str(arg) for arg in args])
    return caught.value.code, capsys.readouterr().err.strip().splitlines()


def test_missing_tracks_file_is_one_line(tmp_path, capsys):
    code, lines = report_error(capsys, tmp_path / "out" / SCENE)
    assert code == 2 and len(lines) == 1 and f"{SCENE}.txt: no tracks file" in lines[0], lines


def test_missing_frames_are_one_line(tiny_scene, tmp_path, capsys):
    scene = tmp_path / "data" / SCENE
    shutil.copytree(tiny_scene / "scans" / SCENE, scene)
    prefix = hand_written_run(tmp_path / "out", scene, with_positions=True)
    for index in (20, 21):
        (scene / "color" / f"{index}.jpg").unlink()
    code, lines = report_error(capsys, prefix)
    assert code == 2 and len(lines) == 1 and "no colour image for 2 tracked frames" in lines[0] \
        and "(20, 21)" in lines[0], lines
    shutil.rmtree(scene / "color")
    code, lines = report_error(capsys, prefix)
    assert code == 2 and len(lines) == 1 and "no colour frames" in lines[0], lines


def test_other_bad_input_is_one_line(tiny_scene, tmp_path, capsys):
    prefix = hand_written_run(tmp_path / "out", tiny_scene / "scans" / SCENE, with_positions=True)
    code, lines = report_error(capsys, prefix, "--root", tmp_path / "nowhere")
    assert code == 2 and len(lines) == 1 and "not found" in lines[0] and "nowhere" in lines[0], lines
    moved = hand_written_run(tmp_path / "moved", tmp_path / "gone" / SCENE, with_positions=True)
    code, lines = report_error(capsys, moved)                   # the recorded scene folder has gone
    assert code == 2 and len(lines) == 1 and "scene folder not found" in lines[0] and "--root" in lines[0], lines
    prefix.with_name(SCENE + ".summary.json").write_text(json.dumps({"scene": SCENE}))   # an older summary
    code, lines = report_error(capsys, prefix)
    assert code == 2 and len(lines) == 1 and "names no scene folder" in lines[0], lines
    prefix.with_name(SCENE + ".summary.json").write_text("{not json")
    code, lines = report_error(capsys, prefix, "--root", tiny_scene)
    assert code == 2 and len(lines) == 1 and "unreadable summary" in lines[0], lines
    prefix.with_name(SCENE + ".summary.json").unlink()
    prefix.with_name(SCENE + ".gallery.npz").unlink()
    code, lines = report_error(capsys, prefix, "--root", tiny_scene)
    assert code == 2 and len(lines) == 1 and "gallery file not found" in lines[0], lines
    prefix.with_name(SCENE + ".txt").write_text("1,2,3\n")
    code, lines = report_error(capsys, prefix, "--root", tiny_scene)
    assert code == 2 and len(lines) == 1 and "not MOTChallenge lines" in lines[0], lines


@pytest.mark.slow  # a Python start-up with numpy and OpenCV: ~2 s on a busy machine
def test_command_line_errors_without_a_traceback(tmp_path, run_module):
    result = run_module("viewer.report", str(tmp_path / "out" / SCENE))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"python -m viewer.report: error: {tmp_path / 'out' / SCENE}.txt: no tracks file (python -m tracker.run "
        f"SCENE --out OUT writes OUT/SCENE.txt; give OUT/SCENE)"]
