"""Score a data dir with a trained model: ``<utt> <score>`` lines, higher = bona fide.

    # job J of N (through $cuda_cmd JOB=1:N ... --job JOB), then merge once
    python -m avdf.bin.infer_cm --exp_dir exp/aasist --data data/dev data/eval \\
        --out exp/aasist/scores/dev.txt exp/aasist/scores/eval.txt --nj N --job J [--cpu] \\
        [--data.eval_crop null]
    python -m avdf.bin.infer_cm --merge --data data/dev data/eval \\
        --out exp/aasist/scores/dev.txt exp/aasist/scores/eval.txt --nj N

The model is ``exp_dir/model.pt`` (written by ``avdf.bin.train`` or ``avdf.bin.train_gmm``)
built from ``exp_dir/config.yaml``; config keys can be overridden (``--data.eval_crop
null`` scores whole utterances). Several data dirs (each with its own ``--out``) share
one model load. Job J scores the J-th contiguous slice of each data dir's utterances into ``<out dir>/split<N>/<out name>.J`` (atomically); ``--merge`` joins
the N parts into ``--out`` sorted by utterance and checks that none is missing. With
``--nj 1`` the one job writes ``--out`` itself (no merge needed). Works for
any task whose ``test_dataset(data_dir)`` yields items that its ``validation_outputs``
turns into ``(utt, score, ...)`` tuples.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from avdf.bin.compute_features import job_slice
from avdf.data.audio import AudioError
from avdf.data.datadir import DataDirError, read_kv, write_kv
from avdf.tasks import build_task
from avdf.train.trainer import load_trained_model
from avdf.utils.config import load_config
from avdf.utils.log import setup_logging
from avdf.bin import run

logger = logging.getLogger("infer_cm")


def part_path(out: Path, nj: int, job: int) -> Path:
    return out.parent / f"split{nj}" / f"{out.name}.{job}"


@torch.no_grad()
def score_job(exp_dir: Path, pairs: list[tuple[Path, Path]], nj: int, job: int, overrides: list[str],
              use_cuda: bool, amp: str) -> int:
    """Score this job's slice of each ``(data dir, score file)`` pair; return the utterances scored."""
    cfg = load_config(exp_dir / "config.yaml", overrides)
    task = build_task(cfg, {})
    device = torch.device("cuda" if use_cuda and torch.cuda.is_available() else "cpu")
    model = load_trained_model(exp_dir, task, device)
    return sum(_score_one(task, model, cfg, data, out, nj, job, device, amp) for data, out in pairs)


def _score_one(task, model, cfg: dict, data: Path, out: Path, nj: int, job: int, device: torch.device,
               amp: str) -> int:
    dataset = task.test_dataset(data)
    idx = job_slice(list(range(len(dataset))), nj, job)
    dcfg = cfg.get("data") or {}
    loader = DataLoader(Subset(dataset, idx), batch_size=int(dcfg.get("valid_batch_size", dcfg.get("batch_size", 1))),
                        shuffle=False, num_workers=int(dcfg.get("num_workers", 0)),
                        collate_fn=task.collate_fn(False), pin_memory=device.type == "cuda")
    if amp == "auto":  # the config may pin it (infer.amp: none where the official code scores in fp32)
        amp = str((cfg.get("infer") or {}).get("amp", "auto")).lower()
    dtype = torch.bfloat16 if (amp == "bf16" or (amp == "auto" and device.type == "cuda")) else None
    scores: dict[str, str] = {}
    for batch in tqdm(loader, desc=f"scoring {data.name} job {job}/{nj}", mininterval=10, disable=None):
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            for item in task.validation_outputs(model, batch, device):
                scores[item[0]] = f"{float(item[1]):.6f}"
    write_kv(out if nj == 1 else part_path(out, nj, job), scores)
    return len(scores)


def merge(out: Path, nj: int, data: Path | None) -> int:
    scores: dict[str, str] = {}
    for j in range(1, nj + 1):
        p = part_path(out, nj, j)
        if not p.is_file():
            raise DataDirError(f"{p}: missing: scoring job {j} of {nj} did not finish (re-run it)")
        scores.update(read_kv(p))
    if data is not None:
        keys = list(read_kv(data / ("wav.scp" if (data / "wav.scp").is_file() else "feats.scp")))
        missing = [k for k in keys if k not in scores]
        if missing:
            raise DataDirError(f"{out}: {len(missing)} utterances of {data} have no score (first {missing[0]!r})")
    write_kv(out, scores)
    return len(scores)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp_dir", type=Path, help="experiment dir with config.yaml and model.pt")
    parser.add_argument("--data", type=Path, nargs="+", help="data dir(s) to score")
    parser.add_argument("--out", required=True, type=Path, nargs="+", help="score file(s), one per data dir")
    parser.add_argument("--nj", type=int, default=1)
    parser.add_argument("--job", type=int, default=1)
    parser.add_argument("--merge", action="store_true", help="join the nj parts into --out")
    parser.add_argument("--cpu", action="store_true", help="do not use a GPU even if there is one")
    parser.add_argument("--amp", default="auto", choices=("auto", "bf16", "none"),
                        help="auto: the config's infer.amp if it has one, else bf16 autocast on a GPU, fp32 on CPU")
    parser.add_argument("--num_threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--verbose", type=int, default=0)
    args, overrides = parser.parse_known_args(argv)
    setup_logging(args.verbose)
    if args.data is not None and len(args.data) != len(args.out):
        parser.error(f"{len(args.data)} --data dirs but {len(args.out)} --out files")
    try:
        if args.merge:
            for i, out in enumerate(args.out):
                n = merge(out, args.nj, args.data[i] if args.data else None)
                logger.info("%s: %d scores", out, n)
            return 0
        if args.exp_dir is None or args.data is None:
            parser.error("--exp_dir and --data are required unless --merge")
        if args.num_threads:
            torch.set_num_threads(args.num_threads)
        n = score_job(args.exp_dir, list(zip(args.data, args.out)), args.nj, args.job, overrides, not args.cpu,
                      args.amp)
        logger.info("job %d/%d: %d utterances scored", args.job, args.nj, n)
    except (AudioError, DataDirError, ValueError, FileNotFoundError) as e:
        print(f"infer_cm: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "infer_cm"))
