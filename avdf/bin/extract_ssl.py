"""Frame-level features from a self-supervised encoder, written with kaldiio.

    # job J of N (through $train_cmd JOB=1:N ... --job JOB)
    python -m avdf.bin.extract_ssl --config conf/ssl/wav2vec2.yaml --data data/<tag>/test \\
        --out_dir dump/ssl/wav2vec2/test --nj N --job J [--encoder.layer 6]
    # then, once: a data dir with feats.scp, utt2num_frames, utt2frame_rate
    python -m avdf.bin.extract_ssl --merge --data data/<tag>/test --out_dir dump/ssl/wav2vec2/test \\
        --out_data data/ssl/wav2vec2/test --nj N

The encoder is the config's ``encoder:`` section (avdf.models.av.ssl_encoders.build_encoder;
checkpoints are local paths). Inputs come from the preprocessed data dir
(``python -m avdf.bin.preprocess_av``): face crops from ``faces.scp`` (uint8 T x H x W x C)
and audio from ``audio.scp`` (float32 at the ``preprocess.sample_rate`` of
``--preprocess_config``, the config the data dir was preprocessed with), resampled to the encoder's rate when they differ. Job J takes the J-th
contiguous slice of the sorted utterances and writes ``feats.J.ark/scp``,
``utt2num_frames.J``, ``utt2frame_rate.J`` and ``bad_utts.J``, renamed into place only when
the job succeeds. The merge copies the data dir's labels (not its crops) to ``--out_data``
and adds those files, dropping the utterances that failed.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path

import kaldiio
import numpy as np
import torch
from tqdm import tqdm

from avdf.bin.compute_features import job_slice
from avdf.data.audio import resample
from avdf.data.datadir import DataDirError, fix_data_dir, read_kv, write_kv
from avdf.data.video import VideoError, load_frames, preprocess_conf
from avdf.features.ssl import CheckpointError
from avdf.models.av.ssl_encoders import build_encoder
from avdf.utils.config import ConfigError, load_config
from avdf.utils.fileio import atomic_ark_scp, atomic_open
from avdf.utils.log import setup_logging
from avdf.bin import run

logger = logging.getLogger("extract_ssl")
OUTPUTS = ("utt2num_frames", "utt2frame_rate", "bad_utts")
# per-utterance files of the input that describe crops, not the videos: not copied
_NOT_COPIED = ("faces.scp", "lips.scp", "audio.scp", "feats.scp", "utt2num_frames", "utt2frame_rate", "bad_utts")


@torch.no_grad()
def extract_job(cfg: dict, data: Path, out_dir: Path, nj: int, job: int, audio_sr: int, device: str) -> tuple[int, int]:
    """Write this job's features; return (written, failed)."""
    if "encoder" not in cfg:
        raise ValueError("config has no encoder: section")
    encoder = build_encoder(cfg["encoder"]).to(device)
    needs_audio = encoder.modality in ("audio", "av")
    needs_faces = encoder.modality in ("visual", "av")
    inputs = {}
    for name, needed in (("audio.scp", needs_audio), ("faces.scp", needs_faces)):
        if needed:
            if not (data / name).is_file():
                raise DataDirError(f"{data / name}: missing; a {encoder.modality} encoder reads it "
                                   "(run the preprocessing stage, python -m avdf.bin.preprocess_av)")
            inputs[name] = read_kv(data / name)
    fps = read_kv(data / "utt2fps") if (data / "utt2fps").is_file() else {}
    if needs_faces and not fps:
        raise DataDirError(f"{data / 'utt2fps'}: missing; the frame rate of the face crops is needed")
    ref = inputs.get("faces.scp") or inputs["audio.scp"]
    utts = job_slice(list(ref), nj, job)
    out_dir.mkdir(parents=True, exist_ok=True)
    ark, scp = out_dir / f"feats.{job}.ark", out_dir / f"feats.{job}.scp"
    frames_of: dict[str, int] = {}
    rate_of: dict[str, str] = {}
    bad: dict[str, str] = {}
    with atomic_ark_scp(ark, scp) as writer:
        for utt in tqdm(utts, desc=f"ssl job {job}/{nj}", mininterval=10, disable=None):
            try:
                audio = frames = None
                if needs_audio:
                    wave = np.asarray(kaldiio.load_mat(inputs["audio.scp"][utt]), dtype=np.float32).reshape(-1)
                    if audio_sr != encoder.sample_rate:
                        wave = resample(wave, audio_sr, encoder.sample_rate)
                    audio = torch.from_numpy(np.ascontiguousarray(wave)).to(device)
                if needs_faces:
                    frames = torch.from_numpy(load_frames(inputs["faces.scp"][utt])).to(device)
                feats = encoder.encode(audio, frames).float().cpu().numpy()
            except (VideoError, ValueError, RuntimeError, OSError) as e:
                logger.warning("leaving out %s: %s", utt, e)
                bad[utt] = f"{data}: {utt}: {e}".replace("\n", " ")
                continue
            if feats.ndim != 2 or not np.isfinite(feats).all():
                bad[utt] = f"{data}: {utt}: features of shape {feats.shape} are not finite T x D"
                continue
            writer(utt, feats)
            frames_of[utt] = feats.shape[0]
            rate_of[utt] = f"{encoder.frame_rate(float(fps[utt]) if utt in fps else None):.6g}"
    write_kv(out_dir / f"utt2num_frames.{job}", frames_of)
    write_kv(out_dir / f"utt2frame_rate.{job}", rate_of)
    write_kv(out_dir / f"bad_utts.{job}", bad)
    info = {"encoder": cfg["encoder"], "modality": encoder.modality, "dim": encoder.dim}
    with atomic_open(out_dir / "feats_info.json") as f:
        json.dump(info, f, indent=2)
    return len(frames_of), len(bad)


