"""``hf3fs demo``: a token dataset on a mount, streamed as ranks x workers, checked."""

from __future__ import annotations

import argparse
import os
import time

from ._default import setupDefaultClient

DEMO_DATASET = "hf3fs-demo/tokens"
COLUMNS = ["doc_id", "input_ids", "score"]


def run_dataset(args: argparse.Namespace) -> int:
    """Generate (if absent), stream as ``--ranks`` x ``--workers`` with a shuffle, verify."""
    if args.shuffle_window < 0:
        raise ValueError("--shuffle-window must not be negative")
    for name in ("rows", "files", "ranks", "workers", "batch_size"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive")
    if args.rows < args.files:
        raise ValueError("--rows must be at least --files")
    try:
        import numpy as np

        from .bench.dataset import existing_dataset, generate
        from .dataset import ParquetDataset
    except ImportError as e:
        raise ImportError(
            f"hf3fs demo needs numpy and pyarrow ({e}): pip install 'hf3fs[dataset,arrow]'"
        ) from e

    client = setupDefaultClient(args.mount, args.token)
    mount = client.mount_name
    directory = os.path.join(client.mount_root, DEMO_DATASET)
    source = f"hf3fs://{mount}/{DEMO_DATASET}"
    print(f"mount {mount!r} at {client.mount_root}")
    start = time.perf_counter()
    info = (
        None if args.regenerate else existing_dataset(directory, args.rows, args.files, args.seed)
    )
    if info is None:
        os.makedirs(directory, exist_ok=True)
        for stale in os.listdir(directory):
            if stale.endswith(".parquet"):
                os.remove(os.path.join(directory, stale))
        generate(directory, args.rows, args.files, args.seed)
        made = f"generated in {time.perf_counter() - start:.1f} s"
    else:
        made = "already there"

    ranks, workers = args.ranks, args.workers
    datasets = [
        ParquetDataset(
            source,
            columns=COLUMNS,
            batch_size=args.batch_size,
            shuffle=True,
            seed=args.seed,
            shuffle_window=args.shuffle_window,
            rank=rank,
            world_size=ranks,
        )
        for rank in range(ranks)
    ]
    first = datasets[0].info()
    read_bytes = sum(first["columns"][c]["compressed_bytes"] for c in COLUMNS)
    print(
        f"dataset {source}: {len(first['files'])} files, {first['row_groups']} row groups, "
        f"{first['num_rows']:,} rows, {first['bytes'] / 1e6:.1f} MB ({made})"
    )
    print(
        f"stream  {ranks} ranks x {workers} workers, shuffle seed {args.seed} "
        f"(row groups, and rows within windows of {args.shuffle_window}), "
        f"batches of {args.batch_size}, columns {', '.join(COLUMNS)}"
    )

    seen: list[np.ndarray] = []
    batches: dict[tuple[int, int], int] = {}
    rows_read = 0
    tokens = 0
    t0 = time.perf_counter()
    for rank, ds in enumerate(datasets):
        for worker in range(workers):
            n = 0
            for batch in ds._iter_worker(worker, workers):
                seen.append(batch["doc_id"])
                values, _ = batch["input_ids"]
                tokens += len(values)
                rows_read += len(batch["doc_id"])
                n += 1
            batches[(rank, worker)] = n
    seconds = time.perf_counter() - t0

    ids = np.concatenate(seen) if seen else np.empty(0, dtype=np.int64)
    unique = np.unique(ids)
    spans = ranks * workers
    expected = (first["num_rows"] // spans) * spans  # drop_remainder: equal spans
    per_rank = {r: sum(batches[(r, w)] for w in range(workers)) for r in range(ranks)}
    for rank in range(ranks):
        cells = "  ".join(f"worker {w}: {batches[(rank, w)]} batches" for w in range(workers))
        print(f"rank {rank}  {cells}  (total {per_rank[rank]})")
    # Fraction of the stream, so the shuffle is visible: the first ids rank 0 read.
    print(f"first ids of rank 0, worker 0 (shuffled): {seen[0][:6].tolist() if seen else []}")
    duplicates = len(ids) - len(unique)
    in_range = bool(len(unique) == 0 or (unique[0] >= 0 and unique[-1] < first["num_rows"]))
    ok = duplicates == 0 and len(ids) == expected and in_range and len(set(per_rank.values())) == 1
    print(
        f"read    {rows_read:,} rows ({tokens:,} tokens) in {seconds:.2f} s: "
        f"{rows_read / max(seconds, 1e-9):,.0f} rows/s, "
        f"{read_bytes / max(seconds, 1e-9) / 1e6:,.0f} MB/s of column data"
    )
    dropped = first["num_rows"] - expected
    if ok:
        print(
            f"result  OK: every row read exactly once ({len(unique):,} rows; {dropped} left "
            f"over by the equal split), every rank {per_rank[0]} batches"
        )
        return 0
    print(
        f"result  MISMATCH: {len(ids):,} rows read, {len(unique):,} distinct, "
        f"{duplicates} duplicates, expected {expected:,}; batches per rank {per_rank}"
    )
    return 1
