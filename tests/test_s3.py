"""The S3 backend against moto's server on 127.0.0.1 (the ``s3`` fixture): ParquetDataset
reads the same batches as from local files, the Rust ``FileSystem``, fsspec and pandas, the
``hf3fs`` command, and faults (missing keys and buckets, a truncated object, a server that
stops mid-read, missing credentials). Behaviour only: no timings are asserted."""

from __future__ import annotations

import datetime
import errno
import importlib
import io
import json
import os
import random
import re
import select
import socket
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3_server
from dataset_helpers import (
    as_record_batch,
    flat,
    ids,
    make_dataset,
    rows_table,
    subprocess_env,
    total_rows,
    write_dataset,
    write_row_groups,
)
from test_cli import assert_same_tree, one_line, run, run_process

from hf3fs.fs import FileSystem, S3FileSystem, register_s3

pytestmark = pytest.mark.usefixtures("no_dist_env")

MiB = 1 << 20
# 3,000 rows in 4 files of 1-3 row groups.
LAYOUT_S3 = [[300, 200, 500], [250], [400, 400, 150], [100, 700]]
N = total_rows(LAYOUT_S3)
BS = 64
PREFIX = "data"
FILES = [f"part-{i:05d}.parquet" for i in range(len(LAYOUT_S3))]


# ---- data and helpers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_data(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("s3-data")
    write_dataset(directory, LAYOUT_S3)
    return directory


@pytest.fixture
def data(s3, local_data) -> tuple[Path, str]:
    """The local dataset and its copy under ``s3://<bucket>/data/``: (directory, URL)."""
    s3.upload_dir(local_data, PREFIX)
    return local_data, s3.url(f"{PREFIX}/")


def remote(s3, source: str, **kwargs):
    """A ParquetDataset over ``source`` on the test server (the tests' small prefetch)."""
    return make_dataset(source, storage_options=s3.options, **kwargs)


def batches_of(ds, epoch: int | None = None) -> list:
    if epoch is not None:
        ds.set_epoch(epoch)
    return list(ds)


def assert_same_batches(got: list, want: list) -> None:
    """The same batches, in the same order, with the same values in every column."""
    assert len(got) == len(want), (len(got), len(want))
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if isinstance(w, dict):
            assert isinstance(g, dict) and list(g) == list(w), (i, list(g), list(w))
            for name in w:
                np.testing.assert_array_equal(g[name], w[name], err_msg=f"batch {i}, {name}")
        else:
            g, w = as_record_batch(g), as_record_batch(w)
            assert g.schema == w.schema, i
            assert g.equals(w), f"batch {i} differs"


def fs_for(s3, **extra) -> tuple[FileSystem, str]:
    return FileSystem.from_uri(s3.url(), storage_options={**s3.options, **extra})


def options_args(s3, flag: str = "-o") -> list[str]:
    """``-o KEY=VALUE`` for every storage option."""
    return [arg for key, value in s3.options.items() for arg in (flag, f"{key}={value}")]


# ---- ParquetDataset: the same batches as from the local copy -------------------------------

ORDERS = [
    dict(shuffle=False),
    dict(shuffle=True, seed=7),
    dict(shuffle=True, seed=7, shuffle_window=200),
]
ORDER_IDS = ["ordered", "shuffled", "windowed"]


@pytest.mark.parametrize("fmt", ["numpy", "arrow"])
@pytest.mark.parametrize("order", ORDERS, ids=ORDER_IDS)
def test_dataset_reads_the_same_batches_as_local(s3, data, order, fmt):
    local, url = data
    kw = dict(batch_size=BS, format=fmt, **order)
    ds = remote(s3, url, **kw)
    here = make_dataset(local, **kw)
    assert ds.files == [s3.url(f"{PREFIX}/{name}") for name in FILES]
    assert ds.num_rows == here.num_rows == N
    assert len(ds) == len(here)
    assert ds.columns == here.columns
    for epoch in (0, 1):
        got = batches_of(ds, epoch)
        want = batches_of(here, epoch)
        assert_same_batches(got, want)
        assert sorted(flat(ids(b) for b in got)) == list(range(N))


