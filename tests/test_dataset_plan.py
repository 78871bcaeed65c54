"""``hf3fs.dataset.ParquetDataset`` planning: which rows each (rank, DataLoader worker)
reads, in which order and in which batches.

DataLoader workers are simulated with the test hook ``ds._iter_worker(worker, num_workers)``;
each simulated worker gets its own dataset object, as a real worker gets its own copy.
"""

from __future__ import annotations

import functools
import os
import shutil
import uuid

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from dataset_helpers import (
    LAYOUT,
    expected_sizes,
    flat,
    id_batches,
    make_dataset,
    part_paths,
    total_rows,
    write_dataset,
)

pytestmark = pytest.mark.usefixtures("no_dist_env")

N = total_rows(LAYOUT)  # 415
BS = 16


make = functools.partial(make_dataset, batch_size=BS)


def run_slots(directory, world: int, workers: int, epoch: int = 0, **kwargs):
    """Batches (row_id arrays) of every (rank, worker)."""
    out = {}
    for rank in range(world):
        for worker in range(workers):
            ds = make(directory, rank=rank, world_size=world, **kwargs)
            ds.set_epoch(epoch)
            out[rank, worker] = id_batches(ds._iter_worker(worker, workers))
    return out


def sequence(slots) -> list[int]:
    """All rows of all slots, slot after slot."""
    return [v for key in sorted(slots) for v in flat(slots[key])]


# ---- exactly-once coverage and equal counts ------------------------------------------------


