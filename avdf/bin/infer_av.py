"""Stage 4 of the audio-visual recipes: video-level scores of a trained model.

    # job J of N (through $cuda_cmd JOB=1:N ... --job JOB), then the merge
    python -m avdf.bin.infer_av --exp_dir exp/fgi --data data/<tag>/test --out exp/fgi/scores/test.txt \\
        --nj N --job J [--perturb gaussian,jpeg,h264] [--seed 0] [--max_chunks 20] [--cpu] \\
        [--protocol official] [--sync_contrast 6,9,12] [--model.infer_by streams]
    python -m avdf.bin.infer_av --merge --out exp/fgi/scores/test.txt --nj N

The model and its data settings come from ``exp_dir/config.yaml`` (any key can be
overridden, e.g. joint_av's ``--model.infer_by streams``) and ``exp_dir/model.pt``.
Every video is cut into 1 s chunks (``data.chunk_frames`` frames with their audio),
consecutive or, with ``--chunk_hop H`` (or ``infer.chunk_hop``), starting every H frames;
``--max_chunks`` keeps that many, evenly spread; a chunk's score is 1 - p(fake)
and the video's score the mean of its chunks': ``<utt> <score>``, higher = real. The chunk
scores go to ``<out stem>.chunks.txt`` (``<utt> <start seconds> <score>``) for the plots of
avdf.bin.explain_av. A chunk is cut as the config's ``data:`` section says (``audio_rms``,
``audio_norm``).

``--protocol official`` (or ``infer.protocol: official``; the FGI paper configs) scores
videos as the FGI authors' evaluation does (``my_train.py --test``, ``my_test.py``): every
consecutive whole chunk of the video, none left out or overlapping (so neither
``max_chunks`` nor ``chunk_hop`` may be set), except those whose audio is not whole (their
loader drops a chunk with fewer than ``data.audio_samples`` samples), in fp32 (no bf16
autocast on a GPU); the video's score is the mean of its chunks', as always. Where a video
has no such chunk (shorter than one, or its audio too short) the official evaluation has no
score for it; avdf then scores its first chunk, padded, and logs it. ``avdf`` (the default)
pads the audio of a last chunk where it is short and autocasts to bf16 on a GPU.

``--sync_contrast K1,K2,..`` (or ``infer.sync_contrast``; not in either paper) scores every
chunk again with the video's audio rolled by -K and by +K frames for each K, and
takes c = z0 - mean z_K, z the model's real-vs-fake logit (z0 at the true alignment):
how much more real the clip looks in sync than out of it, the offset confidence of
SyncNet (Chung and Zisserman, 2016) on the detector's own logit. The detector's
per-identity offset (one speaker's clips all scoring low) cancels out, and so does any cue
that survives the shift (a face-swap artefact, an unnatural voice): the contrast then
sees synchrony only. A chunk scores sigmoid(c), a video sigmoid(mean c of its chunks)
(averaged as logits); 0.5 means as real in sync as out of it. Costs 1 + 2 x (number of K)
forward passes per chunk.

``--perturb`` is the robustness test of Zhou and Lim (ICCV 2021): each listed
perturbation is applied to a video's face frames with probability 0.5, drawn per video
from ``--seed``: ``gaussian`` (additive noise, sigma uniform in 5..20 grey levels), ``jpeg``
(every frame JPEG-compressed at quality 20..50), ``h264`` (the crop sequence re-encoded
with libx264 through PyAV at 0.05 bits per pixel). Job J scores the J-th slice of the
sorted videos into ``<out stem>.J.txt``; outputs are written atomically.
"""
from __future__ import annotations

import argparse
import logging
import sys
import zlib
from pathlib import Path

import numpy as np
from scipy.special import expit
from tqdm import tqdm

from avdf.bin.preprocess_av import job_slice
from avdf.data.datadir import DataDirError, read_kv
from avdf.data.video import VideoError, reproducible_x264
from avdf.utils.config import ConfigError, load_config
from avdf.utils.fileio import atomic_open
from avdf.utils.log import setup_logging
from avdf.bin import run

