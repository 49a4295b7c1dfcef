"""Tokens of a frozen trunk, computed once per view for head training.

With ``ReIDConfig(freeze_trunk=True)`` the trunk's fixed part (everything before its last
``unfrozen_blocks`` blocks) maps a crop to the same tokens at every step, so ``reid.train`` runs it
once per view and per flip and trains the head (and the unfrozen blocks) on the stored tokens: a
DINOv2 ViT-S/14 step then costs the head's time instead of the trunk's. The price: the only
augmentation left is the horizontal flip (stored as a second copy); brightness, contrast and
photometric changes need the crops and are not applied.

A cache folder holds one file per crop kind (``torch.save`` of a dict, written atomically) that
records what made it - trunk, image size, fixed blocks, crop fill and margin, flips and a digest of
the crops - and is refused for anything else, so one folder serves every seed and every variant
of a recipe.
"""
from __future__ import annotations

import hashlib
import os
from typing import Iterable, Optional, Sequence

import numpy as np
import torch

from reid.fileio import atomic_output

__all__ = ["TokenCacheError", "crops_digest", "compute_fixed_tokens", "load_or_compute_fixed_tokens"]

FORMAT = "reid-token-cache"


class TokenCacheError(ValueError):
    """A token cache file does not match the model or views it is used with."""


def crops_digest(crops: dict, kinds: Sequence[str]) -> str:
    """sha256 of the uint8 crops of ``kinds`` (order included)."""
    digest = hashlib.sha256()
    for kind in kinds:
        array = np.ascontiguousarray(crops[kind])
        digest.update(f"{kind}{array.shape}".encode())
        digest.update(array.data)
    return digest.hexdigest()


def _trunk_reference(model) -> dict:
    config = model.config
    return {"trunk": config.trunk, "trunk_weights": os.path.basename(config.trunk_weights or ""),
            "trunk_kwargs": dict(config.trunk_kwargs), "img_size": int(config.img_size),
            "fixed_blocks": int(model.fixed_blocks), "crop_fill": list(model.crop_fill),
            "crop_margin": float(config.crop_margin)}


@torch.inference_mode()
def compute_fixed_tokens(model, crops: np.ndarray, flips: Iterable[bool] = (False, True), batch_size: int = 64,
                         device: Optional[torch.device] = None, progress=None) -> torch.Tensor:
    """Fixed-part tokens (:meth:`reid.model.ReIDModel.fixed_tokens`) of one crop kind, every view and flip.

    Parameters
    ----------
    model : reid.model.ReIDModel
        With ``config.freeze_trunk``.
    crops : numpy.ndarray, shape (N, S, S, 3), uint8
        One kind's crops.
    flips : iterable of bool
        One copy per entry: False = the crop as is, True = mirrored left-right.
    batch_size : int
    device : torch.device, optional
        Default: the model's.
    progress : callable, optional
        ``progress(done, total)`` after each batch.

    Returns
    -------
    torch.Tensor, shape (N, len(flips), T, D), float16, on the CPU
    """
    flips = list(flips)
    was_training = model.training
    model.eval()
    device = device or next(model.parameters()).device
    out = None
    for start in range(0, len(crops), batch_size):
        chunk = torch.from_numpy(np.ascontiguousarray(crops[start:start + batch_size])).to(device)
        for f, flip in enumerate(flips):
            x = (chunk.flip(2) if flip else chunk).permute(0, 3, 1, 2).float().div(255.0)
            x = ((x - model.input_mean) / model.input_std).contiguous()
            tokens = model.fixed_tokens(x).to("cpu", torch.float16)
            if out is None:
                out = torch.empty((len(crops), len(flips)) + tuple(tokens.shape[1:]), dtype=torch.float16)
            out[start:start + len(chunk), f] = tokens
        if progress is not None:
            progress(min(len(crops), start + batch_size), len(crops))
    model.train(was_training)
    return out


def load_or_compute_fixed_tokens(model, crops: dict, folder: Optional[str] = None, prefix: str = "",
                                 flips=(False, True), batch_size: int = 64, device=None,
                                 progress=None) -> torch.Tensor:
    """Fixed-part tokens of every stream of ``model`` (its ``crop_kinds``), per kind read from
    ``folder/PREFIXKIND-bFIXED_BLOCKS.pt`` when that file was made for this trunk and these crops, else computed and
    written there (atomically), so variants sharing a crop kind share its tokens.

    Returns
    -------
    torch.Tensor, shape (N, len(flips), streams, T, D), float16

    Raises
    ------
    TokenCacheError
        A file exists but is not a token cache, or was made for another trunk, size, fill, margin,
        number of fixed blocks, flips or other crops (the message names what differs).
    """
    per_kind = []
    for kind in model.crop_kinds:
        key = _trunk_reference(model)
        key.update(kind=kind, flips=[bool(f) for f in flips], crops_sha256=crops_digest(crops, [kind]))
        path = os.path.join(folder, f"{prefix}{kind}-b{model.fixed_blocks}.pt") if folder else None
        if path and os.path.exists(path):
            per_kind.append(_read(path, key))
            continue
        tokens = compute_fixed_tokens(model, crops[kind], flips, batch_size, device, progress)
        if path:
            with atomic_output(path, "wb") as handle:
                torch.save({"format": FORMAT, "key": key, "tokens": tokens}, handle)
        per_kind.append(tokens)
    return torch.stack(per_kind, dim=2)


def _read(path: str, key: dict) -> torch.Tensor:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise TokenCacheError(f"token cache {path} cannot be read: {type(exc).__name__}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise TokenCacheError(f"{path} is not a token cache (delete it or choose another --token-cache)")
    differs = sorted(k for k in key if payload["key"].get(k) != key[k])
    if differs:
        raise TokenCacheError(f"token cache {path} was made for other settings ({', '.join(differs)} differ); "
                              f"delete it or choose another --token-cache")
    return payload["tokens"]
