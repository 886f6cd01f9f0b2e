"""The joint audio-visual deepfake detector of Zhou and Lim, "Joint Audio-Visual Deepfake
Detection" (ICCV 2021; no official code): a {2+1}-stream network.

- Video stream: a 3-D ResNet (:class:`~avdf.models.av.blocks.ShallowResNet3D`, one stage per
  entry of ``video_channels``) on the face frames; its head says "the video is fake".
- Audio stream: a 2-D CNN on the log-mel spectrogram of the chunk's audio (one stage of two
  3x3 conv-BN-ReLU and a 2x2 pooling per entry of ``audio_channels``); its head says "the
  audio is fake".
- Sync stream: at every stage (level) the two streams' features are brought onto one clock,
  compared step by step, and pooled; the levels, from coarse to fine, are concatenated and an
  MLP head says "the clip is fake in any way" (which includes audio and video that do not
  belong together). ``sync_fusion`` says how a level is built:

  - ``aligned`` (the default; the paper's summary says the sync stream "temporally aligns"
    the coarse-to-fine representations of both streams, this is avdf's way): both feature
    maps are projected to ``sync_dim`` channels and the audio map is average-pooled over
    time to the video map's time steps; at every step the video feature (over its H x W
    locations) and the audio feature (over its frequency bins) are pooled, with
    ``sync_attention`` by cross-modal (inter) attention: the video locations weighted by a
    softmax over space of their match with that step's audio, the frequency bins by a
    softmax over frequency of their match with that step's video (the paper's
    "{2+1}-stream+att", whose supplement shows attention weights on mouth patches and on
    mel-spectrogram locations; this form of it is avdf's reading of those figures),
    otherwise by their mean (its "{2+1}-stream"); the two per-step vectors are concatenated
    and go through two 3-tap temporal convolutions with ReLUs, and the level's output is
    their mean and maximum over time. The comparison happens per time step, before anything
    is pooled over time.
  - ``pooled`` (avdf's earlier sync stream, not the paper's; kept for the models of
    egs/dfdc/av1/RESULTS.md of 2026-11-22): video features averaged over space and audio
    features averaged over frequency become two token sequences on their own clocks, a
    sinusoidal code of each token's time in the clip is added, multi-head cross attention
    (video queries audio, audio queries video), and each sequence is averaged over time.
    It does not learn synchrony: at initialisation its attention is uniform over the clip
    (every video token sees the clip's mean audio), so no step is paired with its own
    audio, and the temporal mean comes before any non-linear comparison; on the small mini
    DFDC it stayed at chance on in-sync against swapped-second pairs of real videos where
    ``aligned`` reached 0.99 (RESULTS.md, session of 2026-12-04).

Three heads, three labels (video fake, audio fake, any fake; the av task's ``heads``).
``infer_by`` picks what ``logit`` (the score used at inference) is: ``sync`` (the sync
stream, the paper's choice, supplement section 3) or ``streams`` (fake when either modality
stream says so: the larger of the two logits). Layer sizes, the 3-D ResNet and the audio CNN,
the temporal convolutions and the mean/max pooling of the sync stream are this
implementation's choices (the paper's body, with its exact layers, could not be consulted
here: /work/shared/papers holds its abstract and its supplement only); the three streams,
their heads and labels, a log-mel audio input, features aligned in time at several levels,
cross-modal attention (not its exact form) and the two inference modes are the paper's.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
import torch.nn.functional as F

from avdf.models.av.blocks import ShallowResNet3D, log_mel, mel_transform, video_to_tensor

SYNC_FUSIONS = ("aligned", "pooled")


def time_encoding(steps: int, dim: int, device: torch.device) -> torch.Tensor:
    """Sinusoidal encoding (steps x dim) of each step's centre time in [0, 1) of the clip,
    so that audio and video tokens at the same instant get the same code."""
    t = (torch.arange(steps, device=device, dtype=torch.float32) + 0.5) / steps
    freqs = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(100.0) / dim))
    angles = t[:, None] * freqs[None, :] * 2 * math.pi * 8
    enc = torch.zeros(steps, dim, device=device)
    enc[:, 0::2] = torch.sin(angles)
    enc[:, 1::2] = torch.cos(angles[:, : dim // 2])
    return enc


class AudioCNN(nn.Module):
    """Log-mel spectrogram -> stages of (conv3x3-BN-ReLU) x 2 + 2x2 average pooling."""

    def __init__(self, sample_rate: int, channels: Sequence[int], n_mels: int = 64):
        super().__init__()
        self.mel = mel_transform(sample_rate, n_mels)
        stages, cin = [], 1
        for c in channels:
            stages.append(nn.Sequential(
                nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                nn.AvgPool2d(2)))
            cin = c
        self.stages = nn.ModuleList(stages)
        self.norm = nn.InstanceNorm2d(1)

    def forward(self, wave: torch.Tensor) -> list[torch.Tensor]:
        """B x L -> every stage's B x C x F x T."""
        x = self.norm(log_mel(self.mel, wave).unsqueeze(1))
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs


