"""Plain PyTorch DDP under ``torchrun``: process group, device, deterministic data shards.

``torchrun --nproc_per_node=N -m metalegnet train ...`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; :func:`init_distributed` then joins the process group (``nccl`` on CUDA,
``gloo`` on CPU). Without those variables everything runs in one process.

Sharding: every rank draws the same permutation of the training set from ``(seed, epoch)``
and cuts it into the same *global* batches of ``batch_size`` structures; rank r takes items
``r, r + W, r + 2W, ...`` of each global batch (``W`` = world size), so each rank reads only
its own shard, and the union over ranks is exactly the one-process batch. The loss divides
by global counts (:mod:`metalegnet.train.losses`), making the averaged DDP gradient equal to
the one-process gradient of that batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from metalegnet.errors import ConfigError


@dataclass
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:<local_rank>`` when CUDA is available, else ``cpu``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda' requested but CUDA is not available")
        device = torch.device(name if ":" in name else f"cuda:{local_rank}")
        torch.cuda.set_device(device)
        return device
    if name != "cpu":
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
    return torch.device("cpu")


def init_distributed(device_name: str = "auto") -> tuple[DistInfo, torch.device]:
    """Join the ``torchrun`` process group if there is one; return ``(info, device)``."""
    info = DistInfo(rank=_env_int("RANK", 0), world_size=_env_int("WORLD_SIZE", 1),
                    local_rank=_env_int("LOCAL_RANK", 0))
    device = resolve_device(device_name, info.local_rank)
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)
    return info, device


def shutdown(sync: bool = True) -> None:
    """Leave the process group. After a successful run (``sync``) all ranks meet at a barrier
    first: a rank that tears gloo down while another still talks to it can abort ("terminate
    called without an active exception"). After an error there is no barrier, since the other
    ranks may be blocked elsewhere; torchrun then stops them."""
    if dist.is_available() and dist.is_initialized():
        try:
            if sync:
                dist.barrier()
        finally:
            dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over ranks (in place); a no-op in a single process."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def epoch_permutation(n: int, seed: int, epoch: int) -> list[int]:
    """The shuffled order of ``n`` training items in ``epoch`` (same on every rank)."""
    g = torch.Generator()
    g.manual_seed(int(seed) * 1_000_003 + int(epoch))
    return torch.randperm(n, generator=g).tolist()


def global_batches(n: int, batch_size: int, seed: int, epoch: int, world_size: int = 1,
                   shuffle: bool = True) -> list[list[int]]:
    """Global batches of item positions; a last batch smaller than the world size is
    dropped (every rank must get at least one item)."""
    order = epoch_permutation(n, seed, epoch) if shuffle else list(range(n))
    batches = [order[k:k + batch_size] for k in range(0, n, batch_size)]
    return [b for b in batches if len(b) >= world_size]


def shard(batch: list[int], rank: int, world_size: int) -> list[int]:
    """This rank's items of a global batch (strided, so sizes differ by at most one)."""
    return batch[rank::world_size]


def shard_range(n: int, rank: int, world_size: int) -> list[int]:
    """This rank's share of ``range(n)`` for evaluation (strided)."""
    return list(range(rank, n, world_size))


def wrap_ddp(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``DistributedDataParallel`` around ``model`` when a process group exists.

    The trainer adds ``0 * output`` for heads a task does not score (the force head in s2e,
    the energy readout in direct-force s2f), so every parameter gets a gradient each step and
    ``find_unused_parameters`` stays off.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=False)
