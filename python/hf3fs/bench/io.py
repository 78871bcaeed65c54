"""Batched reads: ``client.preadv`` vs a Python ``os.preadv`` loop vs fio.

Two workloads, each on a page-cached file and on the same file evicted from
the page cache (``posix_fadvise(DONTNEED)`` before every run):

* 4 KiB random reads in batches of ``--batch`` (default 1,024);
* 1 MiB sequential reads (batches of 64 MiB).

Every reader moves the same bytes into the same memory (an hf3fs iovec; fio
uses its own buffers). The run also measures this machine's single-thread
memcpy bandwidth, the ceiling for copying out of the page cache on one core.
Prints a table (``--json`` for machines).

    python benchmarks/io.py                  # 1 GiB file on the embedded 'local' mount
    python benchmarks/io.py --size 256M --seconds 1
    python benchmarks/io.py --smoke          # tiny and quick (CI)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

# numpy's BLAS threads spin on idle cores and would steal them from the IO
# threads being measured; nothing here uses BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import hf3fs  # noqa: E402

from .pagecache import evict, resident_fraction, warm  # noqa: E402

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
RANDOM_ENTRY = 4 * KiB
# Sequential reads use 1 MiB entries, 64 per batch: 64 MiB per call keeps every
# IO thread busy and is far past any readahead window.
SEQ_ENTRY = MiB
SEQ_BATCH = 64
# fio runs each pattern at queue depth 64 on io_uring: the usual "what the
# device can do" figure, and the target the engine is held to.
FIO_DEPTH = 64
WORKLOADS = ["4k-random", "1m-sequential"]
CACHES = ["page-cached", "evicted"]


@dataclass
class Row:
    workload: str
    cache: str
    reader: str
    ops: int
    seconds: float
    bytes: int
    resident_before: float

    @property
    def iops(self) -> float:
        return self.ops / self.seconds

    @property
    def gbps(self) -> float:
        return self.bytes / self.seconds / 1e9


def parse_size(text: str) -> int:
    units = {"K": KiB, "M": MiB, "G": GiB}
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(t)


def memcpy_gbps(seconds: float) -> float:
    """Single-thread copy bandwidth between two 256 MiB buffers (bytes copied / s)."""
    n = 256 * MiB
    src = np.ones(n, dtype=np.uint8)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    copies, start = 0, time.perf_counter()
    while True:
        np.copyto(dst, src)
        copies += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return copies * n / elapsed / 1e9


def timed(run_batch: Callable[[int], int], batches: int, seconds: float) -> tuple[int, float]:
    """Run batches (cycling through `batches`) for about `seconds`; (ops, elapsed)."""
    ops, i, start = 0, 0, time.perf_counter()
    while True:
        ops += run_batch(i % batches)
        i += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return ops, elapsed


def check(results: list[int], expected: int, reader: str) -> None:
    if any(r != expected for r in results):
        raise SystemExit(f"{reader}: short or failed reads: {sorted(set(results))[:5]}")


class Bench:
    def __init__(self, args: argparse.Namespace, client: hf3fs.Client, server_path: str) -> None:
        self.args = args
        self.client = client
        self.local_path = os.path.join(client.mount_root, server_path.lstrip("/"))
        self.server_path = server_path
        self.size = os.path.getsize(self.local_path)
        rng = np.random.default_rng(args.seed)
        blocks = self.size // RANDOM_ENTRY
        # Pre-drawn batches of 4 KiB-aligned random offsets, cycled through.
        self.random_offsets = [
            (rng.integers(0, blocks, args.batch) * RANDOM_ENTRY).tolist()
            for _ in range(args.batches)
        ]
        seq_batch_bytes = SEQ_ENTRY * SEQ_BATCH
        self.seq_offsets = [
            list(range(b * seq_batch_bytes, (b + 1) * seq_batch_bytes, SEQ_ENTRY))
            for b in range(self.size // seq_batch_bytes)
        ]
        self.rows: list[Row] = []

    def measure(self, workload: str, cache: str, reader: str, run) -> None:
        if cache == "evicted":
            evict(self.local_path)
        else:
            warm(self.local_path)
        resident = resident_fraction(self.local_path)
        ops, seconds, nbytes = run()
        self.rows.append(Row(workload, cache, reader, ops, seconds, nbytes, resident))

    # -- readers -------------------------------------------------------------

    def hf3fs_reader(self, engine: str, workload: str):
        client = hf3fs.Client(
            self.client.mount_name, self.args.token, io_engine=engine, io_threads=self.args.threads
        )
        entry, offsets = self._pattern(workload)
        n = len(offsets[0])
        iov = client.iovalloc(entry * n)
        subs = [hf3fs.iovec(iov, i * entry, entry) for i in range(n)]
        fd = client.open(self.server_path, os.O_RDONLY)

        def run():
            def batch(i: int) -> int:
                results = client.preadv([(s, fd, o) for s, o in zip(subs, offsets[i], strict=True)])
                check(results, entry, f"hf3fs.{engine}")
                return n

            ops, elapsed = timed(batch, len(offsets), self.args.seconds)
            return ops, elapsed, ops * entry

        def close():
            client.close(fd)
            client.iovfree(iov)

        return f"hf3fs.preadv ({client.io_engine}, {client.io_threads} threads)", run, close

    def python_reader(self, workload: str):
        entry, offsets = self._pattern(workload)
        n = len(offsets[0])
        iov = self.client.iovalloc(entry * n)
        view = memoryview(iov)
        views = [view[i * entry : (i + 1) * entry] for i in range(n)]
        fd = os.open(self.local_path, os.O_RDONLY)

        def run():
            def batch(i: int) -> int:
                for v, o in zip(views, offsets[i], strict=True):
                    if os.preadv(fd, [v], o) != entry:
                        raise SystemExit("python loop: short read")
                return n

            ops, elapsed = timed(batch, len(offsets), self.args.seconds)
            return ops, elapsed, ops * entry

        def close():
            os.close(fd)
            for v in views:
                v.release()
            view.release()
            self.client.iovfree(iov)

        return "python os.preadv loop", run, close

    def fio_reader(self, workload: str, cache: str):
        fio = shutil.which("fio")
        if fio is None:
            return None
        rw, bs = ("randread", "4k") if workload == "4k-random" else ("read", "1m")

        def run():
            cmd = [
                fio,
                "--name=bench",
                f"--filename={self.local_path}",
                f"--rw={rw}",
                f"--bs={bs}",
                "--ioengine=io_uring",
                f"--iodepth={FIO_DEPTH}",
                f"--runtime={self.args.seconds}",
                "--time_based",
                "--direct=0",
                # Keep the page cache as this row's mode set it up.
                "--invalidate=0",
                f"--randseed={self.args.seed}",
                "--output-format=json",
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            job = json.loads(out[out.index("{") :])["jobs"][0]["read"]
            seconds = job["runtime"] / 1000
            return job["total_ios"], seconds, job["io_bytes"]

        return f"fio io_uring qd{FIO_DEPTH}", run, lambda: None

    def _pattern(self, workload: str) -> tuple[int, list[list[int]]]:
        if workload == "4k-random":
            return RANDOM_ENTRY, self.random_offsets
        return SEQ_ENTRY, self.seq_offsets

    def run_all(self) -> None:
        for workload in self.args.workloads:
            for cache in self.args.caches:
                readers = [self.hf3fs_reader(e, workload) for e in self.args.engines]
                readers.append(self.python_reader(workload))
                fio = None if self.args.no_fio else self.fio_reader(workload, cache)
                if fio is not None:
                    readers.append(fio)
                for name, run, close in readers:
                    try:
                        self.measure(workload, cache, name, run)
                    finally:
                        close()


def render(rows: list[Row], memcpy: float, args: argparse.Namespace) -> str:
    out = [
        f"file {args.size_text}, {args.seconds:g} s per reader, batches of {args.batch} x 4 KiB "
        f"and {SEQ_BATCH} x 1 MiB, {os.cpu_count()} CPUs",
        f"single-thread memcpy: {memcpy:.2f} GB/s",
        "",
    ]
    header = (
        f"{'workload':<14} {'cache':<12} {'reader':<36} {'cached':>6} {'IOPS':>10} "
        f"{'GB/s':>7} {'vs loop':>8} {'vs fio':>7} {'vs memcpy':>9}"
    )
    out += [header, "-" * len(header)]
    for workload in WORKLOADS:
        for cache in CACHES:
            group = [r for r in rows if r.workload == workload and r.cache == cache]
            loop = next((r for r in group if r.reader.startswith("python")), None)
            fio = next((r for r in group if r.reader.startswith("fio")), None)
            for r in group:
                vs_loop = f"{r.gbps / loop.gbps:.2f}x" if loop and r is not loop else ""
                vs_fio = f"{r.gbps / fio.gbps:.2f}x" if fio and r is not fio else ""
                vs_mem = f"{r.gbps / memcpy:.0%}" if workload == "1m-sequential" else ""
                out.append(
                    f"{workload:<14} {cache:<12} {r.reader:<36} {r.resident_before:>6.0%} "
                    f"{r.iops:>10,.0f} {r.gbps:>7.2f} {vs_loop:>8} {vs_fio:>7} {vs_mem:>9}"
                )
    return "\n".join(out)


def make_file(client: hf3fs.Client, path: str, size: int) -> None:
    """Write `size` bytes of random data at `path` (kept when it already has that size)."""
    try:
        if client.stat(path).st_size == size:
            return
    except FileNotFoundError:
        pass
    rng = np.random.default_rng(1)
    chunk = 64 * MiB
    fd = client.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        written = 0
        while written < size:
            n = min(chunk, size - written)
            written += n
            data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
            client.write(fd, data, flush=written == size)
    finally:
        client.close(fd)


def main(argv: list[str] | None = None, *, results: dict | None = None) -> int:
    """Run the benchmark; ``results``, when given, receives what ``--json`` prints."""
    p = argparse.ArgumentParser(prog="hf3fs bench io", description=__doc__.split("\n")[0])
    p.add_argument("--mount", default="local", help="mount to run on (default: local)")
    p.add_argument("--token", default="", help="token for the mount")
    p.add_argument("--size", default="1G", help="file size (default 1G)")
    p.add_argument("--seconds", type=float, default=2.0, help="time per reader (default 2)")
    p.add_argument("--batch", type=int, default=1024, help="4 KiB reads per batch")
    p.add_argument(
        "--batches", type=int, default=256, help="distinct random batches (cycled through)"
    )
    p.add_argument("--threads", type=int, default=None, help="IO threads (default: engine's)")
    p.add_argument("--engines", nargs="+", default=["uring", "threads"])
    p.add_argument("--workloads", nargs="+", default=WORKLOADS, choices=WORKLOADS)
    p.add_argument("--caches", nargs="+", default=CACHES, choices=CACHES)
    p.add_argument("--no-fio", action="store_true", help="leave fio out even when installed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--smoke", action="store_true", help="tiny, quick run (CI)")
    args = p.parse_args(argv)
    if args.smoke:
        args.size, args.seconds, args.batch, args.batches = "64M", 0.05, 64, 2
        args.no_fio = True
    args.size_text = args.size
    size = parse_size(args.size)
    min_size = SEQ_ENTRY * SEQ_BATCH
    if size < min_size:
        p.error(f"--size must be at least {min_size // MiB} MiB (one sequential batch)")

    client = hf3fs.Client(args.mount, args.token)
    try:
        client.mkdir("/bench")
    except FileExistsError:
        pass
    path = f"/bench/io-{size}.bin"
    make_file(client, path, size)
    bench = Bench(args, client, path)
    memcpy = memcpy_gbps(min(args.seconds, 1.0))
    bench.run_all()
    data = {
        "memcpy_gbps": memcpy,
        "rows": [asdict(r) | {"iops": r.iops, "gbps": r.gbps} for r in bench.rows],
    }
    if results is not None:
        results.update(data)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(render(bench.rows, memcpy, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
