"""Triplet loss on squared distances: hand-computed values, brute-force agreement, gradients."""
import itertools

import pytest
import torch

from reid.losses import TripletLoss, distance_distillation_loss, squared_distances, triplet_loss

# Four points in 2D, two instances (labels 0 and 1).
#   p0 = (0, 0), p1 = (1, 0)   instance 0
#   p2 = (0, 2), p3 = (3, 0)   instance 1
# Squared distances: d01 = 1, d02 = 4, d03 = 9, d12 = 5, d13 = 4, d23 = 13.
POINTS = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
LABELS = torch.tensor([0, 0, 1, 1])
MARGIN = 4.0


def test_squared_distances_by_hand():
    expected = torch.tensor([[0, 1, 4, 9], [1, 0, 5, 4], [4, 5, 0, 13], [9, 4, 13, 0]], dtype=torch.float32)
    torch.testing.assert_close(squared_distances(POINTS), expected)


def test_batch_all_by_hand():
    # (a, p, n): loss = max(0, d_ap - d_an + 4)
    # (0,1,2): 1-4+4=1   (0,1,3): 1-9+4=0   (1,0,2): 1-5+4=0   (1,0,3): 1-4+4=1
    # (2,3,0): 13-4+4=13 (2,3,1): 13-5+4=12 (3,2,0): 13-9+4=8  (3,2,1): 13-4+4=13
    # 8 valid triplets, 6 active, sum 48 -> mean over active = 8, active fraction 0.75
    out = triplet_loss(POINTS, LABELS, margin=MARGIN, mining="batch-all")
    assert out.num_triplets == 8
    assert out.loss.item() == pytest.approx(8.0)
    assert out.active_fraction.item() == pytest.approx(0.75)


def test_batch_hard_by_hand():
    # anchor 0: hardest pos 1, nearest neg min(4, 9) = 4 -> 1
    # anchor 1: 1, min(5, 4) = 4 -> 1;  anchor 2: 13, min(4, 5) = 4 -> 13;  anchor 3: 13, min(9, 4) -> 13
    out = triplet_loss(POINTS, LABELS, margin=MARGIN, mining="batch-hard")
    assert out.num_triplets == 4
    assert out.loss.item() == pytest.approx(7.0)
    assert out.active_fraction.item() == pytest.approx(1.0)


def test_semi_hard_by_hand():
    # (0,1): d_ap 1, negatives farther than 1: {4, 9} -> nearest 4 -> 1-4+4 = 1
    # (1,0): d_ap 1, {5, 4} -> 4 -> 1
    # (2,3): d_ap 13, none of {4, 5} farther -> farthest 5 -> 13-5+4 = 12
    # (3,2): d_ap 13, none of {9, 4} farther -> farthest 9 -> 13-9+4 = 8
    out = triplet_loss(POINTS, LABELS, margin=MARGIN, mining="semi-hard")
    assert out.num_triplets == 4
    assert out.loss.item() == pytest.approx(5.5)


def test_margin_zero_and_separated_points_give_zero_loss():
    points = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    for mining in ("batch-all", "batch-hard", "semi-hard"):
        out = triplet_loss(points, LABELS, margin=0.5, mining=mining)
        assert out.loss.item() == 0.0
        assert out.active_fraction.item() == 0.0


def brute_force(emb, labels, margin, mining):
    d = ((emb[:, None] - emb[None]) ** 2).sum(-1)
    n = len(labels)
    losses = []
    if mining == "batch-all":
        for a, p, q in itertools.product(range(n), repeat=3):
            if a != p and labels[a] == labels[p] and labels[q] != labels[a]:
                losses.append(max(0.0, d[a, p] - d[a, q] + margin))
        active = [x for x in losses if x > 1e-12]
        return sum(active) / len(active) if active else 0.0
    if mining == "batch-hard":
        for a in range(n):
            pos = [d[a, p] for p in range(n) if p != a and labels[p] == labels[a]]
            neg = [d[a, q] for q in range(n) if labels[q] != labels[a]]
            if pos and neg:
                losses.append(max(0.0, max(pos) - min(neg) + margin))
        return sum(losses) / len(losses)
    for a, p in itertools.product(range(n), repeat=2):
        if a == p or labels[a] != labels[p]:
            continue
        neg = [d[a, q] for q in range(n) if labels[q] != labels[a]]
        farther = [x for x in neg if x > d[a, p]]
        chosen = min(farther) if farther else max(neg)
        losses.append(max(0.0, d[a, p] - chosen + margin))
    return sum(losses) / len(losses)


