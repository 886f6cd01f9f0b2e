"""Print a model's architecture and parameter count.

    python -m avdf.bin.model_summary conf/aasist.yaml [--model.key value ...]

The last line is ``params: N`` (all parameters); the line before it gives the trainable ones.
"""
from __future__ import annotations

import argparse
import sys

from avdf.models import build_model
from avdf.utils.config import load_config
from avdf.bin import run


def count_parameters(model) -> tuple[int, int]:
    """(all, trainable) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="YAML config with a model: section")
    args, overrides = parser.parse_known_args(argv)
    cfg = load_config(args.config, overrides)
    if "model" not in cfg:
        print(f"{args.config}: no model: section", file=sys.stderr)
        return 1
    model = build_model(cfg["model"])
    total, trainable = count_parameters(model)
    print(model)
    print(f"model: {cfg['model']['name']}")
    print(f"trainable params: {trainable}")
    print(f"params: {total}")
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "model_summary"))
