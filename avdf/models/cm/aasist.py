"""AASIST and AASIST-L (Jung et al., ICASSP 2022): graph attention over spectral and temporal nodes.

Raw waveform -> fixed mel-spaced sinc filters -> |.|, 3x3 max-pool, BN, SELU -> six 2-D
residual blocks (RawNet-style encoder) -> two node sets: spectral nodes (max |.| over
time, plus a learnt positional embedding) and temporal nodes (max |.| over frequency),
each refined by a graph attention layer (GAT) and graph pooling -> two parallel branches
of heterogeneous stacking graph attention (HS-GAL: both node types in one graph, with a
stack/master node) -> max graph operation (element-wise max of the two branches) ->
readout (max |.| and mean of each node type, and the master node) -> two logits
(spoof, bona fide).

The paper's configurations (``conf/aasist.yaml``, ``conf/aasist_l.yaml``)::

    AASIST:   first_conv 128, filts [70, [1, 32], [32, 32], [32, 64], [64, 64]],
              gat_dims [64, 32], pool_ratios [0.5, 0.7, 0.5, 0.5], temperatures [2, 2, 100, 100]
              -> 297,866 parameters
    AASIST-L: filts [70, [1, 32], [32, 32], [32, 24], [24, 24]], gat_dims [24, 32],
              pool_ratios [0.4, 0.5, 0.7, 0.5] -> 85,306 parameters

The forward pass is the official one (clovaai/aasist ``models/AASIST.py``), including
its residual-block quirk: a block that is not the first has a BatchNorm + SELU
(``pre``) whose output the official code computes and then discards: ``conv1`` convolves
the block's raw input. Those BatchNorm parameters exist (they are in the parameter
count and in the published checkpoints) but never reach the output, so avdf does not
compute them, and freezes them (no gradient reaches them in the official training either). ``preact_blocks: true`` convolves the pre-activated input instead (what the
block was presumably meant to do); it is off in the paper configs, and a model trained
with one setting does not score correctly with the other.

Official checkpoints load through :func:`from_clovaai` (``avdf.bin.import_model --format
clovaai_aasist``). The graph back-end (:class:`AasistBackend`) is shared with SSL-AASIST.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from avdf.models.cm.sinc import SincConv


def _bn_nodes(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm over the feature axis of ``(B, N, D)`` node features."""
    shape = x.shape
    return bn(x.reshape(-1, shape[-1])).view(shape)


class GraphAttention(nn.Module):
    """GAT layer: attention weights from element-wise products of node pairs.

    ``a_ij = softmax_j(w^T tanh(W (h_i * h_j)) / temperature)``;
    ``h'_i = SELU(BN(W1 sum_j a_ij h_j + W2 h_i))``.
    """

    def __init__(self, in_dim: int, out_dim: int, temperature: float = 1.0, dropout: float = 0.2):
        super().__init__()
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_weight = nn.Parameter(nn.init.xavier_normal_(torch.empty(out_dim, 1)))
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.drop = nn.Dropout(dropout)
        self.act = nn.SELU(inplace=True)
        self.temperature = temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(x)
        pairs = x.unsqueeze(2) * x.unsqueeze(1)  # (B, N, N, D)
        att = torch.tanh(self.att_proj(pairs)) @ self.att_weight  # (B, N, N, 1)
        att = torch.softmax(att.squeeze(-1) / self.temperature, dim=-1)
        x = self.proj_with_att(att @ x) + self.proj_without_att(x)
        return self.act(_bn_nodes(self.bn, x))


