"""Compute features for one job's share of a data dir and write them with kaldiio.

    # job J of N (through $train_cmd JOB=1:N ... --job JOB)
    python -m avdf.bin.compute_features --config conf/lfcc_lcnn.yaml --data data/train \\
        --out_dir dump/lfcc/train --nj N --job J [--skip_bad true] [--frontend.n_lfcc 20]
    # then, once, merge the jobs into the data dir (feats.scp, utt2num_frames, bad_utts)
    python -m avdf.bin.compute_features --merge --data data/train --out_dir dump/lfcc/train --nj N

The front-end is the config's ``frontend:`` section (the same file the model trains with).
Job J takes the J-th contiguous slice of the sorted utterances. Outputs are
``feats.J.ark`` / ``feats.J.scp`` / ``utt2num_frames.J`` / ``bad_utts.J``, each renamed into
place only when the job succeeded, so a failed or killed job leaves no partial ark behind
and a re-run redoes it.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import kaldiio
import numpy as np
import torch
from tqdm import tqdm

from avdf.data.audio import AudioError, WavScp
from avdf.data.datadir import DataDirError, read_kv, write_kv
from avdf.features import build_frontend
from avdf.utils.config import load_config
from avdf.utils.fileio import atomic_ark_scp
from avdf.utils.log import setup_logging
from avdf.bin import run

logger = logging.getLogger("compute_features")


def job_slice(keys: list[str], nj: int, job: int) -> list[str]:
    """The ``job``-th (1-based) of ``nj`` contiguous, near-equal slices of ``keys``."""
    if not 1 <= job <= nj:
        raise ValueError(f"--job {job} is outside 1..{nj}")
    n = len(keys)
    return keys[(job - 1) * n // nj: job * n // nj]


@torch.no_grad()
def compute_job(cfg: dict, data: Path, out_dir: Path, nj: int, job: int, skip_bad: bool,
                resample: bool) -> tuple[int, int]:
    """Write this job's ark/scp; return (utterances written, utterances skipped)."""
    if "frontend" not in cfg:
        raise ValueError("config has no frontend: section")
    frontend = build_frontend(cfg["frontend"]).eval()
    sr = int(getattr(frontend, "sample_rate", 16000))
    scp = WavScp(data / "wav.scp", expected_sr=None if resample else sr, resample_to=sr if resample else None)
    utts = job_slice(scp.keys(), nj, job)
    out_dir.mkdir(parents=True, exist_ok=True)
    num_frames: dict[str, int] = {}
    bad: dict[str, str] = {}
    with atomic_ark_scp(out_dir / f"feats.{job}.ark", out_dir / f"feats.{job}.scp") as writer:
        for utt in tqdm(utts, desc=f"features job {job}/{nj}", mininterval=10, disable=None):
            try:
                wave, _ = scp.read(utt)
            except AudioError as e:
                if not skip_bad:
                    raise
                logger.warning("skipping %s: %s", utt, e)
                bad[utt] = str(e).replace("\n", " ")
                continue
            feats = frontend(torch.from_numpy(wave)[None])[0].float().numpy()
            if not np.isfinite(feats).all():
                msg = f"{scp.path}:{scp.line[utt]}: features of {utt} contain NaN or inf"
                if not skip_bad:
                    raise AudioError(msg)
                bad[utt] = msg
                continue
            writer(utt, feats)
            num_frames[utt] = feats.shape[0]
    write_kv(out_dir / f"utt2num_frames.{job}", num_frames)
    write_kv(out_dir / f"bad_utts.{job}", bad)
    return len(num_frames), len(bad)


def merge(data: Path, out_dir: Path, nj: int) -> None:
    """Join the jobs' scp files into ``data/feats.scp`` (and utt2num_frames, bad_utts)."""
    feats: dict[str, str] = {}
    frames: dict[str, str] = {}
    bad: dict[str, str] = {}
    for j in range(1, nj + 1):
        for name, into in (("feats", feats), ("utt2num_frames", frames), ("bad_utts", bad)):
            p = out_dir / (f"{name}.{j}.scp" if name == "feats" else f"{name}.{j}")
            if not p.is_file():
                raise DataDirError(f"{p}: missing: job {j} of {nj} did not finish (re-run it)")
            part = read_kv(p)
            dup = set(part) & set(into)
            if dup:
                raise DataDirError(f"{p}: utterance {sorted(dup)[0]!r} also in another job")
            into.update(part)
    write_kv(data / "feats.scp", feats)
    write_kv(data / "utt2num_frames", frames)
    if bad:
        write_kv(data / "bad_utts", bad)
        logger.warning("%d utterances skipped, listed with reasons in %s", len(bad), data / "bad_utts")
    logger.info("%s: %d utterances", data / "feats.scp", len(feats))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML with a frontend: section (not needed with --merge)")
    parser.add_argument("--data", required=True, type=Path, help="data dir with wav.scp")
    parser.add_argument("--out_dir", required=True, type=Path, help="where the ark/scp files go")
    parser.add_argument("--nj", type=int, default=1)
    parser.add_argument("--job", type=int, default=1)
    parser.add_argument("--merge", action="store_true", help="merge the nj jobs into the data dir")
    parser.add_argument("--skip_bad", default="false", choices=["true", "false"],
                        help="log unreadable audio to bad_utts and go on, instead of stopping")
    parser.add_argument("--resample", default="false", choices=["true", "false"],
                        help="resample audio to the front-end's rate instead of failing on another rate")
    parser.add_argument("--num_threads", type=int, default=1)
    args, overrides = parser.parse_known_args(argv)
    setup_logging()
    try:
        if args.merge:
            merge(args.data, args.out_dir, args.nj)
            return 0
        torch.set_num_threads(args.num_threads)
        cfg = load_config(args.config, overrides)
        done, skipped = compute_job(cfg, args.data, args.out_dir, args.nj, args.job,
                                    args.skip_bad == "true", args.resample == "true")
        logger.info("job %d/%d: %d utterances written, %d skipped", args.job, args.nj, done, skipped)
    except (AudioError, DataDirError, ValueError) as e:
        print(f"compute_features: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "compute_features"))