def test_dataset_bucket_without_trailing_slash_and_single_files(s3, data):
    local, _ = data
    kw = dict(batch_size=BS)
    want = batches_of(make_dataset(local, **kw))
    assert_same_batches(batches_of(remote(s3, s3.url(PREFIX), **kw)), want)
    files = [s3.url(f"{PREFIX}/{name}") for name in FILES]
    assert_same_batches(batches_of(remote(s3, files, **kw)), want)
    one = remote(s3, files[2], **kw)
    assert one.files == [files[2]]
    assert_same_batches(batches_of(one), batches_of(make_dataset(local / FILES[2], **kw)))


def test_dataset_ranks_read_the_same_batches_as_local(s3, data):
    local, url = data
    seen: list[int] = []
    for rank in range(2):
        kw = dict(batch_size=BS, shuffle=True, seed=3, rank=rank, world_size=2)
        got = batches_of(remote(s3, url, **kw), 1)
        want = batches_of(make_dataset(local, **kw), 1)
        assert_same_batches(got, want)
        assert got, rank
        seen += flat(ids(b) for b in got)
    assert len(seen) == len(set(seen))  # no row on both ranks
    assert len(seen) == N


@pytest.mark.parametrize("k", [0, 5, "end-1"])
@pytest.mark.parametrize("shuffle", [False, True], ids=["ordered", "shuffled"])
def test_dataset_resume_matches_local(s3, data, shuffle, k):
    local, url = data
    kw = dict(batch_size=BS, shuffle=shuffle, seed=11, rank=1, world_size=2)
    full = batches_of(make_dataset(local, **kw), 1)
    k = len(full) - 1 if k == "end-1" else k

    first_ds = remote(s3, url, **kw)
    first_ds.set_epoch(1)
    it = iter(first_ds)
    first = [next(it) for _ in range(k)]
    state = json.loads(json.dumps(first_ds.state_dict()))
    del it

    resumed = remote(s3, url, **kw)  # the epoch comes from the state
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert_same_batches(first + rest, full)


# ---- the Rust FileSystem ---------------------------------------------------------------------


def test_filesystem_from_uri_reads_writes_lists(s3):
    data = random.Random(1).randbytes(300_000)
    s3.put("k/a.bin", data)
    s3.put("k/sub/b", b"bb")
    fs, path = FileSystem.from_uri(s3.url("k/a.bin"), storage_options=s3.options)
    assert path == "k/a.bin"

    infos = fs.get_file_info(["k/a.bin", "k", "k/sub/b", "k/missing"])
    assert [info[:3] for info in infos] == [
        ("k/a.bin", "file", len(data)),
        ("k", "directory", None),
        ("k/sub/b", "file", 2),
        ("k/missing", "not_found", None),
    ]
    assert isinstance(infos[0][3], int) and infos[0][3] > 0  # mtime_ns

    listed = {info[0]: info[1] for info in fs.get_file_info_selector("k")}
    assert listed == {"k/a.bin": "file", "k/sub": "directory"}
    everything = fs.get_file_info_selector("k", recursive=True)
    assert {p for p, kind, *_ in everything if kind == "file"} == {"k/a.bin", "k/sub/b"}

    f = fs.open_input_file("k/a.bin")
    assert f.size() == len(data)
    assert f.read_at(10, 100) == data[10:110]
    ranges = [(0, 5), (150_000, 1000), (len(data) - 3, 3), (7, 0)]
    assert f.read_many(ranges) == [data[o : o + n] for o, n in ranges]

    with fs.open_output_stream("k/out") as out:
        out.write(b"abc")
        out.write(b"def" * 1000)
        assert "k/out" not in s3.keys("k/")  # an object appears whole at close
    assert s3.get("k/out") == b"abc" + b"def" * 1000

    fs.copy_file("k/out", "k/copy")
    assert s3.get("k/copy") == s3.get("k/out")
    fs.move("k/copy", "k/moved")
    assert "k/copy" not in s3.keys("k/") and s3.get("k/moved") == s3.get("k/out")
    with pytest.raises(OSError) as exc:
        fs.move("k/sub", "k/sub2")
    assert exc.value.errno == errno.ENOTSUP
    assert s3.keys("k/sub") == ["k/sub/b"]

    fs.delete_file("k/moved")
    assert "k/moved" not in s3.keys("k/")
    fs.delete_dir("k/sub")
    assert s3.keys("k/") == ["k/a.bin", "k/out"]


