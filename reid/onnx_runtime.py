"""Run a re-ID model with ONNX Runtime on the CPU: the ``onnxruntime`` backend of
:class:`reid.embedder.Embedder`.

The model is exported to ONNX in memory (TorchScript exporter, batch dimension dynamic) together
with its input normalisation and the final L2 normalisation, so a call goes from uint8 crops to unit
embeddings without torch (whose idle threads would otherwise compete with ONNX Runtime's for the
cores). At ``precision='int8'`` the graph's weight matrix products are quantised dynamically
(ONNX Runtime's ``quantize_dynamic``: int8 weights, symmetric, per tensor; activations quantised to
uint8 per call from their own range). The session is checked against the torch float32 model on a
random batch at construction, so a faulty export or quantisation fails there rather than giving
wrong features. Needs the
optional packages ``onnxruntime`` and ``onnx`` (``pip install 'where-did-i-see-it[onnx]'``).
"""
from __future__ import annotations

import io
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Mapping, Optional

import numpy as np
import torch

from reid.cli import ONNX_RUNTIME_PRECISIONS
from reid.model import ReIDModel

__all__ = ["OnnxRuntimeModel", "OnnxExportError", "export_onnx", "quantize_int8", "MAX_ABS_DIFFERENCE",
           "MIN_INT8_COSINE"]

MAX_ABS_DIFFERENCE = 1e-4
"""Largest difference from the torch model's output (unit rows, per element) allowed by the check
at construction of a float32 session."""

MIN_INT8_COSINE = 0.98
"""Smallest cosine between an int8 session's rows and the torch float32 model's allowed by the check
at construction. Quantisation moves rows by an amount that depends on the model's weights (the
shipped model: 0.9999 on random crops, above 0.999 on generated-scene views; tiny random test
models: 0.995 and above on random crops), so the check asks for close rows, not equal ones; a broken graph scores far lower."""

_MISSING = ("the onnxruntime backend needs the packages onnxruntime and onnx, which are not installed: "
            "pip install 'where-did-i-see-it[onnx]' (or pip install onnxruntime onnx)")


class OnnxExportError(ValueError):
    """The exported ONNX graph does not reproduce the torch model."""


class _FromCrops(torch.nn.Module):
    """uint8 crops (B, S, S, 3), one positional argument per crop kind -> L2-normalised (B, D)."""

    def __init__(self, model: ReIDModel):
        super().__init__()
        self.model = model

    def forward(self, *crops: torch.Tensor) -> torch.Tensor:
        inputs = self.model.prepare_inputs(dict(zip(self.model.crop_kinds, crops)))
        return torch.nn.functional.normalize(self.model(inputs).float(), dim=-1)


def export_onnx(model: ReIDModel) -> bytes:
    """The float32 model as an ONNX graph (bytes): inputs named by crop kind, each (B, S, S, 3) uint8
    RGB as :func:`reid.crops.make_crops` makes them; output ``embedding``, (B, D) float32 with unit
    rows; B is dynamic.

    Raises
    ------
    ImportError
        When ``onnx`` (which the exporter needs) is not installed.
    OnnxExportError
        When the exporter fails (e.g. a torch release without the TorchScript exporter).
    """
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError as error:
        raise ImportError(_MISSING) from error
    kinds = list(model.crop_kinds)
    size = model.img_size
    example = tuple(torch.zeros(2, size, size, 3, dtype=torch.uint8) for _ in kinds)
    axes = {name: {0: "batch"} for name in kinds + ["embedding"]}
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():  # the TorchScript exporter's deprecation and tracer notes
            warnings.simplefilter("ignore")
            torch.onnx.export(_FromCrops(model).eval(), example, buffer, input_names=kinds,
                              output_names=["embedding"], dynamic_axes=axes, opset_version=17, dynamo=False)
    except Exception as error:  # the exporter's own errors have no common type
        raise OnnxExportError(f"exporting the {model.config.variant} model to ONNX failed with torch "
                              f"{torch.__version__} ({type(error).__name__}: {error}); use backend='torch'") from error
    return buffer.getvalue()


