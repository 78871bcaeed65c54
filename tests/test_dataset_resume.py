"""``ParquetDataset.state_dict`` / ``load_state_dict``: resuming mid-epoch continues exactly
where the interrupted run stopped, also on a different number of ranks (elastic), and from
a state taken in the main process for a DataLoader with workers."""

from __future__ import annotations

import functools
import json
import pickle

import pytest
from dataset_helpers import (
    LAYOUT,
    LAYOUT_600,
    flat,
    id_batches,
    ids,
    loader_order,
    make_dataset,
    total_rows,
    write_dataset,
)

from hf3fs.dataset import ParquetDataset

pytestmark = pytest.mark.usefixtures("no_dist_env")

N = total_rows(LAYOUT)  # 415
N600 = total_rows(LAYOUT_600)
BS = 16

# (shuffle, shuffle_window)
ORDERS = [(False, 0), (True, 0), (True, 48)]
ORDER_IDS = ["ordered", "shuffled", "windowed"]


make = functools.partial(make_dataset, batch_size=BS, seed=17)


def consume(ds: ParquetDataset, k: int) -> tuple[list, dict]:
    """Take ``k`` batches from a main-process iteration of ``ds``, then its state."""
    it = iter(ds)
    got = [ids(next(it)) for _ in range(k)]
    state = ds.state_dict()
    del it
    return got, state


def check_plain_state(state) -> dict:
    """The state is a flat dict of str -> int | str that survives JSON; returns the copy."""
    assert isinstance(state, dict) and state
    for key, value in state.items():
        assert isinstance(key, str), key
        assert isinstance(value, int | str) and not isinstance(value, bool), (key, value)
    copy = json.loads(json.dumps(state))
    assert copy == state
    return copy


def resolve_k(k, total: int) -> int:
    return {"end-1": total - 1, "end": total}.get(k, k)


# ---- resuming on the same ranks --------------------------------------------------------------


@pytest.mark.parametrize("rank, world", [(0, 1), (2, 3)])
@pytest.mark.parametrize("k", [0, 1, 5, "end-1", "end"])
@pytest.mark.parametrize("shuffle, window", ORDERS, ids=ORDER_IDS)
def test_resume_continues_exactly(data_415, shuffle, window, k, rank, world):
    kw = dict(shuffle=shuffle, shuffle_window=window, rank=rank, world_size=world)
    full_ds = make(data_415, **kw)
    full_ds.set_epoch(1)
    full = id_batches(full_ds)
    k = resolve_k(k, len(full))
    assert len(full) == len(full_ds)

    first_ds = make(data_415, **kw)
    first_ds.set_epoch(1)
    first, state = consume(first_ds, k)
    state = check_plain_state(state)

    # The new dataset is built with the same arguments; the epoch comes from the state.
    resumed = make(data_415, **kw)
    resumed.load_state_dict(state)
    rest = id_batches(resumed)
    assert len(first) + len(rest) == len(full)
    assert flat(first) + flat(rest) == flat(full)
    assert [len(b) for b in first + rest] == [len(b) for b in full]


@pytest.mark.parametrize("shuffle, window", ORDERS, ids=ORDER_IDS)
def test_resume_twice(data_415, shuffle, window):
    kw = dict(shuffle=shuffle, shuffle_window=window)
    full = flat(id_batches(make(data_415, **kw)))
    first, state = consume(make(data_415, **kw), 3)
    middle_ds = make(data_415, **kw)
    middle_ds.load_state_dict(check_plain_state(state))
    middle, state = consume(middle_ds, 6)
    last_ds = make(data_415, **kw)
    last_ds.load_state_dict(check_plain_state(state))
    assert flat(first) + flat(middle) + flat(id_batches(last_ds)) == full


def test_state_before_iterating_is_the_start(data_415):
    ds = make(data_415, shuffle=True)
    state = check_plain_state(ds.state_dict())
    resumed = make(data_415, shuffle=True)
    resumed.load_state_dict(state)
    assert flat(id_batches(resumed)) == flat(id_batches(make(data_415, shuffle=True)))


def test_state_from_a_different_dataset_is_refused(tmp_path, data_415):
    _, state = consume(make(data_415), 2)
    other_dir = tmp_path / "other"
    write_dataset(other_dir, [[10, 20], [30]])
    other = make(other_dir)
    with pytest.raises(ValueError):
        other.load_state_dict(state)
        list(other)