@pytest.mark.parametrize(
    "retry",
    [
        {"max_retries": 2, "retry_timeout": "2s", "timeout": "5s"},
        {"max_retries": 0, "retry_timeout": datetime.timedelta(seconds=3)},
    ],
    ids=["strings", "timedelta"],
)
def test_filesystem_retry_options(s3, retry):
    s3.put("r", b"retry")
    fs, _ = fs_for(s3, **retry)
    assert fs.open_input_file("r").read_at(0, 5) == b"retry"


def test_settings_from_the_aws_environment(s3, data, monkeypatch):
    local, url = data
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    fs, path = FileSystem.from_uri(s3.url(f"{PREFIX}/{FILES[1]}"))
    assert fs.open_input_file(path).size() == (local / FILES[1]).stat().st_size
    got = batches_of(make_dataset(url, batch_size=BS))
    assert_same_batches(got, batches_of(make_dataset(local, batch_size=BS)))


# ---- fsspec and pandas ---------------------------------------------------------------------


@pytest.fixture
def s3_registered():
    """``register_s3()`` for one test; fsspec's registry is restored afterwards."""
    registry = importlib.import_module("fsspec.registry")._registry
    saved = {protocol: registry.get(protocol) for protocol in S3FileSystem.protocol}
    register_s3()
    yield
    for protocol, cls in saved.items():
        if cls is None:
            registry.pop(protocol, None)
        else:
            registry[protocol] = cls


def frame(n: int = 50) -> pd.DataFrame:
    return pd.DataFrame(
        {"a": np.arange(n, dtype=np.int64), "b": [f"s{i}" for i in range(n)], "c": np.ones(n)}
    )


def test_pandas_read_parquet_through_s3filesystem(s3, data):
    local, _ = data
    fs = S3FileSystem(**s3.options)
    want = pq.read_table(local / FILES[2]).to_pandas()
    for path in (s3.url(f"{PREFIX}/{FILES[2]}"), f"{s3.bucket}/{PREFIX}/{FILES[2]}"):
        pd.testing.assert_frame_equal(pd.read_parquet(path, filesystem=fs), want)
    # A directory: every file. (pyarrow lists a directory of an fsspec file system by
    # the path without its protocol, as it does with s3fs.)
    everything = pd.read_parquet(f"{s3.bucket}/{PREFIX}", filesystem=fs)
    everything = everything.sort_values("row_id", ignore_index=True)
    assert everything["row_id"].tolist() == list(range(N))
    # s3fs's spelling of the settings.
    s3fs_style = S3FileSystem(
        key="testing",
        secret="testing",
        endpoint_url=s3.endpoint,
        client_kwargs={"region_name": "us-east-1"},
        aws_allow_http="true",
        skip_instance_cache=True,
    )
    got = pd.read_parquet(s3.url(f"{PREFIX}/{FILES[2]}"), filesystem=s3fs_style)
    pd.testing.assert_frame_equal(got, want)


def test_register_s3_makes_fsspec_and_pandas_use_hf3fs(s3_registered, s3):
    assert fsspec.get_filesystem_class("s3") is S3FileSystem
    assert fsspec.get_filesystem_class("s3a") is S3FileSystem
    fs, path = fsspec.core.url_to_fs(s3.url("out/x.parquet"), **s3.options)
    assert isinstance(fs, S3FileSystem) and path == f"{s3.bucket}/out/x.parquet"

    df = frame()
    df.to_parquet(s3.url("out/df.parquet"), storage_options=s3.options)
    assert s3.keys() == ["out/df.parquet"]
    pd.testing.assert_frame_equal(
        pq.read_table(io.BytesIO(s3.get("out/df.parquet"))).to_pandas(), df
    )
    got = pd.read_parquet(s3.url("out/df.parquet"), storage_options=s3.options)
    pd.testing.assert_frame_equal(got, df)

    with fsspec.open(s3.url("out/t.txt"), "w", encoding="utf-8", **s3.options) as f:
        f.write("héllo\n")
    assert s3.get("out/t.txt") == "héllo\n".encode()
    with fsspec.open(s3.url("out/t.txt"), "r", encoding="utf-8", **s3.options) as f:
        assert f.read() == "héllo\n"


