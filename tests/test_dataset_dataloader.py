"""``ParquetDataset`` under torch: DataLoader workers (fork and spawn, persistent or not),
torchdata's StatefulDataLoader, torchrun ranks and bounded memory."""

from __future__ import annotations

import functools
import json
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from dataset_helpers import (
    DATALOADER_MARKS,
    LAYOUT_512,
    describe_exit,
    flat,
    free_port,
    id_batches,
    loader_order,
    make_dataset,
    run_python_file,
    subprocess_env,
    total_rows,
    write_dataset,
)
from torch.utils.data import DataLoader, IterableDataset
from torchdata.stateful_dataloader import StatefulDataLoader

pytestmark = DATALOADER_MARKS

N = total_rows(LAYOUT_512)  # 512: 1, 2 or 4 workers get whole 16-row batches
BS = 16
SEED = 21


make = functools.partial(
    make_dataset, batch_size=BS, shuffle=True, seed=SEED, columns=["row_id", "x"]
)


def expected_order(source, workers: int, epoch: int, **kwargs) -> list[int]:
    """Rows in the order a DataLoader with ``workers`` workers yields them for ``epoch``."""
    copies = [make(source, **kwargs) for _ in range(max(workers, 1))]
    for ds in copies:
        ds.set_epoch(epoch)
    return flat(loader_order(copies))


def test_is_an_iterable_dataset(data_512):
    assert isinstance(make(data_512), IterableDataset)


LOADERS = [
    (0, False, None),
    (2, False, "fork"),
    (2, True, "fork"),
    (4, False, "fork"),
    (4, True, "fork"),
    (2, False, "spawn"),
    (2, True, "spawn"),
]


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "workers, persistent, context",
    [
        pytest.param(
            w,
            p,
            c,
            id=f"w{w}-{'persistent' if p else 'fresh'}-{c}",
            marks=[pytest.mark.slow] if w else [],
        )
        for w, p, c in LOADERS
    ],
)
def test_dataloader_epochs(data_512, workers, persistent, context):
    ds = make(data_512)
    options = dict(batch_size=None, num_workers=workers)
    if workers:
        options.update(persistent_workers=persistent, multiprocessing_context=context)
    loader = DataLoader(ds, **options)
    epochs = []
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        batches = id_batches(loader)
        rows = flat(batches)
        # Every worker count divides 512: each row exactly once, as with num_workers=0.
        assert sorted(rows) == list(range(N)), f"epoch {epoch}: rows missing or repeated"
        assert all(len(b) == BS for b in batches)
        assert len(batches) == N // BS
        assert rows == expected_order(data_512, workers, epoch), (
            f"epoch {epoch}: not the order of the workers' plan for this epoch"
            + (" (set_epoch must reach persistent workers)" if persistent else "")
        )
        epochs.append(rows)
    assert epochs[0] != epochs[1], "set_epoch did not change the order"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_dataloader_torch_format(data_512):
    ds = make(data_512, format="torch", columns=["row_id", "x", "k"])
    loader = DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context="fork")
    seen = []
    for batch in loader:
        assert set(batch) == {"row_id", "x", "k"}
        assert batch["row_id"].dtype == torch.int64 and batch["k"].dtype == torch.int32
        torch.testing.assert_close(batch["x"], batch["row_id"].double() * 0.5)
        seen += batch["row_id"].tolist()
    assert sorted(seen) == list(range(N))


# ---- resuming ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("k", [3, 10])
def test_dataloader_resume_from_main_process_state(data_512, k):
    """A plain DataLoader with 2 workers: the main process's ``state_dict(batches=k,
    num_workers=2)`` restarts a new loader exactly where the old one stopped."""

    def loader(ds):
        return DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context="fork")

    full_ds = make(data_512)
    full_ds.set_epoch(1)
    full = flat(id_batches(loader(full_ds)))

    ds = make(data_512)
    ds.set_epoch(1)
    it = iter(loader(ds))
    first = flat(id_batches(next(it) for _ in range(k)))
    del it
    state = ds.state_dict(batches=k, num_workers=2)
    json.dumps(state)

    resumed = make(data_512)
    resumed.load_state_dict(state)
    rest = flat(id_batches(loader(resumed)))
    assert first + rest == full


