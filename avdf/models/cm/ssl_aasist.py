"""SSL-AASIST (Tak et al., Odyssey 2022): a wav2vec 2.0 / XLS-R front-end, fine-tuned, with the AASIST back-end.

The forward pass is the official one (TakHemlata/SSL_Anti-spoofing ``model.py``, class
``Model``; checked against that code in ``tests/test_ssl_aasist_fidelity.py``):

* waveform ``(B, T)`` -> wav2vec 2.0 (torchaudio's ``wav2vec2_model`` with the architecture
  the config gives; the official code runs fairseq's ``Wav2Vec2Model`` with masking off,
  features only, and takes its ``x``: the same computation, the output of the last
  transformer layer after the encoder's final LayerNorm of XLS-R's pre-LN transformer)
  -> ``(B, frames, D)``;
* ``proj`` (the official ``LL``), a linear layer D -> ``proj_dim`` (1024 -> 128), seen as an
  image ``(B, 1, proj_dim, frames)``: 3x3 max-pool, BatchNorm, SELU;
* the six 2-D residual blocks of AASIST without their time max-pool (the official block
  has no pooling: its max-pool is commented out). As in clovaai's AASIST, a block that is
  not the first computes BatchNorm + SELU of its input into a variable that its first
  convolution then overwrites: ``conv1`` convolves the RAW block input. avdf reproduces
  that quirk (the ``bn1`` parameters are in the checkpoints and the parameter count but
  never reach the output); ``preact_blocks: true`` convolves the pre-activated input
  instead, an avdf variant that is off in the paper config. A model trained with one
  setting does not score correctly with the other; avdf pre-activated the blocks until
  commit 247a078 (2026-12-04), so an SSL-AASIST trained here before then needs
  ``preact_blocks: true``;
* BatchNorm (the official ``first_bn1``), SELU, then attentive pooling: a 1x1 conv ->
  SELU -> BN -> 1x1 conv attention map ``w``; spectral nodes ``sum_t x softmax_t(w)``
  (+ the learnt positional embedding ``pos_S``), temporal nodes ``sum_f x softmax_f(w)``;
* the AASIST graph back-end (:class:`avdf.models.cm.aasist.AasistBackend`): the official
  SSL code has clovaai's graph layers, graph pooling, two HS-GAL branches, max graph
  operation and readout unchanged, with pool ratios 0.5, 0.5, 0.5, 0.5 (clovaai's AASIST:
  0.5, 0.7, 0.5, 0.5), 42 spectral nodes (128 / 3) and temperatures 2, 2, 100 (the fourth,
  100, is unused in both); the master nodes ``master1/2`` go in as ``(1, 1, D)``
  parameters (the official code also builds batch-expanded copies that it never uses;
  broadcasting gives the same numbers);
* two logits (spoof, bona fide). The official score file holds the bona fide logit;
  ``avdf.bin.infer_cm`` writes bona fide minus spoof.

A quirk with no effect on the official scripts: ``SSLModel.extract_feat`` calls
``self.model.train()`` (dropout on in wav2vec 2.0) when the front-end's device or dtype
differs from the input's; ``main_SSL_LA.py`` / ``main_SSL_DF.py`` move the whole model to
the device first, so it never fires there, and avdf does not reproduce it.

Config ``ssl:`` section::

    arch: wav2vec2_xlsr_300m      # a torchaudio builder name, or a dict of wav2vec2_model() arguments
    checkpoint: /path/xlsr2_300m.pt
    pretrained: true              # false: random initialisation (the weights come from elsewhere:
                                  # an imported checkpoint, a model.pt, or shape checks only)
    freeze: false                 # true: train the back-end only

Checkpoint formats read for the front-end (always with ``torch.load(weights_only=True)``):

* torchaudio: the ``state_dict()`` of a ``Wav2Vec2Model`` (optionally under a
  ``state_dict`` or ``model`` key);
* fairseq: a wav2vec 2.0 / XLS-R checkpoint (``{"cfg": {...}, "model": state_dict}``,
  as fairseq writes it; the released XLS-R files hold plain dicts and load without
  fairseq); its keys are mapped with torchaudio's fairseq importer, and its ``cfg.model``
  is checked against ``arch`` so that a wrong architecture fails by name;
* a fairseq *model object* can be converted with
  ``torchaudio.models.wav2vec2.utils.import_fairseq_model`` where fairseq is installed;
  save the result's ``state_dict()`` and point ``checkpoint`` at it.

Whole trained SSL-AASIST models of the official code (``best_SSL_model_LA.pth``,
``best_SSL_model_DF.pth``) import with :func:`from_ssl_antispoofing`
(``python -m avdf.bin.import_model --format ssl_antispoofing``).
"""
from __future__ import annotations

