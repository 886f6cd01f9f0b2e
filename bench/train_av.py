"""Training throughput of the AV detectors: fp32 eager baseline vs the recipe's pipeline.

    python -m bench.train_av --config egs/dfdc/av1/conf/fgi_mini.yaml [--data data/<tag>/train] \\
        [--steps 20] [--warmup 3] [--batch_size 8] [--workers 2] [--no_compile]

Measures training clips/s (forward, BCE, backward, Adam step) of the config's model in
the same run, on the same batches:

- baseline: fp32, eager, contiguous (NCDHW) tensors, batches loaded in the main process;
- pipeline: what the trainer can switch on: bf16 autocast (on a GPU only, as
  ``train.amp: auto``), channels-last-3d video tensors (``model.channels_last``),
  ``torch.compile`` and ``--workers`` data-loader workers.

With ``--data`` (a preprocessed data dir) the batches come from the av task's dataset
(reading crops, pseudo-fakes); without it, from random tensors of the config's shapes (the
model alone). Each variant runs ``--warmup`` untimed steps (compilation happens there),
then ``--steps`` timed ones. Prints clips/s, wall and process CPU seconds, and the ratio.
"""
from __future__ import annotations

import argparse
import copy
import os
import platform
import time

import torch
from torch.utils.data import DataLoader

from avdf.models import build_model
from avdf.tasks.av import AVData, TrainChunks, av_loss
from avdf.utils.config import load_config


def batches(cfg: dict, data: str | None, bs: int, workers: int, n: int):
    d = cfg["data"]
    if data:
        ds = TrainChunks(AVData(data, d.get("visual", "faces"), d["chunk_frames"], d["audio_samples"]), 1,
                         d.get("pseudo_fake"), d.get("audio_fakes"), int(cfg.get("preprocess", {}).get("sample_rate", 16000)))
        loader = DataLoader(ds, batch_size=bs, shuffle=True, num_workers=workers, drop_last=True,
                            persistent_workers=workers > 0)
        while True:
            yield from loader
    m = cfg["model"]
    g = torch.Generator().manual_seed(0)
    fixed = [{"video": torch.randint(0, 256, (bs, m["num_frames"], m["image_size"], m["image_size"], 3),
                                     dtype=torch.uint8, generator=g),
              "audio": torch.randn(bs, m["audio_samples"], generator=g),
              "label": torch.randint(0, 2, (bs,), generator=g).float(),
              "label_video": torch.zeros(bs), "label_audio": torch.zeros(bs)} for _ in range(4)]
    i = 0
    while True:
        yield fixed[i % 4]
        i += 1


def run(cfg: dict, args, device: torch.device, pipeline: bool) -> tuple[float, float, float]:
    """(clips/s, wall s, cpu s) of ``args.steps`` timed training steps."""
    mcfg = copy.deepcopy(cfg["model"])
    if pipeline:
        mcfg["channels_last"] = True
    torch.manual_seed(0)
    model = build_model(mcfg).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    step_model = torch.compile(model) if pipeline and not args.no_compile else model
    amp = pipeline and device.type == "cuda"
    it = batches(cfg, args.data, args.batch_size, args.workers if pipeline else 0, args.steps)
    heads = (cfg.get("loss") or {}).get("head_weights")

    def step():
        b = next(it)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = step_model(b["video"].to(device, non_blocking=True), b["audio"].to(device, non_blocking=True))
            loss = av_loss(out, b, device, heads)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return args.steps * args.batch_size / wall, wall, cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--data", help="preprocessed data dir (default: random tensors)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch_size", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no_compile", action="store_true", help="leave torch.compile out of the pipeline")
    ap.add_argument("--cpu", action="store_true")
    args, overrides = ap.parse_known_args(argv)
    cfg = load_config(args.config, overrides)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if device.type == "cuda" else ""
    print(f"bench.train_av: {cfg['model']['name']} ({args.config}), batch {args.batch_size}, "
          f"{'data ' + args.data if args.data else 'random tensors'}; {platform.machine()}, {os.cpu_count()} cores"
          f"{gpu}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    base = run(cfg, args, device, pipeline=False)
    pipe = run(cfg, args, device, pipeline=True)
    parts = ["bf16 autocast" if device.type == "cuda" else "fp32 (no autocast on CPU)",
             "channels-last-3d", "no compile" if args.no_compile else "torch.compile", f"{args.workers} workers"]
    for name, (cps, wall, cpu) in (("baseline: fp32 eager, 0 workers", base), ("pipeline: " + ", ".join(parts), pipe)):
        print(f"  {name:70s} {cps:8.2f} clips/s  wall {wall:7.2f} s  cpu {cpu:7.2f} s")
    print(f"  speed-up (clips/s, pipeline / baseline): {pipe[0] / base[0]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
