"""The one training loop every SGD-trained model in avdf goes through.

It owns what recipes share: DDP (``torchrun`` / ``srun``), bf16 autocast on GPU, epoch
checkpoints written atomically, resume from the last one with the same result (every
epoch is seeded from ``seed + epoch``), model selection on a validation metric, and
averaging of the best checkpoints into ``<exp_dir>/model.pt``. What is specific to a
task (data, loss, validation metric) comes from a :class:`avdf.tasks.Task`.

Experiment directory::

    config.yaml  seed  versions.txt  train_history.tsv  tensorboard/
    checkpoints/epoch_N.pt   model.pt (averaged / selected)   .done
"""
from __future__ import annotations

import json
import logging
import os
import platform
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, Sampler

from avdf.tasks import Task
from avdf.train import checkpoint as ckpt
from avdf.train.distributed import (DistInfo, all_gather_objects, all_reduce_mean, barrier,
                                    cleanup, init_distributed)
from avdf.train.optim import build_optimizer, build_scheduler
from avdf.utils.config import ConfigError, get, load_config, save_config
from avdf.utils.fileio import atomic_open

logger = logging.getLogger(__name__)

TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 10, "average": 1, "keep": 0, "amp": "auto", "compile": False,
    "channels_last": False, "patience": 0, "log_interval": 50, "valid_every": 1,
    "num_threads": 0,  # CPU intra-op threads per process (0: torch's default)
    # after averaging, re-estimate BatchNorm statistics with one pass over the training data
    # (what SWA does: torchcontrib's bn_update in AASIST's official training)
    "swa_bn_update": False,
}


#: train: keys that may change between runs of one experiment (they do not change the model)
RESUMABLE_KEYS = {"train.epochs", "train.keep", "train.log_interval", "train.num_threads", "train.valid_every",
                  "train.patience", "data.num_workers", "data.valid_batch_size"}


def _flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(cfg, dict):
        return {prefix: cfg}
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def config_difference(old: dict, new: dict, ignore: set[str] = RESUMABLE_KEYS) -> str:
    """'key: old -> new' for every leaf that differs (at most 4 named), ignoring ``ignore``;
    '' when the two configs train the same model."""
    a, b = _flatten(old), _flatten(new)
    keys = [k for k in dict.fromkeys([*a, *b]) if k not in ignore and a.get(k, "<unset>") != b.get(k, "<unset>")]
    shown = [f"{k}: {a.get(k, '<unset>')!r} -> {b.get(k, '<unset>')!r}" for k in keys[:4]]
    return "; ".join(shown) + (f"; and {len(keys) - 4} more" if len(keys) > 4 else "")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def _worker_init(worker_id: int) -> None:
    # torch seeds each worker from the loader's generator; numpy and random follow it.
    s = torch.initial_seed() % (2 ** 32)
    np.random.seed(s)
    random.seed(s)


class ShardSampler(Sampler[int]):
    """Indices ``rank::world_size`` in order, no padding: each item is seen once in all."""

    def __init__(self, n: int, info: DistInfo):
        self.idx = list(range(info.rank, n, info.world_size))

    def __iter__(self):
        return iter(self.idx)

    def __len__(self) -> int:
        return len(self.idx)


def package_versions() -> str:
    import importlib.metadata as md
    lines = [f"python {platform.python_version()}", f"platform {platform.platform()}"]
    for pkg in ("avdf", "torch", "torchaudio", "torchvision", "speechbrain", "kaldiio", "numpy",
                "scipy", "scikit-learn", "av", "opencv-python-headless"):
        try:
            lines.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            pass
    return "\n".join(lines) + "\n"


