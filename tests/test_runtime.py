"""The process's one IO runtime: bounded threads whatever the input, requests kept in
flight over slow storage, and Ctrl-C reaching every blocking path.

Thread counts and signals are per process, so the measuring runs in child processes
(a SIGINT that arrived after the call it was meant for would abort pytest itself).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_helpers import (
    describe_exit,
    ids,
    make_dataset,
    run_python_file,
    subprocess_env,
    write_dataset,
)

from hf3fs.fs import FileSystem, runtime_info

# The child's runtime settings: small, so the bound they imply is tight.
IO_THREADS = 2
LOCAL_REQUESTS = 4
REMOTE_REQUESTS = 16

CHILD_PRELUDE = textwrap.dedent(
    """
    import gc, json, os, sys, time

    def threads():
        return len(os.listdir("/proc/self/task"))

    def hf3fs_threads():
        # Threads hf3fs started (named hf3fs-*), not torch's or the allocator's.
        count = 0
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/comm") as f:
                    count += f.read().startswith("hf3fs")
            except OSError:
                pass  # the thread ended meanwhile
        return count

    def settle(limit, timeout=30.0):
        # Idle pool threads end after ~2 s: wait for the count to reach `limit`.
        deadline = time.monotonic() + timeout
        while threads() > limit and time.monotonic() < deadline:
            time.sleep(0.1)
        return threads()
    """
)


def write_small_files(directory: Path, n: int, rows: int = 4) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        table = pa.table({"row_id": np.arange(i * rows, (i + 1) * rows, dtype=np.int64)})
        path = directory / f"f-{i:05d}.parquet"
        pq.write_table(table, path)
        paths.append(str(path))
    return paths


def run_child(tmp_path: Path, body: str, *args: str, timeout: float = 300) -> dict:
    script = tmp_path / "child.py"
    script.write_text(CHILD_PRELUDE + textwrap.dedent(body))
    env = subprocess_env(
        HF3FS_IO_THREADS=str(IO_THREADS),
        HF3FS_IO_LOCAL_REQUESTS=str(LOCAL_REQUESTS),
        HF3FS_IO_REMOTE_REQUESTS=str(REMOTE_REQUESTS),
    )
    proc = run_python_file(script, *args, env=env, timeout=timeout)
    assert proc.returncode == 0, describe_exit(proc)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_runtime_info_reports_limits_from_the_settings():
    info = runtime_info()
    assert info["max_request_threads"] == info["local_requests"] + info["remote_requests"]
    assert info["max_io_threads"] >= 1 and info["max_cpu_threads"] >= 1
    for key in ("request_threads", "io_threads", "cpu_threads"):
        assert 0 <= info[key] <= info[f"max_{key}"]
    assert info["engine_threads"] >= 0


@pytest.mark.slow
def test_threads_stay_bounded_for_many_files_and_datasets_and_drop_back(tmp_path):
    paths = write_small_files(tmp_path / "data", 1000)
    (tmp_path / "paths.json").write_text(json.dumps(paths))
    result = run_child(
        tmp_path,
        """
        from hf3fs.dataset import ParquetDataset
        from hf3fs.fs import runtime_info

        paths = json.load(open(sys.argv[1]))
        base = threads()
        peak = hf3fs_threads()
        rows = 0
        ds = ParquetDataset(paths, batch_size=64, prefetch_bytes=4 << 20)
        peak = max(peak, hf3fs_threads())
        for batch in ds:
            rows += len(batch["row_id"])
            peak = max(peak, hf3fs_threads())
        # 20 datasets of 50 files each, iterated together (round robin).
        many = [
            ParquetDataset(paths[i * 50 : (i + 1) * 50], batch_size=16, prefetch_bytes=1 << 20)
            for i in range(20)
        ]
        peak = max(peak, hf3fs_threads())
        live = [iter(d) for d in many]
        many_rows = 0
        while live:
            still = []
            for it in live:
                try:
                    batch = next(it)
                except StopIteration:
                    continue
                many_rows += len(batch["row_id"])
                peak = max(peak, hf3fs_threads())
                still.append(it)
            live = still
        info = runtime_info()
        del ds, many, live, it
        gc.collect()
        after = settle(base + info["engine_threads"])
        print(json.dumps({"base": base, "peak": peak, "after": after, "rows": rows,
                          "many_rows": many_rows, "info": runtime_info()}))
        """,
        str(tmp_path / "paths.json"),
    )
    assert result["rows"] == 4000 and result["many_rows"] == 4000
    info = result["info"]
    cores = info["max_cpu_threads"]
    # Every hf3fs thread is a runtime pool's: IO engine + local request lane +
    # file system pool + the one CPU pool (no pool per dataset or reader).
    bound = IO_THREADS + LOCAL_REQUESTS + info["max_io_threads"] + cores
    assert result["peak"] <= bound, result
    assert info["cpu_threads"] == cores, info
    # The elastic pools give their threads back; the IO engine's and the CPU
    # pool's (rayon's, started once) stay.
    assert result["after"] <= result["base"] + IO_THREADS + cores, result


@pytest.mark.slow
def test_threads_stay_bounded_in_a_forked_dataloader_worker(tmp_path):
    paths = write_small_files(tmp_path / "data", 200)
    (tmp_path / "paths.json").write_text(json.dumps(paths))
    result = run_child(
        tmp_path,
        """
        import torch
        from torch.utils.data import DataLoader
        from hf3fs.dataset import ParquetDataset
        from hf3fs.fs import runtime_info

        def with_thread_count(batch):
            return batch["row_id"].shape[0], threads()

        paths = json.load(open(sys.argv[1]))
        ds = ParquetDataset(paths, batch_size=8, prefetch_bytes=1 << 20)
        ParquetDataset(paths[:5])  # the parent's runtime is started before the fork
        loader = DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context="fork",
                            collate_fn=with_thread_count)
        rows, peak = 0, 0
        for n, count in loader:
            rows += n
            peak = max(peak, count)
        print(json.dumps({"rows": rows, "peak": peak, "info": runtime_info()}))
        """,
        str(tmp_path / "paths.json"),
    )
    assert result["rows"] == 800
    cores = result["info"]["max_cpu_threads"]
    bound = IO_THREADS + LOCAL_REQUESTS + result["info"]["max_io_threads"] + cores
    # A worker starts with one thread (the fork copies only the caller's); a few
    # more may come from torch's worker machinery.
    assert result["peak"] <= 1 + bound + 4, result


def test_a_slow_store_keeps_many_reads_in_flight_with_identical_batches(tmp_path):
    # 3 files x 8 row groups: 24 pieces, each its own round trip. Uncompressed, each file is
    # above 1 MiB, so its footer read does not bring it whole (a small remote file's would).
    paths = write_dataset(tmp_path / "data", [[6000] * 8] * 3, compression="none")
    kwargs = dict(batch_size=192, shuffle=True, seed=5, shuffle_window=64, format="arrow")
    fast = [pa.record_batch(b) for b in make_dataset(paths, **kwargs)]
    slow = FileSystem.slow(FileSystem.local(), latency=0.02, seed=1)
    slow_batches = [pa.record_batch(b) for b in make_dataset(paths, filesystem=slow, **kwargs)]
    assert len(slow_batches) == len(fast) == 750
    for a, b in zip(fast, slow_batches, strict=True):
        assert a.equals(b)
    assert sorted(int(v) for b in slow_batches for v in ids(b)) == list(range(144_000))
    stats = slow.stats()
    assert stats["peak_in_flight"] >= 8, stats


INTERRUPTS = """
import signal, threading
import numpy as np
from hf3fs.dataset import ParquetDataset
from hf3fs.fs import FileSystem, ReadRangeCache, CacheOptions

