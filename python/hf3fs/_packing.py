"""Packed batches in every format, and :class:`Mix`, packed datasets drawn in fixed proportions.

The packing and the mixture's schedule run in Rust (``hf3fs._hf3fs``); this
module turns their batches into the dataset's format and keeps the
mixture's epoch and saved state.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from . import _hf3fs
from ._loading import (
    STATE_VERSION,
    _check_int,
    _env_flag,
    _SharedEpoch,
    _worker,
    _worker_info,
    state_version,
)

_MIX_STATE_FORMAT = "hf3fs.Mix"
_STOPS = ("first_exhausted", "all_exhausted")


def packed_batch_source(reader: Any, format: str, units: int) -> Any:
    """A function giving the next ``(tokens, batch)`` of a packed reader in ``format``."""
    if format == "arrow":
        return lambda: (units, next(reader))
    if format == "numpy":
        return lambda: (units, reader.next_numpy(writable=False))
    import numpy as np
    import torch

    def to_torch(batch: dict[str, Any]) -> dict[str, Any]:
        # The arrays are writable and the batch's own: the tensors share them.
        return {
            k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in batch.items()
        }

    if _worker_info() is not None and _env_flag("HF3FS_SHARED_BATCHES", default=True):
        from ._shared import SharedBatch

        def shared() -> tuple[int, Any]:
            # In a DataLoader worker: the batch goes to the training process
            # by file descriptor (see hf3fs._shared).
            batch = reader.next_shared()
            if isinstance(batch, _hf3fs.SharedLayout):
                return units, SharedBatch(batch)
            return units, to_torch(batch)

        return shared
    return lambda: (units, to_torch(reader.next_numpy(writable=True)))


def head_sequences(reader: Any, n: int) -> Any:
    """The first ``n`` sequences of a packed reader as a pandas DataFrame."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    try:
        while len(rows) < n:
            try:
                batch = reader.next_numpy(writable=False)
            except StopIteration:
                break
            for i in range(len(batch["input_ids"])):
                row = {
                    "input_ids": batch["input_ids"][i].tolist(),
                    "position_ids": batch["position_ids"][i].tolist(),
                }
                if "source" in batch:
                    row["source"] = int(batch["source"][i])
                rows.append(row)
    finally:
        reader.close()
    return pd.DataFrame(rows[:n], columns=["input_ids", "position_ids"])


