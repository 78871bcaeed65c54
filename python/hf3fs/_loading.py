"""What a dataset and a mixture share: this process's rank and DataLoader worker, the epoch
shared with persistent workers, argument checks, and saved states' versions."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

# The version of the states this release saves; version 1 (the previous release's) still loads.
STATE_VERSION = 2


def _to_torch(value: Any, name: str, torch: Any, np: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_to_torch(v, name, torch, np) for v in value)
    if isinstance(value, dict):
        return {k: _to_torch(v, f"{name}.{k}", torch, np) for k, v in value.items()}
    if isinstance(value, np.ma.MaskedArray):
        raise ValueError(
            f"column {name!r} has nulls, which tensors cannot hold: filter them out "
            f"(filter=[({name!r}, 'is_not_null')]) or use format='numpy' or 'arrow'"
        )
    if value.dtype == object:
        return value  # strings and decimals stay numpy object arrays
    # The array is writable and the batch's alone: the tensor shares it.
    return torch.from_numpy(value)


def _distributed() -> tuple[int, int] | None:
    torch = sys.modules.get("torch")
    if torch is not None:
        dist = getattr(torch, "distributed", None)
        if dist is not None and dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
    return None


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from None


def _resolve_rank(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is None or world_size is None:
        detected = _distributed() or (_env_int("RANK"), _env_int("WORLD_SIZE"))
        rank = detected[0] if rank is None else rank
        world_size = detected[1] if world_size is None else world_size
    rank = 0 if rank is None else rank
    world_size = 1 if world_size is None else world_size
    if not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size: must be a positive integer, got {world_size!r}")
    if not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ValueError(f"rank: must be in [0, world_size={world_size}), got {rank!r}")
    return rank, world_size


def _worker_info() -> Any:
    """torch's info on the DataLoader worker we run in; None outside one."""
    data = sys.modules.get("torch.utils.data")
    return data.get_worker_info() if data is not None else None


def _worker() -> tuple[int, int]:
    """(worker id, workers) of the DataLoader worker we run in, or (0, 1)."""
    info = _worker_info()
    if info is None:
        return 0, 1
    return info.id, info.num_workers


def _env_flag(name: str, *, default: bool) -> bool:
    """An on/off environment variable (``0``/``false``/``off``/``no`` is off)."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value not in ("0", "false", "off", "no")


class _SharedEpoch:
    """The current epoch of a dataset. A persistent DataLoader worker holds its own
    copy of the dataset, so the epoch lives in shared memory (a torch tensor, when
    torch is there) for ``set_epoch`` to reach it."""

    def __init__(self) -> None:
        self._value = 0
        torch = sys.modules.get("torch")
        self._shared = (
            torch.zeros((), dtype=torch.int64).share_memory_() if torch is not None else None
        )

    def get(self) -> int:
        if self._shared is not None:
            self._value = int(self._shared.item())
        return self._value

    def set(self, epoch: int) -> None:
        self._value = epoch
        if self._shared is not None:
            self._shared.fill_(epoch)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return value


def state_version(state: Any, kind: str, what: str) -> int:
    """The version of a saved ``state`` of ``kind``; version 1 named it ``kind + "/1"``."""
    if isinstance(state, Mapping):
        if state.get("format") == f"{kind}/1":
            return 1
        if state.get("format") == kind and state.get("version") == STATE_VERSION:
            return STATE_VERSION
    raise ValueError(
        f"load_state_dict: not a {what} state (format {kind!r}, version 1 or {STATE_VERSION})"
    )
