"""``format="torch"`` batches from DataLoader workers in shared memory (``hf3fs._shared``):
the training process gets plain dicts of tensors mapped from the workers' ``hf3fs-batch``
memfds, with the values in-process iteration gives (fork, spawn, 0-4 workers), writable and
aliasing no other batch; nothing leaks (fds, mappings, /dev/shm), even when a worker is
killed; strings and nulls take the ordinary path; a worker's collate_fn reads the batch."""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import textwrap
import time

import numpy as np
import pyarrow as pa
import pytest
import torch
from dataset_helpers import (
    DATALOADER_MARKS,
    LAYOUT_512,
    describe_exit,
    interleave,
    make_dataset,
    run_python_file,
    total_rows,
    write_row_groups,
)
from torch.utils.data import DataLoader, default_convert

pytestmark = [*DATALOADER_MARKS, pytest.mark.timeout(120)]

N = total_rows(LAYOUT_512)  # 512: 1, 2 or 4 workers get whole 16-row batches
BS = 16
SEGMENT = "/memfd:hf3fs-batch"
make = functools.partial(make_dataset, batch_size=BS, shuffle=True, seed=3, format="torch")


def token_table(n: int) -> pa.Table:
    """row_id; tokens: list<int32> of row_id % 7 (some empty); f32; fixed_size_list; struct."""
    row_id = np.arange(n, dtype=np.int64)
    lengths = row_id % 7
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = np.concatenate([r * 10 + np.arange(k) for r, k in zip(row_id, lengths, strict=True)])
    return pa.table(
        {
            "row_id": row_id,
            "tokens": pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa.int32())),
            "f": row_id.astype(np.float32) * 0.25,
            "emb": pa.FixedSizeListArray.from_arrays(
                pa.array(np.arange(3 * n, dtype=np.float32)), 3
            ),
            "st": pa.StructArray.from_arrays(
                [pa.array((row_id % 100).astype(np.int16)), pa.array(-row_id)], ["a", "b"]
            ),
        }
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("shared")
    table, start = token_table(N), 0
    for i, groups in enumerate(LAYOUT_512):
        write_row_groups(directory / f"t-{i}.parquet", table.slice(start, sum(groups)), groups)
        start += sum(groups)
    return directory


def expected(source, workers: int, **kwargs) -> list:
    """The batches, in order, a DataLoader with ``workers`` workers yields (in-process)."""
    n = max(workers, 1)
    return list(interleave([make(source, **kwargs)._iter_worker(w, n) for w in range(n)]))


def assert_same(got, want, where: str = "batch") -> None:
    """``got`` has the structure, types, dtypes, shapes and values of ``want``."""
    if isinstance(want, dict):
        assert type(got) is dict, f"{where}: {type(got)} is not a plain dict"
        assert list(got) == list(want), where
        for k in want:
            assert_same(got[k], want[k], f"{where}[{k!r}]")
    elif isinstance(want, (tuple, list)):  # list: what DataLoader's default_convert makes
        assert type(got) is type(want), f"{where}: {type(got)}, not {type(want)}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, torch.Tensor):
        assert isinstance(got, torch.Tensor), f"{where}: {type(got)}"
        assert (got.dtype, got.shape) == (want.dtype, want.shape), where
        assert torch.equal(got, want), f"{where}: values differ"
    else:
        assert isinstance(got, np.ndarray) and got.dtype == want.dtype == object, where
        assert got.tolist() == want.tolist(), f"{where}: values differ"


def leaves(node) -> list:
    if isinstance(node, dict):
        return [t for v in node.values() for t in leaves(v)]
    if isinstance(node, (tuple, list)):
        return [t for v in node for t in leaves(v)]
    return [node] if isinstance(node, torch.Tensor) else []


def segment_fds() -> list[str]:
    """This process's file descriptors of hf3fs batch segments."""
    links = {}
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # listdir's own descriptor, gone by now
            links[fd] = os.readlink(f"/proc/self/fd/{fd}")
    return [fd for fd, link in links.items() if link.startswith(SEGMENT)]


def segment_maps() -> list[tuple[int, int]]:
    """Address ranges of this process's mappings of hf3fs batch segments."""
    with open("/proc/self/maps") as f:
        lines = [line.split() for line in f if SEGMENT in line]
    return [tuple(int(x, 16) for x in parts[0].split("-")) for parts in lines]


def in_segment(t: torch.Tensor, maps: list[tuple[int, int]]) -> bool:
    end = t.data_ptr() + t.numel() * t.element_size()
    return any(lo <= t.data_ptr() and end <= hi for lo, hi in maps)


def shm_names() -> list[str]:
    return sorted(n for n in os.listdir("/dev/shm") if n.startswith("hf3fs"))


