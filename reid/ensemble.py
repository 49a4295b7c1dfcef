"""Two embedders as one: the shipped ViT-Ti beside a head over the real-image DINOv2 trunk.

Each member's L2-normalised features are scaled by sqrt(W) and sqrt(1 - W) and concatenated, so the
result is still a unit row and its squared Euclidean (and cosine) distance is ``W`` x the first
member's + ``(1 - W)`` x the second's. On the command line it is written ``A+B:W``:

>>> emb = EnsembleEmbedder.from_spec("default+dinov2-concat-full:0.8")
>>> features = emb.embed(rgb, boxes_tlwh, masks)        # N x (D_A + D_B) float32, unit rows
"""
from __future__ import annotations

import hashlib
import re
from typing import Optional, Tuple

import numpy as np

__all__ = ["EnsembleEmbedder", "parse_ensemble", "combine_features"]


def parse_ensemble(spec: str) -> Optional[Tuple[str, str, float]]:
    """``"A+B"`` or ``"A+B:W"`` -> ``("A", "B", W)`` (W: A's share of the squared distance, default
    0.5), or None for a spec that is not an ensemble (no ``+``).

    Raises
    ------
    ValueError
        For a malformed spec (an empty member, three members, W not in (0, 1)).
    """
    if "+" not in spec:
        return None
    members, _, share = spec.rpartition(":")
    if not re.fullmatch(r"[0-9.eE+-]+", share):    # no weight: the colon is a member's (variant:NAME)
        members, share = spec, ""
    first, _, second = members.partition("+")
    try:
        weight = float(share) if share else 0.5
    except ValueError:
        weight = float("nan")
    if not first or not second or "+" in second or not 0.0 < weight < 1.0:
        raise ValueError(f"ensemble '{spec}': write A+B or A+B:W with 0 < W < 1 (A's share)")
    return first, second, weight


def combine_features(first: np.ndarray, second: np.ndarray, weight: float) -> np.ndarray:
    """Rows of ``first`` (N, D_A) and ``second`` (N, D_B), both L2-normalised, concatenated as
    ``[sqrt(W) first, sqrt(1 - W) second]``: (N, D_A + D_B) float32 unit rows whose squared distance is
    ``W`` x the first's + ``(1 - W)`` x the second's."""
    first, second = np.asarray(first, dtype=np.float32), np.asarray(second, dtype=np.float32)
    if len(first) != len(second):
        raise ValueError(f"combine_features: {len(first)} rows against {len(second)}")
    return np.concatenate([first * np.float32(np.sqrt(weight)), second * np.float32(np.sqrt(1.0 - weight))], axis=1)


class EnsembleEmbedder:
    """Two :class:`reid.embedder.Embedder` read the same crops' frame; their features are combined by
    :func:`combine_features`. It has the attributes the tracker reads of an embedder (``name``,
    ``weights_sha256``, ``dim``, ``device``, ``precision``, ``backend``, ``compiled``) and its ``embed``.

    Parameters
    ----------
    first, second : reid.embedder.Embedder
    weight : float
        The first member's share W of the squared distance, 0 < W < 1.
    """

    def __init__(self, first, second, weight: float):
        if not 0.0 < weight < 1.0:
            raise ValueError(f"ensemble weight must be in (0, 1), got {weight}")
        self.members = (first, second)
        self.weight = float(weight)
        self.name = f"{first.name}+{second.name}:{self.weight:g}"
        digest = hashlib.sha256(f"{self.weight!r}:{first.weights_sha256}:{second.weights_sha256}".encode())
        self.weights_sha256 = digest.hexdigest()
        self.device, self.precision, self.backend = first.device, first.precision, first.backend
        self.compiled = first.compiled

    @classmethod
    def from_spec(cls, spec: str, **kwargs) -> "EnsembleEmbedder":
        """``A+B:W`` with A and B each what :meth:`reid.embedder.Embedder.from_spec` reads;
        ``kwargs`` (device, precision, ...) go to both members."""
        from reid.embedder import Embedder

        parsed = parse_ensemble(spec)
        if parsed is None:
            raise ValueError(f"'{spec}' is not an ensemble (write A+B:W)")
        first, second, weight = parsed
        return cls(Embedder.from_spec(first, **kwargs), Embedder.from_spec(second, **kwargs), weight)

    @property
    def dim(self) -> int:
        """Embedding size D_A + D_B."""
        return sum(member.dim for member in self.members)

    def __repr__(self) -> str:
        return f"EnsembleEmbedder({self.weight:g} x {self.members[0]!r} + {1 - self.weight:g} x {self.members[1]!r})"

    def embed(self, rgb: np.ndarray, boxes, masks=None) -> np.ndarray:
        """Like :meth:`reid.embedder.Embedder.embed`: (N, D) float32 unit rows."""
        first, second = (member.embed(rgb, boxes, masks) for member in self.members)
        return combine_features(first, second, self.weight)