class _MixImpl:
    """Datasets drawn in fixed proportions, one sample (packed sequence, or row) at a time.

    Every rank and DataLoader worker interleaves its own part of each source
    by one deterministic schedule (Tijdeman's), so over every prefix of the
    stream each source's count of samples is within one of its share
    (``samples x weight``), every rank yields the same number of batches,
    and a saved state is a few integers that resume replays exactly.

    Parameters
    ----------
    datasets : dict of str to ParquetDataset
        The sources, by name, on the same rank and world size, in the same
        ``format``: all packed alike (the same ``Pack`` sizes and token type,
        ``drop_partial=True``), or all unpacked with the same ``batch_size``
        and columns (then samples are rows).
    weights : dict of str to float, optional
        Each source's share (normalized; default equal).
    seed : int
        Seed of the schedule's tie order per epoch (sources keep their own
        shuffle seeds).
    stop : {"first_exhausted", "all_exhausted"}
        End the epoch when a source runs out, or restart finished sources
        with their next epoch's shuffle until every source has finished once.
        A batch the end cuts short is left out.

    Notes
    -----
    Batches are the sources' batches plus ``source``: the index (into
    :attr:`sources`) of each sequence's (or row's) source. Each source's
    reader keeps its own ``prefetch_bytes`` in flight.
    """

    def __init__(
        self,
        datasets: Mapping[str, Any],
        *,
        weights: Mapping[str, float] | None = None,
        seed: int = 0,
        stop: str = "first_exhausted",
    ) -> None:
        from .dataset import _ParquetDatasetImpl

        if not isinstance(datasets, Mapping) or not datasets:
            raise ValueError(
                f"datasets: expected a non-empty dict of name -> ParquetDataset, got {datasets!r}"
            )
        names = list(datasets)
        for name, ds in datasets.items():
            if not isinstance(ds, _ParquetDatasetImpl):
                raise ValueError(f"datasets[{name!r}]: expected a ParquetDataset, got {ds!r}")
        packed = {name: ds._pack is not None for name, ds in datasets.items()}
        if len(set(packed.values())) > 1:
            raise ValueError(
                f"datasets: mix packed datasets or unpacked ones, not both (packed: {packed})"
            )
        if weights is None:
            weights = {name: 1.0 for name in names}
        if not isinstance(weights, Mapping) or set(weights) != set(names):
            raise ValueError(f"weights: expected a weight for each of {names}, got {weights!r}")
        if stop not in _STOPS:
            raise ValueError(f"stop: must be one of {', '.join(_STOPS)}, got {stop!r}")
        _check_int("seed", seed, 0)
        first = datasets[names[0]]
        for name in names[1:]:
            ds = datasets[name]
            if (ds.rank, ds.world_size) != (first.rank, first.world_size):
                raise ValueError(
                    f"datasets[{name!r}]: rank {ds.rank}/{ds.world_size}, "
                    f"datasets[{names[0]!r}] {first.rank}/{first.world_size}"
                )
            if ds._format != first._format:
                raise ValueError(
                    f"datasets[{name!r}]: format {ds._format!r}, "
                    f"datasets[{names[0]!r}] {first._format!r}"
                )
        self._names = names
        self._sources = [datasets[n] for n in names]
        self._weights = [float(weights[n]) for n in names]
        self._seed = seed
        self._stop = stop
        self._epoch = _SharedEpoch()
        self._pending: Any = None
        self._live: dict[str, Any] | None = None
        self._mix: Any = None
        self._mixture()  # check the sources now

    def _mixture(self) -> Any:
        if self._mix is None:
            self._mix = _hf3fs._Mixture(
                [s._dataset() for s in self._sources],
                weights=self._weights,
                stop=self._stop,
                seed=self._seed,
            )
        return self._mix

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_mix"] = None
        state["_live"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # ------------------------------------------------------------------ plan
    @property
    def sources(self) -> list[str]:
        """The sources' names; a batch's ``source`` indexes this list."""
        return list(self._names)

    @property
    def weights(self) -> dict[str, float]:
        """Each source's normalized weight."""
        total = sum(self._weights)
        return {n: w / total for n, w in zip(self._names, self._weights, strict=True)}

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (every source's shuffle); call it before each epoch."""
        self._epoch.set(_check_int("epoch", epoch, 0))

    @property
    def epoch(self) -> int:
        """The current epoch."""
        return self._epoch.get()

    @property
    def rank(self) -> int:
        """This rank."""
        return self._sources[0].rank

    @property
    def world_size(self) -> int:
        """The number of ranks."""
        return self._sources[0].world_size

    def _position(self, num_workers: int, worker: int) -> Any:
        mix = self._mixture()
        pending = self._pending
        if pending is not None and pending.epoch == self.epoch:
            return mix.resume(pending, self.world_size, num_workers, worker)
        return mix.start(self.epoch, self.world_size, num_workers)

    def num_batches(self, *, num_workers: int = 0) -> int:
        """Batches this rank yields per epoch with ``num_workers`` DataLoader workers."""
        workers = max(1, _check_int("num_workers", num_workers, 0))
        progress = self._mixture().start(self.epoch, self.world_size, workers)
        return int(self._mix.batches_per_worker(progress)) * workers

    def __len__(self) -> int:
        """Batches this rank (or, inside a DataLoader worker, this worker) yields per epoch."""
        workers = _worker()[1]
        progress = self._mixture().start(self.epoch, self.world_size, workers)
        return int(self._mix.batches_per_worker(progress))

    def info(self, *, num_workers: int = 0) -> dict[str, Any]:
        """The mixture's plan for this rank.

        Returns
        -------
        dict
            ``sources`` (names), ``weights`` (normalized), ``stop``,
            ``batches_per_rank``, and ``samples_per_rank``: per source, the
            sequences (or rows) this rank draws from it per epoch.
        """
        workers = max(1, _check_int("num_workers", num_workers, 0))
        progress = self._mixture().start(self.epoch, self.world_size, workers)
        draws = self._mix.draws_per_source(progress)
        return {
            "sources": self.sources,
            "weights": self.weights,
            "stop": self._stop,
            "batches_per_rank": int(self._mix.batches_per_worker(progress)) * workers,
            "samples_per_rank": {
                n: int(d) * workers for n, d in zip(self._names, draws, strict=True)
            },
        }

    # --------------------------------------------------------------- reading
    def __iter__(self) -> Iterator[Any]:
        worker, workers = _worker()
        return self._iterate(worker, workers)

    def _iter_worker(self, worker: int, num_workers: int) -> Iterator[Any]:
        """The batches of DataLoader worker ``worker`` of ``num_workers`` (no torch needed)."""
        _check_int("num_workers", num_workers, 1)
        if not 0 <= worker < num_workers:
            raise ValueError(f"worker: must be in [0, {num_workers}), got {worker!r}")
        return self._iterate(worker, num_workers)

    def _iterate(self, worker: int, num_workers: int) -> Iterator[Any]:
        first = self._sources[0]
        decode_threads = first._decode_threads(num_workers)
        progress = self._position(num_workers, worker)
        reader = self._mix.reader(progress, self.rank, worker, decode_threads=decode_threads)
        index = progress.span_of(worker)
        live = {
            "progress": progress,
            "worker": worker,
            "index": index,
            "draws": progress.draws[index],
            "num_workers": num_workers,
        }
        self._live = live
        if first._pack is not None:
            spb = first._pack.sequences_per_batch
            next_batch = packed_batch_source(reader, first._format, spb)
        else:
            next_batch = first._batch_source(reader)
        try:
            while True:
                try:
                    samples, batch = next_batch()
                except StopIteration:
                    return
                live["draws"] += samples
                yield batch
        finally:
            reader.close()

    # ---------------------------------------------------------------- resume
    def state_dict(
        self, *, batches: int | None = None, num_workers: int | None = None
    ) -> dict[str, Any]:
        """Where the epoch stands, as a plain dict of ints, floats and strings.

        Without arguments: what this process has yielded (in the main process,
        or inside a DataLoader worker as ``StatefulDataLoader`` calls it).
        With ``batches`` (and ``num_workers``): the state after this rank took
        ``batches`` batches from a ``DataLoader`` with ``num_workers`` workers.
        """
        live = self._live
        if batches is not None:
            _check_int("batches", batches, 0)
            workers = max(1, _check_int("num_workers", num_workers or 0, 0))
            progress = self._mix.after_batches(self._position(workers, 0), batches)
            progress = progress.with_position(progress.draws, None)
        elif live is not None:
            progress = live["progress"]
            draws = progress.draws
            draws[live["index"]] = live["draws"]
            in_worker = _worker()[1] > 1 or live["num_workers"] > 1
            progress = progress.with_position(draws, live["worker"] if in_worker else None)
        else:
            worker, workers = _worker()
            progress = self._position(workers, worker)
            progress = progress.with_position(progress.draws, worker if workers > 1 else None)
        sources = {
            name: {
                "fingerprint": ds._dataset().fingerprint,
                "pack": repr(ds._pack) if ds._pack is not None else "",
                **cut,
            }
            for name, ds, cut in zip(
                self._names, self._sources, progress.source_states(), strict=True
            )
        }
        return {
            "format": _MIX_STATE_FORMAT,
            "version": STATE_VERSION,
            "sources": sources,
            "weights": ",".join(repr(w) for w in self.weights.values()),
            "stop": self._stop,
            "seed": self._seed,
            **progress.state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict`: the next batch is the one that
        would have come next. A state saved at a different world size (or
        number of workers) re-partitions each source's sequences not yet drawn."""
        version = state_version(state, _MIX_STATE_FORMAT, "Mix")
        try:
            saved = state["sources"]
            if list(saved) != self._names:
                raise ValueError(
                    f"load_state_dict: the state mixes {list(saved)}, this mixture {self._names}"
                )
            saved_weights = [float(w) for w in str(state["weights"]).split(",")]
            weights = list(self.weights.values())
            if len(saved_weights) != len(weights) or not all(
                math.isclose(a, b, rel_tol=1e-9)
                for a, b in zip(saved_weights, weights, strict=True)
            ):
                raise ValueError(
                    f"load_state_dict: the state has weights {saved_weights}, "
                    f"this mixture {weights} (normalized)"
                )
            mine = {"stop": self._stop, "seed": self._seed}
            for key, value in mine.items():
                if state[key] != value:
                    raise ValueError(
                        f"load_state_dict: the state has {key}={state[key]!r}, "
                        f"this mixture {value!r}"
                    )
            for name, ds in zip(self._names, self._sources, strict=True):
                entry, source = saved[name], ds._dataset()
                fingerprint = source.fingerprint if version > 1 else source.fingerprint_v1
                packed = repr(ds._pack) if ds._pack is not None else ""
                if entry["fingerprint"] != fingerprint or entry["pack"] != packed:
                    raise ValueError(
                        f"load_state_dict: source {name!r} differs from the one the state "
                        "was saved with (files, row groups, columns or pack)"
                    )
            pending = _hf3fs._MixPosition.from_state(
                state, version, [saved[name] for name in self._names]
            )
        except KeyError as e:
            raise ValueError(f"load_state_dict: the state lacks {e.args[0]!r}") from None
        # Check it now (malformed parts raise here, not in a worker), also against
        # this mixture's world size when it differs (an elastic resume).
        world, workers = pending.world_size, pending.num_workers
        self._mixture().resume(pending, world, workers, pending.worker or 0)
        if self.world_size != world:
            self._mix.resume(pending, self.world_size, workers, 0)
        self._pending = pending
        self.set_epoch(pending.epoch)

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={w:.3g}" for n, w in self.weights.items())
        return (
            f"Mix({parts}; stop={self._stop!r}, rank={self.rank}/{self.world_size}, "
            f"epoch={self.epoch})"
        )