def loader(ds, workers: int, context: str | None = "fork", **kwargs) -> DataLoader:
    if workers:
        kwargs.update(num_workers=workers, multiprocessing_context=context)
    return DataLoader(ds, batch_size=None, **kwargs)


LOADERS = [(0, None)] + [(w, c) for c in ("fork", "spawn") for w in (1, 2, 4)]


@pytest.mark.parametrize(
    "workers, context",
    [pytest.param(w, c, id=f"w{w}-{c}", marks=[pytest.mark.slow] if w else []) for w, c in LOADERS],
)
def test_batches_arrive_as_dicts_of_shared_tensors_with_in_process_values(
    data_dir, workers, context
):
    want = expected(data_dir, workers)
    assert len(want) == N // BS
    if not workers:  # the main process's DataLoader converts tuples to lists
        want = [default_convert(b) for b in want]
    # Each batch is dropped before the next: the workers reuse segments as they free up.
    for got, ref in zip(loader(make(data_dir), workers, context), want, strict=True):
        assert_same(got, ref)
        assert isinstance(got["tokens"], tuple if workers else list) and got["emb"].ndim == 2
        maps = segment_maps()  # zero-copy: every tensor lies in a segment, or none does
        assert {in_segment(t, maps) for t in leaves(got)} == {workers > 0}


@pytest.mark.slow
def test_received_tensors_are_writable_and_share_memory_with_no_other_batch(data_dir):
    want = expected(data_dir, 2)
    # The whole epoch is held at once: no segment may be reused while a batch lives.
    held = list(loader(make(data_dir), 2))  # and the workers are gone by now
    for got, ref in zip(held, want, strict=True):
        assert_same(got, ref)
    # One mapping per held batch (the descriptor is closed once mapped).
    assert len(segment_maps()) >= len(held)
    assert not segment_fds()
    victim = held[3]
    values, offsets = victim["tokens"]
    values.fill_(-1)
    victim["row_id"] += 1
    victim["st"]["a"].zero_()
    assert values.numel() and (victim["tokens"][0] == -1).all() and not victim["st"]["a"].any()
    assert torch.equal(victim["row_id"], want[3]["row_id"] + 1)
    assert torch.equal(offsets, want[3]["tokens"][1])
    for i, (got, ref) in enumerate(zip(held, want, strict=True)):
        if i != 3:
            assert_same(got, ref, f"batch {i} after writing into batch 3")


LEAK_SCRIPT = textwrap.dedent(
    """
    import gc, json, os, signal, sys

    sys.path.insert(0, sys.argv[1])
    from torch.utils.data import DataLoader
    from dataset_helpers import make_dataset
    from test_dataset_shared import segment_fds, segment_maps, shm_names

    def loader():
        ds = make_dataset(sys.argv[2], batch_size=16, format="torch")
        return DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context="fork")

    counts = lambda: [len(segment_fds()), len(segment_maps()), shm_names()]

    r = {"start": counts(), "error": None}
    it = iter(loader())
    held = [next(it) for _ in range(6)]
    r["holding"] = counts()
    r["victim"] = it._workers[1].pid
    try:
        os.kill(r["victim"], signal.SIGKILL)
        for _ in range(1000):
            held.append(next(it))
    except RuntimeError as e:
        r["error"] = str(e)
    del it, held
    gc.collect()
    r["after_kill"] = counts()
    # A fresh loader in the same process still reads the whole epoch right.
    r["rows"] = sorted(v for b in loader() for v in b["row_id"].tolist()) == list(range(512))
    gc.collect()
    r["end"] = counts()
    with open(sys.argv[3], "w") as f:
        json.dump(r, f)
    """
)


@pytest.mark.slow
def test_no_leak_when_a_worker_is_killed_mid_epoch(data_dir, tmp_path):
    script, result = tmp_path / "leak.py", tmp_path / "leak.json"
    script.write_text(LEAK_SCRIPT)
    proc = run_python_file(script, os.path.dirname(__file__), str(data_dir), str(result))
    assert proc.returncode == 0, describe_exit(proc)
    r = json.loads(result.read_text())
    (fds, maps, shm), holding = r["start"], r["holding"]
    # Received batches are mapped; their descriptors are closed once mapped.
    assert holding[0] == fds and holding[1] >= maps + 6 and holding[2] == shm, r
    assert str(r["victim"]) in (r["error"] or ""), "killing a worker did not stop the loader"
    assert r["after_kill"] == r["start"], f"segments leaked after the worker died: {r}"
    assert r["rows"], "a new loader after the failure did not read every row once"
    assert r["end"] == r["start"], f"segments leaked after a clean epoch: {r}"