def test_to_parquet_with_s3filesystem_reads_back(s3):
    fs = S3FileSystem(skip_instance_cache=True, **s3.options)
    df = frame(1000)
    df.to_parquet(s3.url("w/df.parquet"), filesystem=fs)
    pd.testing.assert_frame_equal(pd.read_parquet(s3.url("w/df.parquet"), filesystem=fs), df)
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(s3.get("w/df.parquet"))), df)


def test_fsspec_file_operations(s3):
    fs = S3FileSystem(skip_instance_cache=True, **s3.options)
    b = s3.bucket
    s3.put("t/a.txt", b"hello world")
    s3.put("t/d/x", b"X")
    s3.put("t/d/sub/y", b"YY")

    assert sorted(fs.ls(f"{b}/t", detail=False)) == [f"{b}/t/a.txt", f"{b}/t/d"]
    assert sorted(fs.ls(s3.url("t/"), detail=False)) == [f"{b}/t/a.txt", f"{b}/t/d"]
    assert sorted(fs.find(f"{b}/t")) == [f"{b}/t/a.txt", f"{b}/t/d/sub/y", f"{b}/t/d/x"]
    info = fs.info(s3.url("t/a.txt"))
    assert (info["name"], info["size"], info["type"]) == (f"{b}/t/a.txt", 11, "file")
    assert fs.info(f"{b}/t/d")["type"] == "directory"
    assert fs.isdir(f"{b}/t/d") and fs.isfile(f"{b}/t/d/x") and not fs.exists(f"{b}/t/nope")
    with pytest.raises(FileNotFoundError):
        fs.info(f"{b}/t/nope")
    assert fs.unstrip_protocol(f"{b}/t/a.txt") == s3.url("t/a.txt")

    assert fs.cat_file(f"{b}/t/a.txt") == b"hello world"
    assert fs.cat_file(f"{b}/t/a.txt", start=6) == b"world"
    assert fs.cat_file(f"{b}/t/a.txt", start=0, end=5) == b"hello"
    paths = [f"{b}/t/a.txt", f"{b}/t/a.txt", f"{b}/t/d/sub/y"]
    assert fs.cat_ranges(paths, [0, 6, 1], [5, 11, 2]) == [b"hello", b"world", b"Y"]
    with pytest.raises(FileNotFoundError):
        fs.cat_file(f"{b}/t/nope")

    fs.pipe_file(f"{b}/t/p", b"piped")
    assert s3.get("t/p") == b"piped"
    big = random.Random(2).randbytes(6 * MiB + 5)  # several parts
    with fs.open(f"{b}/t/big", "wb") as f:
        for start in range(0, len(big), MiB):
            f.write(big[start : start + MiB])
    assert s3.get("t/big") == big
    with fs.open(f"{b}/t/big", "rb") as f:
        f.seek(3 * MiB)
        assert f.read(100) == big[3 * MiB : 3 * MiB + 100]

    # mv of a file: copied, then deleted.
    fs.mv(f"{b}/t/a.txt", f"{b}/t/moved.txt")
    assert s3.get("t/moved.txt") == b"hello world"
    assert "t/a.txt" not in s3.keys("t/")
    # mv of a directory: object by object.
    fs.mv(f"{b}/t/d", f"{b}/t/e", recursive=True)
    assert s3.keys("t/d") == []
    assert s3.keys("t/e") == ["t/e/sub/y", "t/e/x"]
    assert s3.get("t/e/sub/y") == b"YY"
    fs.mv(s3.url("t/e"), s3.url("t/f"))  # a directory without recursive=True too
    assert s3.keys("t/e") == [] and s3.keys("t/f") == ["t/f/sub/y", "t/f/x"]

    fs.rm(f"{b}/t/p")
    assert not fs.exists(f"{b}/t/p") and "t/p" not in s3.keys()
    fs.rm(f"{b}/t/f", recursive=True)
    assert s3.keys("t/f") == []
    assert s3.keys() == ["t/big", "t/moved.txt"]


