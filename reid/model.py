"""Re-ID embedding models: a timm ViT trunk plus a fusion head, as named variants.

Variants (see :func:`list_variants`), all returning an L2-normalised ``B x out_dim`` float32 tensor
from a dict of crop tensors (``B x 3 x S x S``, normalised with the trunk's mean/std):

``no-train``
    The trunk's class token on the full crop (pooled as the trunk pools), no head, no training.
    ``out_dim`` is the trunk's width.
``full``
    Trunk on the full crop -> its ``N+1`` tokens -> self-attention block -> pooled -> linear
    projection -> L2.
``concat`` (the paper)
    The same trunk on the masked foreground and on the masked background -> two ``(N+1) x D``
    token sets concatenated to ``2(N+1) x D`` -> one self-attention block (multi-head attention +
    MLP, residual, LayerNorm) -> pooled -> linear projection -> L2.
``concat-full``
    As ``concat`` with a third stream, the full crop: ``3(N+1)`` tokens.
``early-fusion``
    Foreground and background patch tokens both get the trunk's (aligned) position embeddings plus a
    learned per-stream embedding, are concatenated behind one class token and go through the trunk's
    blocks together -> pooled -> projected -> L2.

Models are built by one factory, :func:`create_model`, from a plain :class:`ReIDConfig`. The
variant registry is filled at import time by :func:`register_variant`.

Trunk weights never come from the network: ``pretrained=True`` uses the weights only when they are
already in the local Hugging Face hub cache (or torch hub cache) and raises
:class:`WeightsNotFoundError` otherwise; ``trunk_weights=PATH`` loads a local file.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

import numpy as np
import timm
import torch
import torch.nn.functional as F
from torch import nn

from reid.crops import CROP_KINDS, DEFAULT_MARGIN, make_crops

__all__ = [
    "ReIDConfig", "ReIDModel", "VariantSpec", "WeightsError", "WeightsNotFoundError", "WeightsLoadError",
    "register_variant", "create_model", "create_trunk", "list_variants", "get_variant",
    "find_cached_trunk_weights", "ClassTokenModel", "TokenAttentionModel", "EarlyFusionModel",
]


class WeightsError(Exception):
    """Base class of the trunk-weight errors."""


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    """Pretrained trunk weights are neither in the local cache nor at the given path."""


class WeightsLoadError(WeightsError, RuntimeError):
    """A trunk weights file exists but could not be loaded into the trunk."""


@dataclass
class ReIDConfig:
    """Everything needed to rebuild a re-ID model (stored in checkpoints as a plain dict).

    Attributes
    ----------
    variant : str
        Registered variant name (:func:`list_variants`).
    trunk : str
        timm model name of the ViT trunk.
    img_size : int
        Side of the square input crops in pixels (112 for CPU; the paper uses 224).
    embed_dim : int
        Output embedding size (ignored by ``no-train``, whose output is the trunk's width).
    pretrained : bool
        Load the trunk's pretrained weights from the local hub cache (never downloaded).
    trunk_weights : str, optional
        Local file with trunk weights (timm/PyTorch state dict, ``.safetensors`` or ``.npz``);
        takes precedence over ``pretrained``.
    attn_heads : int, optional
        Heads of the fusion attention block; None = the trunk's number of heads.
    mlp_ratio : float
        Hidden size of the fusion block's MLP relative to the trunk width.
    dropout : float
        Dropout in the fusion block (attention and projection) and before the output projection.
    pool : {"mean", "cls"}
        Pooling of the fused tokens: mean of all tokens, or mean of the streams' class tokens.
    stream_embedding : bool
        Add a learned per-stream embedding to the tokens before the fusion block (head variants;
        ``early-fusion`` always has one). False follows the paper.
    freeze_trunk : bool
        Keep the trunk's weights fixed (only the head trains, and the last ``unfrozen_blocks``).
    unfrozen_blocks : int
        With ``freeze_trunk``: the trunk's last N blocks and its final norm still train (partial
        unfreezing). 0 = the whole trunk is fixed.
    crop_margin : float
        Pixels added on each side of a box before cropping (paper: 10).
    crop_fill : (R, G, B), optional
        Fill colour of masked-out pixels, 0-255; None = the trunk's mean colour (normalises to 0).
    trunk_kwargs : dict
        Extra keyword arguments for ``timm.create_model`` (e.g. ``depth``, ``embed_dim``,
        ``num_heads`` for tiny test trunks). Plain values only (they are saved in checkpoints).
    """

    variant: str = "concat"
    trunk: str = "vit_tiny_patch16_224"
    img_size: int = 112
    embed_dim: int = 128
    pretrained: bool = False
    trunk_weights: Optional[str] = None
    attn_heads: Optional[int] = None
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    pool: str = "mean"
    stream_embedding: bool = False
    freeze_trunk: bool = False
    unfrozen_blocks: int = 0
    crop_margin: float = DEFAULT_MARGIN
    crop_fill: Optional[Tuple[int, int, int]] = None
    trunk_kwargs: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.trunk_weights is not None:
            self.trunk_weights = str(self.trunk_weights)
        if self.crop_fill is not None:
            self.crop_fill = tuple(int(c) for c in np.broadcast_to(np.asarray(self.crop_fill), (3,)))
            if not all(0 <= c <= 255 for c in self.crop_fill):
                raise ValueError(f"crop_fill must be 0-255, got {self.crop_fill}")
        self.trunk_kwargs = dict(self.trunk_kwargs)
        if int(self.img_size) < 1 or int(self.embed_dim) < 1:
            raise ValueError(f"img_size and embed_dim must be positive, got {self.img_size}, {self.embed_dim}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.pool not in ("mean", "cls"):
            raise ValueError(f"pool must be 'mean' or 'cls', got {self.pool!r}")
        if self.attn_heads is not None and int(self.attn_heads) < 1:
            raise ValueError(f"attn_heads must be positive, got {self.attn_heads}")
        if int(self.unfrozen_blocks) < 0 or (self.unfrozen_blocks and not self.freeze_trunk):
            raise ValueError(f"unfrozen_blocks must be >= 0 and needs freeze_trunk=True, got "
                             f"{self.unfrozen_blocks} with freeze_trunk={self.freeze_trunk}")

    def to_dict(self) -> Dict[str, Any]:
        """Plain-dict form (for checkpoints and JSON)."""
        out = dataclasses.asdict(self)
        if out["crop_fill"] is not None:
            out["crop_fill"] = list(out["crop_fill"])
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "ReIDConfig":
        """Inverse of :meth:`to_dict`; missing keys take their defaults, unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown ReIDConfig fields {unknown} (written by a newer version?)")
        return cls(**dict(values))

    def replace(self, **changes) -> "ReIDConfig":
        """A copy with some fields changed (unknown names are an error)."""
        return dataclasses.replace(self, **changes)


