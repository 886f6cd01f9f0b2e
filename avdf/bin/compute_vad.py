"""Energy VAD (Kaldi ``compute-vad`` semantics) from a data dir's ``feats.scp``.

    # job J of N (through $train_cmd JOB=1:N ... --job JOB)
    python -m avdf.bin.compute_vad --data data/vox1 --out_dir dump/mfcc/vox1 --nj N --job J \\
        [--config conf/xvector.yaml] [--vad.energy_threshold 5.5]
    # then, once: data/vox1/vad.scp
    python -m avdf.bin.compute_vad --merge --data data/vox1 --out_dir dump/mfcc/vox1 --nj N

Column 0 of the features must be the log energy (an MFCC with ``use_energy: true``, as
Kaldi requires too). Options come from the config's ``vad:`` section (defaults: Kaldi's
``conf/vad.conf``: threshold 5.5, mean scale 0.5, context 2, proportion 0.12). Job
outputs ``vad.J.ark/scp`` are renamed into place only when complete.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import kaldiio
import numpy as np
from tqdm import tqdm

from avdf.bin.compute_features import job_slice
from avdf.data.datadir import DataDirError, read_kv, write_kv
from avdf.features.vad import compute_vad, vad_options
from avdf.utils.config import load_config
from avdf.utils.fileio import atomic_ark_scp
from avdf.utils.log import setup_logging
from avdf.bin import run

logger = logging.getLogger("compute_vad")


def vad_job(data: Path, out_dir: Path, nj: int, job: int, opts: dict) -> tuple[int, float]:
    """Write ``vad.J.ark/scp``; return (utterances, proportion of voiced frames)."""
    feats_scp = data / "feats.scp"
    feats = read_kv(feats_scp)
    utts = job_slice(list(feats), nj, job)
    out_dir.mkdir(parents=True, exist_ok=True)
    voiced = total = 0
    with atomic_ark_scp(out_dir / f"vad.{job}.ark", out_dir / f"vad.{job}.scp") as writer:
        for utt in tqdm(utts, desc=f"vad job {job}/{nj}", mininterval=10, disable=None):
            x = kaldiio.load_mat(feats[utt])
            v = compute_vad(x, **opts)
            voiced += int(v.sum())
            total += len(v)
            writer(utt, v.astype(np.float32))
    return len(utts), voiced / max(1, total)


def merge(data: Path, out_dir: Path, nj: int) -> None:
    vad: dict[str, str] = {}
    for j in range(1, nj + 1):
        p = out_dir / f"vad.{j}.scp"
        if not p.is_file():
            raise DataDirError(f"{p}: missing: job {j} of {nj} did not finish (re-run it)")
        vad.update(read_kv(p))
    feats = read_kv(data / "feats.scp")
    missing = [u for u in feats if u not in vad]
    if missing:
        raise DataDirError(f"{out_dir}: no VAD for {len(missing)} utterances of {data}/feats.scp "
                           f"(first {missing[0]!r}); were the jobs run on another feats.scp?")
    write_kv(data / "vad.scp", {u: vad[u] for u in feats})
    logger.info("%s: %d utterances", data / "vad.scp", len(feats))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML with an optional vad: section")
    parser.add_argument("--data", required=True, type=Path, help="data dir with feats.scp")
    parser.add_argument("--out_dir", required=True, type=Path)
    parser.add_argument("--nj", type=int, default=1)
    parser.add_argument("--job", type=int, default=1)
    parser.add_argument("--merge", action="store_true", help="merge the nj jobs into data/vad.scp")
    args, overrides = parser.parse_known_args(argv)
    setup_logging()
    try:
        if args.merge:
            merge(args.data, args.out_dir, args.nj)
            return 0
        cfg = load_config(args.config, overrides)
        n, prop = vad_job(args.data, args.out_dir, args.nj, args.job, vad_options(cfg))
        logger.info("job %d/%d: %d utterances, %.1f%% of frames voiced", args.job, args.nj, n, 100 * prop)
    except (DataDirError, ValueError, OSError) as e:
        print(f"compute_vad: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "compute_vad"))