class HeteroGraphAttention(nn.Module):
    """HS-GAL: one graph over two node types with type-pair attention weights and a
    stack (master) node that attends to every node."""

    def __init__(self, in_dim: int, out_dim: int, temperature: float = 1.0, dropout: float = 0.2):
        super().__init__()
        self.proj_type1 = nn.Linear(in_dim, in_dim)
        self.proj_type2 = nn.Linear(in_dim, in_dim)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_proj_master = nn.Linear(in_dim, out_dim)
        self.att_weight11 = nn.Parameter(nn.init.xavier_normal_(torch.empty(out_dim, 1)))
        self.att_weight22 = nn.Parameter(nn.init.xavier_normal_(torch.empty(out_dim, 1)))
        self.att_weight12 = nn.Parameter(nn.init.xavier_normal_(torch.empty(out_dim, 1)))
        self.att_weight_master = nn.Parameter(nn.init.xavier_normal_(torch.empty(out_dim, 1)))
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.proj_with_att_master = nn.Linear(in_dim, out_dim)
        self.proj_without_att_master = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.drop = nn.Dropout(dropout)
        self.act = nn.SELU(inplace=True)
        self.temperature = temperature

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, master: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n1 = x1.shape[1]
        x = torch.cat([self.proj_type1(x1), self.proj_type2(x2)], dim=1)
        if master is None:
            master = x.mean(dim=1, keepdim=True)
        x = self.drop(x)
        # node-to-node attention, with the weight vector chosen by the pair's types
        hidden = torch.tanh(self.att_proj(x.unsqueeze(2) * x.unsqueeze(1)))  # (B, N, N, out)
        s11, s22, s12 = [(hidden @ w).squeeze(-1) for w in (self.att_weight11, self.att_weight22, self.att_weight12)]
        is1 = torch.arange(x.shape[1], device=x.device) < n1
        same1 = is1[:, None] & is1[None, :]
        same2 = ~is1[:, None] & ~is1[None, :]
        att = torch.where(same1, s11, torch.where(same2, s22, s12))
        att = torch.softmax(att / self.temperature, dim=-1)
        # the master node attends to every node
        att_m = torch.tanh(self.att_proj_master(x * master)) @ self.att_weight_master  # (B, N, 1)
        att_m = torch.softmax(att_m / self.temperature, dim=1)
        master = self.proj_with_att_master(att_m.transpose(1, 2) @ x) + self.proj_without_att_master(master)
        x = self.proj_with_att(att @ x) + self.proj_without_att(x)
        x = self.act(_bn_nodes(self.bn, x))
        return x[:, :n1], x[:, n1:], master


class GraphPool(nn.Module):
    """Keeps the ``ratio`` fraction of nodes with the highest sigmoid gate, gated."""

    def __init__(self, ratio: float, in_dim: int, dropout: float = 0.3):
        super().__init__()
        self.ratio = ratio
        self.proj = nn.Linear(in_dim, 1)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        scores = torch.sigmoid(self.proj(self.drop(h)))  # (B, N, 1)
        k = max(int(h.shape[1] * self.ratio), 1)
        idx = torch.topk(scores, k, dim=1).indices.expand(-1, -1, h.shape[-1])
        return torch.gather(h * scores, 1, idx)


class ResBlock2d(nn.Module):
    """RawNet-style 2-D residual block: conv 2x3 -> BN, SELU -> conv 2x3, a 1x3 projection
    on the skip path when the channels change, then (``pool``) 1x3 max-pool.

    A block that is not ``first`` holds a BN + SELU ``pre``: with ``preact`` it is applied
    before ``conv1``; without (the official AASIST / RawNet2 computation) it is unused."""

    def __init__(self, in_ch: int, out_ch: int, first: bool = False, pool: bool = True, preact: bool = False):
        super().__init__()
        self.preact = bool(preact) and not first
        self.pre = nn.Identity() if first else nn.Sequential(nn.BatchNorm2d(in_ch), nn.SELU(inplace=True))
        self.conv1 = nn.Conv2d(in_ch, out_ch, kernel_size=(2, 3), padding=(1, 1))
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.act = nn.SELU(inplace=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, kernel_size=(2, 3), padding=(0, 1))
        self.skip = nn.Conv2d(in_ch, out_ch, kernel_size=(1, 3), padding=(0, 1)) if in_ch != out_ch else nn.Identity()
        self.pool = nn.MaxPool2d((1, 3)) if pool else nn.Identity()
        if not self.preact:
            # unused: frozen, so that DDP expects no gradient for it (the official optimiser,
            # which skips parameters without a gradient, never changes it either)
            self.pre.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.act(self.bn2(self.conv1(self.pre(x) if self.preact else x))))
        return self.pool(out + self.skip(x))


