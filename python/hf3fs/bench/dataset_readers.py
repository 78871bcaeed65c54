"""The readers of ``hf3fs bench dataset``, each run in a child process of its own
(the interleaved mode runs several in one; :mod:`hf3fs.bench.dataset` starts them
and prints the tables), and the latency-injecting fsspec file system the peers
read through in latency mode."""

from __future__ import annotations

import gc
import io
import os
import resource
import statistics
import time
from collections.abc import Iterator

import numpy as np

from .dataset import BATCH_SIZE, COLUMNS, LOADER_PREFIX
from .pagecache import evict, resident_fraction

MiB = 1 << 20
# CPU time is counted until this long after a pass: its threads winding down count for it.
SETTLE_S = 0.05


# -- latency-injecting fsspec file system (peers) -----------------------------


class SlowFile(io.RawIOBase):
    """A local file that sleeps before every read call."""

    def __init__(self, f, latency: float) -> None:
        super().__init__()
        self._f = f
        self._latency = latency

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._f.seek(pos, whence)

    def tell(self) -> int:
        return self._f.tell()

    def read(self, n: int = -1) -> bytes:
        time.sleep(self._latency)
        return self._f.read(n)

    def readinto(self, buf) -> int:
        time.sleep(self._latency)
        return self._f.readinto(buf)

    def close(self) -> None:
        self._f.close()
        super().close()


def slow_fsspec(latency: float):
    """An fsspec local file system, registered as ``slowfile://``, whose reads sleep first."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    class SlowLocalFileSystem(LocalFileSystem):
        protocol = ("slowfile",)

        @classmethod
        def _strip_protocol(cls, path):
            # Paths here are absolute; HF datasets hands back ``slowfile://tmp/...``.
            if isinstance(path, str) and path.startswith("slowfile:"):
                path = "/" + path[len("slowfile:") :].lstrip("/")
            return super()._strip_protocol(path)

        def unstrip_protocol(self, name: str) -> str:
            return f"slowfile://{self._strip_protocol(name)}"

        def _open(self, path, mode="rb", block_size=None, **kwargs):
            f = super()._open(path, mode, block_size=block_size, **kwargs)
            return SlowFile(f, latency) if "r" in mode else f

    fsspec.register_implementation("slowfile", SlowLocalFileSystem, clobber=True)
    return SlowLocalFileSystem(skip_instance_cache=True)


# -- the readers (run in the child) -------------------------------------------

Batch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # doc_id, ids, offsets, score


class NotApplicable(Exception):
    """The reader cannot run in this mode (printed as n/a)."""


def arrow_batches(batches) -> Iterator[Batch]:
    """numpy views of Arrow record batches' columns (zero-copy where Arrow allows)."""
    for rb in batches:
        ids = rb.column("input_ids")
        yield (
            rb.column("doc_id").to_numpy(),
            ids.values.to_numpy(),
            ids.offsets.to_numpy(),
            rb.column("score").to_numpy(),
        )