class Trainer:
    """Trains ``task``'s model into ``exp_dir``; ``use_cuda`` picks the GPU when there is one."""

    def __init__(self, task: Task, exp_dir: str | os.PathLike, use_cuda: bool = True):
        self.task = task
        self.cfg = task.cfg
        self.exp_dir = Path(exp_dir)
        self.ckpt_dir = self.exp_dir / "checkpoints"
        self.tcfg = {**TRAIN_DEFAULTS, **(self.cfg.get("train") or {})}
        self.seed = int(self.cfg.get("seed", 1234))
        self.select_metric = self.tcfg.get("select_metric", task.select_metric)
        self.select_mode = self.tcfg.get("select_mode", task.select_mode)
        if self.select_mode not in ("min", "max"):
            raise ValueError(f"train.select_mode must be min or max, got {self.select_mode!r}")
        self.info: DistInfo = init_distributed(use_cuda)
        self.device = self.info.device
        amp = str(self.tcfg["amp"]).lower()
        if amp == "auto":
            amp = "bf16" if self.device.type == "cuda" else "none"
        if amp not in ("bf16", "fp16", "none"):
            raise ValueError(f"train.amp must be auto, bf16, fp16 or none, got {amp!r}")
        if amp != "none" and self.device.type != "cuda":
            logger.warning("train.amp=%s ignored on CPU", amp)
            amp = "none"
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "none": None}[amp]

    # -- set-up -----------------------------------------------------------------------
    def _loader(self, dataset, train: bool, epoch: int) -> DataLoader:
        dcfg = self.cfg.get("data") or {}
        bs = int(dcfg.get("batch_size", 16)) if train else int(dcfg.get("valid_batch_size", dcfg.get("batch_size", 16)))
        g = torch.Generator().manual_seed(self.seed * 1000 + epoch * 10 + self.info.rank)
        if train:
            if self.info.distributed:
                sampler = DistributedSampler(dataset, num_replicas=self.info.world_size,
                                             rank=self.info.rank, shuffle=True, seed=self.seed, drop_last=True)
                sampler.set_epoch(epoch)
            else:
                sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(self.seed + epoch))
        else:
            sampler = ShardSampler(len(dataset), self.info)
        nw = int(dcfg.get("num_workers", 0))
        return DataLoader(dataset, batch_size=bs, sampler=sampler, num_workers=nw,
                          collate_fn=self.task.collate_fn(train), drop_last=train and bool(dcfg.get("drop_last", False)),
                          pin_memory=self.device.type == "cuda", worker_init_fn=_worker_init, generator=g,
                          persistent_workers=False)

    def _check_same_config(self) -> None:
        """An experiment dir that already holds checkpoints or a model continues only with the
        config they were trained with (keys that do not change the model may differ: more
        epochs resume training). Anything else stops with the difference, before
        config.yaml is touched."""
        has_state = (self.exp_dir / "model.pt").is_file() or bool(ckpt.epoch_checkpoints(self.ckpt_dir))
        old_path = self.exp_dir / "config.yaml"
        if not has_state or not old_path.is_file():
            return
        old = load_config(old_path)
        diff = config_difference(old, self.cfg)
        if diff:
            raise ConfigError(f"{self.exp_dir}: its checkpoints were trained with another config ({diff}); "
                              "train into another --exp_dir (recipes: --tag NAME) or remove this one")

    def _write_metadata(self) -> None:
        if not self.info.is_main:
            return
        self.exp_dir.mkdir(parents=True, exist_ok=True)
        save_config(self.cfg, self.exp_dir / "config.yaml")
        with atomic_open(self.exp_dir / "seed") as f:
            f.write(f"{self.seed}\n")
        with atomic_open(self.exp_dir / "versions.txt") as f:
            f.write(package_versions())

    # -- the loop ---------------------------------------------------------------------
    def fit(self) -> Path:
        """Train to ``train.epochs`` (resuming if checkpoints exist); return ``model.pt``."""
        final = self.exp_dir / "model.pt"
        epochs = int(self.tcfg["epochs"])
        self._check_same_config()
        self._write_metadata()
        if int(self.tcfg["num_threads"]) > 0:  # small models on busy CPUs run faster on one thread
            torch.set_num_threads(int(self.tcfg["num_threads"]))
        seed_everything(self.seed)
        model = self.task.build_model().to(self.device)
        if self.tcfg["channels_last"]:
            model = model.to(memory_format=torch.channels_last)
        optimizer = build_optimizer(model.parameters(), self.cfg.get("optim") or {})
        train_set = self.task.train_dataset()
        valid_set = self.task.valid_dataset()
        steps_per_epoch = len(self._loader(train_set, True, 0))
        scheduler = build_scheduler(optimizer, self.cfg.get("scheduler"), steps_per_epoch, epochs)
        scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        history: list[dict[str, Any]] = []
        start = 1
        last = ckpt.latest(self.ckpt_dir)
        if last is not None:
            state = ckpt.load(last)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            history = state["history"]
            start = state["epoch"] + 1
            logger.info("resuming from %s (epoch %d done)", last, state["epoch"])
        if start > epochs and final.is_file():
            logger.info("%s: training already complete (%d epochs)", self.exp_dir, epochs)
            cleanup(self.info)
            return final

        ddp_model: torch.nn.Module = model
        if self.info.distributed:
            ddp_model = DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=bool(self.tcfg.get("find_unused_parameters", False)))
        train_model = torch.compile(ddp_model) if self.tcfg["compile"] else ddp_model
        writer = None
        if self.info.is_main:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(self.exp_dir / "tensorboard"))

        grad_clip = float(get(self.cfg, "optim.grad_clip", 0) or 0)
        patience = int(self.tcfg["patience"])
        for epoch in range(start, epochs + 1):
            seed_everything(self.seed + epoch)
            if hasattr(train_set, "set_epoch"):  # datasets whose draws change over training
                train_set.set_epoch(epoch)
            t0 = time.time()
            train_stats = self._train_epoch(train_model, model, optimizer, scheduler, scaler, train_set,
                                            epoch, grad_clip, writer)
            row: dict[str, Any] = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], **train_stats}
            if valid_set is not None and (epoch % int(self.tcfg["valid_every"]) == 0 or epoch == epochs):
                row.update({f"valid_{k}": v for k, v in self._validate(model, valid_set, epoch).items()})
            row["time_s"] = round(time.time() - t0, 2)
            history.append(row)
            if self.info.is_main:
                logger.info("epoch %d/%d: %s", epoch, epochs,
                            " ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
                for k, v in row.items():
                    if isinstance(v, (int, float)) and k != "epoch":
                        writer.add_scalar(f"epoch/{k}", v, epoch)
                ckpt.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                           "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                           "epoch": epoch, "history": history, "config": self.cfg},
                          self.ckpt_dir / f"epoch_{epoch}.pt")
                self._prune()
            barrier(self.info)
            if patience and self._epochs_since_best(history) >= patience:
                logger.info("early stopping: no %s improvement for %d epochs", self.select_metric, patience)
                break
        if self.info.is_main:
            self._finalise(history)
            writer.close()
        barrier(self.info)
        del train_model, ddp_model, model, optimizer
        cleanup(self.info)
        return final

    def _train_epoch(self, train_model, model, optimizer, scheduler, scaler, dataset, epoch,
                     grad_clip, writer) -> dict[str, float]:
        train_model.train()
        loader = self._loader(dataset, True, epoch)
        sums: dict[str, float] = {}
        n = 0
        log_every = int(self.tcfg["log_interval"])
        for i, batch in enumerate(loader):
            with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                enabled=self.amp_dtype is not None):
                loss, stats = self.task.training_step(train_model, batch, self.device)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if grad_clip > 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            stats = {"loss": float(loss.detach()), **{k: float(v) for k, v in stats.items()}}
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
            if self.info.is_main and log_every and (i + 1) % log_every == 0:
                logger.info("epoch %d step %d/%d loss %.4f", epoch, i + 1, len(loader), stats["loss"])
        if n == 0:
            raise RuntimeError("the training set gave no batch: fewer items than the batch size?")
        return {f"train_{k}": all_reduce_mean(v / n, self.info) for k, v in sums.items()}

    @torch.no_grad()
    def _validate(self, model, dataset, epoch) -> dict[str, float]:
        model.eval()
        outputs: list[tuple] = []
        for batch in self._loader(dataset, False, epoch):
            with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                enabled=self.amp_dtype is not None):
                outputs.extend(self.task.validation_outputs(model, batch, self.device))
        gathered = [o for part in all_gather_objects(outputs, self.info) for o in part]
        metrics = self.task.validation_metrics(gathered)
        if self.select_metric not in metrics:
            raise KeyError(f"validation gave {sorted(metrics)}, not the selection metric {self.select_metric!r}")
        return {k: float(v) for k, v in metrics.items()}

    @torch.no_grad()
    def _bn_update(self, weights: dict[str, torch.Tensor], epoch: int) -> dict[str, torch.Tensor]:
        """BatchNorm running statistics of ``weights`` re-estimated as the batch-size-weighted
        mean over one pass of the training data, the model in training mode (torchcontrib's
        ``bn_update``, which AASIST's official training runs after SWA)."""
        model = self.task.build_model().to(self.device)
        model.load_state_dict(weights)
        bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
               and m.track_running_stats]
        if not bns:
            return weights
        for m in bns:
            m.reset_running_stats()
        model.train()
        seen = 0
        for batch in self._loader(self.task.train_dataset(), True, epoch):
            b = len(batch[0]) if isinstance(batch, (list, tuple)) else len(batch)
            for m in bns:
                m.momentum = b / (seen + b)
            with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                enabled=self.amp_dtype is not None):
                self.task.training_step(model, batch, self.device)
            seen += b
        logger.info("BatchNorm statistics re-estimated on %d training items", seen)
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}

    # -- selection --------------------------------------------------------------------
    def _ranked(self, history: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return ckpt.rank_epochs(history, self.select_metric, self.select_mode)

    def _epochs_since_best(self, history) -> int:
        best = self._ranked(history)[0]["epoch"]
        return history[-1]["epoch"] - best

    def _averaged(self, history: list[dict[str, Any]], available) -> list[int]:
        """The epochs that make ``model.pt``: ``train.average: N``, the N best by the selection
        metric; ``train.average: improving``, every epoch that was at least as good as all
        before it (AASIST's official SWA snapshots)."""
        if str(self.tcfg["average"]).lower() == "improving":
            chosen = [e for e in ckpt.improving_epochs(history, self.select_metric, self.select_mode)
                      if e in available]
            return chosen or [r["epoch"] for r in self._ranked(history) if r["epoch"] in available][:1]
        n_avg = max(1, int(self.tcfg["average"]))
        return [r["epoch"] for r in self._ranked(history) if r["epoch"] in available][:n_avg]

    def _prune(self) -> None:
        keep = int(self.tcfg["keep"])
        if keep <= 0:
            return
        history = ckpt.load(ckpt.latest(self.ckpt_dir))["history"]
        if str(self.tcfg["average"]).lower() == "improving":
            wanted = set(ckpt.improving_epochs(history, self.select_metric, self.select_mode))
            wanted |= {r["epoch"] for r in self._ranked(history)[:keep]}
        else:
            wanted = {r["epoch"] for r in self._ranked(history)[: max(keep, int(self.tcfg["average"]))]}
        wanted.add(history[-1]["epoch"])  # the latest, to resume from
        for epoch, path in ckpt.epoch_checkpoints(self.ckpt_dir).items():
            if epoch not in wanted:
                path.unlink(missing_ok=True)

    def _finalise(self, history: list[dict[str, Any]]) -> None:
        available = ckpt.epoch_checkpoints(self.ckpt_dir)
        chosen = self._averaged(history, available)
        weights = ckpt.average_state_dicts([available[e] for e in chosen])
        if self.tcfg["swa_bn_update"]:
            weights = self._bn_update(weights, history[-1]["epoch"] + 1)
        best = self._ranked(history)[0]
        ckpt.save({"model": weights, "config": self.cfg, "averaged_epochs": chosen,
                   "select_metric": self.select_metric, "best": best}, self.exp_dir / "model.pt")
        with atomic_open(self.exp_dir / "train_history.tsv") as f:
            cols = list(dict.fromkeys(k for r in history for k in r))
            f.write("\t".join(cols) + "\n")
            for r in history:
                f.write("\t".join(str(r.get(c, "")) for c in cols) + "\n")
        with atomic_open(self.exp_dir / "selection.json") as f:
            json.dump({"select_metric": self.select_metric, "select_mode": self.select_mode,
                       "averaged_epochs": chosen, "best": best}, f, indent=2)
        logger.info("model.pt: average of epochs %s (by valid %s, %s)", chosen, self.select_metric, self.select_mode)


def load_trained_model(exp_dir: str | os.PathLike, task: Task, device: torch.device | str = "cpu"):
    """The model of ``exp_dir/model.pt`` built from ``task``'s config, in eval mode."""
    path = Path(exp_dir) / "model.pt"
    state = ckpt.load(path)
    model = task.build_model()
    if not isinstance(state.get("model"), dict):
        raise ckpt.CheckpointError(f"{path}: no 'model' state dict (not written by avdf.bin.train or import_model)")
    saved = state.get("config")
    conf_file = Path(exp_dir) / "config.yaml"
    if isinstance(saved, dict) and isinstance(saved.get("model"), dict) and conf_file.is_file():
        # config.yaml as written (a command line may still override inference-only keys, e.g.
        # --model.infer_by): it must be the config model.pt was trained with
        diff = config_difference({"model": saved["model"]}, {"model": load_config(conf_file).get("model")}, set())
        if diff:
            raise ckpt.CheckpointError(f"{path} was trained with another model config than {conf_file} says ({diff})")
    diff = ckpt.state_mismatch(state["model"], model.state_dict())
    if diff:
        raise ckpt.CheckpointError(f"{path}: does not fit the model of {Path(exp_dir) / 'config.yaml'}: {diff}")
    model.load_state_dict(state["model"])
    return model.to(device).eval()
