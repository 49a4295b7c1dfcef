"""Batched inference: one L2-normalised embedding per detected object.

>>> emb = Embedder.from_checkpoint("concat.pt")          # or Embedder.default(), from_variant(...)
>>> features = emb.embed(rgb, boxes_tlwh, masks)         # N x emb.dim float32, unit rows
"""
from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import numpy as np
import torch

from reid.checkpoint import CheckpointNotFoundError, load_checkpoint, model_from_checkpoint
from reid.cli import BACKENDS, ONNX_RUNTIME_PRECISIONS, PRECISIONS
from reid.model import ReIDModel, create_model

__all__ = ["Embedder", "DEFAULT_WEIGHTS", "SHIPPED_MODELS", "weights_sha256", "PRECISIONS", "BACKENDS",
           "check_precision", "check_backend", "check_inference_settings", "cpu_has_native_bfloat16"]

DEFAULT_WEIGHTS = "weights/default.pt"
"""Package-data path (inside ``reid``) of the shipped, trained checkpoint."""

SHIPPED_MODELS = {
    "default": DEFAULT_WEIGHTS,
    "dinov2-concat": "weights/dinov2-concat.pt",
    "dinov2-full": "weights/dinov2-full.pt",
    "dinov2-concat-full": "weights/dinov2-concat-full.pt",
}
"""Shipped checkpoints by name (package-data paths inside ``reid``): ``default`` (the early-fusion
ViT-Ti/16 trained here, everything in the file) and the paper's ``concat`` and ``full`` heads, and
``concat-full`` (foreground, background and full crop), over a frozen DINOv2 ViT-S/14 (the heads
only: they load their trunk from the file ``python -m reid.trunk_import`` writes, found by its
sha256; see :func:`reid.checkpoint.find_trunk_file`)."""

Device = Union[str, torch.device, None]


# PRECISIONS, the inference precisions: ``float32``; ``float16`` (CUDA only: the model converted to
# half); ``bfloat16`` (autocast: matrix products in bfloat16, normalisations and the output in float32;
# on CUDA, or on a CPU with native bfloat16 arithmetic, AVX512-BF16 or AMX); ``int8`` (backend
# onnxruntime only: the weight matrix products quantised to int8, activations per call; see
# reid.onnx_runtime.quantize_int8).


def _resolve_device(device: Device, backend: str = "torch") -> torch.device:
    if device is None:  # ONNX Runtime runs on the CPU; torch on CUDA when there is one
        return torch.device("cuda" if backend == "torch" and torch.cuda.is_available() else "cpu")
    return torch.device(device)


def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX), as oneDNN sees it."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # older torch without the probe
        return False


def check_precision(precision: str, device: Device = None) -> str:
    """``precision`` if ``device`` (default: CUDA when available, else CPU) can run it; else a
    ValueError saying why (see :data:`PRECISIONS`)."""
    device = _resolve_device(device)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if precision == "int8" and device.type != "cpu":
        raise ValueError(f"precision int8 runs on the CPU only (with backend onnxruntime), not on {device}")
    if precision == "float16" and device.type != "cuda":
        raise ValueError("precision float16 runs on CUDA only; use bfloat16 or float32 on the CPU")
    if precision == "bfloat16" and device.type == "cpu" and not cpu_has_native_bfloat16():
        raise ValueError("precision bfloat16 needs a CPU with native bfloat16 arithmetic (AVX512-BF16 or "
                         "AMX), which this one lacks (it would be emulated, slower than float32); use float32")
    return precision


def check_backend(backend: str, device: Device = None, precision: str = "float32", compile: bool = False) -> str:
    """``backend`` if it can run on ``device`` at ``precision`` (see :data:`BACKENDS`); else a
    ValueError saying why. ``onnxruntime`` runs float32 or int8 on the CPU, without ``compile``;
    ``torch`` runs every precision but int8."""
    device = _resolve_device(device)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if backend == "onnxruntime":
        if device.type != "cpu":
            raise ValueError(f"backend onnxruntime runs on the CPU only (device {device}); use backend torch there")
        if precision not in ONNX_RUNTIME_PRECISIONS:
            raise ValueError(f"backend onnxruntime runs float32 or int8 only, not {precision}; "
                             f"use backend torch for {precision}")
        if compile:
            raise ValueError("backend onnxruntime and compile (torch.compile) exclude each other")
    elif precision == "int8":
        raise ValueError("precision int8 runs with backend onnxruntime only (the ONNX graph quantised by ONNX "
                         "Runtime); add backend='onnxruntime' (CLI: --backend onnxruntime)")
    return backend


