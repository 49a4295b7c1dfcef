"""Checkpoints: round trip, optimizer state, metadata, atomic writes, fp16 export, clear errors."""
import os
import warnings

import numpy as np
import pytest
import torch

from reid import checkpoint as ckpt_module
from reid.checkpoint import (CheckpointError, CheckpointNotFoundError, export_half, load_checkpoint,
                             model_from_checkpoint, save_checkpoint)
from reid.model import create_model

TINY = dict(img_size=32, embed_dim=16, trunk_kwargs=dict(depth=1, embed_dim=32, num_heads=2))


def crops_for(model, batch=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(batch, 3, 32, 32, generator=gen) for k in model.crop_kinds}


def trained_a_little(variant="concat"):
    torch.manual_seed(0)
    model = create_model(variant, **TINY)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(2):
        optimiser.zero_grad()
        model(crops_for(model, seed=1))[:, 0].sum().backward()
        optimiser.step()
    return model.eval(), optimiser


@pytest.mark.parametrize("variant", ["concat", "early-fusion", "no-train"])
def test_round_trip_gives_identical_embeddings(tmp_path, variant):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = create_model(variant, **TINY).eval() if variant == "no-train" else trained_a_little(variant)[0]
    path = save_checkpoint(tmp_path / "sub" / "model.pt", model,
                           metadata={"epoch": np.int64(3), "seeds": {"torch": 0}, "metrics": {"rank1": np.float32(0.5)},
                                     "data": tmp_path})
    loaded = load_checkpoint(path)
    assert loaded.config == model.config
    assert loaded.metadata == {"epoch": 3, "seeds": {"torch": 0}, "metrics": {"rank1": 0.5}, "data": str(tmp_path)}
    again = model_from_checkpoint(path)
    crops = crops_for(model)
    with torch.no_grad():
        torch.testing.assert_close(again(crops), model(crops), rtol=0, atol=0)


def test_optimizer_state_restores(tmp_path):
    model, optimiser = trained_a_little()
    save_checkpoint(tmp_path / "c.pt", model, optimizer=optimiser, metadata={"step": 2})
    loaded = load_checkpoint(tmp_path / "c.pt")
    fresh = model_from_checkpoint(loaded).train()
    fresh_optimiser = torch.optim.Adam(fresh.parameters(), lr=1e-2)
    fresh_optimiser.load_state_dict(loaded.optimizer_state)
    state = fresh_optimiser.state_dict()["state"]
    original = optimiser.state_dict()["state"]
    assert state.keys() == original.keys() and len(state) > 0
    for key in state:
        torch.testing.assert_close(state[key]["exp_avg"], original[key]["exp_avg"])


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    model, _ = trained_a_little()
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, metadata={"epoch": 1})
    before = path.read_bytes()

    def broken_save(obj, handle, *args, **kwargs):
        handle.write(b"half a checkpoint")
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(ckpt_module.torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, metadata={"epoch": 2})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.pt"]
    monkeypatch.undo()
    save_checkpoint(path, model, metadata={"epoch": 2})  # overwrites
    assert load_checkpoint(path).metadata["epoch"] == 2
    assert os.listdir(tmp_path) == ["model.pt"]


def test_unsupported_metadata_is_refused_before_writing(tmp_path):
    model, _ = trained_a_little()
    with pytest.raises(TypeError, match=r"metadata\['callback'\]"):
        save_checkpoint(tmp_path / "c.pt", model, metadata={"callback": object()})
    assert not (tmp_path / "c.pt").exists()


def test_export_half(tmp_path):
    model, optimiser = trained_a_little()
    full = save_checkpoint(tmp_path / "full.pt", model, optimizer=optimiser, metadata={"epoch": 5})
    half = export_half(full, tmp_path / "half.pt")
    loaded = load_checkpoint(half)
    assert loaded.dtype == "float16" and loaded.optimizer_state is None
    assert all(v.dtype == torch.float16 for v in loaded.state_dict.values() if v.is_floating_point())
    assert loaded.metadata["epoch"] == 5 and loaded.metadata["export"]["dtype"] == "float16"
    assert loaded.config == model.config
    assert os.path.getsize(half) < 0.6 * os.path.getsize(full)
    upcast = model_from_checkpoint(loaded)
    assert next(upcast.parameters()).dtype == torch.float32
    crops = crops_for(model)
    with torch.no_grad():
        a, b = model(crops), upcast(crops)
    assert (a - b).abs().max() < 1e-2
    assert not torch.equal(a, b)  # it really went through fp16


def test_clear_errors(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError):  # also a FileNotFoundError
        load_checkpoint(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(200))
    with pytest.raises(CheckpointError, match="garbage.pt"):
        load_checkpoint(garbage)
    plain = tmp_path / "state_dict.pt"
    torch.save({"weight": torch.zeros(2)}, plain)
    with pytest.raises(CheckpointError, match="state_dict.pt is not a re-ID checkpoint"):
        load_checkpoint(plain)
    model, _ = trained_a_little()
    good = save_checkpoint(tmp_path / "good.pt", model)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        load_checkpoint(truncated)


def test_numpy_scalars_in_metadata_load_back(tmp_path):
    """numpy.float64 is a float subclass: it must still be stored as a plain float."""
    import numpy as np
    from reid.checkpoint import load_checkpoint, save_checkpoint
    from reid.model import ReIDConfig, create_model
    config = ReIDConfig(variant="full", img_size=32, embed_dim=8, trunk_kwargs={"depth": 1, "embed_dim": 32, "num_heads": 2})
    path = tmp_path / "m.pt"
    save_checkpoint(path, create_model(config), config,
                    metadata={"history": [{"val_rank1": np.float64(0.5), "n": np.int64(3)}]})
    history = load_checkpoint(path).metadata["history"]
    assert history == [{"val_rank1": 0.5, "n": 3}] and type(history[0]["val_rank1"]) is float
