"""``python -m viewer.query``: where did I see the object in this photo? And the gallery's model record."""
import json

import cv2
import numpy as np
import pytest

from reid.data.scannet import ScanNetScene
from tracker.detectors.ground_truth import GroundTruthDetector
from tracker.gallery import EmbeddingModelId, GalleryModelError, LongTermGallery
from tracker.io import read_mot
from viewer.query import QueryObject, main as query_main
from tracker.run import main as run_main

pytestmark = pytest.mark.slow     # every test here reads the galleries of a tracker run (seconds)

FRAME = 15            # the ScanNet frame the photo is taken from


@pytest.fixture(scope="module")
def tracked(tiny_scene, tiny_checkpoint, tmp_path_factory):
    """tracker.run over the tiny scene: (scene, output folder, gallery path)."""
    out = tmp_path_factory.mktemp("tracked")
    run_main(["scene0000_00", "--root", str(tiny_scene), "--out", str(out), "--reid", str(tiny_checkpoint),
              "--quiet"])
    return ScanNetScene.open("scene0000_00", tiny_scene), out, out / "scene0000_00.gallery.npz"


@pytest.fixture(scope="module")
def seen_object(tracked, tmp_path_factory):
    """The largest object tracked in frame FRAME: (photo, box text, mask PNG, its MOT row)."""
    scene, out, _ = tracked
    rows = read_mot(out / "scene0000_00.txt")
    rows = rows[rows[:, 0] == FRAME + 1]
    row = rows[np.argmax(rows[:, 4] * rows[:, 5])]
    detections = GroundTruthDetector()(scene.read_frame(FRAME))
    detection = min(detections, key=lambda d: np.abs(np.asarray(d.tlwh) - row[2:6]).max())
    np.testing.assert_allclose(detection.tlwh, row[2:6], atol=0.01)
    mask = tmp_path_factory.mktemp("photo") / "mask.png"
    cv2.imwrite(str(mask), detection.mask.astype(np.uint8) * 255)
    box = ",".join(f"{v:g}" for v in detection.tlwh)
    return scene.color_path(FRAME), box, mask, row


