"""Run a re-ID model with ONNX Runtime on the CPU: the ``onnxruntime`` backend of
:class:`reid.embedder.Embedder`.

The model is exported to ONNX in memory (TorchScript exporter, batch dimension dynamic) together
with its input normalisation and the final L2 normalisation, so a call goes from uint8 crops to unit
embeddings without torch (whose idle threads would otherwise compete with ONNX Runtime's for the
cores). The session is checked against the torch model on a random batch at construction, so a
faulty export fails there rather than giving wrong features. Needs the
optional packages ``onnxruntime`` and ``onnx`` (``pip install 'where-did-i-see-it[onnx]'``).
"""
from __future__ import annotations

import io
import warnings
from typing import Mapping, Optional

import numpy as np
import torch

from reid.model import ReIDModel

__all__ = ["OnnxRuntimeModel", "OnnxExportError", "export_onnx", "MAX_ABS_DIFFERENCE"]

MAX_ABS_DIFFERENCE = 1e-4
"""Largest difference from the torch model's output allowed by the check at construction."""

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

    Raises
    ------
    ImportError
        When ``onnxruntime`` or ``onnx`` is not installed.
    OnnxExportError
        When the exported graph's output differs from the torch model's by more than
        :data:`MAX_ABS_DIFFERENCE` on a random batch.
    """

    def __init__(self, model: ReIDModel, threads: Optional[int] = None):
        try:
            import onnxruntime
        except ImportError as error:
            raise ImportError(_MISSING) from error
        model = model.eval()
        self.crop_kinds = tuple(model.crop_kinds)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(export_onnx(model), options,
                                                    providers=["CPUExecutionProvider"])
        self.max_abs_difference = self._check(model)

    def __call__(self, crops: Mapping[str, np.ndarray]) -> np.ndarray:
        feeds = {kind: np.ascontiguousarray(np.asarray(crops[kind]), dtype=np.uint8) for kind in self.crop_kinds}
        return self.session.run(None, feeds)[0]

    def _check(self, model: ReIDModel) -> float:
        size = model.img_size
        rng = np.random.default_rng(0)
        crops = {k: rng.integers(0, 256, (3, size, size, 3), dtype=np.uint8) for k in self.crop_kinds}
        with torch.inference_mode():
            expected = _FromCrops(model)(*(torch.from_numpy(crops[k]) for k in self.crop_kinds)).numpy()
        difference = float(np.max(np.abs(self(crops) - expected)))
        if not difference <= MAX_ABS_DIFFERENCE:
            raise OnnxExportError(f"the ONNX export of the {model.config.variant} model differs from the torch model by "
                               f"{difference:.3g} (> {MAX_ABS_DIFFERENCE:g}) on a random batch; use backend='torch'")
        return difference