# --------------------------------------------------------------------------------------------- trunk

def find_cached_trunk_weights(trunk: str) -> Optional[Path]:
    """Path of the trunk's pretrained weights in the local caches, or None. Never uses the network.

    Looks in the Hugging Face hub cache (``HF_HUB_CACHE`` / ``HF_HOME``) for the timm weights of
    the model's default (or named, ``name.tag``) pretrained tag, then in the torch hub cache
    (``TORCH_HOME``) for the file of its legacy download URL.
    """
    try:
        cfg = timm.models.get_pretrained_cfg(trunk)
    except Exception:  # unknown names, malformed tags
        cfg = None
    if cfg is None:
        return None
    cfg = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    hub_id = cfg.get("hf_hub_id")
    if hub_id:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover - huggingface_hub comes with timm
            try_to_load_from_cache = None
        if try_to_load_from_cache is not None:
            names = [cfg["hf_hub_filename"]] if cfg.get("hf_hub_filename") else \
                ["model.safetensors", "pytorch_model.bin"]
            for name in names:
                found = try_to_load_from_cache(hub_id, name)
                if isinstance(found, str) and Path(found).is_file():
                    return Path(found)
    url = cfg.get("url")
    if url:
        candidate = Path(torch.hub.get_dir()) / "checkpoints" / url.split("/")[-1].split("?")[0]
        if candidate.is_file():
            return candidate
    return None


def _create_trunk_from_file(name: str, path: Path, kwargs: Dict[str, Any]) -> nn.Module:
    overlay = dict(file=str(path), custom_load=path.suffix == ".npz")
    try:
        return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs)
    except Exception as exc:  # timm raises many types: RuntimeError, KeyError, pickling errors
        raise WeightsLoadError(f"could not load trunk weights for '{name}' from {path}: "
                               f"{type(exc).__name__}: {exc}") from exc


