"""Training (a tiny run learns, resumes after a kill, runs under DDP) and evaluation."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from reid.checkpoint import load_checkpoint
from reid.evaluate import colour_histogram_features, evaluate, evaluate_features
from reid.views import load_views, scene_folders

TINY = ["--trunk-kwargs", '{"depth": 1, "embed_dim": 32, "num_heads": 2}', "--img-size", "32", "--embed-dim", "16",
        "--instances-per-batch", "6", "--views-per-instance", "3", "--frame-step", "2", "--quiet"]


def train_command(root, out, *extra):
    return [sys.executable, "-m", "reid.train", "--data", str(root), "--out", str(out), *TINY, *extra]


@pytest.mark.slow
def test_tiny_training_run_lowers_the_loss(tiny_scene, tmp_path):
    out = tmp_path / "model.pt"
    result = subprocess.run(train_command(tiny_scene, out, "--epochs", "8", "--lr", "1e-3", "--warmup-steps", "5",
                                          "--val-data", str(tiny_scene)),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    history = load_checkpoint(out).metadata["history"]
    assert [h["epoch"] for h in history] == list(range(1, 9))
    assert all("val_rank1" in h for h in history)
    assert all(h["views_per_s"] > 0 for h in history)  # training throughput logged per epoch
    first, last = np.mean([h["loss"] for h in history[:2]]), np.mean([h["loss"] for h in history[-2:]])
    assert last < 0.8 * first, [h["loss"] for h in history]
    assert "epoch 8" in result.stdout


@pytest.mark.slow
def test_resume_after_a_kill_loses_no_finished_epoch(tiny_scene, tmp_path):
    out = tmp_path / "model.pt"
    process = subprocess.Popen(train_command(tiny_scene, out, "--epochs", "400"), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            if out.exists() and load_checkpoint(out).metadata["epoch"] >= 2:
                break
            time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    saved = load_checkpoint(out).metadata
    assert saved["epoch"] >= 2
    steps_per_epoch = saved["step"] // saved["epoch"]
    target = saved["epoch"] + 2
    result = subprocess.run(train_command(tiny_scene, out, "--epochs", str(target), "--resume"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    resumed = load_checkpoint(out)
    history = resumed.metadata["history"]
    assert [h["epoch"] for h in history] == list(range(1, target + 1))
    assert history[:saved["epoch"]] == saved["history"]
    assert resumed.metadata["step"] == target * steps_per_epoch
    assert resumed.optimizer_state is not None


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="gloo DDP test run on Linux")
def test_ddp_with_two_processes_on_cpu(tiny_scene, tmp_path, free_port):
    out = tmp_path / "ddp.pt"
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port),
               "-m", "reid.train", "--data", str(tiny_scene), "--out", str(out), *TINY, "--epochs", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = load_checkpoint(out)
    assert checkpoint.metadata["world_size"] == 2 and checkpoint.metadata["epoch"] == 2
    single = subprocess.run(train_command(tiny_scene, tmp_path / "one.pt", "--epochs", "1"), capture_output=True,
                            text=True, timeout=300)
    assert single.returncode == 0
    # each of the two processes takes half of the batches
    one = load_checkpoint(tmp_path / "one.pt").metadata
    assert checkpoint.metadata["history"][0]["step"] == (one["step"] + 1) // 2


def test_evaluation_of_oracle_and_histogram_features(tiny_scene):
    view_set = load_views(scene_folders([tiny_scene]), 32, ("full",), frame_step=1, min_side=6, episode_gap=5)
    identities = view_set.identities()
    oracle = np.eye(identities.max() + 1, dtype=np.float32)[identities]
    summary = evaluate(oracle, view_set, folds=3)
    assert summary["queries"] > 0
    assert summary["rank1"] == 1.0 and summary["mAP"] == 1.0 and summary["rank1_twins"] == 1.0
    # a feature that cannot tell twins apart: one vector per *class*
    labels = np.array([v.label for v in view_set.views])
    per_class = np.eye(labels.max() + 1, dtype=np.float32)[labels]
    blind = evaluate_features(per_class, view_set)
    assert blind["rank1_twins"] < 1.0
    # twins by class: every twin query counted once, under its own class, and oracle-perfect there
    twin_classes = {name: c for name, c in summary["per_class"].items() if "queries_twins" in c}
    assert twin_classes and all(c["rank1_twins"] == 1.0 for c in twin_classes.values())
    assert sum(c["queries_twins"] for c in twin_classes.values()) == evaluate_features(oracle, view_set)["queries_twins"]
    by_class = evaluate(per_class, view_set, folds=3)["per_class"]
    weighted = sum(c["rank1_twins"] * c["queries_twins"] for c in by_class.values() if "queries_twins" in c)
    assert weighted / blind["queries_twins"] == pytest.approx(blind["rank1_twins"])
    histogram = colour_histogram_features(view_set.crops["full"])
    assert histogram.shape == (len(view_set), 256)
    np.testing.assert_allclose(np.linalg.norm(histogram, axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_evaluate_cli(tiny_scene, tmp_path, run_module):
    out = tmp_path / "results.json"
    result = run_module("reid.evaluate", "--data", str(tiny_scene), "--model", "colour-histogram", "--frame-step", "1",
                        "--episode-gap", "5", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "colour-histogram" in result.stdout and out.exists()
    result = run_module("reid.evaluate", "--data", str(tmp_path / "nothing"), "--model", "colour-histogram")
    assert result.returncode != 0 and "Traceback" not in result.stderr


@pytest.mark.slow
def test_stop_after_epoch_keeps_the_schedule_of_all_epochs(tiny_scene, tmp_path):
    out = tmp_path / "model.pt"
    result = subprocess.run(train_command(tiny_scene, out, "--epochs", "4", "--stop-after-epoch", "2"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    metadata = load_checkpoint(out).metadata
    assert metadata["epoch"] == 2 and [h["epoch"] for h in metadata["history"]] == [1, 2]
    resumed = subprocess.run(train_command(tiny_scene, out, "--epochs", "4", "--resume", "--mining", "batch-hard"),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    metadata = load_checkpoint(out).metadata
    assert [h["epoch"] for h in metadata["history"]] == [1, 2, 3, 4] and metadata["mining"] == "batch-hard"


def test_augment_photometric_zero_is_the_old_recipe_and_changes_colour_per_view():
    import torch
    from reid.train import augment
    rng = np.random.default_rng(0)
    batch = {kind: torch.from_numpy(rng.integers(40, 200, (8, 6, 6, 3), dtype=np.uint8))
             for kind in ("foreground", "background")}
    # the recipe before --photometric-augment, written out: flip, then one gain and bias per view
    generator = torch.Generator().manual_seed(5)
    flip = torch.rand(8, generator=generator) < 0.5
    gain = 1.0 + (torch.rand(8, generator=generator) - 0.5) * 0.4
    bias = (torch.rand(8, generator=generator) - 0.5) * 30.0
    plain = augment(batch, torch.Generator().manual_seed(5))
    for kind, crops in batch.items():
        crops = crops.float()
        crops[flip] = crops[flip].flip(2)
        expected = (crops * gain[:, None, None, None] + bias[:, None, None, None]).clamp_(0, 255).to(torch.uint8)
        assert torch.equal(plain[kind], expected)
    coloured = augment(batch, torch.Generator().manual_seed(5), photometric=1.0)
    for kind in batch:
        assert coloured[kind].dtype == torch.uint8 and coloured[kind].shape == batch[kind].shape
    # the flips and biases are the same; the channels of a view are no longer scaled alike, and both crop
    # kinds of a view get the same change
    ratio = {k: (coloured[k].float() + 1) / (plain[k].float() + 1) for k in batch}
    spread = ratio["foreground"].mean(dim=(1, 2)).std(dim=1)
    assert (spread > 0.02).sum() >= 6
    torch.testing.assert_close(ratio["foreground"].mean(dim=(1, 2)), ratio["background"].mean(dim=(1, 2)),
                               rtol=0.15, atol=0.05)


def test_augment_without_flips_mirrors_no_view_and_keeps_the_colour_changes():
    import torch
    from reid.train import augment
    rng = np.random.default_rng(2)
    batch = {"full": torch.from_numpy(rng.integers(40, 200, (16, 6, 6, 3), dtype=np.uint8))}
    kept = augment(batch, torch.Generator().manual_seed(3), flips=False)["full"].float()
    mirrored = augment(batch, torch.Generator().manual_seed(3))["full"].float()
    # each view of the unflipped batch is an affine change of its own crop, never of its mirror image
    source = batch["full"].float()
    residual = [float(np.polyfit(source[i].ravel(), kept[i].ravel(), 1, full=True)[1][0]) for i in range(16)]
    assert max(residual) < 16 * 36 * 3
    flipped = [i for i in range(16) if not torch.equal(kept[i], mirrored[i])]
    assert flipped and all(torch.equal(kept[i].flip(1), mirrored[i]) for i in flipped)   # same gains, mirrored


def test_augment_photometric_leaves_the_fill_of_masked_crops_alone():
    import torch
    from reid.train import augment
    rng = np.random.default_rng(1)
    crops = rng.integers(40, 200, (6, 8, 8, 3), dtype=np.uint8)
    crops[:, :4] = 128                                   # the masked-out half, filled with (128, 128, 128)
    batch = {"foreground": torch.from_numpy(crops)}
    out = augment(batch, torch.Generator().manual_seed(0), photometric=1.0, fill=(128, 128, 128))["foreground"]
    assert (out[:, :4] == 128).all()                     # (flips are left-right: the top rows stay fill)
    assert not torch.equal(out, batch["foreground"])     # the object pixels did change
    plain = augment(batch, torch.Generator().manual_seed(0), photometric=1.0)["foreground"]
    assert not (plain[:, :4] == 128).all()               # without fill=, the fill changes too


@pytest.mark.slow
def test_init_from_fine_tunes_a_checkpoint_with_its_config_and_weights(tiny_scene, tmp_path):
    import torch
    first = tmp_path / "first.pt"
    result = subprocess.run(train_command(tiny_scene, first, "--epochs", "1", "--variant", "full"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    source = load_checkpoint(first)
    # learning rate 0: the fine-tuned model must be exactly the source model, whatever the CLI's own defaults
    tuned = tmp_path / "tuned.pt"
    result = subprocess.run([sys.executable, "-m", "reid.train", "--data", str(tiny_scene), "--out", str(tuned),
                             "--init-from", str(first), "--epochs", "1", "--lr", "0", "--instances-per-batch", "6",
                             "--views-per-instance", "3", "--frame-step", "2", "--quiet"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    fine = load_checkpoint(tuned)
    assert fine.config == source.config and fine.config.variant == "full"
    assert all(torch.equal(fine.state_dict[k], v) for k, v in source.state_dict.items())
    assert fine.metadata["init_from"]["path"] == str(first) and fine.metadata["init_from"]["epoch"] == 1
    assert [h["epoch"] for h in fine.metadata["history"]] == [1]
    # a variant other than the checkpoint's is refused with a one-line error
    result = subprocess.run(train_command(tiny_scene, tmp_path / "other.pt", "--init-from", str(first),
                                          "--variant", "concat", "--epochs", "1"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr and "differs" in result.stderr


def test_colour_histogram_leaves_out_the_excluded_colour():
    crop = np.zeros((2, 8, 8, 3), np.uint8)
    crop[0, :2] = (255, 0, 0)            # 16 red pixels, 48 black
    crop[1, :, :] = (255, 0, 0)          # all red
    plain = colour_histogram_features(crop)
    masked = colour_histogram_features(crop, exclude_colour=(0, 0, 0))
    assert np.count_nonzero(plain[0]) == 2 and np.count_nonzero(masked[0]) == 1  # black bin gone
    np.testing.assert_allclose(masked[0], masked[1])   # the same red object, whatever its share of the crop
    assert not np.allclose(plain[0], plain[1])
    empty = colour_histogram_features(np.zeros((1, 8, 8, 3), np.uint8), exclude_colour=(0, 0, 0))
    assert empty.shape == (1, 256) and not empty.any()


@pytest.mark.slow
def test_resume_at_the_stop_epoch_trains_nothing_more(tiny_scene, tmp_path):
    out = tmp_path / "model.pt"
    first = subprocess.run(train_command(tiny_scene, out, "--epochs", "4", "--stop-after-epoch", "1"),
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    before = out.read_bytes()
    again = subprocess.run(train_command(tiny_scene, out, "--epochs", "4", "--stop-after-epoch", "1", "--resume"),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "nothing to train" in again.stdout
    assert out.read_bytes() == before and load_checkpoint(out).metadata["epoch"] == 1


@pytest.mark.slow
def test_evaluate_cli_runs_a_model_in_int8_with_onnxruntime(tiny_scene, tiny_checkpoint, tmp_path, run_module):
    pytest.importorskip("onnxruntime")
    common = ["--data", str(tiny_scene), "--model", str(tiny_checkpoint), "--frame-step", "1", "--episode-gap", "5"]
    result = run_module("reid.evaluate", *common, "--backend", "onnxruntime", "--precision", "int8",
                        "--out", str(tmp_path / "int8.json"))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "int8.json").read_text())[0]["queries"] > 0
    result = run_module("reid.evaluate", *common, "--precision", "int8")   # torch cannot run int8
    assert result.returncode == 2 and "backend onnxruntime only" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_crop_margin_is_trained_with_kept_in_the_checkpoint_and_used_by_the_embedder(tiny_scene, tmp_path):
    from reid.crops import box_from_mask, make_crops
    from reid.embedder import Embedder
    from reid.data.scannet import ScanNetScene
    out = tmp_path / "wide.pt"
    result = subprocess.run(train_command(tiny_scene, out, "--epochs", "1", "--crop-margin", "25"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert load_checkpoint(out).config.crop_margin == 25
    embedder = Embedder.from_checkpoint(out)
    scene = ScanNetScene(scene_folders([tiny_scene])[0])
    frame = scene.read_frame(0, depth=False, pose=False, masks=True)
    ids = [i for i in np.unique(frame.instance) if i][:3]
    masks = np.stack([frame.instance == i for i in ids])
    boxes = [box_from_mask(mask) for mask in masks]
    model = embedder.model
    wide = make_crops(frame.rgb, np.array(boxes, float), masks, size=model.img_size, kinds=model.crop_kinds,
                      fill=model.crop_fill, margin=25)
    narrow = make_crops(frame.rgb, np.array(boxes, float), masks, size=model.img_size, kinds=model.crop_kinds,
                        fill=model.crop_fill, margin=10)
    features = embedder.embed(frame.rgb, boxes, masks)
    assert np.allclose(features, embedder.embed_crops(wide), atol=1e-5)
    assert not np.allclose(features, embedder.embed_crops(narrow), atol=1e-3)
    # a fine-tune keeps the model's margin: another one is refused in one line
    result = subprocess.run(train_command(tiny_scene, tmp_path / "tuned.pt", "--init-from", str(out), "--epochs", "1",
                                          "--crop-margin", "10"), capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr and "--crop-margin 10" in result.stderr
    result = subprocess.run(train_command(tiny_scene, tmp_path / "bad.pt", "--crop-margin", "-1"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "--crop-margin must be" in result.stderr


@pytest.mark.slow
def test_distillation_records_its_teacher_and_reuses_its_features_on_resume(tiny_scene, tiny_checkpoint, tmp_path):
    out = tmp_path / "student.pt"
    teacher_cache = tmp_path / "student.pt.teacher.npz"
    args = ("--variant", "full", "--epochs", "2", "--distill", str(tiny_checkpoint), "--distill-weight", "3")
    result = subprocess.run(train_command(tiny_scene, out, *args, "--stop-after-epoch", "1"), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    with np.load(teacher_cache) as stored:      # the teacher's unit rows of every view, unmirrored and mirrored
        features = stored["features"]
    views = load_views(scene_folders([tiny_scene]), 32, ("foreground",), frame_step=2)
    assert features.shape == (len(views), 2, 16)
    np.testing.assert_allclose(np.linalg.norm(features, axis=-1), 1.0, atol=1e-5)
    assert not np.allclose(features[:, 0], features[:, 1])
    written = teacher_cache.stat().st_mtime_ns
    result = subprocess.run(train_command(tiny_scene, out, *args, "--resume"), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert teacher_cache.stat().st_mtime_ns == written            # reused, not recomputed
    metadata = load_checkpoint(out).metadata
    assert metadata["distill"] == str(tiny_checkpoint) and metadata["distill_weight"] == 3
    assert [h["epoch"] for h in metadata["history"]] == [1, 2]
    assert all(h["distill_loss"] > 0 for h in metadata["history"])
    # another teacher: the stored features are not its own, so they are computed again
    other = tmp_path / "other.pt"
    (tmp_path / "other.pt.teacher.npz").write_bytes(teacher_cache.read_bytes())
    result = subprocess.run(train_command(tiny_scene, other, "--variant", "full", "--epochs", "1", "--distill",
                                          "variant:full"), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    with np.load(tmp_path / "other.pt.teacher.npz") as stored:
        assert str(stored["spec"]) == "variant:full" and stored["features"].shape[-1] == 128
