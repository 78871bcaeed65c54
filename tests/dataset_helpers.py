"""Shared helpers for the ``hf3fs.dataset`` tests: Parquet writers, batch readers, the
DataLoader order model and subprocess plumbing.

Datasets written here carry an int64 ``row_id`` column that numbers rows globally
``0..N-1`` across files in file (name) order, so any test can tell which rows it saw.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

# Row-group sizes per file: uneven groups (7, 100, 33, 1, 64 rows) and files of different lengths.
LAYOUT: list[list[int]] = [[7, 100, 33], [1], [64, 7, 100], [33, 1, 64, 5]]  # 415 rows
# 600 rows: divisible by 2, 3, 4, 5, 6, 8, 10, 12 (elastic exactly-once tests).
LAYOUT_600: list[list[int]] = [[7, 100, 33, 1, 64], [200], [95, 100]]
# 512 rows: 1, 2 or 4 workers each get a whole number of 16-row batches.
LAYOUT_512: list[list[int]] = [[7, 100, 33, 1, 64], [75], [232]]

# A small prefetch budget keeps the many datasets the tests build cheap.
SMALL_PREFETCH = 4 << 20

# Variables a dataset reads its rank and world size from when none are given.
DIST_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def make_dataset(source, **kwargs):
    """A ParquetDataset over ``source`` (a path or a list) with the tests' small prefetch."""
    from hf3fs.dataset import ParquetDataset

    kwargs.setdefault("prefetch_bytes", SMALL_PREFETCH)
    return ParquetDataset(source if isinstance(source, list) else str(source), **kwargs)


def total_rows(layout: Sequence[Sequence[int]]) -> int:
    return sum(sum(groups) for groups in layout)


def rows_table(start: int, n: int) -> pa.Table:
    """Rows ``start..start+n-1``: ``row_id`` plus a float, a string and an int32 column."""
    row_id = np.arange(start, start + n, dtype=np.int64)
    return pa.table(
        {
            "row_id": row_id,
            "x": row_id.astype(np.float64) * 0.5,
            "s": pa.array([f"r{i}" for i in row_id], type=pa.string()),
            "k": (row_id % 7).astype(np.int32),
        }
    )


def write_row_groups(path: str | Path, table: pa.Table, groups: Sequence[int], **options) -> None:
    """Write ``table`` to ``path`` with exactly the row-group sizes ``groups``."""
    assert sum(groups) == table.num_rows
    with pq.ParquetWriter(str(path), table.schema, **options) as writer:
        offset = 0
        for size in groups:
            writer.write_table(table.slice(offset, size), row_group_size=size)
            offset += size
    meta = pq.ParquetFile(str(path)).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == list(groups)


def write_dataset(
    directory: str | Path,
    layout: Sequence[Sequence[int]] = LAYOUT,
    *,
    prefix: str = "part",
    start: int = 0,
    **options,
) -> list[str]:
    """Write one file per entry of ``layout`` (its row-group sizes) into ``directory``.

    Files are named ``{prefix}-00000.parquet``, ... so name order is file order, and
    ``row_id`` numbers the rows ``start..`` across them. Returns the paths in order.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    options.setdefault("compression", "zstd")
    paths = []
    next_id = start
    for i, groups in enumerate(layout):
        n = sum(groups)
        path = directory / f"{prefix}-{i:05d}.parquet"
        write_row_groups(path, rows_table(next_id, n), groups, **options)
        paths.append(str(path))
        next_id += n
    return paths


def part_paths(directory: str | Path) -> list[str]:
    """The Parquet files ``write_dataset`` wrote into ``directory``, in (name) order."""
    return sorted(str(p) for p in Path(directory).glob("*.parquet"))


# Two files of 1,000 and 500 rows, ``id`` 0..1499 across them, ``vals`` three tokens a row:
# a.parquet all zstd, 4 row groups, no page index; b.parquet snappy (vals zstd), one row
# group, with a page index.
TWO_FILES: dict[str, dict] = {
    "a.parquet": {"rows": 1000, "row_groups": 4, "page_index": False},
    "b.parquet": {"rows": 500, "row_groups": 1, "page_index": True},
}


def write_two_files(directory: str | Path) -> dict[str, dict]:
    """Write the ``TWO_FILES`` dataset into ``directory``; returns ``TWO_FILES``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rows_a, rows_b = (TWO_FILES[name]["rows"] for name in ("a.parquet", "b.parquet"))
    table = pa.table(
        {
            "id": pa.array(range(rows_a + rows_b), pa.int64()),
            "name": [f"name-{i}" for i in range(rows_a + rows_b)],
            "vals": [[i, i + 1, i + 2] for i in range(rows_a + rows_b)],
        }
    )
    pq.write_table(
        table.slice(0, rows_a), directory / "a.parquet", compression="zstd", row_group_size=300
    )
    pq.write_table(
        table.slice(rows_a),
        directory / "b.parquet",
        compression={"id": "snappy", "name": "snappy", "vals.list.element": "zstd"},
        write_page_index=True,
    )
    return TWO_FILES