# ---- the hf3fs command ---------------------------------------------------------------------


@pytest.mark.slow
def test_cli_cp_ls_stat_cat_du_rm(capsys, s3, tmp_path):
    opts = options_args(s3)
    data = random.Random(3).randbytes(MiB + 3)
    (tmp_path / "f.bin").write_bytes(data)
    (tmp_path / "small.txt").write_bytes(b"small\n")

    # Up: to a key, into a "directory" (trailing slash), with --storage-option.
    status, _, err = run(capsys, "cp", *opts, str(tmp_path / "f.bin"), s3.url("cli/f.bin"))
    assert status == 0, err
    assert s3.get("cli/f.bin") == data
    # Into an existing "directory" (a prefix with keys below it), with --storage-option.
    s3.put("cli/d/keep", b"")
    long_opts = options_args(s3, "--storage-option")
    status, _, err = run(capsys, "cp", *long_opts, str(tmp_path / "small.txt"), s3.url("cli/d/"))
    assert status == 0, err
    status, _, err = run(capsys, "cp", *long_opts, str(tmp_path / "small.txt"), s3.url("cli/d"))
    assert status == 0, err
    assert s3.keys("cli/") == ["cli/d/keep", "cli/d/small.txt", "cli/f.bin"]
    assert s3.get("cli/d/small.txt") == b"small\n"
    # Down.
    status, _, err = run(capsys, "cp", *opts, s3.url("cli/f.bin"), str(tmp_path / "down.bin"))
    assert status == 0, err
    assert (tmp_path / "down.bin").read_bytes() == data

    status, out, err = run(capsys, "ls", *opts, s3.url("cli"))
    assert status == 0, err
    assert out.splitlines() == ["d", "f.bin"]
    status, out, err = run(capsys, "ls", *opts, "-l", s3.url("cli/"))
    assert status == 0, err
    by_name = {line.split()[-1]: line.split() for line in out.splitlines()}
    assert by_name["f.bin"][1] == str(len(data)) and by_name["d"][0].startswith("d")

    status, out, err = run(capsys, "stat", *opts, s3.url("cli/f.bin"))
    assert status == 0, err
    assert f"File: {s3.url('cli/f.bin')}\n" in out
    assert re.search(rf"Size: {len(data)}\s.*regular file", out), out

    status, out, err = run(capsys, "du", *opts, "-s", s3.url("cli"))
    assert status == 0, err
    assert out.split() == [str(len(data) + 6), s3.url("cli")]
    status, out, err = run(capsys, "du", *opts, s3.url("cli"))
    assert status == 0, err
    assert out.splitlines()[-1].split() == [str(len(data) + 6), s3.url("cli")]

    # cat as a process, configured from the environment: exact bytes.
    proc = run_process("cat", s3.url("cli/f.bin"), s3.url("cli/d/small.txt"), env=env_for(s3))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == data + b"small\n"

    status, _, err = run(capsys, "rm", *opts, s3.url("cli/f.bin"))
    assert status == 0, err
    assert s3.keys() == ["cli/d/keep", "cli/d/small.txt"]
    status, _, err = run(capsys, "rm", *opts, s3.url("cli/f.bin"))
    assert status == 1
    line = one_line(err)
    assert "No such file or directory" in line and s3.url("cli/f.bin") in line
    status, _, err = run(capsys, "rm", *opts, "-r", s3.url("cli/d"))
    assert status == 0, err
    assert s3.keys() == []


