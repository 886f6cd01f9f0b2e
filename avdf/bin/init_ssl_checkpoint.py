"""Write a RANDOMLY INITIALISED checkpoint for an SSL encoder config: the control of a
probing study (what a linear probe finds in an untrained network of the same
architecture), and what the mini-corpus runs use, since no pretrained weights ship offline.

    python -m avdf.bin.init_ssl_checkpoint --config conf/ssl/wav2vec2_base.yaml \\
        --out exp/ssl_init/wav2vec2_base.pt [--seed 0]

The file is a torchaudio / torchvision state_dict, loaded by the same code as a real
checkpoint (``encoder.checkpoint``). It is NOT a pretrained model; results obtained with it
must be reported as random-initialisation controls.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

from avdf.features.ssl import build_ssl_model
from avdf.utils.config import ConfigError, load_config
from avdf.utils.fileio import atomic_path
from avdf.utils.log import setup_logging
from avdf.bin import run

AUDIO = ("wav2vec2", "hubert", "wavlm")


def random_state_dict(encoder: dict, seed: int) -> dict[str, torch.Tensor]:
    """The state_dict of a freshly initialised network of the ``encoder:`` section's architecture."""
    torch.manual_seed(seed)
    name = encoder.get("name")
    if name in AUDIO:
        return build_ssl_model(name, encoder.get("size", "base"), encoder.get("model_conf")).state_dict()
    if name in ("torchvision_image", "torchvision_video"):
        import torchvision
        return torchvision.models.get_model(encoder["arch"], weights=None,
                                            **(encoder.get("model_kwargs") or {})).state_dict()
    raise ValueError(f"cannot initialise encoder {name!r}: only {', '.join(AUDIO)}, torchvision_image, "
                     "torchvision_video")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML with an encoder: section")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args, overrides = parser.parse_known_args(argv)
    setup_logging()
    try:
        cfg = load_config(args.config, overrides)
        if "encoder" not in cfg:
            raise ValueError(f"{args.config}: no encoder: section")
        state = random_state_dict(cfg["encoder"], args.seed)
    except (ConfigError, ValueError, KeyError) as e:
        print(f"init_ssl_checkpoint: {e}", file=sys.stderr)
        return 1
    with atomic_path(args.out, suffix=".pt") as tmp:
        torch.save(state, tmp)
    logging.getLogger("init_ssl_checkpoint").warning(
        "%s: RANDOM initialisation of %s (seed %d), a control, not a pretrained model",
        args.out, cfg["encoder"].get("arch", cfg["encoder"]["name"]), args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "init_ssl_checkpoint"))
