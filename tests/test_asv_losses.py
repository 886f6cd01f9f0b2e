"""Margin losses against their definitions, the margin schedule, and that each one learns."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from avdf.losses import UnknownLossError, build_loss


def _emb(n=6, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, 4, (n,), generator=g)


def test_softmax_is_cross_entropy():
    x, y = _emb()
    head = build_loss({"name": "softmax"}, 5, 4)
    loss, logits = head(x, y)
    torch.testing.assert_close(loss, F.cross_entropy(head.fc(x), y))


@pytest.mark.parametrize("name", ["amsoftmax", "aamsoftmax"])
def test_margin_target_logits(name):
    x, y = _emb()
    head = build_loss({"name": name, "margin": 0.2, "scale": 30}, 5, 4)
    loss, logits = head(x, y)
    cos = F.normalize(x, dim=1) @ F.normalize(head.weight, dim=1).T
    theta = torch.acos(cos.gather(1, y[:, None]))
    want = 30 * (torch.cos(theta + 0.2) if name == "aamsoftmax" else torch.cos(theta) - 0.2)
    ok = (theta < math.pi - 0.2).squeeze(1)
    torch.testing.assert_close(logits.gather(1, y[:, None])[ok], want[ok], rtol=1e-4, atol=1e-4)
    other = ~F.one_hot(y, 4).bool()
    torch.testing.assert_close(logits[other], 30 * cos[other], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(loss, F.cross_entropy(logits, y))
    torch.testing.assert_close(head.logits(x), 30 * cos, rtol=1e-5, atol=1e-5)


def test_aam_is_monotonic_past_pi_minus_m():
    head = build_loss({"name": "aamsoftmax", "margin": 0.5}, 2, 2)
    theta = torch.linspace(0, math.pi, 200)[:, None]
    t = head.target_logit(torch.cos(theta), None, 0.5)
    assert (t[1:] <= t[:-1] + 1e-6).all()


def test_asoftmax_psi():
    head = build_loss({"name": "asoftmax", "margin": 4}, 2, 2)
    head.lambda_base = head.lambda_min = 0.0  # pure psi
    theta = torch.linspace(0.01, math.pi - 0.01, 300)
    x = torch.stack([torch.cos(theta), torch.sin(theta)], 1) * 3.0
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    _, logits = head(x, torch.zeros(300, dtype=torch.long))
    psi = logits[:, 0] / 3.0
    assert (psi[1:] < psi[:-1]).all()  # monotonically decreasing
    torch.testing.assert_close(psi[theta < math.pi / 4], torch.cos(4 * theta[theta < math.pi / 4]), rtol=1e-4, atol=1e-4)
    head2 = build_loss({"name": "asoftmax", "margin": 4}, 2, 2)
    assert head2.current_lambda() == 1000.0
    head2.step.fill_(10 ** 6)
    assert head2.current_lambda() == 5.0


def test_margin_schedule():
    head = build_loss({"name": "aamsoftmax", "margin": 0.2, "margin_schedule": {"start": 3, "end": 5},
                       "steps_per_epoch": 10}, 4, 3)
    seen = []
    for step in range(0, 70, 5):
        head.step.fill_(step)
        seen.append(head.current_margin())
    assert seen[:4] == [0.0] * 4 and seen[-1] == 0.2
    assert all(b >= a for a, b in zip(seen, seen[1:]))
    x, y = _emb(d=4, n=5)
    head.train()
    head.step.fill_(0)
    head(x, y % 3)
    assert int(head.step) == 1  # counts training steps; a buffer, so it is checkpointed
    assert "step" in head.state_dict()


@pytest.mark.parametrize("name", ["softmax", "asoftmax", "amsoftmax", "aamsoftmax"])
def test_each_loss_learns(name):
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(4, 8, generator=g) * 3
    y = torch.arange(400) % 4
    x = centers[y] + torch.randn(400, 8, generator=g)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8))
    head = build_loss({"name": name}, 8, 4)
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=0.03)
    for _ in range(60):
        loss, _ = head(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc = (head.logits(net(x)).argmax(1) == y).float().mean()
    assert acc > 0.95, (name, float(acc))


def test_ocsoftmax():
    head = build_loss({"name": "ocsoftmax"}, 4, 2)
    x = torch.randn(6, 4)
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    loss, _ = head(x, y)
    s = F.normalize(x, dim=1) @ F.normalize(head.center, dim=1).T
    s = s[:, 0]
    m = torch.where(y == 0, 0.9 - s, s - 0.2)
    torch.testing.assert_close(loss, F.softplus(20 * m).mean())
    with pytest.raises(ValueError, match="two-class"):
        build_loss({"name": "ocsoftmax"}, 4, 3)


def test_unknown_loss():
    with pytest.raises(UnknownLossError, match="known losses: aamsoftmax"):
        build_loss({"name": "arcface"}, 2, 2)
