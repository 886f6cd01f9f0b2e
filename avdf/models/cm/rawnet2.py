"""RawNet2 countermeasure (Tak et al., ICASSP 2021), the ASVspoof 2021 LA/DF baseline.

Raw waveform -> fixed mel-spaced sinc filters (``filts[0]`` filters of ``first_conv`` taps,
made odd) -> |.|, max-pool 3, BN, SELU -> six 1-D residual blocks (two of ``filts[1]``,
four of ``filts[2]``, the first of those widening the channels), each followed by
filter-wise feature map scaling (FMS: a sigmoid gate per channel from the time-averaged
block output, applied as ``x * s + s``) -> BN, SELU -> GRU (its last step) -> FC -> FC ->
log-softmax over (spoof, bona fide).

The forward pass is the official one (asvspoof-challenge/2021 ``LA/Baseline-RawNet2/model.py``,
identical in ``DF/``), checked number by number in ``tests/test_rawnet2_fidelity.py``:

* The sinc filters are the fixed mel-spaced ones (:mod:`avdf.models.cm.sinc`): the 2021
  baseline's ``SincConv`` has no parameters and recomputes the same filters on every call;
  it is not SincNet's learnable layer. It computes them partly in float32, avdf in float64
  (rounded to float32): they differ by at most 1.5e-7, the paper model's outputs by about
  1e-5. ``filts[3]`` is read by neither implementation.
* The residual-block quirk, as in AASIST (see there): a block that is not the first has a
  BatchNorm + LeakyReLU(0.3) (``pre``, the official ``bn1``) whose output the official code
  computes and then discards: ``conv1`` convolves the block's raw input. Those BatchNorm
  parameters exist (they are in the parameter count and in the published checkpoints) but
  never reach the output, so avdf does not compute them (nor, in training, update their
  running statistics, which nothing reads). ``preact_blocks: true`` convolves the
  pre-activated input instead (what the block was presumably meant to do, and what avdf
  computed before); it is off in the paper config, and a model trained with one setting
  does not score correctly with the other.
* There is no activation between the two fully connected layers, and the output is
  log-softmax (the official model returns it). Neither the cm task's weighted
  cross-entropy (log-softmax is idempotent) nor its score, bona fide minus spoof (the
  log-normaliser cancels), is changed by it; the score is the log-odds. The official
  ``main.py`` writes ``log P(bona fide)``, the output's column 1, which is
  ``-softplus(-score)``: a monotone map of avdf's score, so every EER and t-DCF is the same.
  With ``nb_classes: D`` (an embedding for a one-class head, avdf.models.cm.one_class) the
  last layer's output is returned as it is.

The official evaluation (the first 64,600 samples, repeated if shorter) is ``data.eval_crop:
64600``; on a GPU, ``infer_cm --amp none`` scores in float32 as the official code does
(its default there is bf16 autocast).

The 2021 baseline configuration (``conf/rawnet2.yaml``, ``model_config_RawNet.yaml``:
first_conv 1024, filts [20, [20, 20], [20, 128], [128, 128]], gru 1024 x 3 layers, fc 1024)
has 17,621,410 parameters, the official model's count. Official checkpoints load through
:func:`from_asvspoof2021` (``avdf.bin.import_model --format asvspoof2021_rawnet2``). The
unused ``pre`` parameters are frozen (``requires_grad`` false; no gradient reaches them in
the official training either), so DDP needs no ``find_unused_parameters``.
"""
from __future__ import annotations

import re
from typing import Sequence

import torch
from torch import nn

from avdf.models.cm.sinc import SincConv