@pytest.mark.slow
def test_a_dropped_batch_is_given_back_without_the_cyclic_gc(data_dir):
    """Training loops often disable the cyclic collector: the last reference to a batch
    going must count this process out of its segment then, so that the worker reuses it.
    The training process keeps the worker's segments mapped: a reused segment arrives
    in the mapping it already has, and the mappings stay few however many batches pass."""
    from hf3fs import _hf3fs

    before = _hf3fs.received_segments()
    it = iter(loader(make(data_dir), 2))
    gc.disable()
    try:
        seen = set()
        for _ in range(24):
            batch = next(it)
            ptr = batch["row_id"].data_ptr()
            assert any(lo <= ptr < hi for lo, hi in segment_maps())
            seen.add(ptr)
            del batch
        after = _hf3fs.received_segments()
        # Each worker cycles through a few segments, each mapped here once.
        assert after["reused"] - before["reused"] >= 24 - 2 * 8, (before, after)
        assert after["mapped"] - before["mapped"] <= 2 * 8, (before, after)
        assert len(segment_maps()) <= 2 * 8
    finally:
        gc.enable()
        del it


@pytest.mark.slow
def test_kept_mappings_go_when_the_workers_exit(data_dir):
    """A worker's kept mappings are dropped once it exits: at the end of the loader
    (SIGCHLD), without waiting for another batch."""
    from hf3fs import _hf3fs

    batches = sum(1 for _ in loader(make(data_dir), 2))
    assert batches > 0
    for _ in range(100):  # the handler runs between bytecodes, right after the exit
        if _hf3fs.received_segments()["held"] == 0 and not segment_maps():
            break
        time.sleep(0.05)
    assert _hf3fs.received_segments()["held"] == 0
    assert not segment_maps(), "a worker's segments stay mapped after the loader ended"


@pytest.mark.slow
def test_strings_fall_back_and_nulls_raise_as_in_process(data_512, tmp_path):
    want = expected(data_512, 2)  # row_id, x, s (strings), k
    for got, ref in zip(loader(make(data_512), 2), want, strict=True):
        assert_same(got, ref)
        assert not any(in_segment(t, segment_maps()) for t in leaves(got))

    n, nulls = 300, tmp_path / "nulls.parquet"
    v = pa.array([None if 200 <= i < 205 else i for i in range(n)], pa.int32())
    write_row_groups(nulls, pa.table({"row_id": np.arange(n), "v": v}), [n])
    message = "column 'v' has nulls, which tensors cannot hold"
    with pytest.raises(ValueError, match=message):
        list(make(nulls, shuffle=False))
    with pytest.raises(ValueError, match=message):
        list(loader(make(nulls, shuffle=False), 2))
    gc.collect()  # the failed iterator, before the next loader forks
    want = expected(nulls, 2, filter=[("v", "is_not_null")])
    assert 280 < sum(len(b["v"]) for b in want) <= n - 5
    for got, ref in zip(loader(make(nulls, filter=[("v", "is_not_null")]), 2), want, strict=True):
        assert_same(got, ref)
        assert all(in_segment(t, segment_maps()) for t in leaves(got))


def summarize(b) -> tuple:
    """A worker-side collate_fn reading the batch as a mapping."""
    values, offsets = b["tokens"]
    mapping = (len(b), sorted(b), "row_id" in b and "nope" not in b, b.get("nope"))
    sums = (b["row_id"].shape[0], b["row_id"].sum().item(), values.sum().item(), len(offsets))
    return (type(b).__name__, *mapping, *sums)


def select(b) -> dict:
    """A worker-side collate_fn returning some of the batch's tensors."""
    return {"row_id": b["row_id"], "tokens": b["tokens"], "st": {"b": b["st"]["b"]}}


@pytest.mark.slow
@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_collate_fn_in_worker_reads_the_shared_batch(data_dir, context):
    want = expected(data_dir, 2)
    got = list(loader(make(data_dir), 2, context, collate_fn=summarize))
    assert [g[0] for g in got] == ["SharedBatch"] * len(want)
    assert [g[1:] for g in got] == [summarize(b)[1:] for b in want]
    for g, ref in zip(loader(make(data_dir), 2, context, collate_fn=select), want, strict=True):
        assert_same(g, select(ref))


@pytest.mark.slow
def test_dataloader_batch_size_collates_shared_batches_as_dicts(data_dir):
    # DataLoader(batch_size=k) stacks k batches of numbers, as for dicts of tensors.
    columns = ["row_id", "f", "emb"]
    stacked = DataLoader(
        make(data_dir, columns=columns, shuffle=False),
        batch_size=2,
        num_workers=2,
        multiprocessing_context="fork",
    )
    got = list(stacked)
    assert got and all(isinstance(g, dict) and g["row_id"].shape == (2, BS) for g in got)
    assert all(g["emb"].shape == (2, BS, 3) for g in got)
    rows = sorted(torch.cat([g["row_id"].flatten() for g in got]).tolist())
    assert rows == list(range(len(rows))) and len(rows) == N // (2 * BS) * 2 * BS