def check_inference_settings(device: Device = None, precision: str = "float32", backend: str = "torch",
                             compile: bool = False) -> torch.device:
    """The device an :class:`Embedder` with these settings runs on (``device`` None: CUDA when
    available for torch, the CPU for onnxruntime); a ValueError saying why when it cannot. The
    backend is checked first: its refusals (e.g. onnxruntime off float32 and int8) hold on any CPU."""
    device = _resolve_device(device, backend)
    check_backend(backend, device, precision, compile)
    check_precision(precision, device)
    return device


def weights_sha256(model: torch.nn.Module) -> str:
    """SHA-256 (hex) of a model's state dict: every entry's name, shape and float32 bytes, in name
    order. Casting to float32 makes an fp16 checkpoint upcast on the CPU hash as it does on CUDA."""
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(f"{key}{tuple(value.shape)}".encode())
        digest.update(value.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


class Embedder:
    """A re-ID model ready for inference: crops, normalisation, batching, device placement.

    Parameters
    ----------
    model : ReIDModel
    device : str or torch.device, optional
        Default: CUDA when available, else CPU (always the CPU for ``backend='onnxruntime'``).
    batch_size : int
        Objects per forward pass.
    precision : str
        ``float32`` (default), ``float16`` (CUDA only) or ``bfloat16`` (CUDA, or a CPU with native
        bfloat16: 1.5-1.7x the float32 throughput from batch 8 on this project's CPU, features within
        a cosine of 1e-5 of float32's; see README), or ``int8`` (backend ``onnxruntime`` only: weights
        quantised to int8; see README for its speed and rank-1). See :data:`PRECISIONS`.
    name : str, optional
        What the model is called on the command line: ``default``, ``variant:NAME`` or a checkpoint
        path (the constructors set it); default ``variant:<its variant>``.
    metadata : dict, optional
        Training metadata of the checkpoint the model came from.
    compile : bool
        Run the model through ``torch.compile`` (inductor; needs a C++ compiler on the CPU). The
        first calls compile the model (slow); afterwards small batches run faster (see README). Off by default.
    backend : str
        ``torch`` (default) or ``onnxruntime``: the model exported to ONNX at construction and run by
        ONNX Runtime (CPU, float32 or int8; the optional packages ``onnxruntime`` and ``onnx``; the export is
        checked against the torch model; faster at small batches on this project's CPU, see README).
        See :data:`BACKENDS`.

    Attributes
    ----------
    name : str
    weights_sha256 : str
        SHA-256 of the model's weights as float32 (see :func:`weights_sha256`), taken before any
        precision change: the same for every device, precision and backend that runs these weights.

    Raises
    ------
    ValueError
        For an unknown precision or backend, ``float16`` off CUDA, ``bfloat16`` on a CPU without
        native bfloat16 arithmetic, ``int8`` without ``onnxruntime``, or ``onnxruntime`` off the
        CPU, at float16 / bfloat16 or with ``compile``.
    ImportError
        For ``onnxruntime`` without its packages.
    """

    def __init__(self, model: ReIDModel, device: Device = None, batch_size: int = 64,
                 precision: str = "float32", metadata: Optional[Dict[str, Any]] = None, compile: bool = False,
                 backend: str = "torch", name: Optional[str] = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = check_inference_settings(device, precision, backend, compile)
        self.backend, self.precision = backend, precision
        self.name = name or f"variant:{model.config.variant}"
        self.weights_sha256 = weights_sha256(model)
        dtype = torch.float16 if precision == "float16" else torch.float32  # int8: the ONNX graph's business
        self.model = model.to(device=self.device, dtype=dtype).eval()
        self.batch_size = int(batch_size)
        self.metadata = dict(metadata or {})
        self.compiled = bool(compile)
        if self.backend == "onnxruntime":
            from reid.onnx_runtime import OnnxRuntimeModel
            self._forward = OnnxRuntimeModel(self.model, precision=self.precision)
        else:
            self._forward = torch.compile(self.model, dynamic=True) if compile else self.model

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_variant(cls, name: str, device: Device = None, batch_size: int = 64,
                     precision: str = "float32", compile: bool = False, backend: str = "torch",
                     **config_overrides) -> "Embedder":
        """A fresh model of a registered variant (``no-train``, ``full``, ``concat``, ...).

        ``config_overrides`` are :class:`reid.model.ReIDConfig` fields (``pretrained``,
        ``trunk_weights``, ``img_size``, ...). Untrained heads give untrained embeddings; this is
        for baselines (``no-train`` with ``pretrained=True``) and experiments.
        """
        return cls(create_model(name, **config_overrides), device=device, batch_size=batch_size,
                   precision=precision, compile=compile, backend=backend, name=f"variant:{name}")

    @classmethod
    def from_checkpoint(cls, path: Union[str, os.PathLike], device: Device = None,
                        batch_size: int = 64, precision: Optional[str] = None,
                        compile: bool = False, backend: str = "torch") -> "Embedder":
        """The model saved in a project checkpoint (``reid.checkpoint``). By default (``precision``
        None) fp16 checkpoints run in fp16 on CUDA and are upcast to float32 on CPU."""
        checkpoint = load_checkpoint(path)
        device = _resolve_device(device, backend)
        if precision is None:
            precision = "float16" if (checkpoint.dtype == "float16" and device.type == "cuda") else "float32"
        model = model_from_checkpoint(checkpoint, device="cpu")
        return cls(model, device=device, batch_size=batch_size, precision=precision,
                   metadata=checkpoint.metadata, compile=compile, backend=backend, name=os.path.abspath(path))

    @classmethod
    def default(cls, device: Device = None, batch_size: int = 64,
                precision: Optional[str] = None, compile: bool = False, backend: str = "torch") -> "Embedder":
        """The shipped, trained model (package data ``reid/weights/default.pt``; its variant, training
        command and data seeds are in its metadata and in README).

        Raises
        ------
        CheckpointNotFoundError
            When this installation has no shipped model.
        """
        return cls.shipped("default", device=device, batch_size=batch_size, precision=precision, compile=compile,
                           backend=backend)

    @classmethod
    def shipped(cls, name: str, device: Device = None, batch_size: int = 64,
                precision: Optional[str] = None, compile: bool = False, backend: str = "torch") -> "Embedder":
        """A shipped model by name (:data:`SHIPPED_MODELS`: ``default``, ``dinov2-concat``, ``dinov2-full``,
        ``dinov2-concat-full``).

        Raises
        ------
        KeyError
            Not a shipped model's name.
        CheckpointNotFoundError
            This installation lacks the file.
        reid.checkpoint.CheckpointError
            A head whose trunk file is not found (the message says how to make it).
        """
        if name not in SHIPPED_MODELS:
            raise KeyError(f"no shipped re-ID model '{name}'; shipped: {', '.join(SHIPPED_MODELS)}")
        resource = resources.files("reid").joinpath(SHIPPED_MODELS[name])
        if not resource.is_file():
            raise CheckpointNotFoundError(
                f"the shipped re-ID model '{name}' (package data reid/{SHIPPED_MODELS[name]}) is missing from this "
                f"installation; train one with `python -m reid.train --data ROOT --variant early-fusion "
                f"--out CKPT` and load it with Embedder.from_checkpoint(CKPT)")
        with resources.as_file(resource) as path:
            embedder = cls.from_checkpoint(Path(path), device=device, batch_size=batch_size, precision=precision,
                                           compile=compile, backend=backend)
        embedder.name = name
        return embedder

    @classmethod
    def from_spec(cls, spec: str, device: Device = None, batch_size: int = 64,
                  precision: Optional[str] = None, compile: bool = False, backend: str = "torch") -> "Embedder":
        """By a command-line name: a shipped model's name (``default``, ``dinov2-concat``,
        ``dinov2-full``, ``dinov2-concat-full``: :data:`SHIPPED_MODELS`), ``variant:NAME`` (a registered variant at its default
        config: untrained unless its trunk weights are available), or a checkpoint path. ``precision``
        None keeps each constructor's default. ``A+B:W`` gives a :class:`reid.ensemble.EnsembleEmbedder`
        of two such specs (W: A's share of the squared distance)."""
        if "+" in spec and not os.path.exists(spec):
            from reid.ensemble import EnsembleEmbedder
            return EnsembleEmbedder.from_spec(spec, device=device, batch_size=batch_size, precision=precision,
                                              compile=compile, backend=backend)
        if spec in SHIPPED_MODELS:
            return cls.shipped(spec, device=device, batch_size=batch_size, precision=precision, compile=compile,
                               backend=backend)
        if spec.startswith("variant:"):
            return cls.from_variant(spec.split(":", 1)[1], device=device, batch_size=batch_size,
                                    precision=precision or "float32", compile=compile, backend=backend)
        return cls.from_checkpoint(spec, device=device, batch_size=batch_size, precision=precision,
                                   compile=compile, backend=backend)

    # ---------------------------------------------------------------- facts
    @property
    def dim(self) -> int:
        """Embedding size D."""
        return int(self.model.out_dim)

    @property
    def config(self):
        """The model's :class:`reid.model.ReIDConfig`."""
        return self.model.config

    @property
    def crop_kinds(self):
        """Crop kinds the model reads."""
        return self.model.crop_kinds

    def __repr__(self) -> str:
        return (f"Embedder(variant={self.config.variant!r}, trunk={self.config.trunk!r}, dim={self.dim}, "
                f"img_size={self.config.img_size}, device={str(self.device)!r}, precision={self.precision!r}"
                f"{', compiled' if self.compiled else ''}"
                f"{', backend=' + repr(self.backend) if self.backend != 'torch' else ''})")

    # ---------------------------------------------------------------- inference
    def crops(self, rgb: np.ndarray, boxes, masks=None) -> Dict[str, np.ndarray]:
        """The uint8 crops the model reads (:func:`reid.crops.make_crops` with the model's size,
        margin and fill). Shapes (N, S, S, 3)."""
        return self.model.make_crops(rgb, boxes, masks)

    def embed(self, rgb: np.ndarray, boxes, masks=None) -> np.ndarray:
        """Embed every object of a frame.

        Parameters
        ----------
        rgb : numpy.ndarray, shape (H, W, 3), uint8, RGB order
        boxes : array_like, shape (N, 4)
            ``tlwh`` boxes in pixels.
        masks : array_like, shape (N, H, W), bool, optional
            Object masks; None for box-only detections.

        Returns
        -------
        numpy.ndarray, shape (N, D), float32
            L2-normalised rows; N = 0 gives a (0, D) array.

        Raises
        ------
        ValueError
            Naming the object, for zero-area / out-of-image boxes or empty masks (see
            :func:`reid.crops.valid_objects`).
        """
        return self.embed_crops(self.crops(rgb, boxes, masks))

    def embed_crops(self, crops: Mapping[str, Union[np.ndarray, torch.Tensor]]) -> np.ndarray:
        """Embed ready-made uint8 crops (B, S, S, 3) per kind, in batches of ``batch_size``.

        Returns
        -------
        numpy.ndarray, shape (B, D), float32, L2-normalised rows
        """
        kinds = self.model.crop_kinds
        missing = [k for k in kinds if k not in crops]
        if missing:
            raise KeyError(f"variant '{self.config.variant}' needs crops {list(kinds)}; missing {missing}")
        n = len(crops[kinds[0]])
        if any(len(crops[k]) != n for k in kinds):
            raise ValueError("all crop kinds must hold the same number of crops")
        out = np.empty((n, self.dim), dtype=np.float32)
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16,
                                  enabled=self.precision == "bfloat16")
        with torch.inference_mode(), autocast:
            for start in range(0, n, self.batch_size):
                features = self._embed_batch({k: crops[k][start:start + self.batch_size] for k in kinds})
                out[start:start + len(features)] = features
        return out

    def _embed_batch(self, chunk: Mapping[str, Union[np.ndarray, torch.Tensor]]) -> np.ndarray:
        """One batch of crops -> (B, D) float32 unit rows."""
        if self.backend == "onnxruntime":  # uint8 crops in, unit rows out, no torch on the way
            return self._forward({k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in chunk.items()})
        features = self._forward(self.model.prepare_inputs(chunk))
        return torch.nn.functional.normalize(features.float(), dim=-1).cpu().numpy()