# torch and the model code are imported where they are used: the merge needs neither

logger = logging.getLogger("infer_av")
PERTURBATIONS = ("gaussian", "jpeg", "h264")


def perturb_frames(frames: np.ndarray, kind: str, rng: np.random.Generator, fps: float = 25.0) -> np.ndarray:
    """One robustness perturbation of a T x H x W x 3 uint8 sequence (see the module docstring)."""
    import cv2

    if kind == "gaussian":
        noise = rng.normal(0.0, rng.uniform(5, 20), frames.shape)
        return np.clip(frames.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if kind == "jpeg":
        q = int(rng.integers(20, 51))
        out = np.empty_like(frames)
        for t, f in enumerate(frames):
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
            out[t] = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        return out
    if kind == "h264":
        return h264_roundtrip(frames, fps)
    raise ValueError(f"unknown perturbation {kind!r}; known: {', '.join(PERTURBATIONS)}")


def h264_roundtrip(frames: np.ndarray, fps: float, bits_per_pixel: float = 0.05) -> np.ndarray:
    """Encode frames with libx264 at a low bit rate in memory and decode them back."""
    import io

    import av

    t, h, w = frames.shape[:3]
    pad_h, pad_w = h % 2, w % 2  # yuv420p needs even sizes
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=int(round(fps)))
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.bit_rate = max(8000, int(bits_per_pixel * frames.shape[1] * frames.shape[2] * fps))
        reproducible_x264(s)   # the same perturbed frames from run to run
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    buf.seek(0)
    with av.open(buf) as c:
        out = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    return out[:t, :h, :w]


def video_rng(seed: int, utt: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(utt.encode())])


def parse_shifts(text: str | None) -> list[int]:
    """``"6,9,12"`` -> [6, 9, 12]: audio offsets (frames) of ``--sync_contrast``."""
    if text is None or str(text).strip() in ("", "none", "None"):
        return []
    items = text if isinstance(text, (list, tuple)) else str(text).split(",")
    try:
        shifts = [int(x) for x in items]
    except ValueError:
        raise ValueError(f"sync contrast shifts must be whole frame counts like 6,9,12, got {text!r}") from None
    if any(k <= 0 for k in shifts):
        raise ValueError(f"sync contrast shifts must be positive (both signs are used), got {text!r}")
    return shifts


PROTOCOLS = ("avdf", "official")


