"""Embedder: shapes, unit rows, N = 0, box-only, batching, checkpoints, the shipped default."""
import time
from pathlib import Path
import warnings

import numpy as np
import pytest
import torch

from reid.checkpoint import CheckpointNotFoundError, export_half, save_checkpoint
from reid.crops import make_crops
from reid.embedder import Embedder

TINY = dict(img_size=32, embed_dim=16, trunk_kwargs=dict(depth=1, embed_dim=32, num_heads=2))


def frame(seed=0, height=60, width=80):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    boxes = np.array([[5, 5, 20, 30], [50, 30, 25, 25], [70, 50, 20, 20], [30.5, 10.2, 3, 2]], float)
    masks = np.zeros((4, height, width), bool)
    masks[0, 8:30, 8:22] = True
    masks[1, 35:50, 55:70] = True
    masks[2, 55:60, 72:80] = True
    masks[3, 11, 31] = True
    return rgb, boxes, masks


@pytest.fixture(scope="module")
def concat():
    torch.manual_seed(0)
    return Embedder.from_variant("concat", device="cpu", **TINY)


def test_embed_shapes_dtype_and_unit_rows(concat):
    rgb, boxes, masks = frame()
    features = concat.embed(rgb, boxes, masks)
    assert features.shape == (4, concat.dim) and concat.dim == 16
    assert features.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    assert len({tuple(np.round(f, 4)) for f in features}) == 4  # objects differ


def test_no_objects_gives_zero_rows(concat):
    rgb, _, _ = frame()
    out = concat.embed(rgb, np.zeros((0, 4)), None)
    assert out.shape == (0, 16) and out.dtype == np.float32
    out = concat.embed(rgb, np.zeros((0, 4)), np.zeros((0, 60, 80), bool))
    assert out.shape == (0, 16)


def test_box_only_embeddings(concat):
    rgb, boxes, masks = frame()
    box_only = concat.embed(rgb, boxes, None)
    np.testing.assert_allclose(np.linalg.norm(box_only, axis=1), 1.0, atol=1e-5)
    assert np.abs(box_only - concat.embed(rgb, boxes, masks)).max() > 1e-3


def test_embed_is_make_crops_then_model(concat):
    rgb, boxes, masks = frame()
    crops = make_crops(rgb, boxes, masks, size=32, kinds=("foreground", "background"),
                       fill=concat.model.crop_fill, margin=10)
    model = concat.model
    with torch.no_grad():
        expected = model(model.prepare_inputs(crops)).numpy()
    np.testing.assert_allclose(concat.embed(rgb, boxes, masks), expected, atol=1e-6)
    np.testing.assert_allclose(concat.embed_crops(crops), expected, atol=1e-6)
    for kind in crops:
        np.testing.assert_array_equal(model.make_crops(rgb, boxes, masks)[kind], crops[kind])


def test_batch_size_does_not_change_results(concat):
    rgb, boxes, masks = frame()
    small = Embedder(concat.model, device="cpu", batch_size=1)
    np.testing.assert_allclose(small.embed(rgb, boxes, masks), concat.embed(rgb, boxes, masks), atol=1e-5)
    with pytest.raises(ValueError, match="batch_size"):
        Embedder(concat.model, batch_size=0)


def test_invalid_object_is_named(concat):
    rgb, boxes, masks = frame()
    masks[2] = False
    with pytest.raises(ValueError, match="object 2: mask is empty"):
        concat.embed(rgb, boxes, masks)


@pytest.mark.parametrize("variant,dim", [("no-train", 32), ("full", 16), ("concat-full", 16), ("early-fusion", 16)])
def test_other_variants(variant, dim):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        emb = Embedder.from_variant(variant, device="cpu", **TINY)
    rgb, boxes, masks = frame(1)
    out = emb.embed(rgb, boxes, masks)
    assert out.shape == (4, dim) and emb.dim == dim
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert emb.embed(rgb, np.zeros((0, 4)), None).shape == (0, dim)