class ResBlock1d(nn.Module):
    """conv3 -> BN, LeakyReLU 0.3 -> conv3, plus the input (through a 1x1 projection when the
    channels change), max-pool 3, then FMS: ``x * s + s`` with ``s = sigmoid(W mean_t(x))``.

    A block that is not ``first`` holds a BN + LeakyReLU ``pre``: with ``preact`` it is applied
    before ``conv1``; without (the official RawNet2 computation) it is unused."""

    def __init__(self, in_ch: int, out_ch: int, first: bool = False, preact: bool = False):
        super().__init__()
        self.preact = bool(preact) and not first
        self.pre = nn.Identity() if first else nn.Sequential(nn.BatchNorm1d(in_ch), nn.LeakyReLU(0.3))
        self.conv1 = nn.Conv1d(in_ch, out_ch, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm1d(out_ch)
        self.act = nn.LeakyReLU(0.3)
        self.conv2 = nn.Conv1d(out_ch, out_ch, kernel_size=3, padding=1)
        self.skip = nn.Conv1d(in_ch, out_ch, kernel_size=1) if in_ch != out_ch else nn.Identity()
        self.pool = nn.MaxPool1d(3)
        self.fms = nn.Linear(out_ch, out_ch)
        if not self.preact:
            self.pre.requires_grad_(False)  # unused: frozen, so DDP expects no gradient for it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.act(self.bn2(self.conv1(self.pre(x) if self.preact else x))))
        out = self.pool(out + self.skip(x))
        scale = torch.sigmoid(self.fms(out.mean(dim=-1))).unsqueeze(-1)
        return out * scale + scale


class RawNet2(nn.Module):
    """Waveform ``(B, T)`` at 16 kHz -> log-probabilities ``(B, 2)`` (spoof, bona fide), or with
    ``nb_classes: D`` an embedding ``(B, D)`` for a one-class head (avdf.models.cm.one_class)."""

    def __init__(self, first_conv: int = 1024, filts: Sequence = (20, (20, 20), (20, 128), (128, 128)),
                 gru_node: int = 1024, nb_gru_layer: int = 3, nb_fc_node: int = 1024, sample_rate: int = 16000,
                 nb_classes: int = 2, preact_blocks: bool = False):
        super().__init__()
        self.sample_rate = sample_rate
        n_sinc = int(filts[0])
        (a1, b1), (a2, b2) = filts[1], filts[2]
        self.sinc = SincConv(n_sinc, first_conv, sample_rate)
        self.first_bn = nn.BatchNorm1d(n_sinc)
        self.act = nn.SELU(inplace=True)
        specs = [(a1, b1), (b1, b1), (a2, b2)] + [(b2, b2)] * 3
        self.blocks = nn.Sequential(*(ResBlock1d(int(i), int(o), first=n == 0, preact=preact_blocks)
                                      for n, (i, o) in enumerate(specs)))
        self.bn_before_gru = nn.BatchNorm1d(b2)
        self.gru = nn.GRU(b2, gru_node, num_layers=nb_gru_layer, batch_first=True)
        self.fc1 = nn.Linear(gru_node, nb_fc_node)
        self.fc2 = nn.Linear(nb_fc_node, int(nb_classes))
        self.log_softmax = int(nb_classes) == 2

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool1d(self.sinc(wave).abs(), 3)
        x = self.act(self.first_bn(x))
        x = self.act(self.bn_before_gru(self.blocks(x)))
        self.gru.flatten_parameters()
        out, _ = self.gru(x.transpose(1, 2))
        out = self.fc2(self.fc1(out[:, -1]))
        return torch.log_softmax(out, dim=1) if self.log_softmax else out


# official asvspoof-challenge/2021 Baseline-RawNet2 names -> avdf's: blockN.0.<layer> and
# fc_attentionN.0 (each in a one-element Sequential) go to blocks.N; the rest by the table
_OFFICIAL_TOP = {"fc1_gru": "fc1", "fc2_gru": "fc2"}
_OFFICIAL_BLOCK = {"bn1": "pre.0", "conv_downsample": "skip"}
_BLOCK = re.compile(r"block(\d+)")
_FMS = re.compile(r"fc_attention(\d+)")


def asvspoof2021_key(key: str) -> str:
    """avdf's name for a key of the official RawNet2 state dict (unknown keys unchanged)."""
    parts = key.split(".")
    if len(parts) >= 4 and parts[1] == "0" and _BLOCK.fullmatch(parts[0]):
        n = _BLOCK.fullmatch(parts[0]).group(1)
        return ".".join(["blocks", n, _OFFICIAL_BLOCK.get(parts[2], parts[2])] + parts[3:])
    if len(parts) == 3 and parts[1] == "0" and _FMS.fullmatch(parts[0]):
        return ".".join(["blocks", _FMS.fullmatch(parts[0]).group(1), "fms", parts[2]])
    if parts[0] in _OFFICIAL_TOP:
        return ".".join([_OFFICIAL_TOP[parts[0]]] + parts[1:])
    return key


def from_asvspoof2021(state: dict, model_cfg: dict | None = None) -> dict:
    """An official RawNet2 state dict (asvspoof-challenge/2021 LA or DF Baseline-RawNet2, as
    its ``main.py`` saves it) in avdf's key layout. ``first_bn``, ``bn_before_gru`` and
    ``gru`` keep their names; the sinc layer has no tensors in either."""
    return {asvspoof2021_key(k): v for k, v in state.items()}
