"""Parquet datasets sharded across training ranks and DataLoader workers.

``ParquetDataset`` reads a Parquet corpus with coalesced, batched IO into
pinned buffers and decodes it in parallel in Rust. Every rank yields the same
number of batches, every row is read exactly once per epoch, shuffles are
deterministic per ``(seed, epoch)``, and ``state_dict()`` resumes exactly
(or elastically, at a different world size).

For language-model pretraining, ``ParquetDataset(..., pack=Pack(...))``
packs a token column's documents into fixed-length sequences (with
``position_ids`` and FlashAttention's ``cu_seqlens``), the plan counting
tokens so every rank yields the same number of packed batches, and
:class:`Mix` draws packed datasets in fixed proportions.

torch is optional: when it is importable, ``ParquetDataset`` is a
``torch.utils.data.IterableDataset``.
"""

from __future__ import annotations

import copy
import importlib.util
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import _hf3fs, _progress
from ._errors import CorruptFileError, DatasetError, SchemaMismatchError, UnsupportedTypeError
from ._filters import normalize_filter
from ._loading import (
    STATE_VERSION,
    _check_int,
    _env_flag,
    _resolve_rank,
    _SharedEpoch,
    _to_torch,
    _worker,
    _worker_info,
    state_version,
)

ArrowBatch = _hf3fs.ArrowBatch
ArrowArray = _hf3fs.ArrowArray
NumpyBatch = _hf3fs.NumpyBatch
Pack = _hf3fs.Pack

__all__ = [
    "ArrowArray",
    "ArrowBatch",
    "CorruptFileError",
    "DatasetError",
    "Mix",
    "NumpyBatch",
    "Pack",
    "ParquetDataset",
    "SchemaMismatchError",
    "UnsupportedTypeError",
    "progress",
]

_FORMATS = ("numpy", "arrow", "torch")
# The options' defaults, written once in Rust (DatasetOptions::default()).
_DEFAULTS: dict[str, Any] = _hf3fs.DATASET_DEFAULTS
# A state names what it is; its version is _loading.STATE_VERSION.
_STATE_FORMAT = "hf3fs.ParquetDataset"
# Options a saved state must agree on: they decide which rows come in which order.
_STATE_OPTIONS = ("seed", "shuffle", "shuffle_window", "batch_size", "drop_remainder", "drop_last")