# ---- reading batches -----------------------------------------------------------------------


def as_record_batch(batch) -> pa.RecordBatch:
    """A batch of format "arrow" (anything with the Arrow PyCapsule interface) as pyarrow."""
    return pa.record_batch(batch)


def ids(batch) -> np.ndarray:
    """The ``row_id`` values of one batch of any format (numpy, torch or arrow)."""
    if isinstance(batch, dict):
        col = batch["row_id"]
        if hasattr(col, "detach"):  # a torch tensor
            col = col.detach().cpu().numpy()
        out = np.asarray(col)
    else:
        out = as_record_batch(batch).column("row_id").to_numpy()
    assert out.ndim == 1, out.shape
    return out.astype(np.int64, copy=False)


def id_batches(batches: Iterable) -> list[np.ndarray]:
    """``row_id`` arrays of every batch, in order."""
    return [ids(b) for b in batches]


def flat(batches: Iterable[np.ndarray]) -> list[int]:
    """Concatenate ``row_id`` arrays into one list of Python ints."""
    return [int(v) for arr in batches for v in arr]


def interleave(iterators: Sequence[Iterable]) -> Iterator:
    """The order a ``torch`` DataLoader yields the batches of its workers' iterators in:
    round robin from worker 0, skipping workers whose iterator is exhausted."""
    live = [iter(it) for it in iterators]
    active = list(range(len(live)))
    while active:
        still = []
        for w in active:
            try:
                item = next(live[w])
            except StopIteration:
                continue
            still.append(w)
            yield item
        active = still


def loader_order(datasets: Sequence) -> list[np.ndarray]:
    """Batches (row ids) in the order a DataLoader yields them when worker ``w`` holds
    ``datasets[w]``."""
    n = len(datasets)
    return id_batches(interleave([ds._iter_worker(w, n) for w, ds in enumerate(datasets)]))


def expected_sizes(rows: int, batch_size: int, drop_last: bool) -> list[int]:
    """Batch sizes for ``rows`` rows: full batches, then one shorter batch unless dropped."""
    sizes = [batch_size] * (rows // batch_size)
    if rows % batch_size and not drop_last:
        sizes.append(rows % batch_size)
    return sizes


# ---- environment and subprocesses ---------------------------------------------------------


# Marks of the DataLoader suites: no torchrun environment (conftest's ``no_dist_env``), and
# the warnings they provoke on purpose.
DATALOADER_MARKS = [
    pytest.mark.usefixtures("no_dist_env"),
    # More workers than this machine's cores is deliberate; Python 3.12+ warns on any fork of
    # a process with threads, which is what the fork context does.
    pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning"),
    pytest.mark.filterwarnings(
        "ignore:.*use of fork\\(\\) may lead to deadlocks:DeprecationWarning"
    ),
    # The DataLoader's default_convert turns numpy batches into tensors and warns once when an
    # array is read-only (a zero-copy view): allowed, the dataset need not copy for torch.
    pytest.mark.filterwarnings("ignore:The given NumPy array is not writable:UserWarning"),
]


def subprocess_env(**extra: str) -> dict[str, str]:
    """The test environment (HF3FS_HOME isolation included) without distributed variables."""
    env = {k: v for k, v in os.environ.items() if k not in DIST_ENV}
    env.update(extra)
    return env


def run_python_file(
    script: str | Path, *args: str, timeout: float = 240, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``script`` with this interpreter; a hang fails the test with the output so far."""
    try:
        return subprocess.run(
            [sys.executable, str(script), *args],
            env=subprocess_env() if env is None else env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"subprocess hung for {timeout} s; stdout: {e.stdout!r}\nstderr: {e.stderr!r}")


def describe_exit(proc: subprocess.CompletedProcess) -> str:
    """A readable account of how a subprocess ended (signals named) and its output tails."""
    code = proc.returncode
    how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
    return (
        f"{how}\n--- stdout (tail) ---\n{proc.stdout[-6000:]}"
        f"\n--- stderr (tail) ---\n{proc.stderr[-6000:]}"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