def merge(data: Path, out_dir: Path, out_data: Path, nj: int) -> None:
    """``out_data`` = ``data``'s label files + the jobs' features; failures dropped."""
    merged: dict[str, dict[str, str]] = {n: {} for n in ("feats.scp", *OUTPUTS)}
    for j in range(1, nj + 1):
        for name in merged:
            p = out_dir / (f"feats.{j}.scp" if name == "feats.scp" else f"{name}.{j}")
            if not p.is_file():
                raise DataDirError(f"{p}: missing: job {j} of {nj} did not finish (re-run it)")
            part = read_kv(p)
            if set(part) & set(merged[name]):
                raise DataDirError(f"{p}: utterance {sorted(set(part) & set(merged[name]))[0]!r} also in another job")
            merged[name].update(part)
    if not merged["feats.scp"]:
        raise DataDirError(f"{out_dir}: no utterance gave features; reasons in {out_dir}/bad_utts.*")
    out_data.mkdir(parents=True, exist_ok=True)
    for f in data.iterdir():
        if f.is_file() and not f.name.startswith(".") and f.name not in _NOT_COPIED and f.suffix != ".ark":
            shutil.copyfile(f, out_data / f.name)
    for name, items in merged.items():
        if name != "bad_utts":
            write_kv(out_data / name, items)
    # keep only the utterances with features (drops those of bad_utts and of the input's)
    keep = set(merged["feats.scp"])
    for name in [p.name for p in out_data.iterdir() if p.is_file() and (p.name.startswith("utt2") or p.name.endswith(".scp"))]:
        write_kv(out_data / name, {u: v for u, v in read_kv(out_data / name).items() if u in keep})
    (out_data / "bad_utts").unlink(missing_ok=True)
    if merged["bad_utts"]:
        write_kv(out_data / "bad_utts", merged["bad_utts"])
        logger.warning("%d utterances gave no features; listed in %s", len(merged["bad_utts"]), out_data / "bad_utts")
    shutil.copyfile(out_dir / "feats_info.json", out_data / "feats_info.json")
    for line in fix_data_dir(out_data):
        logger.info("fix_data_dir: %s", line)
    logger.info("%s: %d utterances", out_data, len(merged["feats.scp"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML with an encoder: section (not needed with --merge)")
    parser.add_argument("--data", required=True, type=Path, help="preprocessed data dir (faces.scp, audio.scp)")
    parser.add_argument("--out_dir", required=True, type=Path, help="where the ark/scp files go")
    parser.add_argument("--out_data", type=Path, help="--merge: the data dir to write")
    parser.add_argument("--nj", type=int, default=1)
    parser.add_argument("--job", type=int, default=1)
    parser.add_argument("--merge", action="store_true")
    parser.add_argument("--preprocess_config", help="the config --data was preprocessed with: audio.scp's rate "
                        "is its preprocess.sample_rate")
    parser.add_argument("--audio_sample_rate", type=int,
                        help="rate of audio.scp, when there is no --preprocess_config (default: the preprocessing "
                             "default, 16000)")
    parser.add_argument("--num_threads", type=int, default=1)
    parser.add_argument("--cpu", action="store_true", help="do not use a GPU even if there is one")
    args, overrides = parser.parse_known_args(argv)
    setup_logging()
    try:
        if args.merge:
            if not args.out_data:
                parser.error("--merge needs --out_data")
            merge(args.data, args.out_dir, args.out_data, args.nj)
            return 0
        torch.set_num_threads(args.num_threads)
        device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
        cfg = load_config(args.config, overrides)
        audio_sr = args.audio_sample_rate
        if audio_sr is None:
            pre = load_config(args.preprocess_config).get("preprocess") if args.preprocess_config else None
            audio_sr = int(preprocess_conf(pre or {})["sample_rate"])
        done, failed = extract_job(cfg, args.data, args.out_dir, args.nj, args.job, audio_sr, device)
        logger.info("job %d/%d: %d utterances written, %d failed", args.job, args.nj, done, failed)
    except (CheckpointError, DataDirError, ConfigError, ValueError, TypeError) as e:
        print(f"extract_ssl: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "extract_ssl"))