def error_line(capsys, argv, main=query_main):
    """Run a command expected to fail; its single stderr line."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return lines[0]


def test_the_object_of_a_tracked_frame_is_found_with_its_frames_class_and_position(tracked, seen_object, capsys):
    _, _, gallery = tracked
    photo, box, mask, row = seen_object
    query_main([str(gallery), "--image", str(photo), "--box", box, "--mask", str(mask), "--top", "3", "--json"])
    answer = json.loads(capsys.readouterr().out)
    assert answer["box"] == [float(v) for v in box.split(",")] and len(answer["results"]) == 3
    best = answer["results"][0]
    assert best["id"] == int(row[1]) and best["distance"] < 1e-3      # the very view the gallery stored
    assert any(r["visit"] == 1 and r["first"] <= FRAME <= r["last"] for r in best["frames"])
    entry = LongTermGallery.load(gallery).entry(best["id"])
    assert best["class_id"] == entry.label and best["n_observations"] == entry.n_observations
    np.testing.assert_allclose(best["world_position"], entry.world_position, atol=1e-3)
    assert [r["distance"] for r in answer["results"]] == sorted(r["distance"] for r in answer["results"])


def test_printed_answer_and_the_whole_photo_as_the_default_box(tracked, seen_object, capsys):
    _, _, gallery = tracked
    photo = seen_object[0]
    assert QueryObject.read(photo).box == (0.0, 0.0, 96.0, 72.0)
    query_main([str(gallery), "--image", str(photo), "--top", "2"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"2 closest of {len(LongTermGallery.load(gallery))} identities in {gallery}")
    assert "box 0,0,96,72" in lines[0] and "tiny.pt" in lines[0]
    assert lines[1].startswith(" 1. ID ") and "distance" in lines[1] and "seen in" in lines[1] and " m" in lines[1]
    assert len(lines) == 3


def test_bad_photo_box_and_mask_are_one_line_each(tracked, seen_object, capsys, tmp_path):
    _, _, gallery = tracked
    photo, box, mask, _ = seen_object
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    assert "broken.jpg: cannot read the photo" in error_line(capsys, [str(gallery), "--image", str(broken)])
    missing = str(tmp_path / "missing.jpg")
    assert "missing.jpg: photo not found" in error_line(capsys, [str(gallery), "--image", missing])
    assert "lies outside the 96x72 photo" in error_line(capsys, [str(gallery), "--image", str(photo),
                                                                 "--box", "120,10,20,20"])
    assert "is not x,y,w,h" in error_line(capsys, [str(gallery), "--image", str(photo), "--box", "1,2,3"])
    assert "positive width and height" in error_line(capsys, [str(gallery), "--image", str(photo),
                                                              "--box", "1,2,0,3"])
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.full((10, 10), 255, np.uint8))
    assert "mask is 10x10, the photo 96x72" in error_line(capsys, [str(gallery), "--image", str(photo),
                                                                   "--mask", str(small)])
    assert "mask is empty inside the box" in error_line(capsys, [str(gallery), "--image", str(photo), "--mask",
                                                                 str(mask), "--box", "0,0,1,1"])


def rewrite(source, target, drop=(), **changes):
    """Copy a gallery file, leaving out the arrays ``drop`` and replacing ``changes``."""
    with np.load(source) as data:
        arrays = {key: data[key] for key in data.files if key not in drop}
    arrays.update(changes)
    np.savez_compressed(target, **arrays)
    return target


def test_bad_galleries_are_one_line_each(tracked, seen_object, capsys, tmp_path):
    _, _, gallery = tracked
    photo = str(seen_object[0])
    empty = LongTermGallery().save(tmp_path / "empty.gallery.npz")
    assert "holds no identities" in error_line(capsys, [str(empty), "--image", photo])
    newer = rewrite(gallery, tmp_path / "newer.gallery.npz", format_version=np.int64(99))
    assert "format version 99" in error_line(capsys, [str(newer), "--image", photo])
    text = tmp_path / "notes.npz"
    text.write_text("not a gallery")
    assert "notes.npz: not a gallery file" in error_line(capsys, [str(text), "--image", photo])
    assert "gallery file not found" in error_line(capsys, [str(tmp_path / "none.npz"), "--image", photo])


def test_a_gallery_of_another_model_is_refused_naming_both(tracked, seen_object, capsys, tmp_path, tiny_scene):
    import torch
    from reid.checkpoint import save_checkpoint
    from reid.model import ReIDConfig, create_model
    _, _, gallery = tracked
    torch.manual_seed(1)
    config = ReIDConfig(variant="early-fusion", img_size=32, embed_dim=16,
                        trunk_kwargs={"depth": 1, "embed_dim": 32, "num_heads": 2})
    other = save_checkpoint(tmp_path / "other.pt", create_model(config), config)
    line = error_line(capsys, [str(gallery), "--image", str(seen_object[0]), "--reid", str(other)])
    assert "tiny.pt" in line and "other.pt" in line and "filled by" in line
    # continuing the gallery with another model in tracker.run: the same refusal
    line = error_line(capsys, ["scene0000_00", "--root", str(tiny_scene), "--out", str(tmp_path / "out"), "--reid",
                               str(other), "--gallery", str(gallery), "--quiet"], main=run_main)
    assert "tiny.pt" in line and "other.pt" in line


@pytest.mark.slow
def test_an_older_gallery_without_a_model_is_accepted_with_a_warning(tracked, seen_object, tmp_path, run_module,
                                                                     tiny_checkpoint):
    _, _, gallery = tracked
    old = rewrite(gallery, tmp_path / "old.gallery.npz", drop=("model_name", "model_weights_sha256"))
    assert LongTermGallery.load(old).model is None
    result = run_module("viewer.query", str(old), "--image", str(seen_object[0]), "--reid", str(tiny_checkpoint),
                        "--top", "1")
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 1 and "no embedding model recorded" in warnings[0] and "tiny.pt" in warnings[0]
    assert result.stdout.splitlines()[1].startswith(" 1. ID ")


def test_gallery_files_keep_the_model_that_filled_them(tracked, tiny_checkpoint, tmp_path):
    from reid.embedder import Embedder
    _, _, gallery = tracked
    loaded = LongTermGallery.load(gallery)
    embedder = Embedder.from_checkpoint(tiny_checkpoint, device="cpu")
    assert loaded.model == EmbeddingModelId.of(embedder)
    assert loaded.model.name == str(tiny_checkpoint) and len(loaded.model.weights_sha256) == 64
    again = LongTermGallery.load(loaded.save(tmp_path / "again.npz"))
    assert again.model == loaded.model and again.ids.tolist() == loaded.ids.tolist()
    loaded.check_model(EmbeddingModelId("renamed.pt", loaded.model.weights_sha256))     # same weights: accepted
    assert loaded.model.name == "renamed.pt"         # the name the gallery saves from now on
    with pytest.raises(GalleryModelError, match=r"again.npz: filled by .*tiny.pt.*, not by 'other'"):
        again.check_model(EmbeddingModelId("other", "0" * 64), "again.npz")


def test_a_moved_checkpoint_is_named_and_given_with_reid(tracked, seen_object, capsys, tmp_path, tiny_checkpoint):
    _, _, gallery = tracked
    moved = rewrite(gallery, tmp_path / "moved.gallery.npz", model_name=np.array(str(tmp_path / "gone.pt")))
    line = error_line(capsys, [str(moved), "--image", str(seen_object[0])])
    assert "gone.pt" in line and "give its new place with --reid" in line
    query_main([str(moved), "--image", str(seen_object[0]), "--reid", str(tiny_checkpoint), "--top", "1"])
    assert capsys.readouterr().out.splitlines()[1].startswith(" 1. ID ")


def test_frames_of_several_visits_say_which_visit():
    from tracker import FrameRange
    from viewer.query import format_frames
    assert format_frames([FrameRange(1, 12, 40), FrameRange(1, 97, 97)]) == "12-40, 97"
    assert format_frames([FrameRange(1, 12, 40), FrameRange(1, 97, 97), FrameRange(2, 3, 9)]) == \
        "visit 1: 12-40, 97; visit 2: 3-9"
