"""Model variants: shapes, unit norm, gradients, token counts, stream handling, training, weights."""
import socket
import time
import warnings

import numpy as np
import pytest
import timm
import torch

from reid.losses import triplet_loss
from reid.model import (ReIDConfig, WeightsLoadError, WeightsNotFoundError, create_model, get_variant,
                        list_variants, register_variant)

# 32x32 crops, 16-px patches -> N = 4 patches, N + 1 = 5 tokens per stream; width 32, 2 heads.
TINY = dict(img_size=32, embed_dim=16, trunk_kwargs=dict(depth=1, embed_dim=32, num_heads=2))
TOKENS = 5
VARIANTS = ("no-train", "full", "concat", "concat-full", "early-fusion")


def tiny(variant, **changes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no-train with a random trunk warns
        return create_model(variant, **{**TINY, **changes})


def random_crops(model, batch=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(batch, 3, 32, 32, generator=gen) for k in model.crop_kinds}


def test_registry_lists_the_variants_and_declares_crops():
    assert set(VARIANTS) <= set(list_variants())
    assert get_variant("concat").crop_kinds == ("foreground", "background")
    assert get_variant("full").crop_kinds == ("full",)
    assert get_variant("concat-full").crop_kinds == ("foreground", "background", "full")
    assert get_variant("no-train").trainable is False
    with pytest.raises(KeyError, match="unknown re-ID variant 'nope'.*concat"):
        create_model("nope", **TINY)
    with pytest.raises(ValueError, match="already registered"):
        register_variant("concat", crop_kinds=("full",))(lambda config, trunk: None)


@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_shape_dtype_and_unit_norm(variant):
    model = tiny(variant).eval()
    assert tuple(model.crop_kinds) == get_variant(variant).crop_kinds
    out = model(random_crops(model))
    dim = 32 if variant == "no-train" else 16
    assert out.shape == (3, dim) and model.out_dim == dim
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.norm(dim=1), torch.ones(3))


