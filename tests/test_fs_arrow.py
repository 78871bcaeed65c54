"""pandas, polars and pyarrow on ``hf3fs://`` URLs, and ``ArrowHandler`` for ``pyarrow.fs``."""

from __future__ import annotations

import os
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

import hf3fs
from hf3fs.fs import ArrowHandler, FileSystem

N = 10_000


# ``fs`` and ``base`` (a fresh directory on the ``local`` mount) are conftest's.


@pytest.fixture
def rel(base):
    """The same directory, relative to the ``local`` mount (an ArrowHandler path)."""
    return base.split("/", 1)[1]


@pytest.fixture
def arrow_fs():
    return pafs.PyFileSystem(ArrowHandler("local"))


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "i64": np.arange(N, dtype="int64"),
            "i8": (np.arange(N) % 100).astype("int8"),
            "f64": rng.random(N),
            "f32": rng.random(N).astype("float32"),
            "s": [f"row-{i}" for i in range(N)],
            "b": np.arange(N) % 3 == 0,
            "t": pd.date_range("2024-01-01", periods=N, freq="min"),
            "c": pd.Categorical(["x", "y", "z", "x"] * (N // 4)),
            "n": pd.array([None if i % 7 == 0 else i for i in range(N)], dtype="Int64"),
        }
    )


# ---- pandas, polars, pyarrow through fsspec -----------------------------------------------


def test_pandas_parquet_round_trip(base):
    df = frame()
    url = f"hf3fs://{base}/new/dir/frame.parquet"  # parents made by auto_mkdir
    df.to_parquet(url)
    on_disk = Path(os.environ["HF3FS_HOME"]) / base.split("/", 1)[1] / "new/dir/frame.parquet"
    assert on_disk.is_file() and on_disk.stat().st_size > 0
    pd.testing.assert_frame_equal(pd.read_parquet(url), df)
    pd.testing.assert_frame_equal(pd.read_parquet(url, columns=["s", "n"]), df[["s", "n"]])


def test_pandas_csv_round_trip(base):
    df = frame()[["i64", "f64", "s", "b"]]
    url = f"hf3fs://{base}/frame.csv.gz"
    df.to_csv(url, index=False, compression="gzip")
    pd.testing.assert_frame_equal(pd.read_csv(url, compression="gzip"), df)


def test_polars_reads(base):
    df = frame()
    url = f"hf3fs://{base}/frame.parquet"
    df.to_parquet(url)
    expected = pl.from_pandas(df)
    got = pl.read_parquet(url, use_pyarrow=True)
    assert got.shape == (N, len(df.columns))
    assert got.equals(expected)
    with fsspec.open(url).open() as f:
        assert pl.read_parquet(f).equals(expected)


def test_polars_writes_through_fsspec_file(fs, base):
    df = pl.DataFrame({"a": list(range(1000)), "b": [str(i) for i in range(1000)]})
    with fsspec.open(f"hf3fs://{base}/pl.parquet", "wb") as f:
        df.write_parquet(f)
    assert fs.size(f"{base}/pl.parquet") > 0
    assert pl.read_parquet(f"hf3fs://{base}/pl.parquet", use_pyarrow=True).equals(df)


def test_pyarrow_with_fsspec_filesystem(fs, base):
    df = frame()
    pq.write_table(
        pa.Table.from_pandas(df, preserve_index=False), f"{base}/t.parquet", filesystem=fs
    )
    pd.testing.assert_frame_equal(pq.read_table(f"{base}/t.parquet", filesystem=fs).to_pandas(), df)
    got = pq.read_table(f"{base}/t.parquet", filesystem=fs, columns=["i64", "s"])
    pd.testing.assert_frame_equal(got.to_pandas(), df[["i64", "s"]])
    got = ds.dataset(base, filesystem=fs, format="parquet").to_table()
    pd.testing.assert_frame_equal(got.to_pandas(), df)


# ---- ArrowHandler with pyarrow.fs.PyFileSystem --------------------------------------------


def test_handler_is_lazy_and_a_filesystem_handler():
    import hf3fs.fs as hfs

    assert "ArrowHandler" in hfs.__all__
    assert issubclass(ArrowHandler, pafs.FileSystemHandler)
    assert hfs.ArrowHandler is ArrowHandler
    handler = ArrowHandler("local")
    assert handler == handler and handler != ArrowHandler("local")
    assert pafs.PyFileSystem(handler).type_name == "py::hf3fs"
    with pytest.raises(AttributeError):
        hfs.NoSuchThing  # noqa: B018