def test_from_checkpoint_and_fp16(tmp_path, concat):
    rgb, boxes, masks = frame(2)
    path = save_checkpoint(tmp_path / "c.pt", concat.model, metadata={"epoch": 7})
    loaded = Embedder.from_checkpoint(path, device="cpu")
    assert loaded.metadata["epoch"] == 7 and loaded.config == concat.config
    reference = concat.embed(rgb, boxes, masks)
    np.testing.assert_array_equal(loaded.embed(rgb, boxes, masks), reference)
    half = Embedder.from_checkpoint(export_half(path, tmp_path / "half.pt"), device="cpu")
    assert next(half.model.parameters()).dtype == torch.float32  # upcast on CPU
    out = half.embed(rgb, boxes, masks)
    assert np.abs(out - reference).max() < 1e-2
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_default_is_the_shipped_trained_model():
    embedder = Embedder.default()
    assert embedder.config.variant == "early-fusion" and embedder.dim == 128
    assert embedder.metadata["epoch"] >= 1 and embedder.metadata["recipe"]  # trained, recipe recorded
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    masks = np.zeros((2, 120, 160), bool)
    masks[0, 20:60, 30:70] = True
    masks[1, 50:110, 90:150] = True
    features = embedder.embed(rgb, [[30, 20, 40, 40], [90, 50, 60, 60]], masks)
    assert features.shape == (2, 128) and features.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-4)


def test_default_without_shipped_model_fails_fast_and_says_what_to_do(monkeypatch):
    import reid.embedder
    monkeypatch.setitem(reid.embedder.SHIPPED_MODELS, "default", "weights/not-shipped.pt")
    start = time.monotonic()
    with pytest.raises(CheckpointNotFoundError, match="shipped re-ID model.*from_checkpoint"):
        Embedder.default()
    assert time.monotonic() - start < 2


@pytest.mark.parametrize("name, variant", [("dinov2-concat", "concat"), ("dinov2-full", "full"),
                                           ("dinov2-concat-full", "concat-full")])
def test_shipped_dinov2_heads_carry_a_trunk_reference_and_their_recipe(name, variant, tmp_path, monkeypatch):
    from reid.checkpoint import CheckpointError, load_checkpoint
    from reid.embedder import SHIPPED_MODELS
    import reid
    checkpoint = load_checkpoint(Path(reid.__file__).parent / SHIPPED_MODELS[name])
    assert checkpoint.config.variant == variant and checkpoint.config.freeze_trunk
    assert checkpoint.config.trunk == "vit_small_patch14_dinov2" and checkpoint.dtype == "float16"
    assert checkpoint.trunk_reference["file"] == "dinov2_vits14_imgfocus.pt"
    assert len(checkpoint.trunk_reference["sha256"]) == 64
    assert not any(key.startswith("trunk.blocks.") for key in checkpoint.state_dict)     # the head only
    assert any("reid.trunk_import" in step for step in checkpoint.metadata["recipe"])
    # where no trunk file was made, loading says which file is needed and how to make it, in one line
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REID_TRUNK_DIR", raising=False)
    with pytest.raises(CheckpointError, match="dinov2_vits14_imgfocus.pt.*python -m reid.trunk_import") as error:
        Embedder.from_spec(name)
    assert "\n" not in str(error.value)


def test_unknown_shipped_model_is_named():
    with pytest.raises(KeyError, match="dinov2-concat"):
        Embedder.shipped("dinov3")


def test_missing_trunk_weights_fail_fast(tmp_path, monkeypatch):
    import huggingface_hub.constants as hf_constants
    from reid.model import WeightsNotFoundError
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    start = time.monotonic()
    with pytest.raises(WeightsNotFoundError, match="trunk_weights"):
        Embedder.from_variant("no-train", pretrained=True, **TINY)
    assert time.monotonic() - start < 5


def test_precision_is_checked_against_the_device(concat, monkeypatch):
    import reid.embedder
    with pytest.raises(ValueError, match="precision must be one of float32, float16, bfloat16, int8; got 'int4'"):
        Embedder(concat.model, device="cpu", precision="int4")
    with pytest.raises(ValueError, match="float16 runs on CUDA only"):
        Embedder(concat.model, device="cpu", precision="float16")
    monkeypatch.setattr(reid.embedder, "cpu_has_native_bfloat16", lambda: False)
    with pytest.raises(ValueError, match="AVX512-BF16 or AMX"):
        Embedder(concat.model, device="cpu", precision="bfloat16")


def test_native_bfloat16_probe_answers_a_bool(concat):
    from reid.embedder import cpu_has_native_bfloat16
    assert cpu_has_native_bfloat16() in (True, False)
    if cpu_has_native_bfloat16():                # the probe decides whether the CPU may run bfloat16
        assert Embedder(concat.model, device="cpu", precision="bfloat16").precision == "bfloat16"
    else:
        with pytest.raises(ValueError, match="AVX512-BF16 or AMX"):
            Embedder(concat.model, device="cpu", precision="bfloat16")


