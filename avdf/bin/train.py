"""Train a model with the generic trainer (DDP, resume, selection, averaging).

    python -m avdf.bin.train --config conf/aasist.yaml --exp_dir exp/aasist \\
        --train_data data/train --valid_data data/dev [--data ROLE=DIR ...] [--cpu] \\
        [--model.key value ...]

Launch several processes with ``torchrun --nproc_per_node N -m avdf.bin.train ...`` (or
``srun -n N``); ``egs/TEMPLATE/launch.sh`` picks the right one from ``--ngpu``.
"""
from __future__ import annotations

import argparse
import logging
import sys

from avdf.data.audio import AudioError
from avdf.data.datadir import DataDirError
from avdf.models import UnknownModelError
from avdf.tasks import UnknownTaskError, build_task, get_task_class
from avdf.train.checkpoint import CheckpointError
from avdf.train.trainer import TRAIN_DEFAULTS, Trainer
from avdf.utils.config import ConfigError, load_config
from avdf.utils.log import setup_logging
from avdf.bin import run


def resolve_config(path: str, overrides: list[str]) -> dict:
    """The config file with the command line's overrides; the trainer's ``train:`` keys and
    the task's documented ``data:`` keys may be set even where the file leaves them out."""
    name = load_config(path).get("task")
    data_defaults = get_task_class(name).data_defaults if name else {}
    return load_config(path, overrides, defaults={"train": TRAIN_DEFAULTS, "data": data_defaults})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--exp_dir", required=True)
    parser.add_argument("--train_data", help="training data dir")
    parser.add_argument("--valid_data", help="validation data dir (model selection)")
    parser.add_argument("--data", action="append", default=[], metavar="ROLE=DIR",
                        help="further data dirs a task uses, e.g. noise=data/musan")
    parser.add_argument("--cpu", action="store_true", help="do not use a GPU even if there is one")
    parser.add_argument("--verbose", type=int, default=0)
    args, overrides = parser.parse_known_args(argv)
    setup_logging(args.verbose)
    try:
        return _train(args, overrides, parser)
    except (ConfigError, DataDirError, AudioError, CheckpointError, UnknownModelError, UnknownTaskError,
            FileNotFoundError) as e:
        print(f"train: {e}", file=sys.stderr)
        return 1


def _train(args, overrides: list[str], parser) -> int:
    cfg = resolve_config(args.config, overrides)
    data = {}
    if args.train_data:
        data["train"] = args.train_data
    if args.valid_data:
        data["valid"] = args.valid_data
    for item in args.data:
        if "=" not in item:
            parser.error(f"--data {item!r}: expected ROLE=DIR")
        role, path = item.split("=", 1)
        data[role] = path
    task = build_task(cfg, data)
    final = Trainer(task, args.exp_dir, use_cuda=not args.cpu).fit()
    logging.getLogger(__name__).info("done: %s", final)
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "train"))
