"""Batches that cross from DataLoader workers to the training process without a copy.

In a DataLoader worker, a ``format="torch"`` batch is laid out in one
shared-memory segment (a ``memfd``; nothing is ever created in ``/dev/shm``)
and yielded as a :class:`SharedBatch`. DataLoader's default conversion
passes it through untouched, and its pickling (registered with
``multiprocessing``'s ``ForkingPickler``, as torch registers its tensors')
sends the segment's file descriptor, not its bytes. The training process
maps the same pages and receives a plain dict of tensors over them:
writable, and sharing memory with no other batch (the worker reuses a
segment only after every process has dropped the batch it held).

The training process keeps each worker's segments mapped from batch to
batch (a worker reuses a few segments over and over), so a batch costs no
``mmap``/``munmap`` and no page-table setup. The mappings of a worker that
exits (at the end of a loader, or killed) are dropped when the process is
told of it (``SIGCHLD``, chained to any handler already there) and, at the
latest, when the next batch arrives.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from multiprocessing.reduction import DupFd, ForkingPickler
from typing import Any

from . import _hf3fs


def _build(memory: Any, node: Any, np: Any, torch: Any) -> Any:
    # A module function, not a closure: a closure calling itself is a reference
    # cycle that would keep ``memory`` mapped until the cyclic GC runs.
    if isinstance(node, _hf3fs.SharedArray):
        values = np.frombuffer(
            memory, dtype=np.dtype(node.dtype), count=node.count, offset=node.offset
        )
        return torch.from_numpy(values.reshape(node.shape))
    if isinstance(node, int):
        return node  # a packed batch's max_seqlen and num_tokens
    if isinstance(node, tuple):
        return tuple(_build(memory, n, np, torch) for n in node)
    return {k: _build(memory, v, np, torch) for k, v in node.items()}


def _tensors(memory: Any, columns: dict[str, Any]) -> dict[str, Any]:
    """The layout's arrays as tensors over ``memory`` (which they keep alive)."""
    import numpy as np
    import torch

    return {name: _build(memory, node, np, torch) for name, node in columns.items()}


class SharedBatch:
    """A batch in shared memory, as a DataLoader worker yields it.

    It reads like the dict of tensors it stands for (``batch["input_ids"]``,
    ``keys()``, ``items()``), so a ``collate_fn`` in the worker can use it;
    pickled to the training process, it arrives as that dict.
    """

    __slots__ = ("_layout", "_tensors", "num_rows")

    def __init__(self, layout: Any) -> None:
        self._layout = layout
        self._tensors: dict[str, Any] | None = None
        self.num_rows: int = layout.num_rows

    def tensors(self) -> dict[str, Any]:
        """The batch as a dict of tensors over the shared memory."""
        if self._tensors is None:
            self._tensors = _tensors(self._layout.memory, self._layout.columns)
        return self._tensors

    def __getitem__(self, key: str) -> Any:
        return self.tensors()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._layout.columns

    def __iter__(self) -> Iterator[str]:
        return iter(self._layout.columns)

    def __len__(self) -> int:
        return len(self._layout.columns)

    def keys(self) -> Any:
        return self.tensors().keys()

    def values(self) -> Any:
        return self.tensors().values()

    def items(self) -> Any:
        return self.tensors().items()

    def get(self, key: str, default: Any = None) -> Any:
        return self.tensors().get(key, default)

    def __repr__(self) -> str:
        return f"<hf3fs SharedBatch {self.num_rows} rows: {', '.join(self._layout.columns)}>"


def _rebuild(fd: Any, size: int, used: int, columns: dict[str, Any], sender: int) -> dict[str, Any]:
    # The descriptor is ours once detached; mapped, it is no longer needed.
    try:
        raw = fd.detach()
    except OSError as e:
        # The worker died between queueing the batch and handing over its memory. torch
        # reports a dead worker as a RuntimeError naming its pid when it notices in time;
        # this is the same failure, noticed first here.
        raise RuntimeError(
            f"DataLoader worker (pid {sender}) exited before handing over its batch: {e}"
        ) from e
    _watch_children()
    try:
        memory = _hf3fs.SharedMemory.open(raw, size, used, sender)
    finally:
        os.close(raw)
    return _tensors(memory, columns)


_watching = False


def _watch_children() -> None:
    """Drop an exited worker's kept mappings as soon as the process hears of it: a
    ``SIGCHLD`` handler, installed once from the main thread (where Python allows it),
    that calls the handler it replaces."""
    global _watching
    if _watching or threading.current_thread() is not threading.main_thread():
        return
    _watching = True
    try:
        previous = signal.getsignal(signal.SIGCHLD)
    except (ValueError, OSError):  # no SIGCHLD here: the next batch still tidies up
        return

    def on_child_exit(signum: int, frame: Any) -> None:
        _hf3fs.forget_received_segments()
        if callable(previous):
            previous(signum, frame)

    # SIG_IGN would have the kernel reap children at once; keep that by not replacing it.
    if previous is not signal.SIG_IGN:
        signal.signal(signal.SIGCHLD, on_child_exit)


def _reduce(batch: SharedBatch) -> tuple:
    fd, size, used = batch._layout.memory.share()
    return (_rebuild, (DupFd(fd), size, used, batch._layout.columns, os.getpid()))


def _collate(batch: list[SharedBatch], *, collate_fn_map: Any = None) -> Any:
    # DataLoader(batch_size=k) collates k batches: as the dicts they stand for.
    from torch.utils.data._utils.collate import collate

    return collate([b.tensors() for b in batch], collate_fn_map=collate_fn_map)


def _register_collate() -> None:
    try:
        from torch.utils.data._utils.collate import default_collate_fn_map
    except ImportError:  # a torch without the collate registry: batch_size=None only
        return
    default_collate_fn_map[SharedBatch] = _collate


ForkingPickler.register(SharedBatch, _reduce)
_register_collate()