def test_state_from_the_same_paths_with_different_rows_is_refused(tmp_path):
    directory = tmp_path / "d"
    write_dataset(directory, [[50, 50], [40]])
    _, state = consume(make(directory), 2)
    for path in directory.iterdir():
        path.unlink()
    write_dataset(directory, [[50, 51], [40]])  # same file names, one row more
    changed = make(directory)
    with pytest.raises(ValueError):
        changed.load_state_dict(state)
        list(changed)


# ---- elastic: a different number of ranks after the restart -------------------------------


def elastic_run(directory, old_world, new_world, k, **kw):
    """``old_world`` ranks take ``k`` batches each; rank 0's state restarts ``new_world`` ranks.
    Returns (rows before, rows after per new rank)."""
    before = []
    states = []
    for rank in range(old_world):
        ds = make(directory, rank=rank, world_size=old_world, **kw)
        got, state = consume(ds, k)
        assert len(got) == k
        before += flat(got)
        states.append(check_plain_state(state))
    after = {}
    for rank in range(new_world):
        ds = make(directory, rank=rank, world_size=new_world, **kw)
        ds.load_state_dict(states[0])
        after[rank] = flat(id_batches(ds))
    return before, after


@pytest.mark.parametrize("shuffle", [False, True], ids=["ordered", "shuffled"])
@pytest.mark.parametrize("old_world, new_world, k", [(4, 3, 3), (2, 4, 4)])
def test_elastic_padded_covers_every_row(data_415, old_world, new_world, k, shuffle):
    before, after = elastic_run(
        data_415, old_world, new_world, k, shuffle=shuffle, drop_remainder=False, batch_size=10
    )
    assert len(before) == old_world * k * 10
    remaining = set(range(N)) - set(before)
    seen_after = {v for rows in after.values() for v in rows}
    assert remaining <= seen_after, f"rows never read: {sorted(remaining - seen_after)[:20]}"
    assert set(before) | seen_after == set(range(N))
    counts = {rank: len(rows) for rank, rows in after.items()}
    # The unread rows, padded to a multiple of the new world size: nothing read again needlessly.
    assert set(counts.values()) == {-(-len(remaining) // new_world)}, counts


@pytest.mark.parametrize("shuffle", [False, True], ids=["ordered", "shuffled"])
@pytest.mark.parametrize("old_world, new_world, k", [(4, 3, 3), (2, 4, 4)])
def test_elastic_exactly_once(data_600, old_world, new_world, k, shuffle):
    # 600 rows in batches of 10: 4 ranks x 3 batches leave 480 = 3 x 160 rows,
    # 2 ranks x 4 batches leave 520 = 4 x 130 rows; nothing needs dropping.
    before, after = elastic_run(
        data_600, old_world, new_world, k, shuffle=shuffle, drop_remainder=True, batch_size=10
    )
    everything = before + [v for rows in after.values() for v in rows]
    assert len(everything) == N600
    assert sorted(everything) == list(range(N600)), "a row was read twice or never"
    remaining = N600 - old_world * k * 10
    assert {len(rows) for rows in after.values()} == {remaining // new_world}


# ---- state for a DataLoader with workers, taken in the main process -------------------------


def worker_copies(ds: ParquetDataset, n: int) -> list[ParquetDataset]:
    """What each DataLoader worker receives: a copy of the main process's dataset."""
    blob = pickle.dumps(ds)
    return [pickle.loads(blob) for _ in range(n)]


@pytest.mark.parametrize("shuffle, window", ORDERS, ids=ORDER_IDS)
@pytest.mark.parametrize("k", [0, 1, 5, 13, "end-1", "end"])
@pytest.mark.parametrize("workers", [2, 3])
def test_state_for_dataloader_workers(data_415, workers, k, shuffle, window):
    kw = dict(shuffle=shuffle, shuffle_window=window, rank=1, world_size=2)

    def fresh():
        ds = make(data_415, **kw)
        ds.set_epoch(3)
        return ds

    full = loader_order([fresh() for _ in range(workers)])
    k = resolve_k(k, len(full))
    first = full[:k]  # what the interrupted loader had yielded

    main = fresh()  # the main process's dataset: never iterated itself
    state = check_plain_state(main.state_dict(batches=k, num_workers=workers))
    resumed = make(data_415, **kw)
    resumed.load_state_dict(state)
    rest = loader_order(worker_copies(resumed, workers))
    assert flat(first) + flat(rest) == flat(full)


def test_pickled_dataset_iterates_like_the_original(data_415):
    ds = make(data_415, shuffle=True, rank=1, world_size=3)
    ds.set_epoch(4)
    copy = pickle.loads(pickle.dumps(ds))
    assert flat(id_batches(copy)) == flat(id_batches(ds))
