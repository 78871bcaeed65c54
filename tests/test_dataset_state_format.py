"""Saved states: today's format (version 2), and states saved by the previous release (format
``.../1``), which still load and continue exactly where that release would have.

The version-1 states below are literal: each was saved by the previous release from the
datasets :func:`datasets` writes, and each continuation's digest is what that release yielded
after loading it (see :func:`digest`)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dataset_helpers import write_dataset
from pack_helpers import write_corpus

from hf3fs.dataset import Mix, Pack, ParquetDataset

LAYOUT = [[300, 200], [250], [150, 100, 50]]
PACK = Pack(column="input_ids", seq_len=32, sequences_per_batch=2, eos_token=0)

# How the previous release named PACK in a state (its repr).
V1_PACK = (
    'Pack(column="input_ids", seq_len=32, sequences_per_batch=2, eos_token=0, drop_partial=True)'
)

V1_STATES: dict[str, dict[str, Any]] = {
    "rows_in_process": {
        "format": "hf3fs.ParquetDataset/1",
        "fingerprint": "bccc6f7dd44ef567",
        "epoch": 0,
        "world_size": 1,
        "num_workers": 1,
        "worker": -1,
        "consumed": "320",
        "rotation": 0,
        "base": "*",
        "seed": 7,
        "shuffle": 1,
        "shuffle_window": 128,
        "batch_size": 64,
        "drop_remainder": 1,
        "drop_last": 0,
        "pack": "",
    },
    "rows_rank1_of_2_workers2_batches3": {
        "format": "hf3fs.ParquetDataset/1",
        "fingerprint": "bccc6f7dd44ef567",
        "epoch": 0,
        "world_size": 2,
        "num_workers": 2,
        "worker": -1,
        "consumed": "128,64",
        "rotation": 1,
        "base": "*",
        "seed": 7,
        "shuffle": 1,
        "shuffle_window": 128,
        "batch_size": 64,
        "drop_remainder": 1,
        "drop_last": 0,
        "pack": "",
    },
    "rows_elastic_base": {
        "format": "hf3fs.ParquetDataset/1",
        "fingerprint": "bccc6f7dd44ef567",
        "epoch": 0,
        "world_size": 3,
        "num_workers": 1,
        "worker": -1,
        "consumed": "64",
        "rotation": 0,
        "base": "128-525,653-1050",
        "seed": 7,
        "shuffle": 1,
        "shuffle_window": 128,
        "batch_size": 64,
        "drop_remainder": 1,
        "drop_last": 0,
        "pack": "",
    },
    "packed": {
        "format": "hf3fs.ParquetDataset/1",
        "fingerprint": "aecf3507e4f18dc6",
        "epoch": 0,
        "world_size": 1,
        "num_workers": 1,
        "worker": -1,
        "consumed": "192",
        "rotation": 0,
        "base": "*",
        "seed": 3,
        "shuffle": 1,
        "shuffle_window": 0,
        "batch_size": 1024,
        "drop_remainder": 1,
        "drop_last": 0,
        "pack": V1_PACK,
    },
    "mix": {
        "format": "hf3fs.Mix/1",
        "sources": {
            "a": {"fingerprint": "aecf3507e4f18dc6", "pack": V1_PACK, "epoch": 0, "base": "*"},
            "b": {"fingerprint": "25b23857983c7e12", "pack": V1_PACK, "epoch": 0, "base": "*"},
        },
        "weights": "0.6,0.4",
        "stop": "first_exhausted",
        "seed": 5,
        "epoch": 0,
        "world_size": 1,
        "num_workers": 1,
        "worker": -1,
        "draws": "8",
        "rotation": 0,
    },
}

# (batches, digest) per DataLoader worker, as the previous release yielded them.
V1_CONTINUATIONS: dict[str, list[list[Any]]] = {
    "rows_in_process": [[12, "570ac87c61c28716"]],
    "rows_rank1_of_2_workers2_batches3": [[4, "89493c9cbe53ca9c"], [3, "cfcb6212fc753049"]],
    "rows_elastic_base": [[4, "15dbf6a56c8dcba9"]],
    "packed": [[13, "b8729d1d4815eef1"]],
    "mix": [[23, "8a0b6c160babe085"]],
}


def datasets(base: Path) -> dict[str, Any]:
    """Makers of the datasets the version-1 states were saved from."""
    write_dataset(base / "rows", LAYOUT)
    write_corpus(base / "a", [[5, 17, 40, 3, 90, 12] * 6], [7])
    write_corpus(base / "b", [[33, 8, 61, 2] * 8], [5], first_token=100000)

    def rows(**kwargs):
        return lambda: ParquetDataset(
            str(base / "rows"),
            columns=["row_id"],
            batch_size=64,
            shuffle=True,
            seed=7,
            shuffle_window=128,
            **kwargs,
        )

    def mix():
        return Mix(
            {
                "a": ParquetDataset(str(base / "a"), pack=PACK),
                "b": ParquetDataset(str(base / "b"), pack=PACK),
            },
            weights={"a": 0.6, "b": 0.4},
            seed=5,
        )

    return {
        "rows_in_process": (rows(), 1),
        "rows_rank1_of_2_workers2_batches3": (rows(rank=1, world_size=2), 2),
        "rows_elastic_base": (rows(rank=0, world_size=3), 1),
        "packed": (lambda: ParquetDataset(str(base / "a"), pack=PACK, shuffle=True, seed=3), 1),
        "mix": (mix, 1),
    }


def digest(batches) -> list[Any]:
    """How many batches, and a digest of their fields' bytes in key order."""
    h = hashlib.sha256()
    n = 0
    for batch in batches:
        n += 1
        for key in sorted(batch):
            value = batch[key]
            if isinstance(value, tuple):
                value = np.concatenate([np.asarray(x).ravel() for x in value])
            h.update(key.encode())
            h.update(np.ascontiguousarray(np.asarray(value)).tobytes())
    return [n, h.hexdigest()[:16]]