class Child:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.paths: list[str] = spec["paths"]
        self.mode: str = spec["mode"]
        self.latency = spec["latency_ms"] / 1000
        self.note = ""

    # Each returns a function that opens the reader and yields batches.
    def hf3fs(self):
        from hf3fs.dataset import ParquetDataset

        # One reader reading every row, whatever $RANK/$WORLD_SIZE say.
        kwargs: dict = {"prefetch_bytes": self.spec["prefetch_bytes"], "rank": 0, "world_size": 1}
        if self.mode == "latency":
            from hf3fs.fs import FileSystem

            # Latency per read call, as the peers' slow fsspec file system
            # injects it: listing, info and open are free for every reader.
            kwargs["filesystem"] = FileSystem.slow(
                FileSystem.local(), latency=self.latency, metadata_latency=0.0
            )

        def batches():
            ds = ParquetDataset(
                self.spec["dir"], columns=COLUMNS, batch_size=BATCH_SIZE, format="numpy", **kwargs
            )
            for b in ds:
                values, offsets = b["input_ids"]
                yield b["doc_id"], values, offsets, b["score"]

        return batches

    def pyarrow_file(self):
        import pyarrow.parquet as pq

        fs = self.pyarrow_fs()

        def batches():
            for path in self.paths:
                pf = pq.ParquetFile(path, filesystem=fs)
                yield from arrow_batches(pf.iter_batches(batch_size=BATCH_SIZE, columns=COLUMNS))

        return batches

    def pyarrow_dataset(self):
        import pyarrow.dataset as ds

        fs = self.pyarrow_fs()

        def batches():
            dataset = ds.dataset(self.spec["dir"], format="parquet", filesystem=fs)
            yield from arrow_batches(dataset.to_batches(columns=COLUMNS, batch_size=BATCH_SIZE))

        return batches

    def pyarrow_fs(self):
        if self.mode != "latency":
            return None
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        return PyFileSystem(FSSpecHandler(slow_fsspec(self.latency)))

    def hf_datasets(self):
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import datasets
        from datasets import load_dataset

        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
        files = self.paths
        if self.mode == "latency":
            slow_fsspec(self.latency)
            files = [f"slowfile://{p}" for p in self.paths]

        def batches():
            stream = load_dataset(
                "parquet", data_files=files, streaming=True, split="train", columns=COLUMNS
            )
            for table in stream.with_format("arrow").iter(batch_size=BATCH_SIZE):
                yield from arrow_batches(table.to_batches())

        return batches

    def polars(self):
        if self.mode == "latency":
            raise NotApplicable("scan_parquet takes no fsspec file system")
        import polars as pl

        pattern = os.path.join(self.spec["dir"], "*.parquet")
        streaming = hasattr(pl.LazyFrame, "collect_batches")
        if not streaming:
            self.note = "iter_slices fallback: collects the whole frame first"

        def batches():
            lazy = pl.scan_parquet(pattern).select(COLUMNS)
            if streaming:
                frames = lazy.collect_batches(chunk_size=BATCH_SIZE)
            else:  # older polars: materialise, then slice
                frames = lazy.collect().iter_slices(BATCH_SIZE)
            for df in frames:
                yield from arrow_batches(df.to_arrow().to_batches())

        return batches

    def daft(self):
        if self.mode == "latency":
            raise NotApplicable("read_parquet takes no fsspec file system")
        import daft

        pattern = os.path.join(self.spec["dir"], "*.parquet")

        def batches():
            df = daft.read_parquet(pattern).select(*COLUMNS)
            for rb in df.to_arrow_iter():
                yield from arrow_batches(
                    rb.slice(i, BATCH_SIZE) for i in range(0, rb.num_rows, BATCH_SIZE)
                )

        return batches

    def duckdb(self):
        if self.mode == "latency":
            raise NotApplicable("no per-read latency hook for read_parquet")
        import duckdb

        pattern = os.path.join(self.spec["dir"], "*.parquet")

        def batches():
            con = duckdb.connect()
            rel = con.sql(f"SELECT {', '.join(COLUMNS)} FROM read_parquet('{pattern}')")
            yield from arrow_batches(rel.fetch_record_batch(BATCH_SIZE))
            con.close()

        return batches

    def hf3fs_loader(self, workers: int):
        """``format="torch"`` batches through ``DataLoader(num_workers=workers)`` (fork)."""
        if self.mode != "warm":
            raise NotApplicable("DataLoader readers run in warm mode only")
        import torch
        from torch.utils.data import DataLoader

        from hf3fs.dataset import ParquetDataset

        # The consumer sums with numpy: torch's intra-op threads would only
        # spin on the cores the workers decode on.
        torch.set_num_threads(1)
        self.note = f"format='torch', DataLoader(num_workers={workers}, persistent_workers)"

        ds = ParquetDataset(
            self.spec["dir"],
            columns=COLUMNS,
            batch_size=BATCH_SIZE,
            format="torch",
            prefetch_bytes=self.spec["prefetch_bytes"],
            rank=0,
            world_size=1,
        )
        # Workers persist across passes, as across a training run's epochs: the
        # untimed pass starts them, the timed ones measure the steady stream.
        loader = DataLoader(
            ds,
            batch_size=None,
            num_workers=workers,
            multiprocessing_context="fork" if workers else None,
            persistent_workers=workers > 0,
        )

        def batches():
            for b in loader:
                values, offsets = b["input_ids"]
                yield b["doc_id"].numpy(), values.numpy(), offsets.numpy(), b["score"].numpy()

        return batches

    def run(self) -> dict:
        if self.mode == "interleaved":
            return self.interleaved()
        reader = self.spec["reader"]
        try:
            if reader.startswith(LOADER_PREFIX):
                make = self.hf3fs_loader(int(reader[len(LOADER_PREFIX) :]))
            else:
                make = getattr(self, reader.replace("-", "_"))()
        except ImportError as e:
            return {"status": "unavailable", "error": f"{type(e).__name__}: {e}"}
        except NotApplicable as e:
            return {"status": "n/a", "error": str(e)}
        base_rss = rss_now()
        try:
            # One untimed pass: the page cache (warm, latency) and lazy imports;
            # cold mode evicts the files again before each timed run.
            consume(make())
            seconds, cached, sums = [], [], set()
            for _ in range(self.spec["repeat"]):
                if self.mode == "cold":
                    for p in self.paths:
                        evict(p)
                cached.append(resident_fraction(*self.paths))
                start = time.perf_counter()
                result = consume(make())
                seconds.append(time.perf_counter() - start)
                sums.add(result)
        except NotApplicable as e:
            return {"status": "n/a", "error": str(e)}
        rows, checksum = sums.pop() if len(sums) == 1 else (-1, -1)
        return {
            "status": "ok",
            "note": self.note,
            "seconds": statistics.median(seconds),
            "all_seconds": seconds,
            "rows": rows,
            "checksum": checksum,
            "cached": statistics.mean(cached),
            "peak_rss_mib": peak_rss_mib(),
            "base_rss_mib": base_rss,
        }

    def interleaved(self) -> dict:
        """Every reader of ``spec["readers"]`` in this one process: each once untimed, then
        ``repeat`` rounds of one pass each, the order reversed every other round; the wall
        and CPU seconds (user + sys, every thread) of each pass. A reader that raises is
        an error and leaves the rounds; the others go on."""
        results: dict[str, dict] = {}
        makers = {}
        for reader in self.spec["readers"]:
            self.note = ""
            try:
                makers[reader] = getattr(self, reader.replace("-", "_"))()
            except ImportError as e:
                results[reader] = {"status": "unavailable", "error": f"{type(e).__name__}: {e}"}
            except NotApplicable as e:
                results[reader] = {"status": "n/a", "error": str(e)}
            else:
                results[reader] = {"status": "ok", "note": self.note}
        base_rss = rss_now()
        passes: dict[str, list[tuple[float, float, float]]] = {r: [] for r in makers}
        sums: dict[str, set] = {r: set() for r in makers}

        def one_pass(reader: str, timed: bool) -> None:
            gc.collect()
            cached = resident_fraction(*self.paths)
            cpu, start = time.process_time(), time.perf_counter()
            try:
                result = consume(makers[reader]())
            except Exception as e:
                results[reader] = {"status": "error", "error": f"{type(e).__name__}: {e}"}
                del makers[reader]
                return
            wall = time.perf_counter() - start
            time.sleep(SETTLE_S)
            if timed:
                passes[reader].append((wall, time.process_time() - cpu, cached))
                sums[reader].add(result)

        for reader in list(makers):
            one_pass(reader, timed=False)
        orders = []
        for i in range(self.spec["repeat"]):
            order = list(makers) if i % 2 == 0 else list(makers)[::-1]
            orders.append(order)
            for reader in order:
                one_pass(reader, timed=True)
        for reader in makers:
            seconds, cpu, cached = (list(x) for x in zip(*passes[reader], strict=True))
            rows, checksum = sums[reader].pop() if len(sums[reader]) == 1 else (-1, -1)
            results[reader].update(
                seconds=statistics.median(seconds),
                all_seconds=seconds,
                cpu_seconds=statistics.median(cpu),
                all_cpu_seconds=cpu,
                rows=rows,
                checksum=checksum,
                cached=statistics.mean(cached),
            )
        return {
            "status": "ok",
            "readers": results,
            "orders": orders,
            "base_rss_mib": base_rss,
            "peak_rss_mib": peak_rss_mib(),
        }


def consume(batches: Iterator[Batch]) -> tuple[int, int]:
    """Sum every value; (rows, checksum)."""
    rows = doc_sum = ids_sum = 0
    score_sum = 0.0
    for doc_id, values, offsets, score in batches:
        if len(offsets) != len(doc_id) + 1 or len(score) != len(doc_id):
            raise SystemExit(f"ragged batch: {len(doc_id)} ids, {len(offsets)} offsets")
        rows += len(doc_id)
        doc_sum += int(doc_id.sum(dtype=np.int64))
        ids_sum += int(values[offsets[0] : offsets[-1]].sum(dtype=np.int64))
        score_sum += float(score.sum(dtype=np.float64))
    return rows, doc_sum + ids_sum + round(score_sum)


def rss_now() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MiB


def peak_rss_mib() -> float:
    """This process's peak RSS. ``VmHWM`` rather than ``ru_maxrss``: Linux carries the
    parent's ``ru_maxrss`` over fork (vfork) + exec, so a child started by a big parent
    would report the parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