@pytest.mark.parametrize("mining", ["batch-all", "batch-hard", "semi-hard"])
def test_matches_brute_force_on_random_batches(mining):
    gen = torch.Generator().manual_seed(0)
    for trial in range(4):
        emb = torch.nn.functional.normalize(torch.randn(12, 5, generator=gen, dtype=torch.float64), dim=1)
        labels = torch.randint(0, 4, (12,), generator=gen)
        expected = brute_force(emb, labels.tolist(), 0.3, mining)
        got = triplet_loss(emb, labels, margin=0.3, mining=mining).loss.item()
        assert got == pytest.approx(float(expected), rel=1e-9, abs=1e-12)


def test_gradients_are_finite_with_duplicate_points():
    emb = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1])
    for mining in ("batch-all", "batch-hard", "semi-hard"):
        emb.grad = None
        out = triplet_loss(emb, labels, margin=0.2, mining=mining)
        out.loss.backward()
        assert out.loss.item() > 0
        assert torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0


def test_no_valid_triplet_gives_zero_with_graph():
    emb = torch.randn(3, 4, requires_grad=True)
    out = triplet_loss(emb, torch.tensor([7, 7, 7]), mining="batch-hard")
    assert out.loss.item() == 0.0 and out.num_triplets == 0
    out.loss.backward()  # must not raise


def test_module_and_errors():
    loss = TripletLoss(margin=MARGIN, mining="batch-hard")
    assert loss(POINTS, LABELS).loss.item() == pytest.approx(7.0)
    with pytest.raises(ValueError, match="unknown mining"):
        TripletLoss(mining="hardest")
    with pytest.raises(ValueError, match="labels"):
        triplet_loss(POINTS, LABELS[:3])


def test_distance_distillation_by_hand_and_its_invariances():
    # unit rows at 0, 90 and 180 degrees: squared distances (d01, d02, d12) 2, 4, 2, mean 8/3
    student = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], requires_grad=True)
    # the teacher: the same three directions rotated, each row scaled, in 3-d: the same distances
    rotation = torch.tensor([[0.6, -0.8], [0.8, 0.6]])
    teacher = torch.cat([student.detach() @ rotation, torch.zeros(3, 1)], dim=1) * torch.tensor([[2.0], [0.5], [3.0]])
    assert distance_distillation_loss(student, teacher).item() == pytest.approx(0.0, abs=1e-6)
    # the scale is not distilled: two rows 90 degrees apart (distance 2) against two 60 degrees apart (1)
    assert distance_distillation_loss(student[:2], torch.tensor([[1.0, 0.0], [0.5, 0.75 ** 0.5]])).item() == \
        pytest.approx(0.0, abs=1e-6)
    # rows at 0, 90 and 90 degrees: distances 2, 2, 0 (mean 4/3) -> 1.5, 1.5, 0 against 0.75, 1.5, 0.75:
    # differences 0.75, 0, 0.75, each below 1 so Huber's 0.5 x^2: mean of 0.28125, 0, 0.28125 = 0.1875
    other = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], requires_grad=True)
    loss = distance_distillation_loss(student, other)
    assert loss.item() == pytest.approx(0.1875)
    loss.backward()
    assert student.grad.abs().sum() > 0 and other.grad is None   # the teacher is a fixed target
    with pytest.raises(ValueError, match="same B"):
        distance_distillation_loss(student, other[:2])


def test_distance_distillation_alone_reproduces_the_teachers_neighbours():
    generator = torch.Generator().manual_seed(0)
    # a 16-d teacher whose rows span 4 dimensions, so that an 8-d student can hold its distances
    teacher = torch.randn(24, 4, generator=generator) @ torch.randn(4, 16, generator=generator)
    student = torch.randn(24, 8, generator=generator, requires_grad=True)
    optimiser = torch.optim.Adam([student], lr=0.05)
    first = distance_distillation_loss(student, teacher).item()
    for _ in range(300):
        optimiser.zero_grad()
        loss = distance_distillation_loss(student, teacher)
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.1 * first

    def nearest(rows):
        return squared_distances(torch.nn.functional.normalize(rows, dim=-1)).fill_diagonal_(float("inf")).argmin(1)

    assert (nearest(student.detach()) == nearest(teacher)).float().mean() > 0.8