def residual_encoder(filts: Sequence, pool: bool = True, preact: bool = False) -> nn.Sequential:
    """The six blocks ``filts[1], filts[2], filts[3], filts[4], filts[4], filts[4]``
    (each with a 1x3 time max-pool for AASIST, none for SSL-AASIST)."""
    specs = [filts[1], filts[2], filts[3], filts[4], filts[4], filts[4]]
    return nn.Sequential(*(ResBlock2d(int(a), int(b), first=i == 0, pool=pool, preact=preact)
                           for i, (a, b) in enumerate(specs)))


class AasistBackend(nn.Module):
    """Spectral/temporal GATs, two HS-GAL branches, max graph operation and readout.

    Input: spectral nodes ``(B, n_spectral, node_dim)`` and temporal nodes ``(B, N_t, node_dim)``.
    Output: two logits ``(B, 2)`` (spoof, bona fide).
    """

    def __init__(self, node_dim: int, n_spectral: int, gat_dims: Sequence[int], pool_ratios: Sequence[float],
                 temperatures: Sequence[float], readout_dropout: float = 0.5, branch_dropout: float = 0.2):
        super().__init__()
        g0, g1 = int(gat_dims[0]), int(gat_dims[1])
        self.pos_spectral = nn.Parameter(torch.randn(1, n_spectral, node_dim))
        self.master1 = nn.Parameter(torch.randn(1, 1, g0))
        self.master2 = nn.Parameter(torch.randn(1, 1, g0))
        self.gat_spectral = GraphAttention(node_dim, g0, temperatures[0])
        self.gat_temporal = GraphAttention(node_dim, g0, temperatures[1])
        self.hs_gal11 = HeteroGraphAttention(g0, g1, temperatures[2])
        self.hs_gal12 = HeteroGraphAttention(g1, g1, temperatures[2])
        self.hs_gal21 = HeteroGraphAttention(g0, g1, temperatures[2])
        self.hs_gal22 = HeteroGraphAttention(g1, g1, temperatures[2])
        self.pool_spectral = GraphPool(pool_ratios[0], g0)
        self.pool_temporal = GraphPool(pool_ratios[1], g0)
        self.pool_s1 = GraphPool(pool_ratios[2], g1)
        self.pool_t1 = GraphPool(pool_ratios[2], g1)
        self.pool_s2 = GraphPool(pool_ratios[2], g1)
        self.pool_t2 = GraphPool(pool_ratios[2], g1)
        self.branch_drop = nn.Dropout(branch_dropout)
        self.readout_drop = nn.Dropout(readout_dropout)
        self.out_layer = nn.Linear(5 * g1, 2)

    def _branch(self, first: HeteroGraphAttention, second: HeteroGraphAttention, pool_t: GraphPool,
                pool_s: GraphPool, nodes_t, nodes_s, master):
        t, s, m = first(nodes_t, nodes_s, master=master)
        s, t = pool_s(s), pool_t(t)
        t_aug, s_aug, m_aug = second(t, s, master=m)
        return (self.branch_drop(t + t_aug), self.branch_drop(s + s_aug), self.branch_drop(m + m_aug))

    def forward(self, spectral: torch.Tensor, temporal: torch.Tensor) -> torch.Tensor:
        nodes_s = self.pool_spectral(self.gat_spectral(spectral + self.pos_spectral))
        nodes_t = self.pool_temporal(self.gat_temporal(temporal))
        t1, s1, m1 = self._branch(self.hs_gal11, self.hs_gal12, self.pool_t1, self.pool_s1, nodes_t, nodes_s, self.master1)
        t2, s2, m2 = self._branch(self.hs_gal21, self.hs_gal22, self.pool_t2, self.pool_s2, nodes_t, nodes_s, self.master2)
        t, s, m = torch.maximum(t1, t2), torch.maximum(s1, s2), torch.maximum(m1, m2)
        hidden = torch.cat([t.abs().amax(1), t.mean(1), s.abs().amax(1), s.mean(1), m.squeeze(1)], dim=1)
        return self.out_layer(self.readout_drop(hidden))