def score_videos(model, data, utts: list[str], device, batch_size: int, max_chunks: int | None,
                 perturb: list[str], seed: int, hop: int | None = None,
                 shifts: list[int] | None = None, protocol: str = "avdf") -> tuple[dict[str, float], list[tuple]]:
    """(video scores, chunk rows ``(utt, start_s, score)``) of ``data`` (an avdf.tasks.av.AVData).

    A chunk's score is sigmoid(z0) = 1 - p(fake), z0 the model's real-vs-fake logit, and a
    video's the mean of its chunks'. With ``shifts`` a chunk's contrast is z0 - mean z_k,
    z_k the logit of the same frames with the video's audio rolled by +-k frames (the
    synchrony contrast of the module docstring); the chunk's score is sigmoid(contrast)
    and the video's sigmoid(mean contrast of its chunks). ``protocol``: see the module docstring.
    """
    import torch

    from avdf.tasks.av import chunk_starts, complete_chunk_starts

    if protocol not in PROTOCOLS:
        raise ValueError(f"infer protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    official = protocol == "official"
    if official and (max_chunks or hop not in (None, data.chunk_frames)):
        raise ValueError("the official protocol scores every chunk: no max_chunks or chunk_hop")
    autocast = device.type == "cuda" and not official

    offsets = [0] + [s * k for k in (shifts or []) for s in (-1, 1)]
    pending: list[tuple[str, int, int, np.ndarray, np.ndarray]] = []
    logits: dict[tuple[str, int], np.ndarray] = {}

    def flush():
        if not pending:
            return
        video = torch.from_numpy(np.stack([p[3] for p in pending])).to(device)
        audio = torch.from_numpy(np.stack([p[4] for p in pending])).to(device)
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            logit = model(video, audio)["logit"]
        for (utt, start, j, _, _), z in zip(pending, (-logit.float()).cpu().tolist()):
            logits.setdefault((utt, start), np.zeros(len(offsets)))[j] = z
        pending.clear()

    for utt in tqdm(utts, desc="scoring", mininterval=10, disable=None):
        try:
            frames, audio = data.whole(utt)     # the audio as training saw it (data.audio_rms)
        except (VideoError, OSError, ValueError) as e:
            raise DataDirError(f"{data.path}: {utt}: cannot read its preprocessed crops or audio: {e}") from None
        rng = video_rng(seed, utt)
        for kind in perturb:
            if rng.random() < 0.5:
                frames = perturb_frames(frames, kind, rng, data.fps[utt])
        if official:
            starts = complete_chunk_starts(len(frames), len(audio), data.chunk_frames, data.audio_samples)
            if not starts:
                logger.warning("%s: no whole chunk of %d frames with %d audio samples (%d frames, %d samples): "
                               "its first chunk, padded, is scored", utt, data.chunk_frames, data.audio_samples,
                               len(frames), len(audio))
                starts = [0]
        else:
            starts = chunk_starts(len(frames), data.chunk_frames, max_chunks, hop)
        for j, k in enumerate(offsets):
            moved = np.roll(audio, int(round(k * data.audio_samples / data.chunk_frames))) if k else audio
            for start in starts:
                v, a = data.cut(frames, moved, start)
                pending.append((utt, start, j, v, a))
                if len(pending) >= batch_size:
                    flush()
    flush()
    chunk_z: dict[str, list[tuple[int, float]]] = {}
    for (utt, start), z in logits.items():
        chunk_z.setdefault(utt, []).append((start, float(z[0] - z[1:].mean()) if shifts else float(z[0])))
    if shifts:   # the contrasts are averaged as logits: a video is as far in sync as its chunks on average
        video_scores = {u: float(expit(np.mean([z for _, z in cz]))) for u, cz in chunk_z.items()}
    else:
        video_scores = {u: float(np.mean(expit([z for _, z in cz]))) for u, cz in chunk_z.items()}
    chunk_scores = {u: [(start, float(expit(z))) for start, z in cz] for u, cz in chunk_z.items()}
    rows = [(u, start / data.fps[u], s) for u in utts for start, s in sorted(chunk_scores[u])]
    return video_scores, rows


def _paths(out: Path, job: int | None) -> tuple[Path, Path]:
    stem = out.with_suffix("")
    tag = f".{job}" if job is not None else ""
    return Path(f"{stem}{tag}{out.suffix}"), Path(f"{stem}.chunks{tag}{out.suffix}")


def write_scores(out: Path, chunks_out: Path, scores: dict[str, float], rows: list[tuple]) -> None:
    with atomic_open(chunks_out) as f:
        f.writelines(f"{u} {t:.3f} {s:.6f}\n" for u, t, s in rows)
    with atomic_open(out) as f:
        f.writelines(f"{u} {scores[u]:.6f}\n" for u in sorted(scores))


def merge(out: Path, nj: int) -> None:
    scores: dict[str, str] = {}
    rows: list[str] = []
    for j in range(1, nj + 1):
        part, chunks = _paths(out, j)
        if not part.is_file() or not chunks.is_file():
            raise DataDirError(f"{part}: missing: job {j} of {nj} did not finish (re-run it)")
        scores.update(read_kv(part, allow_empty_value=False))
        rows += chunks.read_text(encoding="utf-8").splitlines(keepends=True)
    main_chunks = _paths(out, None)[1]
    with atomic_open(main_chunks) as f:
        f.writelines(rows)
    with atomic_open(out) as f:
        f.writelines(f"{u} {scores[u]}\n" for u in sorted(scores))
    logger.info("%s: %d videos", out, len(scores))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp_dir", type=Path)
    parser.add_argument("--data", type=Path, help="preprocessed data dir (faces.scp, audio.scp, ...)")
    parser.add_argument("--out", required=True, type=Path, help="score file, e.g. exp/fgi/scores/test.txt")
    parser.add_argument("--nj", type=int, default=1)
    parser.add_argument("--job", type=int, default=None, help="score the job-th slice into <out stem>.JOB.txt")
    parser.add_argument("--merge", action="store_true", help="merge the nj job files into --out")
    parser.add_argument("--perturb", default="", help=f"comma-separated, of {', '.join(PERTURBATIONS)}")
    parser.add_argument("--seed", type=int, default=0, help="seed of the perturbations")
    parser.add_argument("--max_chunks", type=int, default=None,
                        help="at most this many chunks per video (0: all; default: the config's infer.max_chunks)")
    parser.add_argument("--chunk_hop", type=int, default=None,
                        help="frames between chunk starts (default: the config's infer.chunk_hop, else "
                             "data.chunk_frames: consecutive chunks); smaller overlaps them")
    parser.add_argument("--batch_size", type=int, default=None, help="default: the config's infer.batch_size")
    parser.add_argument("--sync_contrast", default=None,
                        help="audio shifts in frames, e.g. 6,9,12: score = in-sync minus shifted logit "
                             "(default: the config's infer.sync_contrast, else none; 'none' turns it off)")
    parser.add_argument("--protocol", default=None, choices=PROTOCOLS,
                        help="official: every whole chunk with whole audio, fp32, as the FGI authors evaluate "
                             "(default: the config's infer.protocol, else avdf)")
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--num_threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args, overrides = parser.parse_known_args(argv)
    setup_logging()
    try:
        if args.merge:
            merge(args.out, args.nj)
            return 0
        if not (args.exp_dir and args.data):
            parser.error("--exp_dir and --data are needed")
        perturb = [p for p in args.perturb.split(",") if p]
        bad = [p for p in perturb if p not in PERTURBATIONS]
        if bad:
            parser.error(f"--perturb {bad[0]!r}: known: {', '.join(PERTURBATIONS)}")
        import torch

        from avdf.tasks import build_task
        from avdf.train.trainer import load_trained_model

        if args.num_threads:
            torch.set_num_threads(args.num_threads)
        cfg = load_config(args.exp_dir / "config.yaml", overrides)
        task = build_task(cfg, {})
        device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
        model = load_trained_model(args.exp_dir, task, device)
        data = task.av_data(args.data)
        utts = job_slice(data.utts, args.nj, args.job) if args.job is not None else data.utts
        icfg = cfg.get("infer") or {}
        max_chunks = args.max_chunks if args.max_chunks is not None else icfg.get("max_chunks")
        batch = args.batch_size or int(icfg.get("batch_size", 8))
        hop = args.chunk_hop if args.chunk_hop is not None else icfg.get("chunk_hop")
        shifts = parse_shifts(args.sync_contrast if args.sync_contrast is not None else icfg.get("sync_contrast"))
        protocol = args.protocol or icfg.get("protocol") or "avdf"
        scores, rows = score_videos(model, data, utts, device, batch, max_chunks, perturb, args.seed,
                                    None if hop is None else int(hop), shifts, protocol)
        out, chunks = _paths(args.out, args.job)
        write_scores(out, chunks, scores, rows)
        logger.info("%s: %d videos, %d chunks%s%s", out, len(scores), len(rows),
                    f" (perturbed: {','.join(perturb)})" if perturb else "",
                    f" (sync contrast, shifts +-{','.join(map(str, shifts))} frames)" if shifts else "")
    except (DataDirError, ConfigError, ValueError, FileNotFoundError) as e:
        print(f"infer_av: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "infer_av"))