paths = json.load(open(sys.argv[1]))
big = sys.argv[2]

def interrupted(call, after=0.5):
    timer = threading.Timer(after, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        try:
            call()
            outcome = "completed"
        except KeyboardInterrupt:
            outcome = "interrupted"
        timer.join()
    except KeyboardInterrupt:
        outcome = "completed before the signal"
    return outcome

# Warm up: start the runtime's pools, then let them go idle.
list(ParquetDataset(paths[:3]))
warm = FileSystem.slow(FileSystem.local(), latency=0.01)
warm.open_input_file(big).read_many([(0, 10), (100, 10)])
time.sleep(3)
base = threads()
results = {}

slow = FileSystem.slow(FileSystem.local(), latency=1.0)
results["open"] = interrupted(lambda: ParquetDataset(paths, filesystem=slow))
results["open_requests"] = slow.stats()["read_requests"] + slow.stats()["metadata_requests"]

slow = FileSystem.slow(FileSystem.local(), latency=0.2)
f = slow.open_input_file(big)
ranges = [(i * 3, 1) for i in range(3000)]
results["read_many"] = interrupted(lambda: f.read_many(ranges))
results["read_many_requests"] = slow.stats()["read_requests"]

slow = FileSystem.slow(FileSystem.local(), latency=0.2)
cache = ReadRangeCache(slow.open_input_file(big), CacheOptions(hole_size_limit=0))
cache.cache(ranges)
results["cache_wait"] = interrupted(cache.wait)
del cache
gc.collect()
time.sleep(0.5)
results["cache_requests"] = slow.stats()["read_requests"]

results["base"] = base
results["after"] = settle(base)
print(json.dumps(results))
"""


@pytest.mark.slow
def test_ctrl_c_interrupts_open_read_many_and_cache_wait_leaving_no_thread(tmp_path):
    paths = write_small_files(tmp_path / "data", 200)
    (tmp_path / "paths.json").write_text(json.dumps(paths))
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 64)
    result = run_child(tmp_path, INTERRUPTS, str(tmp_path / "paths.json"), str(big))
    assert result["open"] == "interrupted", result
    assert result["read_many"] == "interrupted", result
    assert result["cache_wait"] == "interrupted", result
    # Each stopped early: far fewer requests than the work asked for.
    assert result["open_requests"] < 200, result
    assert result["read_many_requests"] < 3000, result
    assert result["cache_requests"] < 3000, result
    assert result["after"] <= result["base"], result


@pytest.mark.parametrize("latency", [0.0, 0.005])
def test_reads_through_the_scheduler_match_direct_reads(tmp_path, latency):
    data = bytes(np.random.default_rng(3).integers(0, 256, 50_000, dtype=np.uint8))
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    fs = (
        FileSystem.local() if latency == 0 else FileSystem.slow(FileSystem.local(), latency=latency)
    )
    f = fs.open_input_file(str(path))
    ranges = [(0, 10), (49_990, 100), (1234, 0), (20_000, 5000), (60_000, 5)]
    got = f.read_many(ranges)
    assert got == [data[o : o + n] for o, n in ranges]


def test_slow_metadata_latency_is_checked_and_counted_apart_from_reads(tmp_path):
    with pytest.raises(ValueError, match="metadata_latency"):
        FileSystem.slow(FileSystem.local(), latency=0.0, metadata_latency=-1.0)
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100)
    slow = FileSystem.slow(FileSystem.local(), latency=0.0, metadata_latency=0.0)
    f = slow.open_input_file(str(path))
    assert f.read_many([(0, 10), (50, 10)]) == [b"x" * 10] * 2
    stats = slow.stats()
    assert (stats["metadata_requests"], stats["read_requests"]) == (1, 2), stats
