"""One DDP backward on CPU (gloo), for tests/test_slurm.py: each rank takes its own half of a
fixed batch and writes the gradients DDP left in its model to OUT/grads.<rank>.pt.

    torchrun --standalone --nproc_per_node 2 tests/ddp_grad_check.py OUT
    srun -n2 python tests/ddp_grad_check.py OUT      (ranks from SLURM_*, avdf.train.distributed)

DDP averages the ranks' gradients, and each rank's loss is the mean over an equal share,
so every rank must end with the gradient of the mean loss over the whole batch.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from avdf.train import distributed

N_ROWS = 8


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))


def make_batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(N_ROWS, 6, generator=g), torch.randn(N_ROWS, 1, generator=g)


def gradients(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gradients of the mean squared error of ``model`` on (x, y)."""
    model.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    return {name: p.grad.detach().clone() for name, p in model.named_parameters()}


def shard(rank: int, world_size: int) -> slice:
    return slice(rank * N_ROWS // world_size, (rank + 1) * N_ROWS // world_size)


def main(out: Path) -> None:
    info = distributed.init_distributed(use_cuda=False)
    model = make_model()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    x, y = make_batch()
    part = shard(info.rank, info.world_size)
    grads = gradients(ddp, x[part], y[part])
    grads = {name.removeprefix("module."): g for name, g in grads.items()}
    torch.save({"rank": info.rank, "world_size": info.world_size, "grads": grads}, out / f"grads.{info.rank}.pt")
    del ddp, model  # before leaving the group: avoids gloo's abort at exit (CLUSTER.md)
    distributed.cleanup(info)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
