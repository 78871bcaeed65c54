"""HF ``datasets`` reads Parquet from ``hf3fs://`` URLs through the fsspec registration."""

from __future__ import annotations

import datasets
import pandas as pd
import pytest


@pytest.fixture
def hf_home(tmp_path, monkeypatch):
    # datasets caches what it "downloads": keep that cache inside the test.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-home" / "datasets"))
    return tmp_path


def write_parts(prefix: str) -> pd.DataFrame:
    parts = [
        pd.DataFrame({"x": range(0, 100), "s": [f"row-{i}" for i in range(100)]}),
        pd.DataFrame({"x": range(100, 150), "s": [f"row-{i}" for i in range(100, 150)]}),
    ]
    for i, part in enumerate(parts):
        part.to_parquet(f"{prefix}/part-{i}.parquet")
    return pd.concat(parts, ignore_index=True)


def test_load_dataset_from_a_glob(hf_home):
    expected = write_parts("hf3fs://local/hf-datasets/glob")
    ds = datasets.load_dataset(
        "parquet", data_files="hf3fs://local/hf-datasets/glob/*.parquet", split="train"
    )
    assert ds.num_rows == 150
    got = ds.to_pandas().sort_values("x", ignore_index=True)
    pd.testing.assert_frame_equal(got, expected)


def test_streaming_dataset(hf_home):
    write_parts("hf3fs://local/hf-datasets/stream")
    ds = datasets.load_dataset(
        "parquet",
        data_files={"train": ["hf3fs://local/hf-datasets/stream/part-1.parquet"]},
        split="train",
        streaming=True,
    )
    rows = list(ds)
    assert [r["x"] for r in rows] == list(range(100, 150))
    assert rows[0]["s"] == "row-100"