def quantize_int8(graph: bytes) -> bytes:
    """``graph`` (an :func:`export_onnx` result) with its weight matrix products quantised to int8
    by ONNX Runtime's dynamic quantisation (``MatMul`` nodes whose second input is a weight: int8
    weights, symmetric per tensor; activations quantised to uint8 at run time from each call's own
    range, so no calibration data is needed). The patch embedding (a convolution), the
    normalisations, softmax and the activation-by-activation products of attention stay float32.
    Pre-processed first as ONNX Runtime recommends (graph optimisation and ONNX shape inference; its
    symbolic shape inference does not handle the exporter's reshapes and is skipped).

    Raises
    ------
    ImportError
        When ``onnxruntime`` (its quantisation tools) or ``onnx`` is not installed.
    """
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as error:
        raise ImportError(_MISSING) from error
    with tempfile.TemporaryDirectory(prefix="reid-int8-") as folder:
        exported, prepared, quantised = (Path(folder, name) for name in ("float32.onnx", "prepared.onnx", "int8.onnx"))
        exported.write_bytes(graph)
        quant_pre_process(exported, prepared, skip_symbolic_shape=True)
        root = logging.getLogger()  # quantize_dynamic logs a pre-processing hint on the root logger
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(prepared, quantised, op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
        return quantised.read_bytes()


class OnnxRuntimeModel:
    """A :class:`reid.model.ReIDModel` exported to ONNX and run by ONNX Runtime on the CPU.

    Called with a dict of uint8 crops (B, S, S, 3) per crop kind (numpy arrays); returns the (B, D)
    float32 embeddings as a numpy array, unit rows.

    Parameters
    ----------
    model : ReIDModel
        In float32 on the CPU; it is put in eval mode.
    threads : int, optional
        ONNX Runtime's intra-op threads (default: torch's thread count).
    precision : str
        ``float32`` (default) or ``int8`` (:func:`quantize_int8`); see :data:`reid.cli.ONNX_RUNTIME_PRECISIONS`.

    Raises
    ------
    ValueError
        For a precision outside :data:`reid.cli.ONNX_RUNTIME_PRECISIONS`.
    ImportError
        When ``onnxruntime`` or ``onnx`` is not installed.
    OnnxExportError
        When, on a random batch, a float32 session's output differs from the torch model's by more
        than :data:`MAX_ABS_DIFFERENCE`, or an int8 session's rows have a cosine below
        :data:`MIN_INT8_COSINE` to the torch float32 model's.
    """

    def __init__(self, model: ReIDModel, threads: Optional[int] = None, precision: str = "float32"):
        if precision not in ONNX_RUNTIME_PRECISIONS:
            raise ValueError(f"backend onnxruntime runs {' or '.join(ONNX_RUNTIME_PRECISIONS)}, not {precision!r}")
        try:
            import onnxruntime
        except ImportError as error:
            raise ImportError(_MISSING) from error
        model = model.eval()
        self.crop_kinds = tuple(model.crop_kinds)
        self.precision = precision
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        graph = export_onnx(model)
        if precision == "int8":
            graph = quantize_int8(graph)
        self.session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.max_abs_difference, self.min_cosine = self._check(model)

    def __call__(self, crops: Mapping[str, np.ndarray]) -> np.ndarray:
        feeds = {kind: np.ascontiguousarray(np.asarray(crops[kind]), dtype=np.uint8) for kind in self.crop_kinds}
        return self.session.run(None, feeds)[0]

    def _check(self, model: ReIDModel):
        """(largest per-element difference, smallest row cosine) to the torch float32 model on a
        random batch; raises :class:`OnnxExportError` past this precision's bound."""
        size = model.img_size
        rng = np.random.default_rng(0)
        crops = {k: rng.integers(0, 256, (3, size, size, 3), dtype=np.uint8) for k in self.crop_kinds}
        with torch.inference_mode():
            expected = _FromCrops(model)(*(torch.from_numpy(crops[k]) for k in self.crop_kinds)).numpy()
        got = self(crops)
        difference = float(np.max(np.abs(got - expected)))
        min_cosine = float(np.min(np.sum(got * expected, axis=1)))
        variant = model.config.variant
        if self.precision == "float32" and not difference <= MAX_ABS_DIFFERENCE:
            raise OnnxExportError(f"the ONNX export of the {variant} model differs from the torch model by "
                                  f"{difference:.3g} (> {MAX_ABS_DIFFERENCE:g}) on a random batch; use backend='torch'")
        if self.precision == "int8" and not min_cosine >= MIN_INT8_COSINE:
            raise OnnxExportError(f"the int8 ONNX graph of the {variant} model is too far from the torch float32 "
                                  f"model on a random batch (cosine {min_cosine:.4f} < {MIN_INT8_COSINE:g}); "
                                  f"use precision float32")
        return difference, min_cosine
