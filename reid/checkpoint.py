"""Project checkpoints: model config + weights + optimizer state + training metadata in one file.

A checkpoint is a ``torch.save`` of a plain dict::

    {"format": "reid-checkpoint", "version": 1,
     "config": ReIDConfig.to_dict(), "model": state_dict, "dtype": "float32" | "float16",
     "optimizer": optimizer.state_dict() or None, "metadata": {...}}

A model with a frozen trunk loaded from a file (``ReIDConfig(freeze_trunk=True, trunk_weights=...)``)
is saved without the trunk's frozen weights: the checkpoint (version 2) records
``"trunk_reference": {"file", "sha256", "path"}`` instead, and loading finds that file (by the recorded
path, beside the checkpoint, in the package's ``reid/weights/`` or in ``$REID_TRUNK_DIR``) and checks
its sha256. Several heads then share one trunk file.

It loads with ``torch.load(weights_only=True)``, so metadata must be plain data (numbers, strings,
lists, dicts, tensors; numpy values and paths are converted on save). Writes are atomic: a temporary
file in the destination folder is renamed over the target with ``os.replace``, so a killed run
never leaves a half-written checkpoint.
"""
from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import numpy as np
import torch
from torch import nn

from reid.fileio import atomic_output
from reid.model import ReIDConfig, ReIDModel, create_model

__all__ = ["Checkpoint", "CheckpointError", "CheckpointNotFoundError", "save_checkpoint",
           "load_checkpoint", "export_half", "model_from_checkpoint"]

FORMAT = "reid-checkpoint"
VERSION = 2            # 2: may carry a trunk reference instead of the frozen trunk's weights
PACKAGE_WEIGHTS = Path(__file__).resolve().parent / "weights"

PathLike = Union[str, os.PathLike]