import ast
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import torch
import torchaudio
from torch import nn

from avdf.models.cm.aasist import AasistBackend, clovaai_key, residual_encoder

logger = logging.getLogger(__name__)


class SSLCheckpointError(RuntimeError):
    """A wav2vec 2.0 checkpoint is missing, unreadable or does not fit the configured architecture."""


# fairseq wav2vec2 config key -> torchaudio wav2vec2_model() argument
_FAIRSEQ_ARCH = {
    "encoder_embed_dim": "encoder_embed_dim", "encoder_layers": "encoder_num_layers",
    "encoder_attention_heads": "encoder_num_heads", "encoder_ffn_embed_dim": "encoder_ff_interm_features",
    "conv_pos": "encoder_pos_conv_kernel", "conv_pos_groups": "encoder_pos_conv_groups",
    "layer_norm_first": "encoder_layer_norm_first", "conv_bias": "extractor_conv_bias",
}


def _conv_layers_from_fairseq(spec: str) -> list[tuple[int, int, int]]:
    """Evaluate fairseq's ``conv_feature_layers`` string (lists of tuples joined by + and *)
    without ``eval``."""
    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [ev(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            a, b = ev(node.left), ev(node.right)
            return a + b if isinstance(node.op, ast.Add) else a * b
        raise ValueError(f"unsupported element in conv_feature_layers {spec!r}")
    return [tuple(t) for t in ev(ast.parse(spec, mode="eval"))]


def wav2vec2_arch(arch: str | dict[str, Any]) -> dict[str, Any]:
    """The full ``wav2vec2_model()`` arguments for a builder name or a dict of them."""
    if isinstance(arch, str):
        builder = getattr(torchaudio.models, arch, None)
        if builder is None or not arch.startswith(("wav2vec2_", "hubert_", "wavlm_")):
            raise ValueError(f"ssl.arch {arch!r} is not a torchaudio wav2vec2/hubert/wavlm builder")
        # record the builder's architecture by reading it off a model built on the meta device
        with torch.device("meta"):
            m = builder()
        return _arch_of(m)
    args = dict(arch)
    args.setdefault("extractor_conv_layer_config", None)
    args.setdefault("aux_num_out", None)
    for k in ("encoder_projection_dropout", "encoder_attention_dropout", "encoder_ff_interm_dropout",
              "encoder_dropout", "encoder_layer_drop"):
        args.setdefault(k, 0.0)
    if args["extractor_conv_layer_config"] is not None:
        args["extractor_conv_layer_config"] = [tuple(c) for c in args["extractor_conv_layer_config"]]
    return args


def _arch_of(m) -> dict[str, Any]:
    fe, tr = m.feature_extractor, m.encoder.transformer
    convs = [(c.conv.out_channels, c.conv.kernel_size[0], c.conv.stride[0]) for c in fe.conv_layers]
    first_norm = fe.conv_layers[0].layer_norm
    layer = tr.layers[0]
    return {
        "extractor_mode": "group_norm" if isinstance(first_norm, nn.GroupNorm) and
        fe.conv_layers[1].layer_norm is None else "layer_norm",
        "extractor_conv_layer_config": convs,
        "extractor_conv_bias": fe.conv_layers[0].conv.bias is not None,
        "encoder_embed_dim": m.encoder.feature_projection.projection.out_features,
        "encoder_projection_dropout": m.encoder.feature_projection.dropout.p,
        "encoder_pos_conv_kernel": tr.pos_conv_embed.conv.kernel_size[0],
        "encoder_pos_conv_groups": tr.pos_conv_embed.conv.groups,
        "encoder_num_layers": len(tr.layers),
        "encoder_num_heads": layer.attention.num_heads,
        "encoder_attention_dropout": layer.attention.dropout,
        "encoder_ff_interm_features": layer.feed_forward.intermediate_dense.out_features,
        "encoder_ff_interm_dropout": layer.feed_forward.intermediate_dropout.p,
        "encoder_dropout": layer.dropout.p,
        "encoder_layer_norm_first": layer.layer_norm_first,
        "encoder_layer_drop": tr.layer_drop,
        "aux_num_out": None,
    }


def _check_fairseq_arch(cfg_model: dict, arch: dict[str, Any], path: str) -> None:
    wrong = []
    for fk, tk in _FAIRSEQ_ARCH.items():
        if fk in cfg_model and cfg_model[fk] != arch[tk]:
            wrong.append(f"{fk}={cfg_model[fk]} (config {tk}={arch[tk]})")
    if "conv_feature_layers" in cfg_model and arch["extractor_conv_layer_config"] is not None:
        convs = _conv_layers_from_fairseq(cfg_model["conv_feature_layers"])
        if convs != list(arch["extractor_conv_layer_config"]):
            wrong.append(f"conv_feature_layers={convs} (config {arch['extractor_conv_layer_config']})")
    mode = {"default": "group_norm", "layer_norm": "layer_norm"}.get(cfg_model.get("extractor_mode"))
    if mode and mode != arch["extractor_mode"]:
        wrong.append(f"extractor_mode={cfg_model['extractor_mode']} (config {arch['extractor_mode']})")
    if wrong:
        raise SSLCheckpointError(f"{path}: the checkpoint's architecture differs from ssl.arch: " + "; ".join(wrong))


def load_wav2vec2(arch: str | dict[str, Any], checkpoint: str | os.PathLike | None, pretrained: bool = True):
    """A torchaudio ``Wav2Vec2Model`` of architecture ``arch`` with the weights of ``checkpoint``."""
    args = wav2vec2_arch(arch)
    model = torchaudio.models.wav2vec2_model(**args)
    if not pretrained:
        logger.warning("ssl.pretrained is false: the wav2vec 2.0 front-end is randomly initialised "
                       "(until a model state dict is loaded)")
        return model
    if not checkpoint:
        raise SSLCheckpointError("ssl.checkpoint is not set: give the local path of a wav2vec 2.0 / XLS-R "
                                 "checkpoint (nothing is downloaded), or ssl.pretrained false")
    path = str(checkpoint)
    if not Path(path).is_file():
        raise SSLCheckpointError(f"{path}: wav2vec 2.0 checkpoint not found (ssl.checkpoint)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for a bad or unsafe pickle
        raise SSLCheckpointError(f"{path}: cannot read as a torch checkpoint with weights_only=True: {e}") from e
    if not isinstance(state, dict):
        raise SSLCheckpointError(f"{path}: expected a dict (a state_dict or a fairseq checkpoint), got {type(state).__name__}")
    fairseq_cfg = state.get("cfg") if isinstance(state.get("cfg"), dict) else None
    for key in ("state_dict", "model"):
        if isinstance(state.get(key), dict):
            state = state[key]
            break
    if fairseq_cfg is not None or any(k.startswith(("post_extract_proj", "encoder.layers.", "w2v_model."))
                                      for k in state):
        if fairseq_cfg is not None and isinstance(fairseq_cfg.get("model"), dict):
            _check_fairseq_arch(fairseq_cfg["model"], args, path)
        from torchaudio.models.wav2vec2.utils.import_fairseq import _convert_state_dict
        try:
            state = _convert_state_dict(state)
        except ValueError as e:
            raise SSLCheckpointError(f"{path}: not a fairseq wav2vec 2.0 checkpoint: {e}") from e
    missing, unexpected = model.load_state_dict(state, strict=False)
    # fairseq pre-training checkpoints carry no aux head; anything else missing is an error
    missing = [k for k in missing if not k.startswith("aux.")]
    if missing or unexpected:
        raise SSLCheckpointError(
            f"{path}: does not match ssl.arch: {len(missing)} missing weights (first: {missing[:3]}), "
            f"{len(unexpected)} unexpected (first: {unexpected[:3]})")
    logger.info("wav2vec 2.0 front-end loaded from %s", path)
    return model


class SSLAASIST(nn.Module):
    """Waveform ``(B, T)`` at 16 kHz -> logits ``(B, 2)`` (spoof, bona fide)."""

    def __init__(self, ssl: dict[str, Any], proj_dim: int = 128,
                 filts: Sequence = (128, (1, 32), (32, 32), (32, 64), (64, 64)),
                 gat_dims: Sequence[int] = (64, 32), pool_ratios: Sequence[float] = (0.5, 0.5, 0.5, 0.5),
                 temperatures: Sequence[float] = (2.0, 2.0, 100.0, 100.0), sample_rate: int = 16000,
                 preact_blocks: bool = False):
        super().__init__()
        self.sample_rate = sample_rate
        self.ssl = load_wav2vec2(ssl.get("arch", "wav2vec2_xlsr_300m"), ssl.get("checkpoint"),
                                 bool(ssl.get("pretrained", True)))
        if ssl.get("freeze", False):
            self.ssl.requires_grad_(False)
        ssl_dim = self.ssl.encoder.feature_projection.projection.out_features
        self.proj = nn.Linear(ssl_dim, proj_dim)
        self.first_bn = nn.BatchNorm2d(1)
        self.act = nn.SELU(inplace=True)
        # no time max-pool in the blocks; preact_blocks false: the official block (see the module docstring)
        self.encoder = residual_encoder(filts, pool=False, preact=preact_blocks)
        channels = int(filts[-1][-1])
        self.encoder_bn = nn.BatchNorm2d(channels)
        self.attention = nn.Sequential(nn.Conv2d(channels, 2 * channels, 1), nn.SELU(inplace=True),
                                       nn.BatchNorm2d(2 * channels), nn.Conv2d(2 * channels, channels, 1))
        self.backend = AasistBackend(channels, proj_dim // 3, gat_dims, pool_ratios, temperatures)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        feats, _ = self.ssl(wave)  # (B, frames, D): the last transformer layer's output
        x = self.proj(feats).transpose(1, 2).unsqueeze(1)  # (B, 1, proj_dim, frames)
        x = self.act(self.first_bn(nn.functional.max_pool2d(x, (3, 3))))
        x = self.act(self.encoder_bn(self.encoder(x)))  # (B, C, proj_dim/3, frames/3)
        w = self.attention(x)
        spectral = (x * torch.softmax(w, dim=-1)).sum(-1).transpose(1, 2)  # attention over time
        temporal = (x * torch.softmax(w, dim=-2)).sum(-2).transpose(1, 2)  # over the projection axis
        return self.backend(spectral, temporal)


# -- official SSL_Anti-spoofing checkpoints ----------------------------------------------------
#: the official model's wav2vec 2.0 (``Model.ssl_model``, an ``SSLModel`` holding fairseq's
#: ``Wav2Vec2Model`` as ``.model``)
SSL_ANTISPOOFING_FRONTEND = "ssl_model.model."
# official back-end module names that differ from avdf's; first_bn and attention are the
# same, and the residual encoder and graph back-end are clovaai's (clovaai_key)
_SSL_ANTISPOOFING_TOP = {"LL": "proj", "first_bn1": "encoder_bn"}
# torchaudio names the pos-conv weight norm's (g, v) as the old torch.nn.utils.weight_norm
# did; torch's parametrized weight norm (what Wav2Vec2Model holds now) stores them as
# original0 / original1
_WEIGHT_NORM = {"weight_g": "parametrizations.weight.original0", "weight_v": "parametrizations.weight.original1"}


def ssl_antispoofing_key(key: str) -> str | None:
    """avdf's name for a key of an official SSL_Anti-spoofing state dict; None for a
    fairseq weight that only wav2vec 2.0 pre-training uses; unknown keys unchanged."""
    if key.startswith(SSL_ANTISPOOFING_FRONTEND):
        # torchaudio's own fairseq wav2vec 2.0 key mapping (torchaudio.models.wav2vec2.utils.
        # import_fairseq._map_key, private: import_fairseq_model, its public entry point, takes a
        # fairseq model object, and fairseq is not installed here). It returns None for
        # mask_emb, quantizer.*, project_q.* and final_proj.*: the masking embedding, the
        # Gumbel quantiser and the two contrastive-loss projections of pre-training, which
        # the official forward (mask=False, features_only=True) never uses.
        from torchaudio.models.wav2vec2.utils.import_fairseq import _map_key
        try:
            mapped = _map_key(key[len(SSL_ANTISPOOFING_FRONTEND):])
        except ValueError:  # not a wav2vec 2.0 key: left for import_model to report
            return key
        if mapped is None:
            return None
        head, _, last = mapped.rpartition(".")
        if head.endswith("pos_conv_embed.conv") and last in _WEIGHT_NORM:
            mapped = f"{head}.{_WEIGHT_NORM[last]}"
        return "ssl." + mapped
    top, dot, rest = key.partition(".")
    if top in _SSL_ANTISPOOFING_TOP:
        return _SSL_ANTISPOOFING_TOP[top] + dot + rest
    return clovaai_key(key)


def from_ssl_antispoofing(state: dict, model_cfg: dict | None = None) -> dict:
    """An official SSL_Anti-spoofing state dict (TakHemlata/SSL_Anti-spoofing, ``Model`` of
    ``model.py``: the LA and DF checkpoints; a DataParallel ``module.`` prefix already
    removed) in avdf's key layout. Keys are renamed, never changed; the pre-training-only
    fairseq weights (``mask_emb``, ``quantizer.*``, ``project_q.*``, ``final_proj.*``) are
    dropped; unknown keys are kept so that the import's key check names them.

    The checkpoint holds the fine-tuned wav2vec 2.0 as well, so the imported model must not
    read ``ssl.checkpoint``: this sets ``model_cfg["ssl"]["pretrained"]`` to false in the
    config that import_model builds the model from and writes into the experiment dir."""
    if model_cfg is not None:
        ssl = model_cfg.setdefault("ssl", {})
        if isinstance(ssl, dict):
            ssl["pretrained"] = False
    out = {}
    for k, v in state.items():
        name = ssl_antispoofing_key(k)
        if name is not None:
            out[name] = v
    return out