def test_cli_cp_to_a_new_prefix_with_a_trailing_slash(capsys, s3, tmp_path):
    """``cp f s3://b/new/`` names a directory: the copy goes inside it (as ``aws s3 cp``
    does), or the command fails (as GNU cp does for a missing directory); it must not
    write an object ``new`` (a file where a directory was asked for)."""
    (tmp_path / "small.txt").write_bytes(b"small\n")
    status, _, err = run(
        capsys, "cp", *options_args(s3), str(tmp_path / "small.txt"), s3.url("new/")
    )
    if status == 0:
        assert s3.keys() == ["new/small.txt"]
    else:
        assert status == 1 and one_line(err)
        assert s3.keys() == []


def env_for(s3) -> dict[str, str]:
    """The test environment plus the bucket's ``AWS_*`` settings, for a subprocess."""
    return subprocess_env(**s3.env)


def small_tree(root: Path) -> dict[str, bytes]:
    """Nested files (no empty directories: an object store has none)."""
    rng = random.Random(4)
    files = {
        "a.txt": b"hello\n",
        "empty": b"",
        "sub/b.bin": rng.randbytes(70_000),
        "sub/deeper/c.bin": rng.randbytes(4097),
        "other/leaf/x": b"leaf",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


@pytest.mark.slow
def test_cli_cp_recursive_up_and_down(capsys, s3, tmp_path):
    opts = options_args(s3)
    src = tmp_path / "src"
    files = small_tree(src)

    # Up, to a new prefix: the prefix becomes the copy.
    status, out, err = run(capsys, "cp", *opts, "-r", "-v", str(src), s3.url("tree"))
    assert status == 0, err
    assert f"copied {len(files)} file(s), {sum(map(len, files.values())):,} bytes" in out
    assert s3.keys() == sorted(f"tree/{rel}" for rel in files)
    for rel, data in files.items():
        assert s3.get(f"tree/{rel}") == data, rel
    # Again, into the now existing "directory": a copy named after the source inside it.
    status, _, err = run(capsys, "cp", *opts, "-r", str(src), s3.url("tree"))
    assert status == 0, err
    assert s3.keys("tree/src/") == sorted(f"tree/src/{rel}" for rel in files)

    # Down, to a new local directory.
    down = tmp_path / "down"
    status, _, err = run(capsys, "cp", *opts, "-r", s3.url("tree/src/"), str(down))
    assert status == 0, err
    assert_same_tree(src, down)
    # Into an existing local directory.
    status, _, err = run(capsys, "cp", *opts, "-r", s3.url("tree/src"), str(down))
    assert status == 0, err
    assert_same_tree(src, down / "src")

    # A process configured from the environment.
    proc = run_process("cp", "-r", s3.url("tree/src"), str(tmp_path / "env-down"), env=env_for(s3))
    assert proc.returncode == 0, proc.stderr
    assert_same_tree(src, tmp_path / "env-down")


@pytest.mark.slow
def test_cli_dataset_inspect(s3, data):
    _, url = data
    proc = run_process("dataset", "inspect", "--files", url, env=env_for(s3))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    groups = sum(len(g) for g in LAYOUT_S3)
    assert f"files       {len(FILES)}  row groups {groups}  rows {N:,}" in out, out
    for name in FILES:
        assert name in out, name

    proc = run_process("dataset", "inspect", "--json", url, env=env_for(s3))
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["rows"] == N and info["row_groups"] == groups
    assert [f["path"] for f in info["files"]] == [s3.url(f"{PREFIX}/{n}") for n in FILES]


# ---- faults --------------------------------------------------------------------------------


def test_missing_key_names_the_url(s3, data):
    fs, _ = fs_for(s3)
    missing = s3.url(f"{PREFIX}/no-such.parquet")
    with pytest.raises(FileNotFoundError) as exc:
        fs.open_input_file(f"{PREFIX}/no-such.parquet")
    assert exc.value.filename == missing
    assert missing in str(exc.value)

    with pytest.raises(FileNotFoundError) as exc:
        list(remote(s3, missing, batch_size=BS))
    assert missing in str(exc.value)

    prefix = s3.url("nothing-here/")
    with pytest.raises(FileNotFoundError) as exc:
        list(remote(s3, prefix, batch_size=BS))
    assert prefix.rstrip("/") in str(exc.value)


def test_missing_bucket_does_not_exist(s3):
    name = f"hf3fs-missing-{uuid.uuid4().hex[:12]}"
    with pytest.raises(FileNotFoundError) as exc:
        fs, path = FileSystem.from_uri(f"s3://{name}/k.parquet", storage_options=s3.options)
        fs.open_input_file(path)
    assert f"s3://{name}" in str(exc.value) and "does not exist" in str(exc.value)

    with pytest.raises(FileNotFoundError) as exc:
        list(make_dataset(f"s3://{name}/data/", storage_options=s3.options, batch_size=BS))
    assert f"s3://{name}" in str(exc.value) and "does not exist" in str(exc.value)


def test_truncated_object_fails_naming_it(s3, local_data):
    whole = (local_data / FILES[0]).read_bytes()
    s3.put(f"trunc/{FILES[0]}", whole[: len(whole) // 2])
    yielded = []
    with pytest.raises((ValueError, OSError)) as exc:
        for batch in remote(s3, s3.url("trunc/"), batch_size=BS):
            yielded.append(batch)
    assert s3.url(f"trunc/{FILES[0]}") in str(exc.value)
    assert yielded == []


def write_payload_dataset(directory: Path, files: int = 4, groups: int = 4, rows: int = 250):
    """Files of ``groups`` row groups of ``rows`` rows with ~256 incompressible bytes per
    row (~64 KiB per row group), so a small prefetch budget holds only a few groups."""
    rng = np.random.default_rng(5)
    directory.mkdir(parents=True)
    start = 0
    for i in range(files):
        n = groups * rows
        table = rows_table(start, n)
        payload = pa.array([rng.bytes(256) for _ in range(n)], type=pa.binary())
        table = table.append_column("payload", payload)
        write_row_groups(directory / f"part-{i:05d}.parquet", table, [rows] * groups)
        start += n
    return start


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_server_stopping_mid_read_raises_without_partial_batches(s3_buckets, tmp_path):
    local = tmp_path / "payload"
    # ~1.2 MB files: above the 1 MiB a footer read fetches whole, so the data is read lazily.
    rows = write_payload_dataset(local, files=3, groups=6, rows=800)
    proc, url = s3_server.start_process()  # its own server: the shared one keeps running
    try:
        bucket = s3_buckets(url)
        bucket.upload_dir(local, PREFIX)
        options = {**bucket.options, "max_retries": 1, "retry_timeout": "1s", "timeout": "2s"}
        ds = make_dataset(
            bucket.url(f"{PREFIX}/"),
            storage_options=options,
            batch_size=BS,
            prefetch_bytes=1 << 16,
        )
        assert ds.num_rows == rows
        it = iter(ds)
        got = [next(it)]
        s3_server.stop(proc)
        with pytest.raises(OSError):
            for batch in it:
                got.append(batch)
        assert all(len(ids(b)) == BS for b in got), [len(ids(b)) for b in got]
        assert len(got) < rows // BS
    finally:
        s3_server.stop(proc)


@pytest.mark.timeout(30)
def test_missing_credentials_fail_before_any_request(monkeypatch):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
        for name in list(os.environ):
            if name.startswith("AWS_"):
                monkeypatch.delenv(name)
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        # Were instance credentials looked up, the request would come here (not to
        # 169.254.169.254) and be seen.
        monkeypatch.setenv("AWS_METADATA_ENDPOINT", endpoint)
        bucket = f"hf3fs-nocreds-{uuid.uuid4().hex[:12]}"

        with pytest.raises(ValueError) as exc:
            FileSystem.from_uri(f"s3://{bucket}/k")
        assert "AWS_ACCESS_KEY_ID" in str(exc.value)
        options = {"aws_endpoint": endpoint, "aws_allow_http": "true", "aws_region": "us-east-1"}
        with pytest.raises(ValueError) as exc:
            FileSystem.from_uri(f"s3://{bucket}/k", storage_options=options)
        assert "AWS_ACCESS_KEY_ID" in str(exc.value)

        readable, _, _ = select.select([listener], [], [], 0.2)
        assert not readable, "something connected to the endpoint"


# ---- DataLoader workers: forked and spawned children reach the store on their own -----------


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("context", ["fork", "spawn"])
# As in test_dataset_dataloader: default_convert warns once about read-only (zero-copy) arrays.
@pytest.mark.filterwarnings("ignore:The given NumPy array is not writable:UserWarning")
@pytest.mark.filterwarnings("ignore:.*use of fork\\(\\) may lead to deadlocks:DeprecationWarning")
def test_dataloader_workers_read_s3_like_local(s3, data, context):
    """A forked worker inherits a dataset whose store connections belong to the parent's
    async runtime; it must build its own (and a spawned one reconnects from the pickle)."""
    torch_data = pytest.importorskip("torch.utils.data")
    local, url = data
    # The columns the DataLoader tests read (numpy batches of flat columns).
    kw = dict(batch_size=BS, shuffle=True, seed=3, columns=["row_id", "x"])
    ds = remote(s3, url, **kw)
    next(iter(ds))  # the parent's runtime and connections are live when the workers start
    here = make_dataset(local, **kw)

    def rows(dataset) -> list[int]:
        loader = torch_data.DataLoader(
            dataset, batch_size=None, num_workers=2, multiprocessing_context=context
        )
        return [int(i) for batch in loader for i in ids(batch)]

    got = rows(ds)
    assert got == rows(here)
    assert sorted(got) == list(range(N))


def test_a_block_that_raises_publishes_no_partial_object(s3):
    """``with fs.open_output_stream(...)`` aborts on an exception: the old object stays, and
    a new key never appears with part of its bytes (a Ctrl-C'd ``cp``, a failed read)."""
    fs, _ = fs_for(s3)
    with fs.open_output_stream("kept") as out:
        out.write(b"the old object")
    for key in ("kept", "new"):
        with pytest.raises(RuntimeError), fs.open_output_stream(key) as out:
            out.write(b"x" * (9 * MiB))  # past one part: a multipart upload has begun
            raise RuntimeError("the copy failed half way")
        assert out.closed
    assert bytes(fs.open_input_file("kept").read_at(0, 100)) == b"the old object"
    [(_, kind, _, _)] = fs.get_file_info(["new"])
    assert kind == "not_found"


def test_footers_are_cached_between_opens_and_a_rewrite_is_a_miss(s3, tmp_path, monkeypatch):
    """A second open finds every footer in ``HF3FS_FOOTER_CACHE``; a rewritten object has a new
    ETag, so its footer is read again and the new rows come back, never the old footer's."""
    cache = tmp_path / "footers"
    monkeypatch.setenv("HF3FS_FOOTER_CACHE", str(cache))
    local = tmp_path / "v1"
    write_dataset(local, LAYOUT_S3)
    s3.upload_dir(local, PREFIX)
    url = s3.url(f"{PREFIX}/")
    first = batches_of(remote(s3, url, batch_size=BS))
    entries = sorted(p.name for p in cache.iterdir())
    assert len(entries) == len(FILES)
    again = batches_of(remote(s3, url, batch_size=BS))
    assert_same_batches(again, first)
    assert sorted(p.name for p in cache.iterdir()) == entries
    # Rewrite one file with other rows: a new ETag, a new key, the new values.
    v2 = tmp_path / "v2"
    write_dataset(v2, [LAYOUT_S3[1]], start=100_000)
    s3.put(f"{PREFIX}/{FILES[1]}", (v2 / "part-00000.parquet").read_bytes())
    rows = sorted(flat(ids(b) for b in batches_of(remote(s3, url, batch_size=BS))))
    start1, n1 = sum(LAYOUT_S3[0]), sum(LAYOUT_S3[1])
    kept = [i for i in range(N) if not start1 <= i < start1 + n1]
    assert rows == sorted(kept + list(range(100_000, 100_000 + n1)))
