"""Average the kept epoch checkpoints of a finished training into a new experiment dir.

    python -m avdf.bin.average_model --exp_dir exp/fgi --num 10 [--by best|last] [--out_dir exp/fgi_avg10]

Training writes ``model.pt`` as the average of its ``train.average`` best epochs; this
averages another number without training again, from the ``checkpoints/epoch_N.pt`` that
``train.keep`` kept (0 keeps them all). ``--by best`` ranks the epochs as training does (the
selection metric and mode of ``selection.json``, ties to the later epoch); ``--by last`` takes
the last ``--num`` epochs. The output dir (default ``<exp_dir>_avg<num>`` or ``_last<num>``)
gets ``config.yaml``, ``model.pt`` and ``selection.json``, so that every scoring tool that
takes an ``--exp_dir`` (infer_av, infer_cm, extract_embeddings, explain_av) reads it as it
reads the original; the original dir is left as it was.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from avdf.train import checkpoint as ckpt
from avdf.utils.fileio import atomic_open
from avdf.utils.log import setup_logging
from avdf.bin import run


class AverageError(RuntimeError):
    """The experiment dir cannot give the asked-for average."""


def choose_epochs(exp_dir: Path, num: int, by: str) -> tuple[list[int], dict[int, Path], dict]:
    """(chosen epochs, best first or latest first; every kept checkpoint; the selection
    settings used) for averaging ``num`` checkpoints of ``exp_dir``."""
    if num < 1:
        raise AverageError(f"--num must be >= 1, got {num}")
    available = ckpt.epoch_checkpoints(exp_dir / "checkpoints")
    if not available:
        raise AverageError(f"{exp_dir / 'checkpoints'}: no epoch_N.pt checkpoints")
    if by == "last":
        chosen = sorted(available, reverse=True)[:num]
        selection = {"by": "last"}
    else:
        sel_file = exp_dir / "selection.json"
        if not sel_file.is_file():
            raise AverageError(f"{sel_file}: missing; training has not finished (or use --by last)")
        try:
            sel = json.loads(sel_file.read_text(encoding="utf-8"))
            metric, mode = sel["select_metric"], sel["select_mode"]
        except (json.JSONDecodeError, KeyError) as e:
            raise AverageError(f"{sel_file}: not a training selection file ({e})") from e
        history = ckpt.load(available[max(available)]).get("history")
        if not history:
            raise AverageError(f"{available[max(available)]}: holds no training history")
        ranked = ckpt.rank_epochs(history, metric, mode)
        chosen = [r["epoch"] for r in ranked if r["epoch"] in available][:num]
        selection = {"by": "best", "select_metric": metric, "select_mode": mode}
    if len(chosen) < num:
        raise AverageError(f"{exp_dir / 'checkpoints'}: {len(chosen)} usable epoch checkpoints, --num {num} asked "
                           f"(train.keep limits how many training keeps)")
    return chosen, available, selection


def average(exp_dir: Path, out_dir: Path, num: int, by: str = "best") -> list[int]:
    """Write ``out_dir``'s config.yaml, model.pt and selection.json; the averaged epochs."""
    exp_dir, out_dir = Path(exp_dir), Path(out_dir)
    if out_dir.resolve() == exp_dir.resolve():
        raise AverageError(f"--out_dir is the experiment dir {exp_dir}: its model.pt would be replaced")
    if not (exp_dir / "config.yaml").is_file():
        raise AverageError(f"{exp_dir / 'config.yaml'}: missing; not a training experiment dir")
    chosen, available, selection = choose_epochs(exp_dir, num, by)
    config_text = (exp_dir / "config.yaml").read_text(encoding="utf-8")
    weights = ckpt.average_state_dicts([available[e] for e in chosen])
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_dir / "config.yaml") as f:
        f.write(config_text)
    ckpt.save({"model": weights, "config": yaml.safe_load(config_text), "averaged_epochs": chosen,
               "source": str(exp_dir), **selection}, out_dir / "model.pt")
    with atomic_open(out_dir / "selection.json") as f:
        json.dump({**selection, "averaged_epochs": chosen, "source": str(exp_dir)}, f, indent=2)
    for name in ("train_history.tsv", "seed", "versions.txt"):
        if (exp_dir / name).is_file():
            with atomic_open(out_dir / name) as f:
                f.write((exp_dir / name).read_text(encoding="utf-8"))
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp_dir", required=True, type=Path, help="a finished training's experiment dir")
    parser.add_argument("--num", required=True, type=int, help="how many epoch checkpoints to average")
    parser.add_argument("--by", choices=("best", "last"), default="best",
                        help="best: by the validation metric training selected on; last: the last --num epochs")
    parser.add_argument("--out_dir", type=Path, help="default: <exp_dir>_avg<num> (--by best) or _last<num>")
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    exp_dir = args.exp_dir.resolve()
    out_dir = args.out_dir or exp_dir.with_name(f"{exp_dir.name}_{'avg' if args.by == 'best' else 'last'}{args.num}")
    try:
        chosen = average(args.exp_dir, out_dir, args.num, args.by)
    except AverageError as e:
        print(f"average_model: error: {e}", file=sys.stderr)
        return 1
    print(f"{out_dir}/model.pt: average of epochs {', '.join(map(str, sorted(chosen)))} of {args.exp_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "average_model"))
