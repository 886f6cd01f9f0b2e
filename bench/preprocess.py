"""Stage-2 throughput: face detection on every k-th frame with tracking vs on every frame.

    python -m bench.preprocess --videos DIR_OR_VIDEO_SCP [--limit 20] [--every 5] [--face_size 224]

Runs avdf.data.video.preprocess_video (decode, detect, track, crop faces and mouths, read
and resample the audio) twice over the same videos in one process: with
``detect_every=--every`` (the recipe's setting) and with ``detect_every=1`` (the baseline:
the detector on every frame). Prints videos/s, frames/s and process CPU seconds
(user+sys) of both, the speed-up, and how far the tracked boxes are from the per-frame
detections (mean IoU over all frames), so the speed is not bought with worse crops.
``--videos``: a folder of mp4 files (searched recursively) or a ``video.scp``.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from avdf.data.video import build_detector, iou, preprocess_video


def find_videos(src: Path, limit: int) -> list[str]:
    if src.is_file():
        paths = [ln.split(maxsplit=1)[1].strip() for ln in src.read_text().splitlines() if ln.strip()]
    else:
        paths = sorted(str(p) for p in src.rglob("*.mp4"))
    if not paths:
        raise SystemExit(f"bench.preprocess: no videos in {src}")
    return paths[:limit]


def run(paths: list[str], conf: dict) -> tuple[float, float, int, list[np.ndarray]]:
    """(wall seconds, CPU seconds, frames, boxes per video) of preprocessing ``paths``."""
    detector = build_detector(conf["detector"])
    boxes, frames = [], 0
    t0, c0 = time.perf_counter(), time.process_time()
    for p in paths:
        crops = preprocess_video(p, conf, detector)
        boxes.append(crops.boxes)
        frames += len(crops.faces)
    return time.perf_counter() - t0, time.process_time() - c0, frames, boxes


def centre_to_corner(b: np.ndarray) -> np.ndarray:
    return np.array([b[0] - b[2] / 2, b[1] - b[3] / 2, b[2], b[3]])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", required=True, type=Path)
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--face_size", type=int, default=224)
    ap.add_argument("--mouth_size", type=int, default=96)
    ap.add_argument("--sample_rate", type=int, default=16000)
    args = ap.parse_args(argv)
    import cv2
    cv2.setNumThreads(1)
    paths = find_videos(args.videos, args.limit)
    base = {"face_size": args.face_size, "mouth_size": args.mouth_size, "sample_rate": args.sample_rate,
            "detector": {"name": "haar"}, "min_face_ratio": 0.0}
    run(paths[:1], {**base, "detect_every": args.every})  # warm-up (imports, cascade load)
    tracked = run(paths, {**base, "detect_every": args.every})
    every = run(paths, {**base, "detect_every": 1, "smooth": 1})
    ious = [iou(centre_to_corner(a), centre_to_corner(b)) for ta, tb in zip(tracked[3], every[3]) for a, b in zip(ta, tb)]
    print(f"bench.preprocess: {len(paths)} videos, {tracked[2]} frames; {platform.machine()}, "
          f"{os.cpu_count()} cores, OpenCV threads 1")
    for name, (wall, cpu, frames, _) in ((f"detect every {args.every} + track", tracked), ("detect every frame", every)):
        print(f"  {name:26s} {len(paths) / wall:7.2f} videos/s  {frames / wall:8.1f} frames/s  "
              f"wall {wall:7.2f} s  cpu {cpu:7.2f} s")
    print(f"  speed-up (videos/s, tracked / every frame): {every[0] / tracked[0]:.2f}x")
    print(f"  tracked vs per-frame boxes: mean IoU {np.mean(ious):.3f} (min {np.min(ious):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