class AASIST(nn.Module):
    """Waveform ``(B, T)`` at 16 kHz -> logits ``(B, 2)`` (spoof, bona fide)."""

    def __init__(self, filts: Sequence = (70, (1, 32), (32, 32), (32, 64), (64, 64)),
                 gat_dims: Sequence[int] = (64, 32), pool_ratios: Sequence[float] = (0.5, 0.7, 0.5, 0.5),
                 temperatures: Sequence[float] = (2.0, 2.0, 100.0, 100.0), first_conv: int = 128,
                 sample_rate: int = 16000, preact_blocks: bool = False):
        super().__init__()
        self.sample_rate = sample_rate
        self.sinc = SincConv(int(filts[0]), first_conv, sample_rate)
        self.first_bn = nn.BatchNorm2d(1)
        self.act = nn.SELU(inplace=True)
        self.encoder = residual_encoder(filts, preact=preact_blocks)
        self.backend = AasistBackend(int(filts[-1][-1]), int(filts[0]) // 3, gat_dims, pool_ratios, temperatures)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.sinc(wave).unsqueeze(1)  # (B, 1, filters, time)
        x = self.act(self.first_bn(nn.functional.max_pool2d(x.abs(), (3, 3))))
        e = self.encoder(x)  # (B, C, spectral, temporal)
        spectral = e.abs().amax(dim=3).transpose(1, 2)
        temporal = e.abs().amax(dim=2).transpose(1, 2)
        return self.backend(spectral, temporal)


class AASISTL(AASIST):
    """AASIST-L: the light configuration (85,306 parameters) as defaults."""

    def __init__(self, filts: Sequence = (70, (1, 32), (32, 32), (32, 24), (24, 24)),
                 gat_dims: Sequence[int] = (24, 32), pool_ratios: Sequence[float] = (0.4, 0.5, 0.7, 0.5),
                 temperatures: Sequence[float] = (2.0, 2.0, 100.0, 100.0), first_conv: int = 128,
                 sample_rate: int = 16000, preact_blocks: bool = False):
        super().__init__(filts, gat_dims, pool_ratios, temperatures, first_conv, sample_rate, preact_blocks)


# official clovaai/aasist module names -> avdf's (the rest of each key is the same, except
# the master-node layers of HS-GAL, renamed below)
_CLOVAAI_TOP = {
    "pos_S": "backend.pos_spectral", "master1": "backend.master1", "master2": "backend.master2",
    "GAT_layer_S": "backend.gat_spectral", "GAT_layer_T": "backend.gat_temporal",
    "HtrgGAT_layer_ST11": "backend.hs_gal11", "HtrgGAT_layer_ST12": "backend.hs_gal12",
    "HtrgGAT_layer_ST21": "backend.hs_gal21", "HtrgGAT_layer_ST22": "backend.hs_gal22",
    "pool_S": "backend.pool_spectral", "pool_T": "backend.pool_temporal",
    "pool_hS1": "backend.pool_s1", "pool_hT1": "backend.pool_t1",
    "pool_hS2": "backend.pool_s2", "pool_hT2": "backend.pool_t2", "out_layer": "backend.out_layer",
}
_CLOVAAI_HSGAL = {"att_projM": "att_proj_master", "att_weightM": "att_weight_master",
                  "proj_with_attM": "proj_with_att_master", "proj_without_attM": "proj_without_att_master"}
_CLOVAAI_BLOCK = {"bn1": "pre.0", "conv_downsample": "skip"}


def clovaai_key(key: str) -> str:
    """avdf's name for a key of the official AASIST state dict (unknown keys unchanged)."""
    parts = key.split(".")
    if parts[0] == "encoder" and len(parts) >= 4 and parts[2] == "0":
        # encoder.<i>.0.<layer>.<param>: each block sits in a one-element Sequential
        return ".".join(["encoder", parts[1], _CLOVAAI_BLOCK.get(parts[3], parts[3])] + parts[4:])
    if parts[0] in _CLOVAAI_TOP:
        rest = parts[1:]
        if parts[0].startswith("HtrgGAT") and rest:
            rest = [_CLOVAAI_HSGAL.get(rest[0], rest[0])] + rest[1:]
        return ".".join([_CLOVAAI_TOP[parts[0]]] + rest)
    return key


def from_clovaai(state: dict, model_cfg: dict | None = None) -> dict:
    """An official AASIST / AASIST-L state dict (clovaai/aasist, and the ASVspoof 5
    baseline, which uses the same code) in avdf's key layout."""
    return {clovaai_key(k): v for k, v in state.items()}