@pytest.mark.slow
@pytest.mark.timeout(300)
# torchdata 0.11 calls torch.set_vital, which newer torch deprecates.
@pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")
@pytest.mark.parametrize("k", [1, 3, 10, N // BS - 1])
def test_stateful_dataloader_resume(data_512, k):
    def loader(ds):
        return StatefulDataLoader(ds, batch_size=None, num_workers=2)

    full = flat(id_batches(loader(make(data_512))))
    assert sorted(full) == list(range(N))

    interrupted = loader(make(data_512))
    it = iter(interrupted)
    first = flat(id_batches(next(it) for _ in range(k)))
    state = interrupted.state_dict()
    del it

    resumed = loader(make(data_512))
    resumed.load_state_dict(state)
    rest = flat(id_batches(resumed))
    assert first + rest == full


# ---- torchrun -----------------------------------------------------------------------------------

TORCHRUN_SCRIPT = textwrap.dedent(
    """
    import json, os, sys

    import torch.distributed as dist

    from hf3fs.dataset import ParquetDataset

    data_dir, result_path, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    # Only torch.distributed may tell the dataset its rank from here on.
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        os.environ.pop(name, None)

    ds = ParquetDataset(data_dir, batch_size=10, shuffle=True, seed=5, prefetch_bytes=4 << 20)
    ds.set_epoch(1)
    ids, sizes = [], []
    for batch in ds:
        ids += [int(v) for v in batch["row_id"]]
        sizes.append(len(batch["row_id"]))
    mine = {"rank": rank, "ids": ids, "sizes": sizes, "len": len(ds), "num_rows": ds.num_rows}
    gathered = [None] * world
    dist.all_gather_object(gathered, mine)
    if rank == 0:
        assert [g["rank"] for g in gathered] == list(range(world))
        everything = [v for g in gathered for v in g["ids"]]
        assert len(everything) == len(set(everything)) == total - total % world, len(everything)
        assert len({len(g["sizes"]) for g in gathered}) == 1, [g["sizes"] for g in gathered]
        assert all(g["len"] == len(g["sizes"]) for g in gathered)
        assert all(g["num_rows"] == total for g in gathered)
        with open(result_path, "w") as f:
            json.dump({"world": world, "ranks": gathered}, f)
    dist.barrier()
    dist.destroy_process_group()
    """
)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_torchrun_two_ranks(tmp_path):
    data = tmp_path / "data"
    write_dataset(data, [[7, 100, 33], [1, 64], [90]])  # 295 rows: one dropped on 2 ranks
    total = 295
    script = tmp_path / "train.py"
    script.write_text(TORCHRUN_SCRIPT)
    result = tmp_path / "result.json"
    env = subprocess_env(OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")
    proc = run_python_file(
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        str(script),
        str(data),
        str(result),
        str(total),
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, describe_exit(proc)
    report = json.loads(result.read_text())
    assert report["world"] == 2
    ranks = report["ranks"]
    ids = [v for r in ranks for v in r["ids"]]
    assert len(ids) == len(set(ids)) == total - 1
    assert ranks[0]["sizes"] == ranks[1]["sizes"]
    assert ranks[0]["ids"] != ranks[1]["ids"]


# ---- memory -------------------------------------------------------------------------------------

PREFETCH = 16 << 20
MIB = 1 << 20

MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, sys, threading, time

    from hf3fs.dataset import ParquetDataset

    data_dir, result_path, prefetch = sys.argv[1], sys.argv[2], int(sys.argv[3])


    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096


    def hwm() -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0


    ds = ParquetDataset(data_dir, batch_size=8192, prefetch_bytes=prefetch)
    expected_rows = ds.num_rows
    # Warm up imports and lazy set-up on a few batches, then measure a whole fresh epoch.
    it = iter(ds)
    for _ in range(3):
        next(it)
    del it

    try:  # reset the peak-RSS counter (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        hwm_reset = True
    except OSError:
        hwm_reset = False
    baseline = rss()
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rows = 0
    checksum = 0
    for batch in ds:
        rows += len(batch["row_id"])
        checksum += int(batch["row_id"][-1])
        del batch
    done.set()
    sampler.join()
    top = max(peak[0], hwm() if hwm_reset else 0)
    with open(result_path, "w") as f:
        json.dump({"rows": rows, "expected_rows": expected_rows, "growth": top - baseline}, f)
    """
)


def write_big_dataset(directory) -> tuple[int, int]:
    """~100 MB of incompressible Parquet in row groups of a few MB; returns (rows, bytes)."""
    rng = np.random.default_rng(0)
    directory.mkdir()
    rows_per_file = 360_000
    start = 0
    size = 0
    for i in range(4):
        n = rows_per_file
        lengths = rng.integers(0, 9, size=n)
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        table = pa.table(
            {
                "row_id": pa.array(np.arange(start, start + n, dtype=np.int64)),
                "r": pa.array(rng.integers(0, 2**62, size=n)),
                "f": pa.array(rng.random(n)),
                "l": pa.ListArray.from_arrays(
                    pa.array(offsets), pa.array(rng.integers(0, 2**62, size=int(offsets[-1])))
                ),
            }
        )
        path = directory / f"big-{i}.parquet"
        pq.write_table(table, str(path), row_group_size=40_000, compression="none")
        size += path.stat().st_size
        start += n
    return start, size


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_memory_stays_within_prefetch_budget(tmp_path):
    data = tmp_path / "big"
    rows, size = write_big_dataset(data)
    assert size > 6 * PREFETCH
    script = tmp_path / "memory.py"
    script.write_text(MEMORY_SCRIPT)
    result = tmp_path / "memory.json"
    proc = run_python_file(script, str(data), str(result), str(PREFETCH), timeout=280)
    assert proc.returncode == 0, describe_exit(proc)
    report = json.loads(result.read_text())
    assert report["rows"] == report["expected_rows"] == rows
    limit = PREFETCH + 96 * MIB
    assert report["growth"] < limit, (
        f"peak RSS grew {report['growth'] / MIB:.0f} MiB reading {size / MIB:.0f} MiB "
        f"with prefetch_bytes={PREFETCH // MIB} MiB (limit {limit // MIB} MiB)"
    )
