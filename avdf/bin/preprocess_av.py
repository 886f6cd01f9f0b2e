"""Stage 2 of the audio-visual recipes: face and mouth crops and audio, with kaldiio.

    # job J of N (through $train_cmd JOB=1:N ... --job JOB)
    python -m avdf.bin.preprocess_av --config conf/fgi.yaml --data data/train \\
        --out_dir dump/<tag>/train --nj N --job J [--preprocess.face_size 112]
    # then, once: the data dir with faces.scp, lips.scp, audio.scp, utt2num_frames, utt2fps
    python -m avdf.bin.preprocess_av --merge --data data/train --out_dir dump/<tag>/train \\
        --out_data data/<tag>/train --nj N
    # the tag naming a preprocessing (same preprocess: section -> same tag, shared dumps)
    python -m avdf.bin.preprocess_av --config conf/fgi.yaml --print_tag

Reads ``video.scp`` and the config's ``preprocess:`` section (avdf.data.video.PREPROCESS_DEFAULTS).
Job J takes the J-th contiguous slice of the sorted utterances and writes
``{faces,lips,audio}.J.ark/scp`` (uint8 T x H x W x 3 crops, float32 audio at
``preprocess.sample_rate``, all npy-in-ark), ``utt2num_frames.J``, ``utt2fps.J`` and
``bad_utts.J`` (videos left out and why: no face, no audio stream, unreadable or missing
file). Everything is renamed into place only when the job succeeds, so a killed job leaves
no partial ark, and a finished job is not redone. The merge copies the data dir to
``--out_data``, adds the scp files, lists ``bad_utts`` and drops those utterances from every
file (avdf.data.datadir.fix_data_dir, as utils/fix_data_dir.sh).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import shutil
import sys
from pathlib import Path

import cv2
from tqdm import tqdm

from avdf.data.audio import AudioError
from avdf.data.datadir import DataDirError, fix_data_dir, read_kv, write_kv
from avdf.data.video import VideoError, build_detector, preprocess_conf, preprocess_video
from avdf.utils.config import ConfigError, load_config
from avdf.utils.fileio import atomic_ark_scp, atomic_open
from avdf.utils.log import setup_logging
from avdf.bin import run

logger = logging.getLogger("preprocess_av")
STREAMS = ("faces", "lips", "audio")


def job_slice(keys: list[str], nj: int, job: int) -> list[str]:
    """The ``job``-th (1-based) of ``nj`` contiguous slices, as avdf.bin.compute_features
    cuts them (not imported from there: that module loads torch, which this stage never needs)."""
    if not 1 <= job <= nj:
        raise ValueError(f"--job {job} is outside 1..{nj}")
    return keys[(job - 1) * len(keys) // nj: job * len(keys) // nj]


def preprocess_tag(conf: dict) -> str:
    """A directory name for a preprocessing: the main sizes, then a hash of everything."""
    c = preprocess_conf(conf)
    digest = hashlib.sha1(json.dumps(c, sort_keys=True).encode()).hexdigest()[:6]
    fps = f"fps{c['fps']:g}" if c["fps"] else "fpsnative"
    return f"face{c['face_size']}_mouth{c['mouth_size']}_sr{c['sample_rate']}_{fps}_{digest}"


def run_job(conf: dict, data: Path, out_dir: Path, nj: int, job: int, skip_bad: bool) -> tuple[int, int]:
    """Preprocess this job's videos; return (videos written, videos left out)."""
    conf = preprocess_conf(conf)
    tag = preprocess_tag(conf)
    done = out_dir / f".done.{job}"
    if done.is_file() and done.read_text().strip() == f"{tag} {nj}":
        logger.info("job %d/%d already done (%s)", job, nj, done)
        return -1, -1
    video_scp = read_kv(data / "video.scp")
    line = {u: n for n, u in enumerate(video_scp, 1)}
    utts = job_slice(list(video_scp), nj, job)
    detector = build_detector(conf["detector"])
    out_dir.mkdir(parents=True, exist_ok=True)
    streams = [s for s in STREAMS if s != "lips" or int(conf["mouth_size"]) > 0]
    num_frames: dict[str, int] = {}
    fps: dict[str, str] = {}
    bad: dict[str, str] = {}
    with contextlib.ExitStack() as stack:  # no ark/scp is moved into place unless every video was done
        writers = {s: stack.enter_context(atomic_ark_scp(out_dir / f"{s}.{job}.ark", out_dir / f"{s}.{job}.scp",
                                                         write_function="numpy")) for s in streams}
        for utt in tqdm(utts, desc=f"preprocess job {job}/{nj}", mininterval=10, disable=None):
            path = video_scp[utt]
            try:
                crops = preprocess_video(path, conf, detector)
            except (VideoError, AudioError) as e:
                msg = f"{data / 'video.scp'}:{line[utt]}: {e}".replace("\n", " ")
                if not skip_bad:
                    raise type(e)(msg) from None
                logger.warning("leaving out %s: %s", utt, msg)
                bad[utt] = msg
                continue
            writers["faces"](utt, crops.faces)
            if "lips" in writers:
                writers["lips"](utt, crops.lips)
            writers["audio"](utt, crops.audio)
            num_frames[utt] = crops.faces.shape[0]
            fps[utt] = f"{crops.fps:.6g}"
    write_kv(out_dir / f"utt2num_frames.{job}", num_frames)
    write_kv(out_dir / f"utt2fps.{job}", fps)
    write_kv(out_dir / f"bad_utts.{job}", bad)
    with atomic_open(done) as f:
        f.write(f"{tag} {nj}\n")
    return len(num_frames), len(bad)