class CheckpointError(Exception):
    """A file is not a readable re-ID checkpoint (corrupt, truncated, or something else)."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist."""


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes
    ----------
    path : pathlib.Path
    config : ReIDConfig
    state_dict : dict of str -> torch.Tensor
        Model weights (float16 for exported inference checkpoints).
    optimizer_state : dict or None
    metadata : dict
        Epoch, step, seeds, metrics... as saved.
    dtype : str
        ``"float32"`` or ``"float16"``.
    trunk_reference : dict or None
        ``{"file", "sha256", "path"}`` of the trunk weights file a frozen-trunk checkpoint needs.
    """

    path: Path
    config: ReIDConfig
    state_dict: Dict[str, torch.Tensor]
    optimizer_state: Optional[Dict[str, Any]]
    metadata: Dict[str, Any]
    dtype: str
    trunk_reference: Optional[Dict[str, str]] = None


def _plain(value: Any, where: str) -> Any:
    """Convert metadata to types ``torch.load(weights_only=True)`` accepts."""
    if isinstance(value, np.generic):  # before the plain types: numpy's float64 is a float subclass
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return value
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"checkpoint metadata key {where}[{key!r}] must be a str or int")
            out[key] = _plain(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item, f"{where}[{i}]") for i, item in enumerate(value))
    raise TypeError(f"checkpoint metadata {where} has unsupported type {type(value).__name__}; "
                    f"use numbers, strings, lists, dicts or tensors")


@functools.lru_cache(maxsize=8)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: PathLike) -> str:
    """sha256 of a file (remembered while the file's size and mtime stay the same)."""
    stat = os.stat(path)
    return _sha256_cached(os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


def trunk_reference(config: ReIDConfig) -> Optional[Dict[str, str]]:
    """The trunk file a frozen-trunk config loads from, as recorded in checkpoints; None when the
    trunk is not frozen or not loaded from a file."""
    if not (config.freeze_trunk and config.trunk_weights):
        return None
    path = Path(config.trunk_weights).expanduser()
    return {"file": path.name, "sha256": file_sha256(path), "path": str(config.trunk_weights)}


def find_trunk_file(reference: Mapping[str, str], checkpoint_path: Optional[PathLike] = None) -> Path:
    """The trunk weights file a checkpoint's reference names, with the recorded sha256.

    Looks at the recorded path, then beside the checkpoint, in the package's ``reid/weights/`` and in
    ``$REID_TRUNK_DIR``.

    Raises
    ------
    CheckpointError
        No such file with that sha256 (the message names the file, where it looked, and how to make it).
    """
    name = reference["file"]
    candidates = [Path(reference.get("path") or name).expanduser()]
    if checkpoint_path is not None:
        candidates.append(Path(checkpoint_path).parent / name)
    candidates.append(PACKAGE_WEIGHTS / name)
    if os.environ.get("REID_TRUNK_DIR"):
        candidates.append(Path(os.environ["REID_TRUNK_DIR"]) / name)
    wrong = []
    for candidate in candidates:
        if candidate.is_file():
            if file_sha256(candidate) == reference["sha256"]:
                return candidate
            wrong.append(str(candidate))
    where = ", ".join(dict.fromkeys(str(c) for c in candidates))
    detail = f" ({', '.join(wrong)} has another sha256)" if wrong else ""
    raise CheckpointError(f"checkpoint {checkpoint_path} needs trunk file {name} (sha256 {reference['sha256'][:12]}...)"
                          f"{detail}; looked in {where}; make it with `python -m reid.trunk_import --out PATH` and "
                          f"put it there or in $REID_TRUNK_DIR")


def _frozen_trunk_keys(model: nn.Module) -> set:
    trunk = getattr(model, "trunk", None)
    if trunk is None:
        return set()
    return {f"trunk.{name}" for name, p in trunk.named_parameters() if not p.requires_grad} | \
        {f"trunk.{name}" for name, _ in trunk.named_buffers()}


def _atomic_save(payload: Dict[str, Any], path: PathLike) -> Path:
    with atomic_output(path, "wb") as handle:
        torch.save(payload, handle)
    return Path(path)


def save_checkpoint(path: PathLike, model: nn.Module, config: Optional[ReIDConfig] = None,
                    optimizer: Optional[torch.optim.Optimizer] = None,
                    metadata: Optional[Mapping[str, Any]] = None) -> Path:
    """Write a checkpoint atomically.

    Parameters
    ----------
    path : str or path-like
        Destination; its folder is created if needed; an existing file is replaced.
    model : ReIDModel
        Its ``state_dict`` is saved (unwrap DDP first: ``model.module``).
    config : ReIDConfig, optional
        Default ``model.config``.
    optimizer : torch.optim.Optimizer, optional
        Its ``state_dict`` is saved for resuming.
    metadata : dict, optional
        Training facts: epoch, step, seeds, metrics, ... (plain data).

    Returns
    -------
    pathlib.Path
        The written path.
    """
    if config is None:
        config = getattr(model, "config", None)
    if not isinstance(config, ReIDConfig):
        raise TypeError("save_checkpoint needs a ReIDConfig (pass config= or a ReIDModel)")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    reference = trunk_reference(config)
    if reference is not None:
        state = {k: v for k, v in state.items() if k not in _frozen_trunk_keys(model)}
    dtypes = {v.dtype for v in state.values() if v.is_floating_point()}
    payload = {
        "format": FORMAT,
        "version": VERSION if reference is not None else 1,
        "config": config.to_dict(),
        "model": state,
        "trunk_reference": reference,
        "dtype": "float16" if dtypes == {torch.float16} else "float32",
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "metadata": _plain(dict(metadata or {}), "metadata"),
    }
    return _atomic_save(payload, path)


def load_checkpoint(path: PathLike, map_location: Union[str, torch.device, None] = "cpu") -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` or :func:`export_half`.

    Parameters
    ----------
    path : str or path-like
    map_location : str or torch.device, optional
        Where the tensors go (default CPU).

    Returns
    -------
    Checkpoint

    Raises
    ------
    CheckpointNotFoundError
        The file does not exist.
    CheckpointError
        The file is corrupt, truncated, not a re-ID checkpoint, or from a newer format version.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointNotFoundError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read (corrupt, truncated or not a torch "
                              f"file): {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a re-ID checkpoint (no 'format': '{FORMAT}' entry); "
                              f"timm/PyTorch trunk weights go in ReIDConfig(trunk_weights=...)")
    if int(payload.get("version", 0)) > VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {payload['version']}, newer than "
                              f"this code's {VERSION}; update the package")
    try:
        config = ReIDConfig.from_dict(payload["config"])
        state_dict = dict(payload["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is damaged: {type(exc).__name__}: {exc}") from exc
    return Checkpoint(path=path, config=config, state_dict=state_dict,
                      optimizer_state=payload.get("optimizer"),
                      metadata=dict(payload.get("metadata") or {}),
                      dtype=str(payload.get("dtype", "float32")),
                      trunk_reference=payload.get("trunk_reference"))


def model_from_checkpoint(checkpoint: Union[Checkpoint, PathLike],
                          device: Union[str, torch.device, None] = "cpu",
                          dtype: Optional[torch.dtype] = None) -> ReIDModel:
    """Rebuild the model of a checkpoint, in eval mode.

    The trunk is built without loading any pretrained weights (the checkpoint has them all), except
    for a checkpoint with a trunk reference: its trunk comes from the referenced file
    (:func:`find_trunk_file`), the rest from the checkpoint.

    Parameters
    ----------
    checkpoint : Checkpoint or path
    device : str or torch.device
    dtype : torch.dtype, optional
        Model dtype; default float32 (fp16 checkpoints are upcast).
    """
    if not isinstance(checkpoint, Checkpoint):
        checkpoint = load_checkpoint(checkpoint)
    reference = checkpoint.trunk_reference
    if reference is not None:
        trunk_file = find_trunk_file(reference, checkpoint.path)
        model = create_model(checkpoint.config.replace(trunk_weights=str(trunk_file)))
    else:
        model = create_model(checkpoint.config, load_trunk_weights=False)
    try:
        if reference is not None:
            missing, unexpected = model.load_state_dict(checkpoint.state_dict, strict=False)
            if unexpected or set(missing) - _frozen_trunk_keys(model):
                raise RuntimeError(f"missing keys {sorted(set(missing) - _frozen_trunk_keys(model))[:5]}, "
                                   f"unexpected keys {sorted(unexpected)[:5]}")
        else:
            model.load_state_dict(checkpoint.state_dict, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {checkpoint.path} does not match its own config "
                              f"(variant '{checkpoint.config.variant}'): {exc}") from exc
    return model.to(device=device, dtype=dtype or torch.float32).eval()


def export_half(path_in: PathLike, path_out: PathLike, trunk_out: Optional[PathLike] = None) -> Path:
    """Write an fp16, weights-only inference checkpoint (config and metadata kept, no optimizer).

    Parameters
    ----------
    path_in : path of a checkpoint from :func:`save_checkpoint`
    path_out : destination (written atomically)
    trunk_out : path, optional
        For a checkpoint with a trunk reference: also write the referenced trunk in fp16 there (a
        timm state dict) and reference that file instead (e.g. to ship both in the package).

    Returns
    -------
    pathlib.Path
    """
    checkpoint = load_checkpoint(path_in)
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in checkpoint.state_dict.items()}
    metadata = dict(checkpoint.metadata)
    metadata["export"] = {"from": Path(path_in).name, "dtype": "float16"}
    reference, config = checkpoint.trunk_reference, checkpoint.config
    if reference is not None and trunk_out is not None:
        trunk_state = torch.load(find_trunk_file(reference, checkpoint.path), map_location="cpu", weights_only=True)
        with atomic_output(trunk_out, "wb") as handle:
            torch.save({k: (v.half() if v.is_floating_point() else v) for k, v in trunk_state.items()}, handle)
        config = config.replace(trunk_weights=Path(trunk_out).name)
        reference = {"file": Path(trunk_out).name, "sha256": file_sha256(trunk_out), "path": Path(trunk_out).name}
        metadata["export"]["trunk_from"] = checkpoint.trunk_reference["file"]
    payload = {
        "format": FORMAT,
        "version": VERSION if reference is not None else 1,
        "config": config.to_dict(),
        "model": state,
        "trunk_reference": reference,
        "dtype": "float16",
        "optimizer": None,
        "metadata": _plain(metadata, "metadata"),
    }
    return _atomic_save(payload, path_out)
