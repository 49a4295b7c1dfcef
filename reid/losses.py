"""Triplet loss on squared Euclidean distances, with batch mining (pure torch, vectorised).

For an anchor ``a``, a positive ``p`` (same instance, another view) and a negative ``n`` (any other
instance, including other instances of the same class: labels are *instance* ids), the paper's
eq. 2 is::

    l(a, p, n) = max(0, ||f(a) - f(p)||^2 - ||f(a) - f(n)||^2 + M)

Mining strategies over a batch of B embeddings with instance labels:

``batch-all``
    every valid triplet; the loss is the mean over the triplets with a positive loss (the active
    ones), and the fraction of active triplets is reported.
``batch-hard``
    per anchor, its farthest positive and nearest negative; mean over the anchors that have both.
``semi-hard``
    per anchor-positive pair, the nearest negative farther than the positive (FaceNet); when no
    negative is farther, the farthest negative. Mean over all anchor-positive pairs.

Memory: ``batch-all`` builds a B x B x B tensor (fine for the usual P x K batches of up to a few
hundred); the others are B x B.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

MINING_STRATEGIES = ("batch-all", "batch-hard", "semi-hard")


class TripletLossOutput(NamedTuple):
    """Result of :func:`triplet_loss`.

    Attributes
    ----------
    loss : torch.Tensor, scalar
        The loss to minimise (0 with a gradient path when nothing is active or valid).
    active_fraction : torch.Tensor, scalar
        Share of the mined triplets (batch-all: all valid triplets; batch-hard: anchors; semi-hard:
        anchor-positive pairs) whose loss is positive. Detached.
    num_triplets : int
        How many triplets the loss averages over before activity filtering (valid triplets,
        anchors or pairs).
    """

    loss: torch.Tensor
    active_fraction: torch.Tensor
    num_triplets: int


def squared_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances.

    Parameters
    ----------
    embeddings : torch.Tensor, shape (B, D)

    Returns
    -------
    torch.Tensor, shape (B, B)
        ``||e_i - e_j||^2``, non-negative, exactly 0 on the diagonal; differentiable everywhere.
    """
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be BxD, got shape {tuple(embeddings.shape)}")
    gram = embeddings @ embeddings.t()
    sq = gram.diagonal()
    dist = (sq[:, None] + sq[None, :] - 2.0 * gram).clamp_min(0.0)
    eye = torch.eye(len(embeddings), dtype=torch.bool, device=embeddings.device)
    return dist.masked_fill(eye, 0.0)


def _pair_masks(labels: torch.Tensor):
    labels = labels.view(-1)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same  # positives, negatives


def triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 0.2,
                 mining: str = "batch-all") -> TripletLossOutput:
    """Triplet loss with margin on squared Euclidean distances (paper eq. 2), mined in the batch.

    Parameters
    ----------
    embeddings : torch.Tensor, shape (B, D)
        Usually L2-normalised (squared distances then lie in [0, 4]).
    labels : torch.Tensor, shape (B,), int
        Instance ids; two views of one instance share an id, every other instance is a negative.
    margin : float
        ``M`` in squared-distance units.
    mining : {"batch-all", "batch-hard", "semi-hard"}

    Returns
    -------
    TripletLossOutput
    """
    if mining not in MINING_STRATEGIES:
        raise ValueError(f"unknown mining '{mining}'; choose from {list(MINING_STRATEGIES)}")
    labels = torch.as_tensor(labels, device=embeddings.device).view(-1)
    if labels.shape[0] != embeddings.shape[0]:
        raise ValueError(f"got {embeddings.shape[0]} embeddings but {labels.shape[0]} labels")
    dist = squared_distances(embeddings)
    positives, negatives = _pair_masks(labels)
    zero = embeddings.sum() * 0.0  # keeps the graph when nothing contributes

    if mining == "batch-all":
        # valid[a, p, n]: p a positive of a, n a negative of a
        valid = positives[:, :, None] & negatives[:, None, :]
        losses = (dist[:, :, None] - dist[:, None, :] + margin).clamp_min(0.0)
        losses = losses * valid
        count = int(valid.sum())
        active = (losses > 1e-12) & valid
        n_active = int(active.sum())
        loss = losses.sum() / n_active if n_active else zero
        fraction = torch.tensor(n_active / count if count else 0.0, device=embeddings.device)
        return TripletLossOutput(loss, fraction, count)

    big = torch.finfo(dist.dtype).max
    if mining == "batch-hard":
        has_both = positives.any(dim=1) & negatives.any(dim=1)
        hardest_pos = dist.masked_fill(~positives, -1.0).amax(dim=1)
        hardest_neg = dist.masked_fill(~negatives, big).amin(dim=1)
        losses = (hardest_pos - hardest_neg + margin).clamp_min(0.0)[has_both]
        count = int(has_both.sum())
        loss = losses.mean() if count else zero
        fraction = (losses > 1e-12).float().mean().detach() if count else torch.tensor(0.0, device=embeddings.device)
        return TripletLossOutput(loss, fraction, count)

    # semi-hard: for each (a, p), the nearest negative with d(a, n) > d(a, p); else the farthest one
    pairs = positives & negatives.any(dim=1, keepdim=True)
    d_ap = dist[:, :, None]  # a, p, 1
    d_an = dist[:, None, :]  # a, 1, n
    farther = negatives[:, None, :] & (d_an > d_ap)  # a, p, n
    nearest_farther = d_an.expand_as(farther).masked_fill(~farther, big).amin(dim=2)
    farthest = dist.masked_fill(~negatives, -1.0).amax(dim=1, keepdim=True).expand_as(nearest_farther)
    chosen = torch.where(farther.any(dim=2), nearest_farther, farthest)
    losses = (dist - chosen + margin).clamp_min(0.0)[pairs]
    count = int(pairs.sum())
    loss = losses.mean() if count else zero
    fraction = (losses > 1e-12).float().mean().detach() if count else torch.tensor(0.0, device=embeddings.device)
    return TripletLossOutput(loss, fraction, count)


def distance_distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Relational distillation (the distance term of RKD, Park et al., CVPR 2019): the student's
    pairwise distances made proportional to a teacher's.

    Both sets of rows are L2-normalised, their pairwise squared distances divided by the mean over
    the batch's off-diagonal pairs, and the loss is the Huber (smooth L1) difference over those pairs.
    It carries the teacher's ranking of the whole batch (which views it holds near and far) without
    its scale, which stays the student's own: the tracker's gates are absolute distances.

    Parameters
    ----------
    student : torch.Tensor, shape (B, D_s)
    teacher : torch.Tensor, shape (B, D_t)
        No gradient flows into it.

    Returns
    -------
    torch.Tensor, scalar
    """
    if student.ndim != 2 or teacher.ndim != 2 or len(student) != len(teacher) or len(student) < 2:
        raise ValueError(f"student and teacher must be BxD with the same B >= 2, got shapes {tuple(student.shape)} "
                         f"and {tuple(teacher.shape)}")
    off_diagonal = ~torch.eye(len(student), dtype=torch.bool, device=student.device)

    def relative(rows):
        distances = squared_distances(nn.functional.normalize(rows, dim=-1))[off_diagonal]
        return distances / distances.mean().clamp_min(1e-12)

    return nn.functional.smooth_l1_loss(relative(student), relative(teacher.detach().to(student.dtype)))


class TripletLoss(nn.Module):
    """Module form of :func:`triplet_loss` (margin and mining fixed at construction)."""

    def __init__(self, margin: float = 0.2, mining: str = "batch-all"):
        super().__init__()
        if mining not in MINING_STRATEGIES:
            raise ValueError(f"unknown mining '{mining}'; choose from {list(MINING_STRATEGIES)}")
        self.margin = float(margin)
        self.mining = mining

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> TripletLossOutput:
        return triplet_loss(embeddings, labels, self.margin, self.mining)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, mining={self.mining!r}"
