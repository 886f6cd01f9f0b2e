"""Training throughput of a CM model (AASIST by default): plain fp32 eager loop vs avdf's pipeline.

    python -m bench.train_cm [--config egs/asvspoof2019_la/cm1/conf/aasist.yaml] [--data data/train]
        [--steps 10] [--warmup 2] [--batch_size N] [--workers 2] [--crop 64600]
        [--compile auto|on|off] [--channels_last auto|on|off] [--device auto|cpu|cuda] [--threads N]

Both sides train the same model (same initial weights) on the same utterances (a data dir
with wav.scp and utt2label, or ``--utts`` synthetic FLAC files written to a temporary
directory) with the config's loss and Adam, and count utterances per second over
``--steps`` timed steps after ``--warmup`` untimed ones (compilation happens there):

- baseline: a plain loop: each batch read and cropped in the main process with soundfile
  and numpy, fp32, eager, contiguous tensors, no pinned memory;
- pipeline: the cm task's dataset and collate (avdf.tasks.cm) in a DataLoader with
  ``--workers`` processes, pinned memory and prefetching, and on a GPU bf16 autocast,
  channels-last 2-D activations and ``torch.compile`` (each also selectable on a CPU).

Prints utterances/s, wall and process CPU seconds of each, and the pipeline/baseline ratio.
"""
from __future__ import annotations

import argparse
import copy
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from avdf.data.datadir import read_kv, write_kv
from avdf.models import build_model
from avdf.tasks.cm import CMDataset, CMTask, collate_repeat, random_crop
from avdf.utils.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def synthetic_data_dir(d: Path, n: int, seed: int = 0) -> Path:
    """``n`` FLAC files of 2-6 s (harmonic tones in noise, half 'bona fide'), wav.scp and utt2label."""
    rng = np.random.default_rng(seed)
    wav, lab = {}, {}
    for i in range(n):
        length = int(16000 * rng.uniform(2, 6))
        t = np.arange(length) / 16000
        f0 = rng.uniform(90, 250)
        x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8)) * 0.1 + 0.01 * rng.standard_normal(length)
        p = d / f"utt{i:04d}.flac"
        sf.write(p, x.astype(np.float32), 16000)
        wav[p.stem], lab[p.stem] = str(p), "bonafide" if i % 2 else "spoof"
    write_kv(d / "wav.scp", wav)
    write_kv(d / "utt2label", lab)
    return d


def plain_batches(data: Path, crop: int, bs: int, seed: int):
    """The baseline's loader: shuffled utterances read one by one in this process."""
    wav, lab = read_kv(data / "wav.scp"), read_kv(data / "utt2label")
    utts = list(wav)
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(utts))
        for i in range(0, len(order) - bs + 1, bs):
            xs, ys = [], []
            for j in order[i:i + bs]:
                x, _ = sf.read(wav[utts[j]], dtype="float32")
                xs.append(random_crop(x, crop, rng))
                ys.append(1 if lab[utts[j]] == "bonafide" else 0)
            yield torch.from_numpy(np.stack(xs)), torch.tensor(ys)


def pipeline_batches(data: Path, crop: int, bs: int, workers: int, pin: bool):
    ds = CMDataset(data, crop=crop)
    loader = DataLoader(ds, batch_size=bs, shuffle=True, num_workers=workers, collate_fn=collate_repeat,
                        pin_memory=pin, drop_last=True, persistent_workers=workers > 0,
                        prefetch_factor=4 if workers > 0 else None)
    while True:
        for _, x, y in loader:
            yield x, y


def run(model: torch.nn.Module, task: CMTask, batches, device: torch.device, steps: int, warmup: int,
        amp: bool, compiled: bool) -> tuple[float, float, float]:
    """(utterances/s, wall s, process CPU s) over ``steps`` timed training steps."""
    model = model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    step_model = torch.compile(model) if compiled else model
    n = 0
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            w0, c0, n = time.perf_counter(), time.process_time(), 0
        x, y = next(batches)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = task.loss(step_model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += x.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return n / wall, wall, cpu


def _switch(value: str, default: bool) -> bool:
    return default if value == "auto" else value == "on"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "egs/asvspoof2019_la/cm1/conf/aasist.yaml"))
    p.add_argument("--data", type=Path, help="data dir with wav.scp and utt2label (default: synthetic)")
    p.add_argument("--utts", type=int, default=64, help="synthetic utterances when no --data")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch_size", type=int, help="default: the config's on a GPU, 8 on a CPU")
    p.add_argument("--crop", type=int, help="training crop in samples (default: the config's)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--compile", default="auto", choices=("auto", "on", "off"), help="auto: on a GPU only")
    p.add_argument("--channels_last", default="auto", choices=("auto", "on", "off"), help="auto: on a GPU only")
    p.add_argument("--amp", default="auto", choices=("auto", "on", "off"), help="bf16 autocast; auto: GPU only")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if a.device == "auto" else a.device))
    gpu = device.type == "cuda"
    cfg = load_config(a.config)
    if (cfg.get("data") or {}).get("input", "wav") != "wav":
        raise SystemExit(f"{a.config}: bench.train_cm measures raw-waveform models (data.input: wav)")
    crop = a.crop or int(cfg["data"]["crop"])
    bs = a.batch_size or (int(cfg["data"].get("batch_size", 24)) if gpu else 8)
    use_compile, use_cl, use_amp = _switch(a.compile, gpu), _switch(a.channels_last, gpu), _switch(a.amp, gpu)
    task = CMTask(cfg)
    torch.manual_seed(0)
    model = build_model(cfg["model"])
    with tempfile.TemporaryDirectory() as tmp:
        data = a.data or synthetic_data_dir(Path(tmp), a.utts)
        print(f"config {a.config}: {cfg['model']['name']}, {sum(q.numel() for q in model.parameters()):,} "
              f"parameters; {len(read_kv(data / 'wav.scp'))} utterances; crop {crop}; batch {bs}; "
              f"{a.steps} timed steps after {a.warmup}; device {device}"
              f"{' (' + torch.cuda.get_device_name(device) + ')' if gpu else ''}; "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"{torch.get_num_threads()} torch threads")
        base = run(copy.deepcopy(model), task, plain_batches(data, crop, bs, 0), device, a.steps, a.warmup,
                   amp=False, compiled=False)
        print(f"baseline (fp32, eager, main-process loading):  {base[0]:8.2f} utt/s  "
              f"wall {base[1]:7.2f} s  cpu {base[2]:7.2f} s")
        fast = copy.deepcopy(model)
        if use_cl:
            fast = fast.to(memory_format=torch.channels_last)
        pipe = run(fast, task, pipeline_batches(data, crop, bs, a.workers, gpu), device, a.steps, a.warmup,
                   amp=use_amp, compiled=use_compile)
        print(f"pipeline (bf16 {'on' if use_amp else 'off'}, compile {'on' if use_compile else 'off'}, "
              f"channels-last {'on' if use_cl else 'off'}, {a.workers} workers): {pipe[0]:8.2f} utt/s  "
              f"wall {pipe[1]:7.2f} s  cpu {pipe[2]:7.2f} s")
        print(f"ratio pipeline / baseline: {pipe[0] / base[0]:.2f}x")


if __name__ == "__main__":
    main()