def create_trunk(config: ReIDConfig, load_weights: bool = True) -> nn.Module:
    """The timm trunk of a config, headless (``num_classes=0``), at ``config.img_size``.

    Parameters
    ----------
    config : ReIDConfig
    load_weights : bool
        Load ``trunk_weights`` / cached pretrained weights as the config says; False gives random
        weights (used when a project checkpoint supplies all weights).

    Raises
    ------
    WeightsNotFoundError
        ``trunk_weights`` names a missing file, or ``pretrained=True`` and the weights are not in
        the local cache (nothing is downloaded).
    WeightsLoadError
        The weights file exists but does not load into the trunk.
    """
    kwargs = dict(num_classes=0, img_size=int(config.img_size), **config.trunk_kwargs)
    if load_weights and config.trunk_weights is not None:
        path = Path(config.trunk_weights).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(f"trunk weights file {path} does not exist")
        return _create_trunk_from_file(config.trunk, path, kwargs)
    if load_weights and config.pretrained:
        path = find_cached_trunk_weights(config.trunk)
        if path is None:
            raise WeightsNotFoundError(
                f"pretrained weights for trunk '{config.trunk}' are not in the local cache and are "
                f"never downloaded here. On a machine with internet run "
                f"`python -c \"import timm; timm.create_model('{config.trunk}', pretrained=True)\"` "
                f"to fill the Hugging Face cache (copy ~/.cache/huggingface along), or pass "
                f"trunk_weights=PATH to a local weights file, or pretrained=False for random weights.")
        return _create_trunk_from_file(config.trunk, path, kwargs)
    return timm.create_model(config.trunk, pretrained=False, **kwargs)


def _trunk_heads(trunk: nn.Module) -> Optional[int]:
    blocks = getattr(trunk, "blocks", None)
    if blocks is not None and len(blocks) > 0:
        heads = getattr(getattr(blocks[0], "attn", None), "num_heads", None)
        if heads:
            return int(heads)
    return None


def _as_tokens(features: torch.Tensor) -> torch.Tensor:
    """B x T x D tokens from a trunk's ``forward_features`` output (B x C x H x W maps flattened)."""
    if features.ndim == 4:
        return features.flatten(2).transpose(1, 2)
    if features.ndim != 3:
        raise ValueError(f"trunk features must be BxTxD tokens, got shape {tuple(features.shape)}")
    return features


