"""A frozen (or partly unfrozen) trunk: the split forward, the token cache, and head training on it."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from reid.checkpoint import load_checkpoint
from reid.model import ReIDConfig, create_model
from reid.token_cache import TokenCacheError, load_or_compute_fixed_tokens
from reid.train import parameter_groups

TINY_TRUNK = {"depth": 3, "embed_dim": 32, "num_heads": 2}


def tiny(variant="concat", unfrozen=0, **changes):
    torch.manual_seed(0)
    config = ReIDConfig(variant=variant, img_size=32, embed_dim=16, trunk_kwargs=TINY_TRUNK, freeze_trunk=True,
                        unfrozen_blocks=unfrozen, **changes)
    return create_model(config).eval()


def random_crops(count, kinds=("foreground", "background", "full"), seed=0):
    rng = np.random.default_rng(seed)
    return {kind: rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8) for kind in kinds}


@pytest.mark.parametrize("variant", ["concat", "full", "concat-full"])
@pytest.mark.parametrize("unfrozen", [0, 2])
def test_the_split_forward_equals_the_whole_forward(variant, unfrozen):
    model = tiny(variant, unfrozen)
    inputs = model.prepare_inputs(random_crops(5))
    with torch.no_grad():
        whole = model(inputs)
        split = model.forward_fixed_tokens(model.stream_fixed_tokens(inputs))
    torch.testing.assert_close(split, whole, atol=1e-5, rtol=1e-5)


def test_only_the_unfrozen_blocks_and_the_head_train():
    model = tiny("concat", unfrozen=1)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert any(name.startswith("trunk.blocks.2.") for name in trainable)
    assert any(name.startswith("trunk.norm.") for name in trainable)
    assert any(name.startswith("fusion.") for name in trainable)
    assert not any(name.startswith(("trunk.blocks.0.", "trunk.blocks.1.", "trunk.patch_embed", "trunk.pos_embed",
                                    "trunk.cls_token")) for name in trainable)
    with pytest.raises(ValueError, match="needs freeze_trunk"):
        ReIDConfig(variant="concat", unfrozen_blocks=1)
    with pytest.raises(ValueError, match="has 3 blocks"):
        tiny("concat", unfrozen=4)


def test_layer_decay_scales_the_unfrozen_blocks_from_the_top():
    model = tiny("concat", unfrozen=2)
    groups = parameter_groups(model, 0.5)
    scales = sorted(group["lr_scale"] for group in groups)
    assert scales == [0.25, 0.5, 0.5, 1.0]       # block 1, block 2 and the final norm, the head
    counted = sum(p.numel() for group in groups for p in group["params"])
    assert counted == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_the_token_cache_is_reused_and_refused_for_other_settings(tmp_path):
    model = tiny("concat")
    crops = random_crops(7)
    first = load_or_compute_fixed_tokens(model, crops, str(tmp_path), "train-", flips=(False, True))
    assert first.shape == (7, 2, 2, 1 + 4, 32) and first.dtype == torch.float16
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train-background-b3.pt", "train-foreground-b3.pt"]
    mirrored = model.stream_fixed_tokens(model.prepare_inputs({k: v[:, :, ::-1].copy() for k, v in crops.items()}))
    torch.testing.assert_close(first[:, 1].permute(1, 0, 2, 3).float(), mirrored.detach(), atol=2e-2, rtol=1e-2)
    again = load_or_compute_fixed_tokens(model, crops, str(tmp_path), "train-", flips=(False, True))
    assert torch.equal(first, again)
    other = random_crops(7, seed=1)
    with pytest.raises(TokenCacheError, match="crops_sha256"):
        load_or_compute_fixed_tokens(model, other, str(tmp_path), "train-", flips=(False, True))
    partly = load_or_compute_fixed_tokens(tiny("concat", unfrozen=1), crops, str(tmp_path), "train-", flips=(False,))
    assert partly.shape == (7, 1, 2, 5, 32) and (tmp_path / "train-foreground-b2.pt").exists()
    with pytest.raises(TokenCacheError, match="flips"):
        load_or_compute_fixed_tokens(model, crops, str(tmp_path), "train-", flips=(False,))


@pytest.mark.slow
def test_head_training_on_stored_tokens_keeps_the_trunk_and_records_the_recipe(tiny_scene, tmp_path):
    init = tmp_path / "init.pt"
    out, cache = tmp_path / "head.pt", tmp_path / "tokens"
    command = [sys.executable, "-m", "reid.train", "--data", str(tiny_scene), "--val-data", str(tiny_scene),
               "--variant", "concat", "--trunk-kwargs", '{"depth": 2, "embed_dim": 32, "num_heads": 2}',
               "--img-size", "32", "--embed-dim", "16", "--instances-per-batch", "6", "--views-per-instance", "3",
               "--frame-step", "2", "--quiet", "--freeze-trunk", "--unfreeze-blocks", "1", "--layer-decay", "0.5",
               "--token-cache", str(cache), "--epochs", "6", "--lr", "1e-3", "--warmup-steps", "3", "--seed", "3"]
    short = subprocess.run(command[:-6] + ["--epochs", "1", "--lr", "0", "--seed", "3", "--out", str(init)],
                           capture_output=True, text=True, timeout=300)
    assert short.returncode == 0, short.stderr
    result = subprocess.run(command + ["--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "fixed trunk tokens" in result.stdout
    before, after = load_checkpoint(init).state_dict, load_checkpoint(out).state_dict
    for name in before:   # same seed: the same random trunk; only the last block, the norm and the head move
        moved = not torch.equal(before[name], after[name])
        expected = name.startswith(("trunk.blocks.1.", "trunk.norm.")) or not name.startswith("trunk.")
        if not expected:
            assert not moved, name
    assert any(not torch.equal(before[n], after[n]) for n in before if n.startswith("trunk.blocks.1."))
    saved = load_checkpoint(out)
    assert saved.config.freeze_trunk and saved.config.unfrozen_blocks == 1
    assert saved.metadata["layer_decay"] == 0.5 and saved.metadata["token_cache"] is True
    history = saved.metadata["history"]
    assert history[-1]["loss"] < history[0]["loss"]
    assert all("val_rank1" in h for h in history)


@pytest.mark.slow
def test_photometric_augmentation_is_refused_with_a_frozen_trunk(tiny_scene, tmp_path, run_module):
    result = run_module("reid.train", "--data", str(tiny_scene), "--out", str(tmp_path / "m.pt"), "--freeze-trunk",
                        "--photometric-augment", "0.5")
    assert result.returncode == 2
    assert "only flips" in result.stderr


def test_a_frozen_trunk_checkpoint_references_its_trunk_file_instead_of_copying_it(tmp_path, monkeypatch):
    from reid.checkpoint import CheckpointError, export_half, model_from_checkpoint, save_checkpoint
    trunk_file = tmp_path / "trunks" / "tiny-trunk.pt"
    trunk_file.parent.mkdir()
    torch.save(tiny("full").trunk.state_dict(), trunk_file)
    config = ReIDConfig(variant="concat", img_size=32, embed_dim=16, trunk_kwargs=TINY_TRUNK, freeze_trunk=True,
                        unfrozen_blocks=1, trunk_weights=str(trunk_file))
    model = create_model(config).eval()
    head = save_checkpoint(tmp_path / "head.pt", model, metadata={"epoch": 1})
    saved = load_checkpoint(head)
    assert saved.trunk_reference["file"] == "tiny-trunk.pt" and len(saved.trunk_reference["sha256"]) == 64
    assert not any(k.startswith("trunk.blocks.0.") or k.startswith("trunk.patch_embed") for k in saved.state_dict)
    assert any(k.startswith("trunk.blocks.2.") for k in saved.state_dict)        # the unfrozen block is kept
    inputs = model.prepare_inputs(random_crops(4))
    with torch.no_grad():
        expected = model(inputs)
        torch.testing.assert_close(model_from_checkpoint(head)(inputs), expected)

    moved = tmp_path / "elsewhere"
    moved.mkdir()
    trunk_file.rename(moved / trunk_file.name)
    with pytest.raises(CheckpointError, match="needs trunk file tiny-trunk.pt"):
        model_from_checkpoint(head)
    monkeypatch.setenv("REID_TRUNK_DIR", str(moved))
    with torch.no_grad():
        torch.testing.assert_close(model_from_checkpoint(head)(inputs), expected)

    half = export_half(head, tmp_path / "ship" / "head-half.pt", trunk_out=tmp_path / "ship" / "trunk-half.pt")
    shipped = load_checkpoint(half)
    assert shipped.trunk_reference["file"] == "trunk-half.pt" and shipped.dtype == "float16"
    monkeypatch.delenv("REID_TRUNK_DIR")
    with torch.no_grad():
        torch.testing.assert_close(model_from_checkpoint(half)(inputs), expected, atol=5e-3, rtol=0)
    torch.save({"other": torch.zeros(1)}, tmp_path / "ship" / "trunk-half.pt")   # same name, other contents
    with pytest.raises(CheckpointError, match="has another sha256"):
        model_from_checkpoint(half)


@pytest.mark.slow
def test_a_head_that_references_its_trunk_file_resumes_and_fine_tunes(tiny_scene, tmp_path):
    trunk_file = tmp_path / "tiny-trunk.pt"
    torch.save(tiny("full").trunk.state_dict(), trunk_file)
    command = [sys.executable, "-m", "reid.train", "--data", str(tiny_scene), "--instances-per-batch", "6",
               "--views-per-instance", "3", "--frame-step", "2", "--quiet", "--seed", "1"]
    new = ["--variant", "concat-full", "--trunk-kwargs", '{"depth": 3, "embed_dim": 32, "num_heads": 2}',
           "--img-size", "32", "--embed-dim", "16", "--freeze-trunk", "--trunk-weights", str(trunk_file),
           "--token-cache", str(tmp_path / "tokens")]
    head = tmp_path / "head.pt"
    first = subprocess.run(command + new + ["--epochs", "1", "--out", str(head)], capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == 0, first.stderr
    assert load_checkpoint(head).trunk_reference is not None          # the head alone, no frozen trunk weights
    resumed = subprocess.run(command + new + ["--epochs", "2", "--resume", "--out", str(head)], capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert [h["epoch"] for h in load_checkpoint(head).metadata["history"]] == [1, 2]
    tuned = tmp_path / "tuned.pt"
    fine = subprocess.run(command + ["--init-from", str(head), "--epochs", "1", "--lr", "0", "--mining", "batch-hard",
                                     "--token-cache", str(tmp_path / "tokens"), "--out", str(tuned)],
                          capture_output=True, text=True, timeout=300)
    assert fine.returncode == 0, fine.stderr
    before, after = load_checkpoint(head), load_checkpoint(tuned)
    assert after.trunk_reference == before.trunk_reference
    assert all(torch.equal(after.state_dict[k], v) for k, v in before.state_dict.items())   # lr 0: unchanged