class AlignedLevel(nn.Module):
    """One level of the sync stream on the video's clock (``sync_fusion: aligned``, see the
    module docstring): B x Cv x T x H x W and B x Ca x F x T' -> B x 2 dim."""

    def __init__(self, video_dim: int, audio_dim: int, dim: int, attention: bool = True):
        super().__init__()
        self.v_proj, self.a_proj = nn.Conv3d(video_dim, dim, 1), nn.Conv2d(audio_dim, dim, 1)
        self.fuse = nn.Sequential(nn.Conv1d(2 * dim, dim, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv1d(dim, dim, 3, padding=1), nn.ReLU(inplace=True))
        self.dim, self.attention = dim, bool(attention)

    def aligned(self, fv: torch.Tensor, fa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The projected B x d x T x (H W) video and B x d x F x T audio, on the video's T steps."""
        v = self.v_proj(fv).flatten(3)
        a = self.a_proj(fa)
        return v, F.adaptive_avg_pool2d(a, (a.shape[2], v.shape[2]))

    def weights(self, v: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inter-attention weights of the aligned ``v``, ``a`` (:meth:`aligned`): B x T x (H W)
        over the video locations of each step (from that step's mean audio), B x F x T over
        the frequency bins (from its mean video)."""
        scale = self.dim ** -0.5
        wv = torch.softmax(torch.einsum("bdtl,bdt->btl", v, a.mean(2)) * scale, dim=-1)
        wa = torch.softmax(torch.einsum("bdft,bdt->bft", a, v.mean(3)) * scale, dim=1)
        return wv, wa

    def forward(self, fv: torch.Tensor, fa: torch.Tensor) -> torch.Tensor:
        v, a = self.aligned(fv, fa)
        if self.attention:
            wv, wa = self.weights(v, a)
            v_t, a_t = torch.einsum("bdtl,btl->bdt", v, wv), torch.einsum("bdft,bft->bdt", a, wa)
        else:
            v_t, a_t = v.mean(3), a.mean(2)
        h = self.fuse(torch.cat([v_t, a_t], dim=1))             # B x d x T: compared step by step
        return torch.cat([h.mean(-1), h.amax(-1)], dim=1)


class CrossModalLevel(nn.Module):
    """One level of avdf's earlier sync stream (``sync_fusion: pooled``, see the module
    docstring): video <-> audio cross attention between sequences on their own clocks."""

    def __init__(self, video_dim: int, audio_dim: int, dim: int, heads: int, dropout: float):
        super().__init__()
        self.v_proj, self.a_proj = nn.Linear(video_dim, dim), nn.Linear(audio_dim, dim)
        self.v2a = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.a2v = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_v, self.norm_a = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.dim = dim

    def forward(self, fv: torch.Tensor, fa: torch.Tensor) -> torch.Tensor:
        """fv: B x Cv x T x H x W, fa: B x Ca x F x T' -> B x 2 dim."""
        v = self.v_proj(fv.mean(dim=(3, 4)).transpose(1, 2))        # B x T x d
        a = self.a_proj(fa.mean(dim=2).transpose(1, 2))             # B x T' x d
        v = v + time_encoding(v.shape[1], self.dim, v.device).to(v.dtype)
        a = a + time_encoding(a.shape[1], self.dim, a.device).to(a.dtype)
        v_att, _ = self.v2a(v, a, a, need_weights=False)           # video queries audio
        a_att, _ = self.a2v(a, v, v, need_weights=False)           # audio queries video
        return torch.cat([self.norm_v(v + v_att).mean(1), self.norm_a(a + a_att).mean(1)], dim=1)


class JointAV(nn.Module):
    """See the module docstring. Inputs: ``video`` B x T x H x W x 3 (0..255), ``audio`` B x L."""

    def __init__(self, num_frames: int = 30, image_size: int = 224, audio_samples: int = 16000,
                 sample_rate: int = 16000, video_channels: Sequence[int] = (64, 128, 256),
                 audio_channels: Sequence[int] = (32, 64, 128), n_mels: int = 64, sync_dim: int = 128,
                 sync_heads: int = 4, dropout: float = 0.3, infer_by: str = "sync", channels_last: bool = False,
                 sync_fusion: str = "aligned", sync_attention: bool = True):
        super().__init__()
        if infer_by not in ("sync", "streams"):
            raise ValueError(f"infer_by must be sync or streams, got {infer_by!r}")
        if sync_fusion not in SYNC_FUSIONS:
            raise ValueError(f"sync_fusion must be one of {SYNC_FUSIONS}, got {sync_fusion!r}")
        if len(video_channels) != len(audio_channels):
            raise ValueError("video_channels and audio_channels need one entry per level")
        self.video = ShallowResNet3D(video_channels)
        self.audio = AudioCNN(sample_rate, audio_channels, n_mels)
        if sync_fusion == "aligned":   # sync_heads: the pooled variant's multi-head attention only
            self.levels = nn.ModuleList(AlignedLevel(cv, ca, sync_dim, sync_attention)
                                        for cv, ca in zip(video_channels, audio_channels))
        else:
            self.levels = nn.ModuleList(CrossModalLevel(cv, ca, sync_dim, sync_heads, dropout)
                                        for cv, ca in zip(video_channels, audio_channels))
        self.video_head = nn.Sequential(nn.Dropout(dropout), nn.Linear(video_channels[-1], 1))
        self.audio_head = nn.Sequential(nn.Dropout(dropout), nn.Linear(audio_channels[-1], 1))
        self.sync_head = nn.Sequential(nn.Linear(2 * sync_dim * len(video_channels), sync_dim), nn.ReLU(inplace=True),
                                       nn.Dropout(dropout), nn.Linear(sync_dim, 1))
        self.num_frames, self.image_size, self.audio_samples = num_frames, image_size, audio_samples
        self.infer_by, self.channels_last, self.sync_fusion = infer_by, channels_last, sync_fusion
        if channels_last:  # the 3-D convolutions' weights too, so that no layout conversion happens per step
            self.video.to(memory_format=torch.channels_last_3d)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """nn.Module's, with a clear message for weights of the other ``sync_fusion``."""
        old = any(k.startswith("levels.") and ".v2a." in k for k in state_dict)
        if strict and old != (self.sync_fusion == "pooled"):
            have = "pooled" if old else "aligned"
            raise RuntimeError(f"JointAV: these weights are of a model with sync_fusion: {have}, this one has "
                               f"sync_fusion: {self.sync_fusion}; build it with --model.sync_fusion {have}")
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> dict:
        if video.shape[1] != self.num_frames or video.shape[2] != self.image_size:
            raise ValueError(f"video chunk {tuple(video.shape[1:])}: the model expects "
                             f"{self.num_frames} x {self.image_size} x {self.image_size} x 3")
        if audio.shape[-1] != self.audio_samples:
            raise ValueError(f"audio chunk has {audio.shape[-1]} samples, the model expects {self.audio_samples}")
        _, v_stages = self.video(video_to_tensor(video, self.channels_last), return_stages=True)
        a_stages = self.audio(audio)
        video_logit = self.video_head(v_stages[-1].mean(dim=(2, 3, 4))).squeeze(1)
        audio_logit = self.audio_head(a_stages[-1].mean(dim=(2, 3))).squeeze(1)
        sync = torch.cat([lvl(fv, fa) for lvl, fv, fa in
                          reversed(list(zip(self.levels, v_stages, a_stages)))], dim=1)  # coarse to fine
        sync_logit = self.sync_head(sync).squeeze(1)
        logit = sync_logit if self.infer_by == "sync" else torch.maximum(video_logit, audio_logit)
        return {"logit": logit, "heads": {"video": video_logit, "audio": audio_logit, "sync": sync_logit}}