def merge(data: Path, out_dir: Path, out_data: Path, nj: int) -> None:
    """Write ``out_data``: ``data``'s files, the jobs' scp files, bad_utts; then drop the
    left-out utterances from every file."""
    names = [s for s in STREAMS if (out_dir / f"{s}.1.scp").is_file()] + ["utt2num_frames", "utt2fps", "bad_utts"]
    merged: dict[str, dict[str, str]] = {n: {} for n in names}
    for j in range(1, nj + 1):
        for name in names:
            p = out_dir / (f"{name}.{j}.scp" if name in STREAMS else f"{name}.{j}")
            if not p.is_file():
                raise DataDirError(f"{p}: missing: job {j} of {nj} did not finish (re-run it)")
            part = read_kv(p)
            dup = set(part) & set(merged[name])
            if dup:
                raise DataDirError(f"{p}: utterance {sorted(dup)[0]!r} also in another job")
            merged[name].update(part)
    if not merged["faces"]:
        raise DataDirError(f"{out_dir}: no video could be preprocessed; reasons in {out_dir}/bad_utts.*")
    out_data.mkdir(parents=True, exist_ok=True)
    for f in data.iterdir():
        if f.is_file() and not f.name.startswith(".") and f.name not in ("bad_utts", "feats.scp"):
            shutil.copyfile(f, out_data / f.name)
    for name, items in merged.items():
        if name == "bad_utts":
            continue
        write_kv(out_data / (f"{name}.scp" if name in STREAMS else name), items)
    bad = merged["bad_utts"]
    (out_data / "bad_utts").unlink(missing_ok=True)
    if bad:
        write_kv(out_data / "bad_utts", bad)
        logger.warning("%d videos left out, listed with the reason in %s", len(bad), out_data / "bad_utts")
    for line in fix_data_dir(out_data):
        logger.info("fix_data_dir: %s", line)
    logger.info("%s: %d videos", out_data, len(merged["faces"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML with a preprocess: section (not needed with --merge)")
    parser.add_argument("--data", type=Path, help="data dir with video.scp")
    parser.add_argument("--out_dir", type=Path, help="where the ark/scp files go")
    parser.add_argument("--out_data", type=Path, help="--merge: the data dir to write")
    parser.add_argument("--nj", type=int, default=1)
    parser.add_argument("--job", type=int, default=1)
    parser.add_argument("--merge", action="store_true", help="merge the nj jobs into --out_data")
    parser.add_argument("--print_tag", action="store_true", help="print the preprocessing's tag and exit")
    parser.add_argument("--skip_bad", default="true", choices=["true", "false"],
                        help="list unusable videos in bad_utts and go on (default), or stop at the first")
    parser.add_argument("--num_threads", type=int, default=1, help="OpenCV threads per job")
    args, overrides = parser.parse_known_args(argv)
    setup_logging()
    try:
        if args.merge:
            if not (args.data and args.out_dir and args.out_data):
                parser.error("--merge needs --data, --out_dir and --out_data")
            merge(args.data, args.out_dir, args.out_data, args.nj)
            return 0
        cfg = load_config(args.config, overrides)
        if args.print_tag:
            print(preprocess_tag(cfg.get("preprocess") or {}))
            return 0
        if not (args.data and args.out_dir):
            parser.error("--data and --out_dir are needed")
        cv2.setNumThreads(args.num_threads)
        done, skipped = run_job(cfg.get("preprocess") or {}, args.data, args.out_dir, args.nj, args.job,
                                args.skip_bad == "true")
        if done >= 0:
            logger.info("job %d/%d: %d videos written, %d left out", args.job, args.nj, done, skipped)
    except (VideoError, AudioError, DataDirError, ConfigError, ValueError) as e:
        print(f"preprocess_av: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "preprocess_av"))
