"""Read coalescing against a modelled network store.

Reads the column chunks of a Parquet file (held in memory) through
``FileSystem.slow`` (a latency per request, plus the request's transfer time
at a bandwidth, 8 requests in flight like Arrow's IO pool), the way a Parquet
reader fetches all columns or a projection, with four plans:

* ``per-chunk, sequential``: one request per column chunk, one at a time
  (a reader without pre-buffering);
* ``no coalescing``: one request per column chunk, issued concurrently
  through a ``ReadRangeCache`` that never merges (hole 0, range 1 byte);
* ``arrow defaults``: ``CacheOptions.defaults()`` (hole 8 KiB, range 32 MiB);
* ``network metrics``: ``CacheOptions.from_network_metrics(latency, bandwidth)``.

For each it prints requests issued, bytes read (and how many of them the
reader did not need), and wall time. Every plan's bytes are checked against
direct reads. ``--json`` for machines.

    python benchmarks/coalesce.py                      # 2 ms per request, 500 MiB/s
    python benchmarks/coalesce.py --latency-ms 20 --bandwidth-mib 100
    python benchmarks/coalesce.py --smoke              # tiny and quick (CI)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hf3fs.fs import CacheOptions, FileSystem, ReadRangeCache

MiB = 1 << 20


@dataclass
class Row:
    plan: str
    columns: str
    chunks: int
    requests: int
    bytes_read: int
    bytes_needed: int
    seconds: float


def make_parquet(path: str, rows: int, columns: int, row_groups: int, seed: int) -> None:
    """A table of mixed columns: ints, floats, and short strings (dictionary-encoded)."""
    rng = np.random.default_rng(seed)
    data = {}
    for c in range(columns):
        kind = c % 3
        if kind == 0:
            data[f"i{c}"] = rng.integers(0, 1 << 40, rows)
        elif kind == 1:
            data[f"f{c}"] = rng.standard_normal(rows).astype(np.float32)
        else:
            data[f"s{c}"] = rng.choice(np.array([f"token-{i}" for i in range(500)]), rows)
    pq.write_table(pa.table(data), path, row_group_size=max(rows // row_groups, 1))


def chunk_ranges(path: str, every: int) -> tuple[list[tuple[int, int]], int]:
    """Byte ranges of every ``every``-th column's chunks, in every row group."""
    meta = pq.ParquetFile(path).metadata
    ranges = []
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        for c in range(0, rg.num_columns, every):
            col = rg.column(c)
            start = col.data_page_offset
            if col.has_dictionary_page and col.dictionary_page_offset is not None:
                start = min(start, col.dictionary_page_offset)
            ranges.append((start, col.total_compressed_size))
    return ranges, meta.num_columns


def run_plan(fs, rel, ranges, plan, options, expected, repeat) -> tuple[int, int, float]:
    """Requests and bytes of one run, and the median wall time of ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        file = fs.open_input_file(rel)
        fs.reset_stats()
        start = time.perf_counter()
        if options is None:
            got = [file.read_at(off, length) for off, length in ranges]
        else:
            cache = ReadRangeCache(file, options, strict=True)
            cache.cache(ranges)
            got = [cache.read(off, length) for off, length in ranges]
        times.append(time.perf_counter() - start)
        if [bytes(b) for b in got] != expected:
            raise SystemExit(f"{plan}: bytes differ from direct reads")
        stats = fs.stats()
    return stats["read_requests"], stats["bytes_read"], statistics.median(times)


def main(argv: list[str] | None = None, *, results: dict | None = None) -> int:
    """Run the benchmark; ``results``, when given, receives what ``--json`` prints."""
    ap = argparse.ArgumentParser(
        prog="hf3fs bench coalesce",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--columns", type=int, default=48)
    ap.add_argument("--row-groups", type=int, default=8)
    ap.add_argument("--latency-ms", type=int, default=2, help="per request (default 2)")
    ap.add_argument("--bandwidth-mib", type=int, default=500, help="per request (default 500)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="runs per plan; the median is shown")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny inputs (CI)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.rows, args.columns, args.row_groups, args.repeat = 20_000, 12, 2, 1

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="hf3fs-coalesce-") as tmp:
        path = os.path.join(tmp, "data.parquet")
        make_parquet(path, args.rows, args.columns, args.row_groups, args.seed)
        size = os.path.getsize(path)
        # The file is held in memory (a mock file system), so the timings are
        # the modelled store's alone, not this machine's disk or page cache.
        base = FileSystem.mock()
        with open(path, "rb") as src, base.open_output_stream("data.parquet") as out:
            out.write(src.read())
        fs = FileSystem.slow(
            base,
            latency=args.latency_ms / 1000,
            seed=args.seed,
            bandwidth=args.bandwidth_mib * MiB,
        )
        network = CacheOptions.from_network_metrics(args.latency_ms, args.bandwidth_mib)
        plans = [
            ("per-chunk, sequential", None),
            ("no coalescing", CacheOptions(hole_size_limit=0, range_size_limit=1)),
            ("arrow defaults", CacheOptions.defaults()),
            ("network metrics", network),
        ]
        direct = base.open_input_file("data.parquet")
        for every, label in [(1, "all"), (4, "every 4th")]:
            ranges, ncols = chunk_ranges(path, every)
            expected = [direct.read_at(off, length) for off, length in ranges]
            needed = sum(length for _, length in ranges)
            for plan, options in plans:
                requests, nbytes, seconds = run_plan(
                    fs, "data.parquet", ranges, plan, options, expected, args.repeat
                )
                rows.append(
                    Row(plan, label, len(ranges), requests, nbytes, needed, round(seconds, 4))
                )

    data = {
        "file_bytes": size,
        "latency_ms": args.latency_ms,
        "bandwidth_mib_s": args.bandwidth_mib,
        "network_options": repr(network),
        "rows": [asdict(r) for r in rows],
    }
    if results is not None:
        results.update(data)
    if args.json:
        json.dump(data, sys.stdout, indent=2)
        print()
        return 0
    print(
        f"Parquet file {size / MiB:.1f} MiB, {args.row_groups} row groups x {ncols} columns; "
        f"SlowFileSystem {args.latency_ms} ms/request, {args.bandwidth_mib} MiB/s per request"
    )
    print(f"network metrics -> {network!r}")
    print()
    header = (
        f"{'columns':<10} {'plan':<22} {'chunks':>6} {'requests':>8} "
        f"{'MiB read':>9} {'unneeded':>8} {'seconds':>8} {'vs per-chunk':>12}"
    )
    print(header)
    print("-" * len(header))
    baseline: dict[str, float] = {}
    for r in rows:
        baseline.setdefault(r.columns, r.seconds)
        extra = (r.bytes_read - r.bytes_needed) / max(r.bytes_needed, 1)
        print(
            f"{r.columns:<10} {r.plan:<22} {r.chunks:>6} {r.requests:>8} "
            f"{r.bytes_read / MiB:>9.2f} {extra:>7.1%} {r.seconds:>8.3f} "
            f"{baseline[r.columns] / r.seconds:>11.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