@pytest.mark.parametrize("shuffle", [False, True], ids=["ordered", "shuffled"])
@pytest.mark.parametrize("drop_remainder", [True, False], ids=["drop-rem", "pad-rem"])
@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_coverage_and_equal_counts(data_415, world, workers, drop_remainder, shuffle):
    directory = data_415
    slots_n = world * workers
    for epoch in (0, 1):
        slots = run_slots(
            directory,
            world,
            workers,
            epoch,
            shuffle=shuffle,
            seed=11,
            drop_remainder=drop_remainder,
        )
        assert len(slots) == slots_n
        rows = {key: flat(batches) for key, batches in slots.items()}
        counts = {key: len(r) for key, r in rows.items()}
        batch_counts = {key: len(b) for key, b in slots.items()}
        assert len(set(counts.values())) == 1, f"unequal row counts: {counts}"
        assert len(set(batch_counts.values())) == 1, f"unequal batch counts: {batch_counts}"
        per_slot = next(iter(counts.values()))
        everything = [v for r in rows.values() for v in r]
        assert all(0 <= v < N for v in everything)
        if drop_remainder:
            assert per_slot == N // slots_n
            assert len(everything) == N - N % slots_n
            assert len(set(everything)) == len(everything), "a row was yielded twice"
        else:
            assert per_slot == -(-N // slots_n)
            assert set(everything) == set(range(N)), "a row was never yielded"
        for key, batches in slots.items():
            sizes = [len(b) for b in batches]
            assert sizes == expected_sizes(per_slot, BS, drop_last=False), (key, sizes)
            assert all(b.dtype == np.int64 for b in batches)
        if workers == 1:
            for rank in range(world):
                ds = make(
                    directory,
                    rank=rank,
                    world_size=world,
                    shuffle=shuffle,
                    seed=11,
                    drop_remainder=drop_remainder,
                )
                ds.set_epoch(epoch)
                assert len(ds) == batch_counts[rank, 0]
                assert ds.num_rows == N


def test_main_process_iteration_is_worker_zero_of_one(data_415):
    directory = data_415
    for rank, world in [(0, 1), (1, 3)]:
        a = make(directory, rank=rank, world_size=world, shuffle=True, seed=3)
        b = make(directory, rank=rank, world_size=world, shuffle=True, seed=3)
        got = id_batches(a)
        assert flat(got) == flat(id_batches(b._iter_worker(0, 1)))
        assert len(a) == len(got)


def test_unshuffled_single_rank_reads_rows_in_file_order(data_415):
    directory = data_415
    paths = part_paths(directory)
    ds = make(directory)
    assert flat(id_batches(ds)) == list(range(N))
    assert ds.num_rows == N
    assert ds.files == paths
    expected_schema = pq.read_schema(paths[0]).remove_metadata()
    assert ds.schema.remove_metadata().equals(expected_schema)


def test_iterating_twice_gives_the_same_epoch(data_415):
    directory = data_415
    ds = make(directory, shuffle=True, seed=5, rank=1, world_size=2)
    ds.set_epoch(2)
    assert flat(id_batches(ds)) == flat(id_batches(ds))


# ---- shuffling -----------------------------------------------------------------------------


def test_shuffle_changes_order_but_not_rows(data_415):
    directory = data_415
    ordered = flat(id_batches(make(directory)))
    shuffled = flat(id_batches(make(directory, shuffle=True, seed=1)))
    assert shuffled != ordered
    assert sorted(shuffled) == ordered


@pytest.mark.parametrize("world, workers", [(1, 1), (2, 2)])
def test_epochs_and_seeds(data_415, world, workers):
    directory = data_415
    kw = dict(shuffle=True, drop_remainder=False)
    epoch0 = run_slots(directory, world, workers, 0, seed=1, **kw)
    epoch0_again = run_slots(directory, world, workers, 0, seed=1, **kw)
    epoch1 = run_slots(directory, world, workers, 1, seed=1, **kw)
    other_seed = run_slots(directory, world, workers, 0, seed=2, **kw)
    assert sequence(epoch0) == sequence(epoch0_again), "same seed and epoch, different order"
    assert sequence(epoch0) != sequence(epoch1), "epochs 0 and 1 gave the same order"
    assert sequence(epoch0) != sequence(other_seed), "seeds 1 and 2 gave the same order"
    for run in (epoch0, epoch1, other_seed):
        assert set(sequence(run)) == set(range(N))


@pytest.mark.parametrize("world, workers", [(1, 1), (2, 2)])
def test_shuffle_window_reorders_within_and_keeps_rows(data_415, world, workers):
    directory = data_415
    kw = dict(shuffle=True, seed=4, drop_remainder=True)
    plain = run_slots(directory, world, workers, **kw)
    windowed = run_slots(directory, world, workers, shuffle_window=64, **kw)
    windowed_again = run_slots(directory, world, workers, shuffle_window=64, **kw)
    assert sequence(windowed) != sequence(plain)
    assert sequence(windowed) == sequence(windowed_again), "window shuffle is not deterministic"
    for key in plain:
        assert sorted(flat(windowed[key])) == sorted(flat(plain[key])), key
        sizes = [len(b) for b in windowed[key]]
        assert sizes == [len(b) for b in plain[key]]


# ---- batches -------------------------------------------------------------------------------


@pytest.mark.parametrize("drop_last", [False, True])
def test_drop_last(data_415, drop_last):
    directory = data_415
    ds = make(directory, drop_last=drop_last)
    batches = id_batches(ds)
    sizes = [len(b) for b in batches]
    assert sizes == expected_sizes(N, BS, drop_last)
    assert len(ds) == len(batches)
    if drop_last:
        assert all(s == BS for s in sizes)
        assert flat(batches) == list(range(N - N % BS))
    else:
        assert sizes[-1] == N % BS
        assert flat(batches) == list(range(N))


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("world, workers", [(2, 2), (3, 1), (4, 3)])
def test_drop_last_with_ranks_and_workers(data_415, world, workers, drop_last):
    directory = data_415
    slots = run_slots(directory, world, workers, drop_last=drop_last, batch_size=10)
    per_slot = N // (world * workers)
    for key, batches in slots.items():
        assert [len(b) for b in batches] == expected_sizes(per_slot, 10, drop_last), key
    everything = sequence(slots)
    assert len(set(everything)) == len(everything)
    if workers == 1:
        ds = make(directory, rank=0, world_size=world, drop_last=drop_last, batch_size=10)
        assert len(ds) == len(slots[0, 0])


@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_larger_than_the_dataset(data_415, drop_last):
    directory = data_415
    ds = make(directory, batch_size=1000, drop_last=drop_last)
    batches = id_batches(ds)
    if drop_last:
        assert batches == [] and len(ds) == 0
    else:
        assert [len(b) for b in batches] == [N] and len(ds) == 1


def test_batch_size_one(data_415):
    directory = data_415
    ds = make(directory, batch_size=1, rank=2, world_size=4)
    batches = id_batches(ds)
    assert all(len(b) == 1 for b in batches)
    assert len(batches) == len(ds) == N // 4


# ---- ranks from the environment, sources -------------------------------------------------


def test_rank_and_world_size_from_environment(data_415, monkeypatch):
    directory = data_415
    explicit = flat(id_batches(make(directory, rank=1, world_size=3, shuffle=True)))
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    from_env = make(directory, shuffle=True)
    assert flat(id_batches(from_env)) == explicit
    assert len(from_env) == len(make(directory, rank=1, world_size=3))


def test_defaults_to_a_single_rank(data_415):
    directory = data_415
    assert flat(id_batches(make(directory))) == list(range(N))


def test_source_forms(data_415):
    directory = data_415
    paths = part_paths(directory)
    expected = list(range(N))
    assert flat(id_batches(make(directory))) == expected
    assert flat(id_batches(make(str(directory) + "/"))) == expected
    assert flat(id_batches(make(os.path.join(directory, "*.parquet")))) == expected
    assert flat(id_batches(make(list(paths)))) == expected
    assert flat(id_batches(make(f"file://{directory}"))) == expected
    # one file: just its rows
    first = sum(LAYOUT[0])
    assert flat(id_batches(make(paths[0]))) == list(range(first))
    # a list keeps its order
    second = sum(LAYOUT[1])
    swapped = flat(id_batches(make([paths[1], paths[0]])))
    assert swapped == list(range(first, first + second)) + list(range(first))


def test_hf3fs_url_source(data_415):
    """``hf3fs://local/...`` reads through the embedded ``local`` mount (rooted at HF3FS_HOME)."""
    paths = part_paths(data_415)
    name = f"dataset-{uuid.uuid4().hex}"
    root = os.path.join(os.environ["HF3FS_HOME"], name)
    os.makedirs(root)
    try:
        for p in paths:
            shutil.copy(p, root)
        ds = make(f"hf3fs://local/{name}", shuffle=True, seed=9)
        local = make(root, shuffle=True, seed=9)
        got = flat(id_batches(ds))
        assert got == flat(id_batches(local))
        assert sorted(got) == list(range(N))
        assert ds.num_rows == N
        assert len(ds.files) == len(paths)
    finally:
        shutil.rmtree(root)


def test_a_directory_ignores_files_that_are_not_parquet(tmp_path):
    paths = write_dataset(tmp_path, [[5, 6], [7]])
    (tmp_path / "README.txt").write_text("not parquet")
    (tmp_path / "_SUCCESS").write_bytes(b"")
    ds = make(tmp_path)
    assert ds.files == paths
    assert flat(id_batches(ds)) == list(range(18))


# ---- introspection -------------------------------------------------------------------------


def test_head_info_and_repr(data_415):
    directory = data_415
    ds = make(directory)
    head = ds.head(5)
    assert isinstance(head, pd.DataFrame)
    assert list(head.columns) == ["row_id", "x", "s", "k"]
    assert head["row_id"].tolist() == [0, 1, 2, 3, 4]
    assert head["s"].tolist() == ["r0", "r1", "r2", "r3", "r4"]
    info = ds.info()
    assert isinstance(info, dict) and info
    text = repr(ds)
    assert isinstance(text, str) and "ParquetDataset" in text
    html = ds._repr_html_()
    assert isinstance(html, str) and "<" in html