@pytest.mark.parametrize("variant", VARIANTS)
def test_batch_items_are_independent(variant):
    """An object's embedding must not depend on the other objects in its batch."""
    model = tiny(variant).eval()
    crops = random_crops(model, batch=4)
    together = model(crops)
    for i in range(4):
        alone = model({k: v[i:i + 1] for k, v in crops.items()})
        torch.testing.assert_close(alone[0], together[i], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("variant", ["full", "concat", "concat-full", "early-fusion"])
def test_gradients_reach_head_and_trunk(variant):
    model = tiny(variant)
    out = model(random_crops(model, batch=4))
    loss = triplet_loss(out, torch.tensor([0, 0, 1, 1]), margin=1.0).loss + (out[:, 0]).sum()
    loss.backward()
    assert model.proj.weight.grad is not None and model.proj.weight.grad.abs().sum() > 0
    assert model.trunk.patch_embed.proj.weight.grad.abs().sum() > 0
    frozen = tiny(variant, freeze_trunk=True)
    frozen(random_crops(frozen)).sum().backward()
    assert all(p.grad is None for p in frozen.trunk.parameters())
    assert frozen.proj.weight.grad is not None


def test_no_train_has_nothing_to_train_and_is_the_class_token():
    model = tiny("no-train").eval()
    assert not any(p.requires_grad for p in model.parameters())
    crops = random_crops(model)
    cls = model.trunk.forward_features(crops["full"])[:, 0]
    torch.testing.assert_close(model(crops), torch.nn.functional.normalize(cls, dim=1))


def test_concat_fuses_two_token_sets_before_pooling():
    model = tiny("concat").eval()
    crops = random_crops(model, batch=2)
    tokens = model.forward_tokens(crops)
    assert tokens.shape == (2, 2 * TOKENS, 32)  # 2(N + 1) x D
    streams = model.stream_tokens(crops)
    assert streams.shape == (2, 2, TOKENS, 32)
    # stream 0 is the trunk on the foreground, stream 1 on the background
    torch.testing.assert_close(streams[1], model.trunk.forward_features(crops["background"]))
    assert tiny("full").forward_tokens(random_crops(tiny("full"))).shape[1] == TOKENS
    assert tiny("concat-full").forward_tokens(random_crops(tiny("concat-full"))).shape[1] == 3 * TOKENS
    assert tiny("early-fusion").forward_tokens(random_crops(tiny("early-fusion"))).shape[1] == 1 + 2 * 4


def test_concat_uses_the_background():
    model = tiny("concat").eval()
    crops = random_crops(model, batch=2)
    changed = dict(crops, background=crops["background"].flip(0))
    a, b = model(crops), model(changed)
    assert (a - b).abs().max() > 1e-4


def test_stream_order_matters_only_with_stream_embeddings():
    # Paper's concat: attention is permutation-equivariant and mean pooling symmetric -> swapping
    # foreground and background gives the same embedding; a stream embedding breaks the symmetry.
    for variant, stream_embedding, symmetric in [("concat", False, True), ("concat", True, False),
                                                 ("early-fusion", False, False)]:
        torch.manual_seed(0)
        model = tiny(variant, stream_embedding=stream_embedding).eval()
        crops = random_crops(model, batch=2)
        swapped = {"foreground": crops["background"], "background": crops["foreground"]}
        diff = (model(crops) - model(swapped)).abs().max().item()
        assert (diff < 1e-5) == symmetric, (variant, stream_embedding, diff)


def test_cls_pooling_and_input_checks():
    model = tiny("concat", pool="cls").eval()
    crops = random_crops(model)
    tokens = model.forward_tokens(crops)
    torch.testing.assert_close(model.pool(tokens), (tokens[:, 0] + tokens[:, TOKENS]) / 2)
    with pytest.raises(KeyError, match="background"):
        model({"foreground": crops["foreground"]})
    with pytest.raises(ValueError, match="Bx3x32x32"):
        model({k: v[:, :, :16] for k, v in crops.items()})
    with pytest.raises(ValueError, match="does not divide"):
        tiny("concat", attn_heads=5)


def test_prepare_inputs_normalises_with_the_trunk_statistics():
    model = tiny("concat")
    crops = {k: np.full((2, 32, 32, 3), 255, np.uint8) for k in model.crop_kinds}
    x = model.prepare_inputs(crops)
    mean = torch.tensor(model.trunk.pretrained_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(model.trunk.pretrained_cfg["std"]).view(1, 3, 1, 1)
    torch.testing.assert_close(x["foreground"], ((1 - mean) / std).expand(2, 3, 32, 32))
    # the default fill colour is the trunk's mean: masked pixels become 0 after normalisation
    fill = np.broadcast_to(np.array(model.crop_fill, np.uint8), (1, 32, 32, 3))
    assert model.prepare_inputs({"foreground": fill, "background": fill})["background"].abs().max() < 0.01


def test_config_round_trip_and_validation():
    config = ReIDConfig(variant="full", crop_fill=[1, 2, 3], trunk_kwargs={"depth": 2})
    again = ReIDConfig.from_dict(config.to_dict())
    assert again == config and again.crop_fill == (1, 2, 3)
    with pytest.raises(ValueError, match="unknown ReIDConfig fields"):
        ReIDConfig.from_dict({"variant": "concat", "colour": 1})
    with pytest.raises(ValueError, match="pool"):
        ReIDConfig(pool="max")


def test_a_few_steps_of_concat_lower_the_triplet_loss():
    torch.manual_seed(0)
    model = tiny("concat")
    gen = torch.Generator().manual_seed(1)
    # 4 instances x 3 views: a per-instance image pair plus per-view noise
    base_fg = torch.randn(4, 3, 32, 32, generator=gen)
    base_bg = torch.randn(4, 3, 32, 32, generator=gen)
    labels = torch.arange(4).repeat_interleave(3)
    crops = {"foreground": base_fg[labels] + 1.0 * torch.randn(12, 3, 32, 32, generator=gen),
             "background": base_bg[labels] + 1.0 * torch.randn(12, 3, 32, 32, generator=gen)}

    def loss_now():
        model.eval()
        with torch.no_grad():
            return triplet_loss(model(crops), labels, margin=1.0, mining="batch-hard").loss.item()

    before = loss_now()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(15):
        optimiser.zero_grad()
        triplet_loss(model(crops), labels, margin=1.0, mining="batch-hard").loss.backward()
        optimiser.step()
    after = loss_now()
    assert before > 0.1
    assert after < 0.5 * before, (before, after)


# ------------------------------------------------------------------ trunk weights (never the network)

@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the network must not be used")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    import huggingface_hub.constants as hf_constants
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


def test_pretrained_without_cached_weights_fails_fast_and_clearly(no_network, empty_caches):
    start = time.monotonic()
    with pytest.raises(WeightsNotFoundError, match="vit_tiny_patch16_224.*not in the local cache.*trunk_weights"):
        create_model("concat", pretrained=True, **TINY)
    assert time.monotonic() - start < 5


def test_pretrained_uses_the_local_hub_cache(no_network, empty_caches):
    from safetensors.torch import save_file
    source = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=32, **TINY["trunk_kwargs"])
    repo = empty_caches / "hf" / "models--timm--vit_tiny_patch16_224.augreg_in21k_ft_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    save_file(source.state_dict(), str(repo / "snapshots" / "abc123" / "model.safetensors"))
    model = create_model("concat", pretrained=True, **TINY)
    torch.testing.assert_close(model.trunk.pos_embed, source.pos_embed)
    torch.testing.assert_close(model.trunk.blocks[0].attn.qkv.weight, source.blocks[0].attn.qkv.weight)


def test_trunk_weights_from_a_local_file(tmp_path, no_network):
    source = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=32, **TINY["trunk_kwargs"])
    path = tmp_path / "trunk.pth"
    torch.save(source.state_dict(), path)
    model = create_model("full", trunk_weights=str(path), **TINY)
    for name, value in source.state_dict().items():
        torch.testing.assert_close(model.trunk.state_dict()[name], value)
    # missing file: names it
    with pytest.raises(WeightsNotFoundError, match="nowhere.pth"):
        create_model("full", trunk_weights=str(tmp_path / "nowhere.pth"), **TINY)
    # unloadable file: names it
    bad = tmp_path / "garbage.pth"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsLoadError, match="garbage.pth"):
        create_model("full", trunk_weights=str(bad), **TINY)
    # weights of another architecture: names it too
    other = tmp_path / "other.pth"
    torch.save(timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=32, depth=1,
                                 embed_dim=64, num_heads=2).state_dict(), other)
    with pytest.raises(WeightsLoadError, match="other.pth"):
        create_model("full", trunk_weights=str(other), **TINY)


def test_reid_never_imports_tracker():
    """reid is the lower layer: no module under reid/ may import tracker (static check)."""
    import ast
    from pathlib import Path
    import reid
    offenders = []
    for path in Path(reid.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n == "tracker" or n.startswith("tracker.")]
    assert not offenders, offenders