def test_bfloat16_features_stay_close_to_float32(monkeypatch):
    """The shipped model under bfloat16 autocast: unit float32 rows, within a small angle of float32's, and
    the same nearest neighbours among a frame's objects."""
    import reid.embedder
    monkeypatch.setattr(reid.embedder, "cpu_has_native_bfloat16", lambda: True)  # correctness, not speed
    full = Embedder.default(device="cpu")
    bfloat = Embedder.default(device="cpu", precision="bfloat16")
    assert bfloat.precision == "bfloat16" and "bfloat16" in repr(bfloat)
    assert next(bfloat.model.parameters()).dtype == torch.float32  # autocast: weights stay float32
    rng = np.random.default_rng(3)
    rgb = (rng.random((120, 160, 1)) * np.array([[[200, 120, 60]]]) + 30).astype(np.uint8)
    boxes, masks = [], np.zeros((6, 120, 160), bool)
    for index in range(6):
        top, left = 10 + 15 * (index % 3), 10 + 45 * (index // 2)
        masks[index, top:top + 40, left:left + 30] = True
        rgb[top + 5:top + 35, left + 5:left + 25] = rng.integers(0, 256, 3)
        boxes.append([left, top, 30, 40])
    reference = full.embed(rgb, boxes, masks)
    features = bfloat.embed(rgb, boxes, masks)
    assert features.dtype == np.float32 and features.shape == reference.shape
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(features * reference, axis=1)
    assert cosines.min() > 0.995, cosines
    assert np.abs(features - reference).max() > 0  # bfloat16 did run
    similarity = lambda f: f @ f.T - 2 * np.eye(len(f))  # noqa: E731
    np.testing.assert_array_equal(similarity(features).argmax(1), similarity(reference).argmax(1))


@pytest.mark.slow
def test_compiled_embedder_gives_the_eager_features(concat):
    rgb, boxes, masks = frame()
    compiled = Embedder(concat.model, device="cpu", compile=True)
    assert compiled.compiled and not concat.compiled and "compiled" in repr(compiled)
    np.testing.assert_allclose(compiled.embed(rgb, boxes, masks), concat.embed(rgb, boxes, masks), atol=1e-5)
    np.testing.assert_allclose(compiled.embed(rgb, boxes[:2], masks[:2]), concat.embed(rgb, boxes[:2], masks[:2]),
                               atol=1e-5)  # another batch size
    assert compiled.embed(rgb, np.zeros((0, 4)), None).shape == (0, concat.dim)


@pytest.mark.parametrize("variant", ["no-train", "full", "concat", "concat-full", "early-fusion"])
def test_onnxruntime_backend_gives_the_torch_features(variant):
    pytest.importorskip("onnxruntime")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        reference = Embedder.from_variant(variant, device="cpu", **TINY)
    runtime = Embedder(reference.model, backend="onnxruntime")   # device defaults to the CPU
    assert runtime.backend == "onnxruntime" and runtime.device.type == "cpu" and "onnxruntime" in repr(runtime)
    assert runtime._forward.max_abs_difference <= 1e-5
    rgb, boxes, masks = frame(2)
    for batch_size in (1, 3, 64):   # the exported batch dimension is dynamic
        runtime.batch_size = batch_size
        np.testing.assert_allclose(runtime.embed(rgb, boxes, masks), reference.embed(rgb, boxes, masks), atol=1e-5)
    assert runtime.embed(rgb, np.zeros((0, 4)), None).shape == (0, reference.dim)


def test_onnxruntime_backend_on_the_shipped_model():
    pytest.importorskip("onnxruntime")
    reference = Embedder.default(device="cpu")
    runtime = Embedder.default(backend="onnxruntime")
    rng = np.random.default_rng(5)
    crops = {k: rng.integers(0, 256, (9, 112, 112, 3), dtype=np.uint8) for k in reference.crop_kinds}
    expected, got = reference.embed_crops(crops), runtime.embed_crops(crops)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.argmax(got @ got.T - 2 * np.eye(9), axis=1).tolist() == \
        np.argmax(expected @ expected.T - 2 * np.eye(9), axis=1).tolist()   # the same nearest neighbours


def test_backend_is_checked_against_device_precision_and_compile(concat):
    from reid.embedder import check_backend, check_precision
    assert check_backend("torch", "cpu", "float32") == "torch"
    for kwargs, message in [(dict(backend="tensorrt"), "backend must be one of"),
                            (dict(backend="onnxruntime", device="cuda"), "CPU only"),
                            (dict(backend="onnxruntime", precision="bfloat16"), "float32 or int8 only"),
                            (dict(backend="torch", precision="int8"), "backend onnxruntime only"),
                            (dict(backend="onnxruntime", compile=True), "exclude each other")]:
        with pytest.raises(ValueError, match=message):
            check_backend(kwargs.get("backend"), kwargs.get("device", "cpu"), kwargs.get("precision", "float32"),
                          kwargs.get("compile", False))
    with pytest.raises(ValueError, match="float32 or int8 only"):
        Embedder(concat.model, backend="onnxruntime", precision="bfloat16")
    with pytest.raises(ValueError, match="backend onnxruntime only"):
        Embedder(concat.model, precision="int8")   # backend torch by default
    with pytest.raises(ValueError, match="int8 runs on the CPU only"):
        check_precision("int8", "cuda")


def _scene_crops(root, embedder):
    """The crops the embedder reads of every object view of the generated scenes under ``root``."""
    from reid.views import load_views, scene_folders
    model = embedder.model
    return load_views(scene_folders([root]), model.img_size, model.crop_kinds, fill=model.crop_fill,
                      margin=embedder.config.crop_margin, frame_step=5, min_side=6).crops


@pytest.mark.slow
def test_int8_backend_on_the_shipped_model_is_quantised_and_close_to_float32(tiny_scene):
    pytest.importorskip("onnxruntime")
    reference = Embedder.default(device="cpu")
    int8 = Embedder.default(backend="onnxruntime", precision="int8")
    assert int8.precision == "int8" and "int8" in repr(int8) and int8.device.type == "cpu"
    crops = _scene_crops(tiny_scene, reference)
    assert len(crops["foreground"]) >= 10
    expected, got = reference.embed_crops(crops), int8.embed_crops(crops)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(got * expected, axis=1)
    assert cosine.min() > 0.999                      # close to float32 on real crops ...
    assert np.abs(got - expected).max() > 1e-5       # ... but not float32: the products were quantised
    assert int8._forward.max_abs_difference > 0 and int8._forward.min_cosine > 0.999


def test_int8_graph_quantises_the_weight_products_only():
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from reid.onnx_runtime import export_onnx, quantize_int8
    torch.manual_seed(0)
    model = Embedder.from_variant("concat", device="cpu", **TINY).model
    before = onnx.load_from_string(export_onnx(model))
    after = onnx.load_from_string(quantize_int8(export_onnx(model)))
    weights = {init.name for init in before.graph.initializer}
    weight_products = [n for n in before.graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    ops = [n.op_type for n in after.graph.node]
    assert len(weight_products) >= 4 and ops.count("MatMulInteger") >= len(weight_products)
    assert "DynamicQuantizeLinear" in ops
    kept = [n for n in after.graph.node if n.op_type == "MatMul"]   # attention's activation products stay
    assert kept and all(n.input[1] not in {i.name for i in after.graph.initializer} for n in kept)
    assert any(i.data_type == onnx.TensorProto.INT8 for i in after.graph.initializer)


@pytest.mark.parametrize("variant", ["full", "concat", "concat-full", "early-fusion"])
def test_int8_backend_runs_every_variant(variant):
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    reference = Embedder.from_variant(variant, device="cpu", **TINY)
    int8 = Embedder(reference.model, backend="onnxruntime", precision="int8")
    rgb, boxes, masks = frame(2)
    expected, got = reference.embed(rgb, boxes, masks), int8.embed(rgb, boxes, masks)
    assert got.shape == expected.shape
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert np.sum(got * expected, axis=1).min() > 0.99


def test_int8_check_refuses_a_graph_too_far_from_float32(concat, monkeypatch):
    pytest.importorskip("onnxruntime")
    from reid import onnx_runtime
    monkeypatch.setattr(onnx_runtime, "MIN_INT8_COSINE", 1.01)   # no graph is that close
    with pytest.raises(onnx_runtime.OnnxExportError, match="int8 ONNX graph of the concat model is too far"):
        Embedder(concat.model, backend="onnxruntime", precision="int8")



def test_onnxruntime_backend_without_its_packages_says_what_to_install(concat, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "onnxruntime", None)   # import fails as if not installed
    with pytest.raises(ImportError, match="pip install"):
        Embedder(concat.model, backend="onnxruntime")