def _init_linear(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


# --------------------------------------------------------------------------------------------- models

class ReIDModel(nn.Module):
    """Base class: a trunk, the crop kinds a variant needs, and input normalisation.

    Attributes
    ----------
    config : ReIDConfig
    trunk : nn.Module
        The timm trunk.
    crop_kinds : tuple of str
        Keys the forward's crop dict must have, in stream order.
    out_dim : int
        Size of the output embedding.
    crop_fill : (R, G, B)
        uint8 fill colour of masked-out crop pixels.
    input_mean, input_std : torch.Tensor, shape (1, 3, 1, 1)
        Normalisation of 0-1 RGB inputs (the trunk's; non-persistent buffers).
    """

    crop_kinds: Tuple[str, ...] = ()
    trainable: bool = True

    def __init__(self, config: ReIDConfig, trunk: nn.Module):
        super().__init__()
        self.config = config
        self.trunk = trunk
        pcfg = getattr(trunk, "pretrained_cfg", None) or {}
        mean = tuple(pcfg.get("mean", timm.data.IMAGENET_DEFAULT_MEAN))
        std = tuple(pcfg.get("std", timm.data.IMAGENET_DEFAULT_STD))
        self.register_buffer("input_mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        if config.crop_fill is not None:
            self.crop_fill = tuple(config.crop_fill)
        else:
            self.crop_fill = tuple(int(round(255 * m)) for m in mean)
        self.width = int(getattr(trunk, "num_features", getattr(trunk, "embed_dim", 0)))
        self.out_dim = int(config.embed_dim)
        if config.freeze_trunk:
            self.trunk.requires_grad_(False)
            for module in self._unfrozen_trunk_modules():
                module.requires_grad_(True)

    def _unfrozen_trunk_modules(self):
        """The trunk's last ``unfrozen_blocks`` blocks and its final norm (none when 0)."""
        count = int(self.config.unfrozen_blocks)
        if not count:
            return []
        blocks = getattr(self.trunk, "blocks", None)
        if blocks is None or count > len(blocks):
            raise ValueError(f"unfrozen_blocks={count}, but trunk '{self.config.trunk}' has "
                             f"{0 if blocks is None else len(blocks)} blocks")
        return list(blocks[len(blocks) - count:]) + [self.trunk.norm]

    @property
    def fixed_blocks(self) -> int:
        """Number of leading trunk blocks whose output :meth:`fixed_tokens` returns."""
        return len(self.trunk.blocks) - int(self.config.unfrozen_blocks)

    def fixed_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens after the trunk's fixed part: embedding, position, the first :attr:`fixed_blocks`
        blocks (no final norm). Shape (B, T, D). With a frozen trunk these depend on the crop only,
        so training can compute them once per view (:mod:`reid.token_cache`)."""
        trunk = self.trunk
        x = trunk.norm_pre(trunk.patch_drop(trunk._pos_embed(trunk.patch_embed(x))))
        for block in trunk.blocks[:self.fixed_blocks]:
            x = block(x)
        return x

    def trunk_tail(self, tokens: torch.Tensor) -> torch.Tensor:
        """The rest of the trunk after :meth:`fixed_tokens`: the remaining blocks and the final norm.
        ``trunk_tail(fixed_tokens(x))`` equals ``trunk.forward_features(x)``."""
        for block in self.trunk.blocks[self.fixed_blocks:]:
            tokens = block(tokens)
        return self.trunk.norm(tokens)

    @property
    def img_size(self) -> int:
        """Side of the square input crops in pixels."""
        return int(self.config.img_size)

    def make_crops(self, rgb: np.ndarray, boxes_tlwh, masks=None) -> Dict[str, np.ndarray]:
        """This model's uint8 crops of a frame's objects (its kinds, size, margin and fill).

        Parameters
        ----------
        rgb : numpy.ndarray, shape (H, W, 3), uint8 RGB
        boxes_tlwh : array_like, shape (N, 4), pixels
        masks : array_like, shape (N, H, W), bool, optional

        Returns
        -------
        dict of str -> numpy.ndarray, shape (N, S, S, 3), uint8
            See :func:`reid.crops.make_crops` (and its ``ValueError`` for invalid objects).
        """
        return make_crops(rgb, boxes_tlwh, masks, size=self.img_size, kinds=self.crop_kinds,
                          fill=self.crop_fill, margin=self.config.crop_margin)

    def prepare_inputs(self, crops: Mapping[str, Union[np.ndarray, torch.Tensor]]) -> Dict[str, torch.Tensor]:
        """uint8 crops -> normalised float tensors for :meth:`forward`.

        Parameters
        ----------
        crops : dict of str -> array or tensor, shape (B, S, S, 3), uint8 RGB
            As made by :func:`reid.crops.make_crops`; only the kinds in ``crop_kinds`` are used.

        Returns
        -------
        dict of str -> torch.Tensor, shape (B, 3, S, S), on the model's device and dtype
        """
        param = next(self.parameters())
        out = {}
        for kind in self.crop_kinds:
            if kind not in crops:
                raise KeyError(f"variant '{self.config.variant}' needs crops {list(self.crop_kinds)}; "
                               f"'{kind}' is missing (got {sorted(crops)})")
            x = crops[kind]
            if isinstance(x, np.ndarray) and not x.flags.writeable:
                x = x.copy()  # torch wants writable memory
            x = torch.as_tensor(x)
            if x.ndim != 4 or x.shape[-1] != 3:
                raise ValueError(f"crops['{kind}'] must be BxSxSx3 uint8, got shape {tuple(x.shape)}")
            x = x.to(param.device).permute(0, 3, 1, 2).float().div_(255.0)
            x = (x - self.input_mean) / self.input_std
            out[kind] = x.to(param.dtype).contiguous(memory_format=torch.contiguous_format)
        return out

    def _check_crops(self, crops: Mapping[str, torch.Tensor]) -> int:
        missing = [k for k in self.crop_kinds if k not in crops]
        if missing:
            raise KeyError(f"variant '{self.config.variant}' needs crops {list(self.crop_kinds)}; "
                           f"missing {missing}")
        if torch.jit.is_tracing() or getattr(torch.compiler, "is_compiling", lambda: False)():
            return crops[self.crop_kinds[0]].shape[0]  # shapes stay symbolic (ONNX export, torch.compile)
        shapes = {tuple(crops[k].shape) for k in self.crop_kinds}
        if len(shapes) != 1:
            raise ValueError(f"crop tensors must all have the same shape, got {sorted(shapes)}")
        shape = shapes.pop()
        size = self.img_size
        if len(shape) != 4 or shape[1:] != (3, size, size):
            raise ValueError(f"crop tensors must be Bx3x{size}x{size}, got {shape}")
        return shape[0]

    def forward(self, crops: Mapping[str, torch.Tensor]) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


class ClassTokenModel(ReIDModel):
    """``no-train``: the trunk's pooled (class-token) feature of the full crop, L2-normalised."""

    crop_kinds = ("full",)
    trainable = False

    def __init__(self, config: ReIDConfig, trunk: nn.Module):
        super().__init__(config, trunk)
        self.out_dim = self.width
        self.trunk.requires_grad_(False)

    def forward(self, crops: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Parameters: crops with key ``full``, B x 3 x S x S. Returns B x width, L2-normalised."""
        self._check_crops(crops)
        tokens = self.trunk.forward_features(crops["full"])
        pooled = self.trunk.forward_head(tokens, pre_logits=True)
        return F.normalize(pooled.float(), dim=-1)


class TokenAttentionModel(ReIDModel):
    """Trunk on each stream -> tokens concatenated -> self-attention block -> pooled -> linear -> L2.

    With streams ``(foreground, background)`` this is the paper's ``concat`` model; ``(full,)``
    gives ``full`` and ``(foreground, background, full)`` gives ``concat-full``.
    """

    def __init__(self, config: ReIDConfig, trunk: nn.Module, streams: Tuple[str, ...]):
        super().__init__(config, trunk)
        self.crop_kinds = tuple(streams)
        width = self.width
        heads = int(config.attn_heads or _trunk_heads(trunk) or 1)
        if width % heads:
            raise ValueError(f"attn_heads={heads} does not divide the trunk width {width}")
        if config.pool == "cls" and getattr(trunk, "cls_token", None) is None:
            raise ValueError(f"pool='cls' needs a trunk with a class token; '{config.trunk}' has none")
        from timm.models.vision_transformer import Block

        self.stream_embed = (nn.Parameter(torch.zeros(len(streams), 1, 1, width))
                             if config.stream_embedding else None)
        self.fusion = Block(width, heads, mlp_ratio=config.mlp_ratio, qkv_bias=True,
                            proj_drop=config.dropout, attn_drop=config.dropout)
        self.fusion_norm = nn.LayerNorm(width)
        self.head_drop = nn.Dropout(config.dropout)
        self.proj = nn.Linear(width, config.embed_dim)
        if self.stream_embed is not None:
            nn.init.trunc_normal_(self.stream_embed, std=0.02)
        self.fusion.apply(_init_linear)
        self.proj.apply(_init_linear)

    def stream_tokens(self, crops: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Trunk tokens of every stream, shape (streams, B, T, D); one trunk pass for all streams."""
        batch = self._check_crops(crops)
        x = torch.cat([crops[k] for k in self.crop_kinds], dim=0)
        tokens = _as_tokens(self.trunk.forward_features(x))
        return tokens.view(len(self.crop_kinds), batch, tokens.shape[1], tokens.shape[2])

    def stream_fixed_tokens(self, crops: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """:meth:`fixed_tokens` of every stream, shape (streams, B, T, D)."""
        batch = self._check_crops(crops)
        tokens = self.fixed_tokens(torch.cat([crops[k] for k in self.crop_kinds], dim=0))
        return tokens.view(len(self.crop_kinds), batch, tokens.shape[1], tokens.shape[2])

    def forward_fixed_tokens(self, fixed: torch.Tensor) -> torch.Tensor:
        """Embedding from :meth:`stream_fixed_tokens` output (streams, B, T, D): B x embed_dim, L2."""
        n_streams, batch, length, width = fixed.shape
        tokens = self.trunk_tail(fixed.reshape(n_streams * batch, length, width))
        return self._fuse_and_pool(tokens.view(n_streams, batch, length, width))

    def forward_tokens(self, crops: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Fused token sequence before pooling, shape (B, streams * T, D), T = N + 1 for a ViT."""
        return self._fuse(self.stream_tokens(crops))

    def _fuse(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.stream_embed is not None:
            tokens = tokens + self.stream_embed
        n_streams, batch, length, width = tokens.shape
        tokens = tokens.permute(1, 0, 2, 3).reshape(batch, n_streams * length, width)
        return self.fusion_norm(self.fusion(tokens))

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """B x L x D -> B x D (mean of all tokens, or of each stream's class token)."""
        if self.config.pool == "cls":
            length = tokens.shape[1] // len(self.crop_kinds)
            return tokens[:, ::length].mean(dim=1)
        return tokens.mean(dim=1)

    def _fuse_and_pool(self, tokens: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(self._fuse(tokens))
        return F.normalize(self.proj(self.head_drop(pooled)).float(), dim=-1)

    def forward(self, crops: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Parameters: crops keyed by ``crop_kinds``, each B x 3 x S x S. Returns B x embed_dim, L2."""
        return self._fuse_and_pool(self.stream_tokens(crops))


class EarlyFusionModel(ReIDModel):
    """``early-fusion``: fg and bg patch tokens (same position embeddings + a stream embedding)
    share one class token and go through the trunk's blocks together."""

    crop_kinds = ("foreground", "background")

    def __init__(self, config: ReIDConfig, trunk: nn.Module):
        super().__init__(config, trunk)
        for attr in ("patch_embed", "pos_embed", "cls_token", "blocks", "norm"):
            if getattr(trunk, attr, None) is None:
                raise ValueError(f"early-fusion needs a ViT trunk with '{attr}'; '{config.trunk}' has none")
        self.stream_embed = nn.Parameter(torch.zeros(2, 1, 1, self.width))
        nn.init.trunc_normal_(self.stream_embed, std=0.02)
        self.head_drop = nn.Dropout(config.dropout)
        self.proj = nn.Linear(self.width, config.embed_dim)
        self.proj.apply(_init_linear)

    def forward_tokens(self, crops: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Token sequence after the trunk's blocks and norm, shape (B, prefix + 2N, D)."""
        batch = self._check_crops(crops)
        trunk = self.trunk
        x = torch.cat([crops["foreground"], crops["background"]], dim=0)
        patches = trunk.patch_embed(x)
        if patches.ndim == 4:  # NHWC from dynamic-size patch embeds
            patches = patches.flatten(1, 2)
        n_prefix = int(getattr(trunk, "num_prefix_tokens", 1))
        pos = trunk.pos_embed
        if getattr(trunk, "no_embed_class", False):
            prefix_pos, patch_pos = None, pos
        else:
            prefix_pos, patch_pos = pos[:, :n_prefix], pos[:, n_prefix:]
        if patch_pos.shape[1] != patches.shape[1]:
            raise ValueError(f"trunk has {patch_pos.shape[1]} patch positions but the crops give "
                             f"{patches.shape[1]} patches")
        patches = (patches + patch_pos).unflatten(0, (2, batch))
        patches = (patches + self.stream_embed).permute(1, 0, 2, 3).flatten(1, 2)
        prefix = [trunk.cls_token]
        if getattr(trunk, "reg_token", None) is not None:
            prefix.append(trunk.reg_token)
        prefix = torch.cat(prefix, dim=1)
        if prefix_pos is not None:
            prefix = prefix + prefix_pos
        tokens = torch.cat([prefix.expand(batch, -1, -1), patches], dim=1)
        tokens = trunk.pos_drop(tokens)
        tokens = trunk.norm_pre(tokens)
        tokens = trunk.blocks(tokens)
        return trunk.norm(tokens)

    def forward(self, crops: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Parameters: crops ``foreground``, ``background``, B x 3 x S x S. Returns B x embed_dim, L2."""
        tokens = self.forward_tokens(crops)
        pooled = tokens[:, 0] if self.config.pool == "cls" else tokens.mean(dim=1)
        return F.normalize(self.proj(self.head_drop(pooled)).float(), dim=-1)


# --------------------------------------------------------------------------------------------- registry

@dataclass(frozen=True)
class VariantSpec:
    """A registered variant: its builder, the crops it needs, whether it is trained."""

    name: str
    build: Callable[[ReIDConfig, nn.Module], ReIDModel]
    crop_kinds: Tuple[str, ...]
    trainable: bool
    description: str = ""


_VARIANTS: Dict[str, VariantSpec] = {}


def register_variant(name: str, *, crop_kinds: Tuple[str, ...], trainable: bool = True,
                     description: str = ""):
    """Decorator registering ``build(config, trunk) -> ReIDModel`` under ``name``.

    Registration is meant for import time; registering a name twice is an error.
    """
    unknown = [k for k in crop_kinds if k not in CROP_KINDS]
    if unknown:
        raise ValueError(f"variant '{name}': unknown crop kinds {unknown}")

    def decorator(build):
        if name in _VARIANTS:
            raise ValueError(f"variant '{name}' is already registered")
        _VARIANTS[name] = VariantSpec(name, build, tuple(crop_kinds), trainable, description)
        return build

    return decorator


def list_variants() -> Tuple[str, ...]:
    """Names of the registered variants, sorted."""
    return tuple(sorted(_VARIANTS))


def get_variant(name: str) -> VariantSpec:
    """The :class:`VariantSpec` registered as ``name`` (``KeyError`` naming the choices)."""
    try:
        return _VARIANTS[name]
    except KeyError:
        raise KeyError(f"unknown re-ID variant '{name}'; choose from {list(list_variants())}") from None


def create_model(config: Union[ReIDConfig, str, None] = None, *, load_trunk_weights: bool = True,
                 **overrides) -> ReIDModel:
    """Build a re-ID model.

    Parameters
    ----------
    config : ReIDConfig or str, optional
        A config, or a variant name (then ``ReIDConfig(variant=name, **overrides)``); default
        ``ReIDConfig()`` (``concat``).
    load_trunk_weights : bool
        Load the trunk weights the config asks for (``pretrained`` / ``trunk_weights``); False gives
        a random trunk, as used when a checkpoint provides all weights.
    **overrides
        Config fields to change.

    Returns
    -------
    ReIDModel
        In train mode, float32, on the CPU.
    """
    if config is None:
        config = ReIDConfig(**overrides)
    elif isinstance(config, str):
        config = ReIDConfig(variant=config, **overrides)
    elif overrides:
        config = config.replace(**overrides)
    spec = get_variant(config.variant)
    if spec.name == "no-train" and load_trunk_weights and not config.pretrained and config.trunk_weights is None:
        warnings.warn("variant 'no-train' with a randomly initialised trunk gives meaningless embeddings; "
                      "pass pretrained=True (cached weights) or trunk_weights=PATH", stacklevel=2)
    trunk = create_trunk(config, load_weights=load_trunk_weights)
    model = spec.build(config, trunk)
    if tuple(model.crop_kinds) != spec.crop_kinds:  # pragma: no cover - registration bug
        raise RuntimeError(f"variant '{spec.name}' declared crops {spec.crop_kinds} but its model uses {model.crop_kinds}")
    return model


@register_variant("no-train", crop_kinds=("full",), trainable=False,
                  description="the pretrained trunk's class token on the full crop, no training")
def _build_no_train(config: ReIDConfig, trunk: nn.Module) -> ReIDModel:
    return ClassTokenModel(config, trunk)


@register_variant("full", crop_kinds=("full",),
                  description="trunk on the full crop -> self-attention block -> pooled -> linear -> L2")
def _build_full(config: ReIDConfig, trunk: nn.Module) -> ReIDModel:
    return TokenAttentionModel(config, trunk, ("full",))


@register_variant("concat", crop_kinds=("foreground", "background"),
                  description="the paper: fg and bg tokens concatenated -> self-attention block -> pooled -> linear -> L2")
def _build_concat(config: ReIDConfig, trunk: nn.Module) -> ReIDModel:
    return TokenAttentionModel(config, trunk, ("foreground", "background"))


@register_variant("concat-full", crop_kinds=("foreground", "background", "full"),
                  description="fg, bg and full-crop tokens concatenated -> self-attention block -> pooled -> linear -> L2")
def _build_concat_full(config: ReIDConfig, trunk: nn.Module) -> ReIDModel:
    return TokenAttentionModel(config, trunk, ("foreground", "background", "full"))


@register_variant("early-fusion", crop_kinds=("foreground", "background"),
                  description="fg and bg patch tokens with stream embeddings through the trunk's blocks together")
def _build_early_fusion(config: ReIDConfig, trunk: nn.Module) -> ReIDModel:
    return EarlyFusionModel(config, trunk)