class _ParquetDatasetImpl:
    """Parquet files read as batches, sharded across ranks and DataLoader workers.

    Parameters
    ----------
    source : str or list of str
        A Parquet file, a directory (searched recursively for ``*.parquet``),
        a glob, or a list of those: local paths, ``file://``, ``hf3fs://`` or
        ``s3://<bucket>/<prefix>`` (any S3-compatible store).
    columns : list of str, optional
        Top-level columns to read, in this order (default: all).
    filter : list, optional
        Rows to keep, in pyarrow's DNF: ``[(col, op, value), ...]`` (AND) or
        a list of such lists (OR). ``op`` is one of ``==, !=, <, <=, >, >=,
        in, not in``, or ``(col, "is_null")`` / ``(col, "is_not_null")``;
        values are bool, int, float, str or bytes (dates, times and
        timestamps as ISO 8601 strings). Row groups ruled out by statistics
        are never read.
    batch_size : int
        Rows per batch.
    shuffle : bool
        Shuffle the order of row groups per ``(seed, epoch)``.
    seed : int
        Seed of every shuffle.
    shuffle_window : int
        Also shuffle rows within windows of this many rows (0: off).
    rank, world_size : int, optional
        This rank and the number of ranks; default ``torch.distributed`` when
        initialized, else ``$RANK``/``$WORLD_SIZE``, else 0 and 1.
    drop_remainder : bool
        Drop the rows that do not divide evenly among ranks × workers (each
        row is read at most once); if False, wrap around to the start so every
        row is read at least once.
    drop_last : bool
        Drop each worker's last batch when it is shorter than ``batch_size``.
    format : {"numpy", "arrow", "torch"}
        What batches are: a dict of numpy arrays (lists as ``(values,
        offsets)``, fixed-size lists 2-D, nulls as masked arrays); an
        :class:`ArrowBatch` (``pyarrow.record_batch(b)``,
        ``polars.from_arrow(b)``); or a dict of tensors.
    prefetch_bytes : int
        Bytes of read buffers and decoded data in flight per reader; the
        reads of up to 32 row-group pieces within it are issued at once, so
        remote storage's latency is hidden by depth.
    numa : int
        NUMA node of the read buffers (-1: no binding).
    cache_options : hf3fs.fs.CacheOptions, optional
        How a row group's column chunks are merged into reads (default: as
        the files' store suits: Arrow's defaults for disks and mounts,
        ``CacheOptions.from_network_metrics(50, 100)`` for object stores).
    client : hf3fs.Client, optional
        Read plain paths from this client's mount.
    filesystem : hf3fs.fs.FileSystem, optional
        Read every path from this file system (for example one with
        injected latency).
    storage_options : dict, optional
        How to reach ``s3://`` buckets: object_store's keys (``aws_endpoint``,
        ``aws_access_key_id``, ``aws_secret_access_key``, ``aws_region``,
        ``aws_allow_http``, ``max_retries``, ``retry_timeout``, ...), over the
        ``AWS_*`` environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...).
    num_threads : int, optional
        Pieces one reader decodes at once, on the process's CPU pool
        (default: the cores available, divided among DataLoader workers).
    progress : bool, optional
        Show progress bars (footers read while opening, rows while iterating
        in this process): True always, False never, None when a terminal or
        Jupyter is watching.
        DataLoader workers never draw one; wrap the loader in
        :func:`progress` instead.
    pack : Pack, optional
        Pack the documents of a list-of-integers column into fixed-length
        sequences (see :class:`Pack`). Batches are then dicts of
        ``input_ids`` and ``position_ids`` (``[sequences_per_batch,
        seq_len]``), ``cu_seqlens`` (int32, the document pieces' cumulative
        lengths over the flattened batch, as ``flash_attn_varlen_func``
        takes them), ``max_seqlen`` and ``num_tokens`` (the tokens that are
        data; the rest is padding). The plan counts tokens from the footers:
        every rank and worker yields the same number of batches, no token
        twice; ``info()["tokens"]`` reports what is left out.
        ``batch_size`` is then the rows decoded at a time.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        columns: Sequence[str] | None = None,
        filter: Any = None,
        batch_size: int = _DEFAULTS["batch_size"],
        shuffle: bool = _DEFAULTS["shuffle"],
        seed: int = _DEFAULTS["seed"],
        shuffle_window: int = _DEFAULTS["shuffle_window"],
        rank: int | None = None,
        world_size: int | None = None,
        drop_remainder: bool = _DEFAULTS["drop_remainder"],
        drop_last: bool = _DEFAULTS["drop_last"],
        format: str = "numpy",
        prefetch_bytes: int = _DEFAULTS["prefetch_bytes"],
        numa: int = _DEFAULTS["numa"],
        cache_options: Any = None,
        client: Any = None,
        filesystem: Any = None,
        storage_options: dict[str, Any] | None = None,
        num_threads: int | None = None,
        progress: bool | None = False,
        pack: Any = None,
    ) -> None:
        if isinstance(source, (str, os.PathLike)):
            sources = [os.fspath(source)]
        elif isinstance(source, Sequence) and source:
            sources = [os.fspath(s) for s in source]
        else:
            raise ValueError(
                f"source: expected a path or a non-empty list of paths, got {source!r}"
            )
        if format not in _FORMATS:
            raise ValueError(f"format: must be one of {', '.join(_FORMATS)}, got {format!r}")
        _check_int("batch_size", batch_size, 1)
        _check_int("seed", seed, 0)
        _check_int("shuffle_window", shuffle_window, 0)
        _check_int("prefetch_bytes", prefetch_bytes, 1)
        _check_int("numa", numa, -1)
        if num_threads is not None:
            _check_int("num_threads", num_threads, 1)
        if columns is not None and (
            isinstance(columns, str) or not all(isinstance(c, str) for c in columns)
        ):
            raise ValueError(f"columns: expected a list of column names, got {columns!r}")
        if pack is not None and not isinstance(pack, Pack):
            raise ValueError(f"pack: expected an hf3fs.dataset.Pack, got {pack!r}")
        self._pack = pack
        self._rank, self._world_size = _resolve_rank(rank, world_size)
        # The filter's tree, built (and so checked) now; pickling carries the
        # filter as given (a spawned worker builds its own tree from it).
        self._filter = normalize_filter(filter)
        self._args = {
            "sources": sources,
            "columns": list(columns) if columns is not None else None,
            "filter": copy.deepcopy(filter),
            "batch_size": batch_size,
            "shuffle": bool(shuffle),
            "seed": seed,
            "shuffle_window": shuffle_window,
            "drop_remainder": bool(drop_remainder),
            "drop_last": bool(drop_last),
            "prefetch_bytes": prefetch_bytes,
            "numa": numa,
            "cache_options": cache_options,
            "client": client,
            "filesystem": filesystem,
            "storage_options": dict(storage_options) if storage_options else None,
            "pack": pack,
        }
        self._num_threads = num_threads
        self._show_progress = progress
        self._format = format
        self._epoch = _SharedEpoch()
        self._pending: Any = None  # a loaded state's _Position
        self._live: dict[str, Any] | None = None
        with _progress.Bar(desc="reading footers", unit="file", enabled=progress) as bar:
            on_footer = bar.advance_to if bar.active else None
            self._ds = self._open(on_footer)

    def _open(self, on_footer: Any = None) -> Any:
        if self._filter is None:
            self._filter = normalize_filter(self._args["filter"])
        args = {**self._args, "filter": self._filter}
        return _hf3fs._Dataset(**args, on_footer=on_footer)

    def _dataset(self) -> Any:
        if self._ds is None:
            self._ds = self._open()
        return self._ds

    def _decode_threads(self, num_workers: int) -> int:
        """Pieces a reader decodes at once; in a DataLoader worker, the process's CPU
        pool is started with that many threads (the workers share the cores)."""
        cores = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
        threads = self._num_threads or max(1, cores // max(1, num_workers))
        if _worker_info() is not None:
            _hf3fs._request_cpu_threads(threads)
        return threads

    # Pickling (DataLoader spawn workers) carries the arguments; the child
    # indexes the files again.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_ds"] = None
        state["_live"] = None
        state["_filter"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # ------------------------------------------------------------------ plan
    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (its shuffle); call it before each epoch.

        Persistent DataLoader workers see the new epoch too: it is kept in
        shared memory when torch is present.
        """
        self._epoch.set(_check_int("epoch", epoch, 0))

    @property
    def epoch(self) -> int:
        """The current epoch."""
        return self._epoch.get()

    @property
    def rank(self) -> int:
        """This rank."""
        return self._rank

    @property
    def world_size(self) -> int:
        """The number of ranks."""
        return self._world_size

    def _position(self, num_workers: int, worker: int) -> tuple:
        ds = self._dataset()
        pending = self._pending
        epoch = self.epoch
        if pending is not None and pending.epoch == epoch:
            return ds.resume(pending, self._world_size, num_workers, worker)
        return ds.start(epoch, self._world_size, num_workers)

    def num_batches(self, *, num_workers: int = 0) -> int:
        """Batches this rank yields per epoch with ``num_workers`` DataLoader workers."""
        workers = max(1, _check_int("num_workers", num_workers, 0))
        progress = self._dataset().start(self.epoch, self._world_size, workers)
        return int(self._ds.batches_per_worker(progress)) * workers

    def __len__(self) -> int:
        """Batches this rank (or, inside a DataLoader worker, this worker) yields per epoch."""
        workers = _worker()[1]
        progress = self._dataset().start(self.epoch, self._world_size, workers)
        return int(self._ds.batches_per_worker(progress))

    @property
    def num_rows(self) -> int:
        """Rows per epoch over all ranks (after the filter, before sharding)."""
        return int(self._dataset().num_rows)

    @property
    def files(self) -> list[str]:
        """The Parquet files, in dataset order."""
        return list(self._dataset().files)

    @property
    def columns(self) -> list[str]:
        """The columns batches hold."""
        return list(self._dataset().columns)

    @property
    def schema(self) -> Any:
        """The batches' schema, as a ``pyarrow.Schema`` (needs pyarrow)."""
        import pyarrow

        return pyarrow.schema(self._dataset())

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
        decode_threads = self._decode_threads(num_workers)
        progress = self._position(num_workers, worker)
        if self._pack is None:
            reader = self._ds.reader(progress, self._rank, worker, decode_threads=decode_threads)
            next_batch = self._batch_source(reader)
        else:
            from ._packing import packed_batch_source

            reader = self._ds.packed_reader(
                progress, self._rank, worker, decode_threads=decode_threads
            )
            next_batch = packed_batch_source(reader, self._format, self._pack.batch_tokens)
        source = progress.span_of(worker)  # the span this worker reads
        live = {
            "progress": progress,
            "worker": worker,
            "source": source,
            "consumed": progress.consumed[source],
        }
        live["num_workers"] = num_workers
        self._live = live
        # A bar from each DataLoader worker process would garble the output.
        in_worker = _worker_info() is not None
        # Units (rows, or tokens when packing) this worker yields from here:
        # its span, less what a resumed state consumed, less a short last
        # batch that drop_last drops.
        span, size = int(self._ds.span_units(progress)), self._args["batch_size"]
        end = span // size * size if self._args["drop_last"] and self._pack is None else span
        bar = _progress.Bar(
            total=max(0, end - live["consumed"]),
            desc=f"rank {self._rank} {'tokens' if self._pack is not None else 'rows'}",
            unit="token" if self._pack is not None else "row",
            unit_scale=True,
            enabled=False if in_worker else self._show_progress,
        )
        try:
            while True:
                try:
                    rows, batch = next_batch()
                except StopIteration:
                    return
                # A padded last batch holds fewer units than a whole one.
                rows = min(rows, span - live["consumed"])
                live["consumed"] += rows
                bar.update(rows)
                yield batch
        finally:
            bar.close()
            reader.close()

    def _batch_source(self, reader: Any) -> Any:
        """A function giving the next (rows, batch) in this dataset's format."""
        if self._format == "arrow":

            def arrow() -> tuple[int, Any]:
                batch = next(reader)
                return batch.num_rows, batch

            return arrow
        if self._format == "numpy":

            def numpy() -> tuple[int, Any]:
                batch = reader.next_numpy(writable=False)
                return batch.num_rows, batch.columns

            return numpy
        import numpy as np
        import torch

        def to_torch(batch: Any) -> tuple[int, Any]:
            # Writable arrays of the batch's own memory: tensors training code
            # may write into, sharing nothing with another batch.
            columns = {k: _to_torch(v, k, torch, np) for k, v in batch.columns.items()}
            return batch.num_rows, columns

        if _worker_info() is not None and _env_flag("HF3FS_SHARED_BATCHES", default=True):
            from ._shared import SharedBatch

            def shared() -> tuple[int, Any]:
                # In a DataLoader worker: the batch goes to the training
                # process by file descriptor (see hf3fs._shared).
                batch = reader.next_shared()
                if isinstance(batch, _hf3fs.SharedLayout):
                    return batch.num_rows, SharedBatch(batch)
                return to_torch(batch)

            return shared
        return lambda: to_torch(reader.next_numpy(writable=True))

    # ---------------------------------------------------------------- resume
    def state_dict(
        self, *, batches: int | None = None, num_workers: int | None = None
    ) -> dict[str, Any]:
        """Where the epoch stands, as a plain dict of ints and strings.

        Without arguments: what this process has yielded (iterating in the
        main process, or inside a DataLoader worker, as
        ``torchdata.stateful_dataloader.StatefulDataLoader`` calls it).
        With ``batches`` (and ``num_workers``): the state after this rank
        took ``batches`` batches from a ``DataLoader`` with ``num_workers``
        workers; use it to checkpoint from the training loop.
        """
        live = self._live
        if batches is not None:
            _check_int("batches", batches, 0)
            workers = max(1, _check_int("num_workers", num_workers or 0, 0))
            progress = self._ds.after_batches(self._position(workers, 0), batches)
            progress = progress.with_position(progress.consumed, None)
        elif live is not None:
            progress = live["progress"]
            consumed = progress.consumed
            consumed[live["source"]] = live["consumed"]
            in_worker = _worker()[1] > 1 or live["num_workers"] > 1
            progress = progress.with_position(consumed, live["worker"] if in_worker else None)
        else:
            in_worker, workers = _worker()
            progress = self._position(workers, in_worker)
            progress = progress.with_position(progress.consumed, in_worker if workers > 1 else None)
        state: dict[str, Any] = {
            "format": _STATE_FORMAT,
            "version": STATE_VERSION,
            "fingerprint": self._ds.fingerprint,
            **progress.state(),
        }
        for key in _STATE_OPTIONS:
            value = self._args[key]
            state[key] = int(value) if isinstance(value, bool) else value
        state["pack"] = repr(self._pack) if self._pack is not None else ""
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict`: the next batch is the one that
        would have come next. A state saved at a different world size
        re-partitions the rows not yet consumed among the new ranks."""
        version = state_version(state, _STATE_FORMAT, "ParquetDataset")
        try:
            ds = self._dataset()
            if state["fingerprint"] != (ds.fingerprint if version > 1 else ds.fingerprint_v1):
                raise ValueError(
                    "load_state_dict: the state was saved for a different dataset "
                    "(files, row groups or columns differ)"
                )
            for key in _STATE_OPTIONS:
                mine = self._args[key]
                mine = int(mine) if isinstance(mine, bool) else mine
                if state[key] != mine:
                    raise ValueError(
                        f"load_state_dict: the state has {key}={state[key]!r}, "
                        f"this dataset {mine!r}"
                    )
            packed = repr(self._pack) if self._pack is not None else ""
            if state.get("pack", "") != packed:
                raise ValueError(
                    f"load_state_dict: the state was saved with pack={state.get('pack') or None}, "
                    f"this dataset has pack={packed or None}"
                )
            pending = _hf3fs._Position.from_state(state, version)
        except KeyError as e:
            raise ValueError(f"load_state_dict: the state lacks {e.args[0]!r}") from None
        # Check it now (malformed parts raise here, not in a worker), also against
        # this dataset's world size when it differs (an elastic resume).
        ds.resume(pending, pending.world_size, pending.num_workers, pending.worker or 0)
        if self._world_size != pending.world_size:
            ds.resume(pending, self._world_size, pending.num_workers, 0)
        self._pending = pending
        self.set_epoch(pending.epoch)

    # ------------------------------------------------------------- notebooks
    def head(self, n: int = 5) -> Any:
        """The first ``n`` rows this rank yields in the current epoch, as a pandas DataFrame.

        A packed dataset gives its first ``n`` sequences instead (``input_ids``
        and ``position_ids`` per sequence).
        """
        import pyarrow

        _check_int("n", n, 0)
        progress = self._dataset().start(self.epoch, 1, 1)
        if self._pack is not None:
            from ._packing import head_sequences

            return head_sequences(self._ds.packed_reader(progress, 0, 0), n)
        reader = self._ds.reader(progress, 0, 0)
        batches = []
        rows = 0
        try:
            for batch in reader:
                batches.append(pyarrow.record_batch(batch))
                rows += batch.num_rows
                if rows >= n:
                    break
        finally:
            reader.close()
        table = pyarrow.Table.from_batches(batches, schema=self.schema)
        return table.slice(0, n).to_pandas()

    def info(self, *, num_workers: int = 0) -> dict[str, Any]:
        """Files, row groups, rows and bytes per column (and tokens when packing).

        Parameters
        ----------
        num_workers : int
            DataLoader workers per rank, for the packed plan's figures.

        Returns
        -------
        dict
            ``files`` (each: ``path``, ``row_groups``, ``rows``, ``bytes``,
            ``page_index``), totals ``row_groups``, ``rows``, ``bytes``,
            ``num_rows`` and ``row_groups_read`` (after filters), and
            ``columns``: per top-level column ``compressed_bytes``,
            ``uncompressed_bytes``, ``codecs``, whether it is ``read``, and its
            ``decoder``: ``"fast"`` for the primitive and list-of-primitive
            columns hf3fs decodes itself, ``"arrow"`` for those arrow-rs decodes
            (and for columns not read). A packed dataset adds ``tokens``:
            the ``column``, its ``tokens`` per epoch, ``per_file`` counts (and
            ``counted_from``: the footer's ``histogram`` or ``statistics``, or
            ``decoded``), and for this world size and ``num_workers``:
            ``batches_per_rank``, ``sequences_per_rank`` and ``left_out``, the
            tokens per epoch no rank yields (fewer than one batch per rank and
            worker).
        """
        ds = self._dataset()
        tokens = None
        if self._pack is not None:
            workers = max(1, _check_int("num_workers", num_workers, 0))
            progress = ds.start(self.epoch, self._world_size, workers)
            batches = int(ds.batches_per_worker(progress)) * workers
            tokens = {
                "column": self._pack.column,
                "tokens": int(ds.num_units),
                "per_file": [
                    {
                        "path": f.path,
                        "tokens": f.tokens,
                        "rows": f.rows,
                        "counted_from": f.counted_from,
                    }
                    for f in ds.file_tokens()
                ],
                "batches_per_rank": batches,
                "sequences_per_rank": batches * self._pack.sequences_per_batch,
                "left_out": int(ds.left_out(progress)),
            }
        files = [
            {
                "path": f.path,
                "row_groups": f.row_groups,
                "rows": f.rows,
                "bytes": f.bytes,
                "page_index": f.page_index,
            }
            for f in ds.file_info()
        ]
        return {
            "files": files,
            "row_groups": sum(f["row_groups"] for f in files),
            "rows": sum(f["rows"] for f in files),
            "num_rows": int(ds.num_rows),
            "row_groups_read": len(ds.group_rows()),
            "bytes": sum(f["bytes"] for f in files),
            "columns": {
                c.name: {
                    "compressed_bytes": c.compressed_bytes,
                    "uncompressed_bytes": c.uncompressed_bytes,
                    "codecs": c.codecs,
                    "read": c.read,
                    "decoder": "fast" if c.fast_decode else "arrow",
                }
                for c in ds.column_info()
            },
            **({"tokens": tokens} if tokens is not None else {}),
        }

    def __repr__(self) -> str:
        ds = self._dataset()
        return (
            f"ParquetDataset({len(ds.files)} files, {ds.num_rows} rows, "
            f"columns={list(ds.columns)}, "
            f"batch_size={self._args['batch_size']}, rank={self._rank}/{self._world_size}, "
            f"shuffle={self._args['shuffle']}, epoch={self.epoch}, format={self._format!r}"
            + (f", pack={self._pack!r})" if self._pack is not None else ")")
        )

    def _repr_html_(self) -> str:
        import html

        info = self.info()
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{c['compressed_bytes']:,}</td>"
            f"<td>{c['uncompressed_bytes']:,}</td><td>{'yes' if c['read'] else ''}</td></tr>"
            for name, c in info["columns"].items()
        )
        return (
            f"<b>ParquetDataset</b>: {len(info['files'])} files, {info['row_groups']} row groups, "
            f"{info['num_rows']:,} rows, {info['bytes']:,} bytes; "
            f"rank {self._rank}/{self._world_size}, "
            f"batch_size {self._args['batch_size']}, epoch {self.epoch}"
            "<table><tr><th>column</th><th>compressed</th><th>uncompressed</th><th>read</th></tr>"
            f"{rows}</table>"
        )


def _make_class(impl: type, name: str) -> type:
    """``impl`` as a ``torch.utils.data.IterableDataset`` when torch is there."""
    bases: tuple[type, ...] = (impl,)
    if importlib.util.find_spec("torch") is not None:
        from torch.utils.data import IterableDataset

        bases = (impl, IterableDataset)
    return type(
        name,
        bases,
        {"__module__": __name__, "__qualname__": name, "__doc__": impl.__doc__},
    )


if TYPE_CHECKING:
    # What type checkers see; at run time the classes are built on first use.
    from ._packing import _MixImpl

    ParquetDataset = _ParquetDatasetImpl
    Mix = _MixImpl


def progress(
    batches: Any, *, desc: str | None = None, enabled: bool | None = None
) -> Iterator[Any]:
    """Iterate ``batches`` (a ParquetDataset or a DataLoader over one) with a progress bar.

    Parameters
    ----------
    batches : iterable
        What to iterate; ``len(batches)`` (when it has one) is the bar's total.
    desc : str, optional
        The bar's label (default ``"batches"``).
    enabled : bool, optional
        Show the bar: True always, False never, None (default) when a terminal
        or Jupyter is watching. tqdm draws it: a widget in Jupyter, text on a
        terminal.

    Yields
    ------
    object
        Each item of ``batches``, unchanged.

    Examples
    --------
    >>> for batch in hf3fs.dataset.progress(loader):  # doctest: +SKIP
    ...     train_step(batch)
    """
    try:
        total = len(batches)
    except TypeError:
        total = None
    return _progress.iterate(
        batches, total=total, desc=desc or "batches", unit="batch", enabled=enabled
    )


def __getattr__(name: str) -> Any:
    # Built on first use, so importing hf3fs.dataset does not import torch.
    if name == "ParquetDataset":
        cls = _make_class(_ParquetDatasetImpl, name)
        globals()[name] = cls
        return cls
    if name == "Mix":
        from ._packing import _MixImpl

        cls = _make_class(_MixImpl, name)
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