def test_handler_dataset_over_several_files(arrow_fs, rel):
    arrow_fs.create_dir(f"{rel}/ds")
    parts = []
    for k in range(4):
        part = pa.table({"k": [k] * 250, "v": np.arange(250) + 1000 * k, "s": ["p"] * 250})
        pq.write_table(part, f"{rel}/ds/part-{k}.parquet", filesystem=arrow_fs)
        parts.append(part)
    dataset = ds.dataset(f"{rel}/ds", filesystem=arrow_fs, format="parquet")
    assert sorted(dataset.files) == [f"{rel}/ds/part-{k}.parquet" for k in range(4)]
    table = dataset.to_table().sort_by("v")
    assert table.equals(pa.concat_tables(parts))
    filtered = dataset.to_table(filter=ds.field("k") == 2)
    assert filtered.num_rows == 250 and set(filtered["k"].to_pylist()) == {2}
    assert pq.read_table(f"{rel}/ds/part-3.parquet", filesystem=arrow_fs).equals(parts[3])


def test_handler_partitioned_dataset(arrow_fs, rel):
    table = pa.table({"k": ["a", "b", "a", "c"], "v": [1, 2, 3, 4]})
    pq.write_to_dataset(table, f"{rel}/hive", partition_cols=["k"], filesystem=arrow_fs)
    dirs = arrow_fs.get_file_info(pafs.FileSelector(f"{rel}/hive"))
    assert [i.base_name for i in dirs] == ["k=a", "k=b", "k=c"]
    got = ds.dataset(f"{rel}/hive", filesystem=arrow_fs, partitioning="hive").to_table()
    assert got.sort_by("v").to_pydict() == {"v": [1, 2, 3, 4], "k": ["a", "b", "a", "c"]}


def test_handler_file_info(arrow_fs, rel):
    arrow_fs.create_dir(f"{rel}/d/sub")
    with arrow_fs.open_output_stream(f"{rel}/d/f") as s:
        s.write(b"12345")
    with arrow_fs.open_output_stream(f"{rel}/d/sub/g") as s:
        s.write(b"")
    infos = arrow_fs.get_file_info([f"{rel}/d", f"{rel}/d/f", f"{rel}/d/sub/g", f"{rel}/none"])
    assert [i.type for i in infos] == [
        pafs.FileType.Directory,
        pafs.FileType.File,
        pafs.FileType.File,
        pafs.FileType.NotFound,
    ]
    assert infos[1].size == 5 and infos[2].size == 0
    assert infos[1].path == f"{rel}/d/f" and infos[1].mtime is not None
    flat = arrow_fs.get_file_info(pafs.FileSelector(f"{rel}/d"))
    assert [(i.path, i.type) for i in flat] == [
        (f"{rel}/d/f", pafs.FileType.File),
        (f"{rel}/d/sub", pafs.FileType.Directory),
    ]
    deep = arrow_fs.get_file_info(pafs.FileSelector(f"{rel}/d", recursive=True))
    assert [i.path for i in deep] == [f"{rel}/d/f", f"{rel}/d/sub", f"{rel}/d/sub/g"]
    missing = pafs.FileSelector(f"{rel}/none", allow_not_found=True)
    assert arrow_fs.get_file_info(missing) == []
    assert arrow_fs.normalize_path(f"{rel}//d/") == f"{rel}/d"


def test_handler_changes(arrow_fs, rel):
    arrow_fs.create_dir(f"{rel}/a/b/c")
    assert arrow_fs.get_file_info(f"{rel}/a/b/c").type == pafs.FileType.Directory
    with arrow_fs.open_output_stream(f"{rel}/a/f") as s:
        s.write(b"ab")
    with arrow_fs.open_append_stream(f"{rel}/a/f") as s:
        s.write(b"cd")
    with arrow_fs.open_input_stream(f"{rel}/a/f") as s:
        assert s.read() == b"abcd"
    with arrow_fs.open_input_file(f"{rel}/a/f") as f:
        assert f.size() == 4
        assert f.read_at(2, 1) == b"bc"
        f.seek(3)
        assert f.read() == b"d"
    arrow_fs.copy_file(f"{rel}/a/f", f"{rel}/a/b/copy")
    arrow_fs.move(f"{rel}/a/f", f"{rel}/moved")
    assert arrow_fs.get_file_info(f"{rel}/a/f").type == pafs.FileType.NotFound
    with arrow_fs.open_input_stream(f"{rel}/moved") as s:
        assert s.read() == b"abcd"
    with arrow_fs.open_input_stream(f"{rel}/a/b/copy") as s:
        assert s.read() == b"abcd"
    arrow_fs.move(f"{rel}/a/b", f"{rel}/b2")  # a whole directory
    assert arrow_fs.get_file_info(f"{rel}/b2/c").type == pafs.FileType.Directory
    arrow_fs.delete_dir_contents(f"{rel}/b2")
    assert arrow_fs.get_file_info(pafs.FileSelector(f"{rel}/b2")) == []
    arrow_fs.delete_dir(f"{rel}/b2")
    arrow_fs.delete_file(f"{rel}/moved")
    assert arrow_fs.get_file_info(pafs.FileSelector(rel, recursive=True))[0].path == f"{rel}/a"
    arrow_fs.delete_dir_contents(f"{rel}/none", missing_dir_ok=True)


