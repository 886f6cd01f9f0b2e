"""Process-group set-up for DDP under ``torchrun`` or ``srun``, on GPU (nccl) or CPU (gloo)."""
from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_from_slurm() -> None:
    """Map ``srun -n N`` variables onto the ``torchrun`` ones (CLUSTER.md)."""
    if "RANK" in os.environ or "SLURM_PROCID" not in os.environ:
        return
    if int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
        return
    os.environ["RANK"] = os.environ["SLURM_PROCID"]
    os.environ["WORLD_SIZE"] = os.environ["SLURM_NTASKS"]
    os.environ["LOCAL_RANK"] = os.environ.get("SLURM_LOCALID", "0")
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(20000 + int(os.environ.get("SLURM_JOB_ID", "0")) % 20000))


def init_distributed(use_cuda: bool) -> DistInfo:
    """Join the process group if launched with several processes; pick the device."""
    _env_from_slurm()
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = use_cuda and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo", init_method="env://",
                                rank=rank, world_size=world_size)
        logger.info("joined process group: rank %d of %d on %s", rank, world_size, device)
    return DistInfo(rank, world_size, local_rank, device)


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def all_gather_objects(obj, info: DistInfo) -> list:
    """Every rank's ``obj``, in rank order (a one-element list without DDP)."""
    if not info.distributed:
        return [obj]
    out: list = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def all_reduce_mean(value: float, info: DistInfo) -> float:
    if not info.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return float(t.item()) / info.world_size


def cleanup(info: DistInfo) -> None:
    """Leave the process group. Collecting garbage first avoids gloo's abort-at-exit
    ("terminate called without an active exception", CLUSTER.md)."""
    gc.collect()
    if info.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
