"""EnsembleEmbedder: two embedders as one, the squared distance mixed by the weight."""
import numpy as np
import pytest
import torch

from reid.checkpoint import save_checkpoint
from reid.embedder import Embedder
from reid.ensemble import EnsembleEmbedder, combine_features, parse_ensemble

TINY = dict(img_size=32, embed_dim=16, trunk_kwargs=dict(depth=1, embed_dim=32, num_heads=2))


def frame(seed=0, height=60, width=80):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    boxes = np.array([[5, 5, 20, 30], [50, 30, 25, 25], [40, 10, 20, 20]], float)
    masks = np.zeros((3, height, width), bool)
    masks[0, 8:30, 8:22] = True
    masks[1, 35:50, 55:70] = True
    masks[2, 12:28, 42:58] = True
    return rgb, boxes, masks


def squared_distances(features):
    return ((features[:, None] - features[None]) ** 2).sum(-1)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ensemble")
    paths = []
    for seed, variant in ((0, "concat"), (1, "full")):
        torch.manual_seed(seed)
        paths.append(save_checkpoint(folder / f"{variant}.pt", Embedder.from_variant(variant, **TINY).model))
    return paths


def test_squared_distance_is_the_weighted_sum_of_the_members(checkpoints):
    first, second = (Embedder.from_checkpoint(path, device="cpu") for path in checkpoints)
    ensemble = EnsembleEmbedder(first, second, 0.7)
    rgb, boxes, masks = frame()
    features = ensemble.embed(rgb, boxes, masks)
    assert features.shape == (3, first.dim + second.dim) == (3, ensemble.dim) and features.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    expected = 0.7 * squared_distances(first.embed(rgb, boxes, masks)) \
        + 0.3 * squared_distances(second.embed(rgb, boxes, masks))
    assert expected.max() > 0.01                                    # the objects differ
    np.testing.assert_allclose(squared_distances(features), expected, atol=1e-5)
    assert ensemble.embed(rgb, np.zeros((0, 4)), None).shape == (0, ensemble.dim)


def test_from_spec_reads_two_specs_and_a_weight(checkpoints):
    first, second = map(str, checkpoints)
    ensemble = Embedder.from_spec(f"{first}+{second}:0.25", device="cpu")
    assert isinstance(ensemble, EnsembleEmbedder) and ensemble.weight == 0.25
    assert ensemble.name == f"{first}+{second}:0.25"
    other = Embedder.from_spec(f"{first}+{second}", device="cpu")           # W defaults to 0.5
    assert other.weight == 0.5 and other.weights_sha256 != ensemble.weights_sha256
    alone = Embedder.from_checkpoint(first, device="cpu")
    with_itself = Embedder.from_spec(f"{first}+{first}:0.4", device="cpu")  # a model mixed with itself is itself
    rgb, boxes, masks = frame(1)
    np.testing.assert_allclose(squared_distances(with_itself.embed(rgb, boxes, masks)),
                               squared_distances(alone.embed(rgb, boxes, masks)), atol=1e-5)


@pytest.mark.parametrize("spec", ["a+b:1.5", "a+b:0", "+b", "a+b+c"])
def test_malformed_specs_are_named(spec):
    with pytest.raises(ValueError, match="0 < W < 1"):
        parse_ensemble(spec)


def test_variant_members_keep_their_colon():
    assert parse_ensemble("variant:no-train+default:0.3") == ("variant:no-train", "default", 0.3)
    assert parse_ensemble("default+variant:no-train") == ("default", "variant:no-train", 0.5)
    assert parse_ensemble("default") is None


def test_combine_features_checks_row_counts():
    with pytest.raises(ValueError, match="3 rows against 2"):
        combine_features(np.ones((3, 2)), np.ones((2, 2)), 0.5)