def test_handler_errors_map_to_python_exceptions(arrow_fs, rel):
    arrow_fs.create_dir(f"{rel}/d")
    with arrow_fs.open_output_stream(f"{rel}/d/f") as s:
        s.write(b"x")
    none = f"{rel}/none"
    not_found = [
        lambda: arrow_fs.open_input_file(none),
        lambda: arrow_fs.open_input_stream(none),
        lambda: arrow_fs.delete_file(none),
        lambda: arrow_fs.delete_dir(none),
        lambda: arrow_fs.delete_dir_contents(none),
        lambda: arrow_fs.move(none, f"{rel}/x"),
        lambda: arrow_fs.copy_file(none, f"{rel}/x"),
        lambda: arrow_fs.get_file_info(pafs.FileSelector(none)),
        lambda: arrow_fs.create_dir(f"{rel}/p/q", recursive=False),
        lambda: arrow_fs.open_output_stream(f"{rel}/p/q"),  # parents are not made
        lambda: pq.read_table(none, filesystem=arrow_fs),
    ]
    for attempt in not_found:
        with pytest.raises(FileNotFoundError):
            attempt()
    with pytest.raises(IsADirectoryError):
        arrow_fs.delete_file(f"{rel}/d")
    with pytest.raises(IsADirectoryError):
        arrow_fs.open_input_file(f"{rel}/d")
    with pytest.raises(NotADirectoryError):
        arrow_fs.delete_dir(f"{rel}/d/f")
    with pytest.raises(NotADirectoryError):
        arrow_fs.create_dir(f"{rel}/d/f/g")


def test_handler_over_mock_and_client(mounts):
    mock = FileSystem.mock()
    arrow_fs = pafs.PyFileSystem(ArrowHandler(filesystem=mock))
    pq.write_table(pa.table({"x": [1, 2, 3]}), "t.parquet", filesystem=arrow_fs)
    assert [p for p, *_ in mock.get_file_info_selector("")] == ["t.parquet"]
    assert pq.read_table("t.parquet", filesystem=arrow_fs)["x"].to_pylist() == [1, 2, 3]
    arrow_fs.create_dir("d/e")
    arrow_fs.delete_dir_contents("/", accept_root_dir=True)  # delete_root_dir_contents
    assert mock.get_file_info_selector("") == []

    root = mounts.add("m")
    client_fs = pafs.PyFileSystem(ArrowHandler(client=hf3fs.Client("m", "")))
    pq.write_table(pa.table({"y": ["a"]}), "y.parquet", filesystem=client_fs)
    assert (root / "y.parquet").is_file()
    token_fs = pafs.PyFileSystem(ArrowHandler("m", token="anything"))
    assert pq.read_table("y.parquet", filesystem=token_fs)["y"].to_pylist() == ["a"]


def test_handler_read_only_token(mounts):
    root = mounts.add("ro", {"r": "read"})
    (root / "f").write_bytes(b"data")
    arrow_fs = pafs.PyFileSystem(ArrowHandler("ro", token="r"))
    with arrow_fs.open_input_stream("f") as s:
        assert s.read() == b"data"
    for attempt in (
        lambda: arrow_fs.open_output_stream("g"),
        lambda: arrow_fs.create_dir("d"),
        lambda: arrow_fs.delete_file("f"),
    ):
        with pytest.raises(PermissionError):
            attempt()
    assert (root / "f").read_bytes() == b"data"


def test_handler_output_metadata_round_trip():
    mock = FileSystem.mock()
    arrow_fs = pafs.PyFileSystem(ArrowHandler(filesystem=mock))
    with arrow_fs.open_output_stream("f", metadata={"content-type": "text/plain"}) as s:
        s.write(b"x")
    assert mock.read_metadata("f") == [("content-type", "text/plain")]
