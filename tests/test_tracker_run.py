"""``python -m tracker.run`` end to end on a small generated scene, including bad input."""
import json
import shutil

import cv2
import numpy as np
import pytest

from reid.data.generate import generate_scene
from tracker.gallery import LongTermGallery
from tracker.io import read_mot


@pytest.fixture(scope="module")
def damaged_scene(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    generate_scene(root, index=0, seed=77, frames=24, size=(96, 72))
    folder = root / "scans" / "scene0000_00"
    (folder / "color" / "5.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    np.savetxt(folder / "pose" / "6.txt", np.full((4, 4), -np.inf))
    (folder / "depth" / "7.png").unlink()
    cv2.imwrite(str(folder / "depth" / "8.png"), np.full((72, 96), 9, np.uint8))
    (folder / "instance-filt" / "9.png").unlink()
    return root


@pytest.mark.slow  # python -m: a torch import per run
def test_run_writes_tracks_and_gallery_and_survives_bad_frames(damaged_scene, tiny_checkpoint, tmp_path, run_module):
    out = tmp_path / "out"
    result = run_module("tracker.run", "scene0000_00", "--root", str(damaged_scene), "--detector", "gt",
                        "--out", str(out), "--reid", str(tiny_checkpoint), "--video", "--quiet")
    assert result.returncode == 0, result.stderr
    for name in ("color/5.jpg", "depth/7.png", "depth/8.png", "instance-filt/9.png"):
        assert name in result.stderr, name  # each bad file is named in a warning
    assert "Traceback" not in result.stderr
    rows = read_mot(out / "scene0000_00.txt")
    frames = set(rows[:, 0].astype(int).tolist())
    assert 6 not in frames  # frame index 5 (unreadable colour) -> MOT frame 6 is absent
    assert 10 not in frames  # frame index 9 has no masks: the gt detector sees nothing
    assert {7, 8, 9} & frames  # the frames without pose or depth are still tracked (appearance alone)
    assert rows[:, 0].min() >= 1 and (rows[:, 6] <= 1).all() and (rows[:, 7:] == -1).all()
    # one ID per frame at most once
    for frame in frames:
        ids = rows[rows[:, 0] == frame, 1]
        assert len(ids) == len(set(ids))
    gallery = LongTermGallery.load(out / "scene0000_00.gallery.npz")
    assert set(rows[:, 1].astype(int).tolist()) <= set(gallery.ids.tolist())  # every output ID is remembered
    assert (out / "scene0000_00.mp4").stat().st_size > 1000
    assert "IDs re-used from the gallery" in result.stdout and "frames/s" in result.stdout


@pytest.mark.slow  # python -m: a torch import per run
def test_rgb_only_and_continuing_from_a_saved_gallery(damaged_scene, tiny_checkpoint, tmp_path, run_module):
    first = tmp_path / "first"
    result = run_module("tracker.run", "scene0000_00", "--root", str(damaged_scene), "--out", str(first),
                        "--reid", str(tiny_checkpoint), "--rgb-only", "--quiet", "--max-frames", "12")
    assert result.returncode == 0, result.stderr
    assert "depth" not in result.stderr  # RGB only: depth files are not even read
    second = tmp_path / "second"
    result = run_module("tracker.run", "scene0000_00", "--root", str(damaged_scene), "--out", str(second),
                        "--reid", str(tiny_checkpoint), "--quiet", "--gallery", str(first / "scene0000_00.gallery.npz"))
    assert result.returncode == 0, result.stderr
    assert len(LongTermGallery.load(second / "scene0000_00.gallery.npz")) >= \
        len(LongTermGallery.load(first / "scene0000_00.gallery.npz"))


@pytest.mark.slow  # python -m: a torch import per run
def test_summary_counts_what_went_wrong_without_a_warning_per_frame(tiny_scene, tiny_checkpoint, tmp_path,
                                                                   run_module):
    shutil.copytree(tiny_scene, tmp_path / "data")
    folder = tmp_path / "data" / "scans" / "scene0000_00"
    for index in (10, 11, 12):       # ScanNet's pose where its tracking failed: every entry -inf
        np.savetxt(folder / "pose" / f"{index}.txt", np.full((4, 4), -np.inf))
    for index in (20, 21):
        (folder / "depth" / f"{index}.png").unlink()
    (folder / "color" / "5.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    out = tmp_path / "out"
    result = run_module("tracker.run", "scene0000_00", "--root", str(tmp_path / "data"), "--out", str(out),
                        "--reid", str(tiny_checkpoint), "--quiet")
    assert result.returncode == 0, result.stderr
    summary = result.stdout.splitlines()
    recorded = json.loads((out / "scene0000_00.summary.json").read_text())
    # frames 20-21: pose, no depth: their detections lie on rays; frames 10-12: no pose, appearance alone
    on_ray, alone, detections = recorded["on_ray"], recorded["appearance_only"], recorded["detections"]
    assert on_ray > 0 and alone > 0 and on_ray + alone < detections
    assert summary[0].startswith("scene0000_00: 29 frames,")
    assert summary[1:] == [f"  1 frame skipped ({folder / 'color' / '5.jpg'})", "  pose unknown in 3 of 29 frames",
                           "  no depth in 2 of 29 frames",
                           f"  {on_ray + alone} of {detections} detections without valid depth: {on_ray} matched "
                           f"along their viewing ray, {alone} on appearance alone (pose unknown)"], result.stdout
    # the bad colour image and the missing depth files are each named once; unknown poses are normal: no warning
    assert result.stderr.count("color/5.jpg") == 1 and "depth/20.png" in result.stderr
    assert "/pose/" not in result.stderr and "Traceback" not in result.stderr
    assert recorded["skipped_files"] == [str(folder / "color" / "5.jpg")]
    assert (recorded["pose_unknown"], recorded["no_depth"], recorded["invalid_detections"]) == (3, 2, 0)
    assert recorded["settings_changed"] == {} and recorded["settings"]["n_init"] == 3


@pytest.mark.slow  # python -m: a torch import per run
def test_settings_from_the_command_line_and_invalid_detections_are_in_the_summary(damaged_scene, tiny_checkpoint,
                                                                                   tmp_path, run_module):
    from tracker.detection import Detection
    from tracker.detectors.file import save_detections
    valid, outside, empty = ([10.0, 10.0, 20.0, 20.0], [200.0, 200.0, 10.0, 10.0], [5.0, 5.0, 0.0, 10.0])
    detections = {index: [Detection(np.array(box), 0.9, 5) for box in
                          ([valid, outside, empty] if index < 2 else [valid])] for index in range(4)}
    save_detections(tmp_path / "detections.json", detections)
    out = tmp_path / "out"
    result = run_module("tracker.run", "scene0000_00", "--root", str(damaged_scene), "--out", str(out),
                        "--reid", str(tiny_checkpoint), "--quiet", "--detector", "file", "--detections",
                        str(tmp_path / "detections.json"), "--max-frames", "4",
                        "--set", "n_init=1000", "world_gate_metres=0.5", "--set", "ignored_labels=1,2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        "  4 detections dropped as invalid",
        "  settings changed: n_init=1000, world_gate_metres=0.5, ignored_labels=[1, 2]"], result.stdout
    assert not (out / "scene0000_00.txt").read_text().strip()     # n_init=1000: no track is ever confirmed
    recorded = json.loads((out / "scene0000_00.summary.json").read_text())
    assert recorded["settings_changed"] == {"n_init": 1000, "world_gate_metres": 0.5, "ignored_labels": [1, 2]}
    assert recorded["settings"]["n_init"] == 1000 and recorded["invalid_detections"] == 4


BAD_ARGUMENTS = [
    (["scene0999_00", "--root", "nowhere"], "scene0999_00"),
    (["scene0000_00", "--root", "ROOT", "--detector", "file"], "--detections"),
    (["scene0000_00", "--root", "ROOT", "--detector", "file", "--detections", "missing.json"], "missing.json"),
    (["scene0000_00", "--root", "ROOT", "--reid", "no-such-checkpoint.pt"], "no-such-checkpoint.pt"),
    (["scene0000_00", "--root", "ROOT", "--gallery", "no-gallery.npz"], "no-gallery.npz"),
    (["scene0000_00", "--root", "ROOT", "--device", "cpu", "--precision", "float16"], "float16 runs on CUDA only"),
    (["scene0000_00", "--root", "ROOT", "--backend", "onnxruntime", "--device", "cuda"], "onnxruntime runs on the CPU"),
    (["scene0000_00", "--root", "ROOT", "--precision", "int8"], "int8 runs with backend onnxruntime only"),
    (["scene0000_00", "--root", "ROOT", "--set", "no_such_setting=1"], "no_such_setting"),
    (["scene0000_00", "--root", "ROOT", "--set", "n_init=three"], "n_init=three"),
    (["scene0000_00", "--root", "ROOT", "--set", "gallery_index=annoy"], "annoy"),
]


@pytest.mark.slow  # python -m: a torch import per case; test_bad_arguments_in_process_are_one_line is the quick twin
@pytest.mark.parametrize("args, message", BAD_ARGUMENTS)
def test_bad_arguments_are_one_line(damaged_scene, tiny_checkpoint, run_module, tmp_path, args, message):
    args = [str(damaged_scene) if a == "ROOT" else a for a in args]
    if "--reid" not in args:
        args += ["--reid", str(tiny_checkpoint)]
    result = run_module("tracker.run", *args, "--out", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.slow  # python -m: a torch import per run
def test_onnxruntime_backend_tracks_like_torch(damaged_scene, tiny_checkpoint, tmp_path, run_module):
    pytest.importorskip("onnxruntime")
    outputs = []
    for backend in ("torch", "onnxruntime"):
        out = tmp_path / backend
        result = run_module("tracker.run", "scene0000_00", "--root", str(damaged_scene), "--out", str(out),
                            "--reid", str(tiny_checkpoint), "--quiet", "--device", "cpu", "--backend", backend)
        assert result.returncode == 0, result.stderr
        outputs.append((out / "scene0000_00.txt").read_text())
    assert outputs[0] == outputs[1] and outputs[0].strip()
    out = tmp_path / "int8"
    result = run_module("tracker.run", "scene0000_00", "--root", str(damaged_scene), "--out", str(out),
                        "--reid", str(tiny_checkpoint), "--quiet", "--backend", "onnxruntime", "--precision", "int8")
    assert result.returncode == 0, result.stderr
    rows = np.loadtxt(out / "scene0000_00.txt", delimiter=",", ndmin=2)
    reference = np.loadtxt(tmp_path / "torch" / "scene0000_00.txt", delimiter=",", ndmin=2)
    assert len(rows) and abs(len(rows) - len(reference)) <= 0.2 * len(reference)   # int8 features track too


# ---------------------------------------------------------------------------- in process (the quick lane)
@pytest.mark.parametrize("args, message", BAD_ARGUMENTS)
def test_bad_arguments_in_process_are_one_line(damaged_scene, tiny_checkpoint, tmp_path, monkeypatch, capsys, args,
                                               message):
    from tracker.run import main
    args = [str(damaged_scene) if a == "ROOT" else a for a in args]
    if "--reid" not in args:
        args += ["--reid", str(tiny_checkpoint)]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as caught:
        main([*args, "--out", str(tmp_path)])
    assert caught.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_in_process_run_writes_tracks_gallery_and_summary(damaged_scene, tiny_checkpoint, tmp_path, capsys):
    from tracker.run import main
    out = tmp_path / "out"
    main(["scene0000_00", "--root", str(damaged_scene), "--out", str(out), "--reid", str(tiny_checkpoint), "--quiet",
          "--max-frames", "12", "--set", "n_init=2"])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("scene0000_00: ")
    assert any("1 frame skipped" in line and "5.jpg" in line for line in printed), printed   # the unreadable colour
    rows = read_mot(out / "scene0000_00.txt")
    frames = set(rows[:, 0].astype(int).tolist())
    assert frames and 6 not in frames and max(frames) <= 12
    gallery = LongTermGallery.load(out / "scene0000_00.gallery.npz")
    assert set(rows[:, 1].astype(int).tolist()) <= set(gallery.ids.tolist())
    recorded = json.loads((out / "scene0000_00.summary.json").read_text())
    assert recorded["settings_changed"] == {"n_init": 2} and recorded["skipped_files"][0].endswith("5.jpg")


@pytest.mark.slow  # two models per run
def test_an_ensemble_model_tracks_and_guards_its_gallery(damaged_scene, tiny_checkpoint, tmp_path, capsys):
    from tracker.gallery import GalleryModelError
    from tracker.run import main
    pair = f"{tiny_checkpoint}+{tiny_checkpoint}:0.6"
    main(["scene0000_00", "--root", str(damaged_scene), "--out", str(tmp_path / "a"), "--reid", pair, "--quiet",
          "--max-frames", "12", "--set", "n_init=2"])
    gallery_file = tmp_path / "a" / "scene0000_00.gallery.npz"
    gallery = LongTermGallery.load(gallery_file)
    assert gallery.model.name == pair and len(gallery.ids) > 0
    assert gallery.features(gallery.ids[0]).shape[1] == 32          # both members' 16-d features
    with pytest.raises(SystemExit):                                  # another weight: another model
        main(["scene0000_00", "--root", str(damaged_scene), "--out", str(tmp_path / "b"), "--quiet",
              "--reid", f"{tiny_checkpoint}+{tiny_checkpoint}:0.5", "--gallery", str(gallery_file)])
    assert "filled by the embedding model" in capsys.readouterr().err
