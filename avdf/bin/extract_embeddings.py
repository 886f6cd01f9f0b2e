"""Extract speaker embeddings of a data dir: x-vectors / ECAPA embeddings from a trained
``exp_dir/model.pt``, or i-vectors from ``exp_dir/extractor.pt`` (avdf.bin.train_ivector).

    # job J of N (through $cmd JOB=1:N ... --job JOB)
    python -m avdf.bin.extract_embeddings --exp_dir exp/ecapa --data data/vox1_fbank \\
        --out_dir exp/ecapa/embeddings/vox1 --nj N --job J [--cpu] [--skip_bad true]
    # then, once: OUT_DIR/xvector.scp (ivector.scp for an i-vector extractor)
    python -m avdf.bin.extract_embeddings --merge --exp_dir exp/ecapa --out_dir exp/ecapa/embeddings/vox1 --nj N

Features are read as in training (``exp_dir/config.yaml``'s ``data:`` section: feats.scp
or the front-end on wav.scp, CMN, VAD); ``--input feats`` reads the feats.scp that the
features stage computed with the same config for a model trained on wav. A network embeds the whole utterance;
one longer than ``extract.max_frames`` (default 10000, as Kaldi) is cut into chunks whose
embeddings are averaged, weighted by length. Job outputs are renamed into place only when
complete; ``bad_utts.J`` lists utterances skipped with ``--skip_bad true``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from avdf.bin.compute_features import job_slice
from avdf.data.audio import AudioError
from avdf.data.datadir import DataDirError, read_kv, write_kv
from avdf.utils.config import get, load_config
from avdf.utils.fileio import atomic_ark_scp
from avdf.utils.log import setup_logging
from avdf.bin import run

logger = logging.getLogger("extract_embeddings")


def kind_of(exp_dir: Path) -> str:
    """``ivector`` (extractor.pt) or ``xvector`` (model.pt)."""
    if (exp_dir / "extractor.pt").is_file():
        return "ivector"
    if (exp_dir / "model.pt").is_file():
        return "xvector"
    raise FileNotFoundError(f"{exp_dir}: neither extractor.pt (i-vector) nor model.pt (network): train first")


class NetworkEmbedder:
    def __init__(self, exp_dir: Path, cfg: dict, device: torch.device):
        from avdf.models import build_model
        from avdf.models.asv.speaker_net import embedding_state
        from avdf.train.checkpoint import load

        self.model = build_model(cfg["model"])
        self.model.load_state_dict(embedding_state(load(exp_dir / "model.pt")["model"]))
        self.model.to(device).eval()
        self.device = device
        self.max_frames = int(get(cfg, "extract.max_frames", 10000))
        self.min_frames = int(getattr(self.model, "min_frames", 1))

    @torch.no_grad()
    def __call__(self, feats: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(feats).to(self.device)
        if x.shape[0] < self.min_frames:
            x = x.repeat(-(-self.min_frames // x.shape[0]), 1)
        chunks = list(torch.split(x, self.max_frames))
        if len(chunks) > 1 and chunks[-1].shape[0] < self.max_frames // 2:
            chunks[-2] = torch.cat(chunks[-2:])
            chunks.pop()
        embs = torch.stack([self.model(c[None])[0].float() for c in chunks])
        w = torch.tensor([c.shape[0] for c in chunks], dtype=torch.float32, device=embs.device)
        return ((embs * w[:, None]).sum(0) / w.sum()).cpu().numpy()


class IVectorEmbedder:
    def __init__(self, exp_dir: Path, cfg: dict, device: torch.device):
        from avdf.backend.ivector import IVectorExtractor

        self.ext = IVectorExtractor.load(exp_dir / "extractor.pt", device=device)
        self.gselect = int(get(cfg, "ivector.num_gselect", 20))
        self.min_post = float(get(cfg, "ivector.min_post", 0.025))

    @torch.no_grad()
    def __call__(self, feats: np.ndarray) -> np.ndarray:
        from avdf.backend.ivector import utterance_stats

        N, F = utterance_stats(self.ext.ubm, [torch.from_numpy(feats)], self.gselect, self.min_post)
        return self.ext.extract(N, F)[0].float().cpu().numpy()


def extract_job(exp_dir: Path, data: Path, out_dir: Path, nj: int, job: int, skip_bad: bool,
                device: torch.device, input_kind: str | None = None) -> tuple[int, int]:
    from avdf.tasks.asv import FeatureReader

    cfg = load_config(exp_dir / "config.yaml")
    if input_kind:
        cfg.setdefault("data", {})["input"] = input_kind
    kind = kind_of(exp_dir)
    embed = IVectorEmbedder(exp_dir, cfg, device) if kind == "ivector" else NetworkEmbedder(exp_dir, cfg, device)
    reader = FeatureReader(data, cfg)
    utts = job_slice(reader.utts(), nj, job)
    out_dir.mkdir(parents=True, exist_ok=True)
    bad: dict[str, str] = {}
    with atomic_ark_scp(out_dir / f"{kind}.{job}.ark", out_dir / f"{kind}.{job}.scp") as writer:
        for utt in tqdm(utts, desc=f"{kind} job {job}/{nj}", mininterval=10, disable=None):
            try:
                feats = reader.read(utt)
                if len(feats) == 0:
                    raise AudioError(f"{data}: utterance {utt} has no frames")
            except (AudioError, DataDirError) as e:
                if not skip_bad:
                    raise
                logger.warning("skipping %s: %s", utt, e)
                bad[utt] = str(e).replace("\n", " ")
                continue
            writer(utt, embed(feats).astype(np.float32))
    write_kv(out_dir / f"bad_utts.{job}", bad)
    return len(utts) - len(bad), len(bad)


def merge(exp_dir: Path, out_dir: Path, nj: int) -> None:
    kind = kind_of(exp_dir)
    scp: dict[str, str] = {}
    bad: dict[str, str] = {}
    for j in range(1, nj + 1):
        p = out_dir / f"{kind}.{j}.scp"
        if not p.is_file():
            raise DataDirError(f"{p}: missing: job {j} of {nj} did not finish (re-run it)")
        scp.update(read_kv(p))
        if (out_dir / f"bad_utts.{j}").is_file():
            bad.update(read_kv(out_dir / f"bad_utts.{j}", allow_empty_value=True))
    write_kv(out_dir / f"{kind}.scp", scp)
    if bad:
        write_kv(out_dir / "bad_utts", bad)
        logger.warning("%d utterances skipped, listed in %s", len(bad), out_dir / "bad_utts")
    logger.info("%s: %d embeddings", out_dir / f"{kind}.scp", len(scp))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp_dir", required=True, type=Path)
    p.add_argument("--data", type=Path, help="data dir (not needed with --merge)")
    p.add_argument("--out_dir", required=True, type=Path)
    p.add_argument("--nj", type=int, default=1)
    p.add_argument("--job", type=int, default=1)
    p.add_argument("--merge", action="store_true")
    p.add_argument("--skip_bad", default="false", choices=["true", "false"])
    p.add_argument("--input", choices=["feats", "wav"],
                   help="read feats.scp (computed with the config's front-end) or wav.scp; default: the config's")
    p.add_argument("--cpu", action="store_true", help="do not use a GPU even if there is one")
    p.add_argument("--num_threads", type=int, default=1)
    args = p.parse_args(argv)
    setup_logging()
    try:
        if args.merge:
            merge(args.exp_dir, args.out_dir, args.nj)
            return 0
        if args.data is None:
            p.error("--data is required unless --merge")
        torch.set_num_threads(args.num_threads)
        device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
        done, skipped = extract_job(args.exp_dir, args.data, args.out_dir, args.nj, args.job,
                                    args.skip_bad == "true", device, args.input)
        logger.info("job %d/%d: %d embeddings, %d skipped", args.job, args.nj, done, skipped)
    except (AudioError, DataDirError, FileNotFoundError, ValueError, KeyError) as e:
        print(f"extract_embeddings: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "extract_embeddings"))