def continuation(make, state, workers: int) -> list[list[Any]]:
    out = []
    for worker in range(workers):
        ds = make()
        ds.load_state_dict(state)
        out.append(digest(ds._iter_worker(worker, workers) if workers > 1 else iter(ds)))
    return out


@pytest.mark.parametrize("name", sorted(V1_STATES))
def test_a_version_1_state_loads_and_continues_exactly(tmp_path, name):
    make, workers = datasets(tmp_path)[name]
    assert continuation(make, V1_STATES[name], workers) == V1_CONTINUATIONS[name]


@pytest.mark.parametrize("name", sorted(V1_STATES))
def test_todays_state_continues_as_the_version_1_state_does(tmp_path, name):
    """Loading a version-1 state and saving it again gives a version-2 state that continues
    the same way."""
    make, workers = datasets(tmp_path)[name]
    ds = make()
    ds.load_state_dict(V1_STATES[name])
    # In-process, the state is this process's one worker; a DataLoader's is the training loop's.
    state = ds.state_dict(batches=0, num_workers=workers) if workers > 1 else ds.state_dict()
    assert state["version"] == 2 and "/" not in state["format"]
    assert continuation(make, state, workers) == V1_CONTINUATIONS[name]


def check_version_2(state: dict[str, Any]) -> None:
    """Plain ints and strings, no sentinels: unset fields are absent."""
    for key, value in state.items():
        if isinstance(value, dict):
            check_version_2(value)
            continue
        assert type(value) in (int, str), (key, value)
    assert state.get("worker", 0) != -1
    assert state.get("base") != "*"


def test_version_2_states_have_no_sentinels(tmp_path):
    for name, (make, _) in datasets(tmp_path).items():
        ds = make()
        state = ds.state_dict()
        check_version_2(state)
        assert "worker" not in state and "base" not in state, name
        if name != "mix":
            assert state["format"] == "hf3fs.ParquetDataset"
            assert state["fingerprint"] == ds._dataset().fingerprint
        else:
            assert state["format"] == "hf3fs.Mix"
    # An elastic cut writes its base; a worker's own state, its worker.
    elastic = V1_STATES["rows_elastic_base"]
    make, _ = datasets(tmp_path / "again")["rows_elastic_base"]
    ds = make()
    ds.load_state_dict(elastic)
    assert ds.state_dict()["base"] == elastic["base"]


def test_the_version_and_the_fingerprint_are_checked(tmp_path):
    make, _ = datasets(tmp_path)["rows_in_process"]
    good = make().state_dict()
    for bad in (
        {**good, "version": 3},
        {**good, "format": "hf3fs.ParquetDataset/2"},
        {key: value for key, value in good.items() if key != "version"},
        {**V1_STATES["rows_in_process"], "fingerprint": good["fingerprint"]},
        {**good, "fingerprint": V1_STATES["rows_in_process"]["fingerprint"]},
        {**good, "consumed": "64,64"},
        {**good, "base": "*"},
        {**good, "worker": -1},
    ):
        with pytest.raises(ValueError, match="load_state_dict"):
            make().load_state_dict(bad)


def test_the_fingerprint_frames_its_items(tmp_path):
    """Columns ["ab", "c"] and ["a", "bc"] digested alike in version 1; no longer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({name: pa.array([1, 2, 3]) for name in ("a", "ab", "bc", "c")})
    pq.write_table(table, str(tmp_path / "t.parquet"))
    one = ParquetDataset(str(tmp_path), columns=["ab", "c"])._dataset()
    two = ParquetDataset(str(tmp_path), columns=["a", "bc"])._dataset()
    assert one.fingerprint_v1 == two.fingerprint_v1
    assert one.fingerprint != two.fingerprint


def test_a_filtered_dataset_pickles_with_its_filter(tmp_path):
    """Spawned DataLoader workers get the dataset by pickling: the filter goes as the user's
    DNF, and the worker builds the same filter tree."""
    import pickle

    write_dataset(tmp_path, LAYOUT)
    dnf = [[("row_id", "<", 100), ("k", "in", [1, 2])], [("row_id", ">=", 900)]]
    ds = ParquetDataset(str(tmp_path), columns=["row_id", "k"], filter=dnf, batch_size=50)
    copy = pickle.loads(pickle.dumps(ds))
    rows = [int(i) for b in ds for i in b["row_id"]]
    assert rows == [int(i) for b in copy for i in b["row_id"]]
    expected = [i for i in range(1050) if (i < 100 and i % 7 in (1, 2)) or i >= 900]
    assert rows == expected
