"""``Hf3fsFileSystem``: fsspec's own abstract test suite, then our behaviour tests."""

from __future__ import annotations

import errno
import gzip
import os
import pickle
import uuid
from pathlib import Path

import fsspec
import pytest
from fsspec.tests.abstract import AbstractFixtures
from fsspec.tests.abstract.copy import AbstractCopyTests
from fsspec.tests.abstract.get import AbstractGetTests
from fsspec.tests.abstract.open import AbstractOpenTests
from fsspec.tests.abstract.pipe import AbstractPipeTests
from fsspec.tests.abstract.put import AbstractPutTests

import hf3fs
from hf3fs.fs import Hf3fsFile, Hf3fsFileSystem

# ---- fsspec's abstract suite ---------------------------------------------------------------
# (fsspec.tests.abstract.mv holds only LocalFileSystem tests, no abstract class: our own mv
# tests are below.)


class Hf3fsFixtures(AbstractFixtures):
    @pytest.fixture
    def fs(self):
        return Hf3fsFileSystem(skip_instance_cache=True)

    @pytest.fixture
    def fs_join(self):
        # Keep a trailing "/" on the last part: the suite uses it to mean "into a directory".
        return lambda *parts: "/".join(parts)

    @pytest.fixture
    def fs_path(self, fs):
        path = f"local/abstract-{uuid.uuid4().hex}"
        fs.mkdir(path)
        yield path
        if fs.exists(path):
            fs.rm(path, recursive=True)


class TestHf3fsCopy(AbstractCopyTests, Hf3fsFixtures):
    pass


class TestHf3fsGet(AbstractGetTests, Hf3fsFixtures):
    pass


class TestHf3fsPut(AbstractPutTests, Hf3fsFixtures):
    pass


class TestHf3fsOpen(AbstractOpenTests, Hf3fsFixtures):
    pass


class TestHf3fsPipe(AbstractPipeTests, Hf3fsFixtures):
    pass


# ---- our own tests -------------------------------------------------------------------------


# ``fs`` and ``base`` (a fresh directory on the ``local`` mount) are conftest's.


def home() -> Path:
    """The root of the embedded ``local`` mount on disk."""
    return Path(os.environ["HF3FS_HOME"])


@pytest.fixture
def tree(fs, base):
    """base/{a.txt, b.bin, d/{x, sub/y}, empty/}"""
    fs.pipe(
        {
            f"{base}/a.txt": b"hello world",
            f"{base}/b.bin": bytes(range(256)),
            f"{base}/d/x": b"X",
            f"{base}/d/sub/y": b"YY",
        }
    )
    fs.mkdir(f"{base}/empty")
    return base


def test_registered_as_fsspec_protocol():
    fs = fsspec.filesystem("hf3fs")
    assert isinstance(fs, Hf3fsFileSystem)
    assert fsspec.get_filesystem_class("hf3fs") is Hf3fsFileSystem
    got, path = fsspec.core.url_to_fs("hf3fs://local/some/file.txt")
    assert isinstance(got, Hf3fsFileSystem) and path == "local/some/file.txt"


def test_fsspec_open_urls(fs, base):
    url = f"hf3fs://{base}/f.txt"
    with fsspec.open(url, "wb") as f:
        f.write(b"via fsspec.open")
    with fsspec.open(url, "rb") as f:
        assert f.read() == b"via fsspec.open"
    with fsspec.open(f"hf3fs://{base}/t.txt", "w", encoding="utf-8") as f:
        f.write("héllo\n")
    with fsspec.open(f"hf3fs://{base}/t.txt", "r", encoding="utf-8") as f:
        assert f.read() == "héllo\n"
    with fsspec.open(f"hf3fs://{base}/z.gz", "wb", compression="gzip") as f:
        f.write(b"compressed" * 100)
    assert gzip.decompress(fs.cat_file(f"{base}/z.gz")) == b"compressed" * 100
    # The data is on the mount's disk.
    rel = base.split("/", 1)[1]
    assert (home() / rel / "f.txt").read_bytes() == b"via fsspec.open"


def test_paths_and_protocol(fs, tree):
    assert fs.unstrip_protocol(tree) == f"hf3fs://{tree}"
    assert Hf3fsFileSystem._strip_protocol(f"hf3fs://{tree}/a.txt/") == f"{tree}/a.txt"
    assert fs.info(f"hf3fs://{tree}/a.txt")["name"] == f"{tree}/a.txt"
    assert fs.ls(f"hf3fs://{tree}/", detail=False) == fs.ls(tree, detail=False)


def test_info_files_dirs_missing(fs, tree):
    info = fs.info(f"{tree}/a.txt")
    assert info["type"] == "file" and info["size"] == 11 and info["name"] == f"{tree}/a.txt"
    assert isinstance(info["mtime"], float)
    assert fs.info(f"{tree}/d")["type"] == "directory"
    assert fs.info("local")["type"] == "directory"
    assert fs.info("") == {"name": "", "size": 0, "type": "directory"}
    with pytest.raises(FileNotFoundError) as exc:
        fs.info(f"{tree}/missing")
    assert exc.value.errno == errno.ENOENT
    assert fs.size(f"{tree}/b.bin") == 256
    assert fs.modified(f"{tree}/a.txt").timestamp() == pytest.approx(info["mtime"])


def test_exists_isdir_isfile(fs, tree):
    assert fs.exists(f"{tree}/a.txt") and fs.isfile(f"{tree}/a.txt")
    assert not fs.isdir(f"{tree}/a.txt")
    assert fs.exists(f"{tree}/d") and fs.isdir(f"{tree}/d") and not fs.isfile(f"{tree}/d")
    assert fs.isdir(f"{tree}/empty")
    for missing in (f"{tree}/missing", f"{tree}/a.txt/below"):
        assert not fs.exists(missing)
        assert not fs.isdir(missing) and not fs.isfile(missing)


def test_ls(fs, tree):
    assert fs.ls(tree, detail=False) == [
        f"{tree}/a.txt",
        f"{tree}/b.bin",
        f"{tree}/d",
        f"{tree}/empty",
    ]
    detail = {e["name"]: e for e in fs.ls(f"{tree}/d")}
    assert detail[f"{tree}/d/x"]["type"] == "file" and detail[f"{tree}/d/x"]["size"] == 1
    assert detail[f"{tree}/d/sub"]["type"] == "directory"
    assert fs.ls(f"{tree}/empty") == []
    # ls of a file lists the file itself.
    assert fs.ls(f"{tree}/a.txt", detail=False) == [f"{tree}/a.txt"]
    with pytest.raises(FileNotFoundError):
        fs.ls(f"{tree}/missing")


def test_ls_root_lists_mounts(fs, mounts):
    assert "local" in fs.ls("", detail=False)
    mounts.add("alpha")
    mounts.add("beta")
    fresh = Hf3fsFileSystem(skip_instance_cache=True)
    assert fresh.ls("", detail=False) == ["alpha", "beta"]
    assert all(e["type"] == "directory" for e in fresh.ls(""))


def test_find(fs, tree):
    files = [f"{tree}/a.txt", f"{tree}/b.bin", f"{tree}/d/sub/y", f"{tree}/d/x"]
    assert fs.find(tree) == files
    assert fs.find(f"hf3fs://{tree}") == files
    assert fs.find(tree, maxdepth=1) == files[:2]
    assert fs.find(tree, maxdepth=2) == [*files[:2], f"{tree}/d/x"]
    assert fs.find(tree, withdirs=True) == sorted(
        [tree, *files, f"{tree}/d", f"{tree}/d/sub", f"{tree}/empty"]
    )
    assert fs.find(tree, maxdepth=1, withdirs=True) == sorted(
        [tree, *files[:2], f"{tree}/d", f"{tree}/empty"]
    )
    detail = fs.find(tree, detail=True)
    assert list(detail) == files
    assert detail[f"{tree}/d/sub/y"]["size"] == 2 and detail[f"{tree}/d/x"]["type"] == "file"
    # A file finds itself; a missing path and an empty directory find nothing.
    assert fs.find(f"{tree}/a.txt") == [f"{tree}/a.txt"]
    assert fs.find(f"{tree}/missing") == []
    assert fs.find(f"{tree}/empty") == []
    with pytest.raises(ValueError):
        fs.find(tree, maxdepth=0)


def test_glob_walk_du(fs, tree):
    assert fs.glob(f"{tree}/*.txt") == [f"{tree}/a.txt"]
    assert fs.glob(f"{tree}/**/y") == [f"{tree}/d/sub/y"]
    assert fs.du(tree) == 11 + 256 + 1 + 2
    walked = {root: (sorted(dirs), sorted(files)) for root, dirs, files in fs.walk(tree)}
    assert walked[tree] == (["d", "empty"], ["a.txt", "b.bin"])
    assert walked[f"{tree}/d/sub"] == ([], ["y"])


def test_mkdir_makedirs_rmdir(fs, base):
    fs.mkdir(f"{base}/p/q/r")
    assert fs.isdir(f"{base}/p/q/r")
    with pytest.raises(FileExistsError):
        fs.mkdir(f"{base}/p")
    with pytest.raises(FileNotFoundError):
        fs.mkdir(f"{base}/n/o", create_parents=False)
    fs.makedirs(f"{base}/m/n")
    fs.makedirs(f"{base}/m/n", exist_ok=True)
    with pytest.raises(FileExistsError):
        fs.makedirs(f"{base}/m/n")
    fs.pipe_file(f"{base}/file", b"x")
    with pytest.raises(FileExistsError):
        fs.makedirs(f"{base}/file", exist_ok=True)
    with pytest.raises(OSError) as exc:
        fs.rmdir(f"{base}/p")
    assert exc.value.errno == errno.ENOTEMPTY
    fs.rmdir(f"{base}/p/q/r")
    assert not fs.exists(f"{base}/p/q/r") and fs.isdir(f"{base}/p/q")
    with pytest.raises(FileNotFoundError):
        fs.rmdir(f"{base}/missing")
    with pytest.raises(NotADirectoryError):
        fs.rmdir(f"{base}/file")
    with pytest.raises(IsADirectoryError):
        fs.mkdir("")


def test_rm(fs, tree):
    fs.rm(f"{tree}/a.txt")
    assert not fs.exists(f"{tree}/a.txt")
    with pytest.raises(IsADirectoryError):
        fs.rm(f"{tree}/d")
    assert fs.exists(f"{tree}/d/x")
    fs.rm(f"{tree}/d", recursive=True)
    assert not fs.exists(f"{tree}/d")
    fs.rm([f"{tree}/b.bin", f"{tree}/empty"], recursive=True)
    assert fs.ls(tree) == []
    with pytest.raises(FileNotFoundError):
        fs.rm_file(f"{tree}/missing")


def test_rm_missing_path_raises(fs, base):
    with pytest.raises(FileNotFoundError):
        fs.rm(f"{base}/missing")


def test_mv_file_and_dir(fs, tree):
    fs.mv(f"{tree}/a.txt", f"{tree}/renamed.txt")
    assert not fs.exists(f"{tree}/a.txt")
    assert fs.cat_file(f"{tree}/renamed.txt") == b"hello world"
    # A file into an existing directory keeps its name.
    fs.mv(f"{tree}/renamed.txt", f"{tree}/d")
    assert fs.cat_file(f"{tree}/d/renamed.txt") == b"hello world"
    # A directory to a new name moves all of it.
    fs.mv(f"{tree}/d", f"{tree}/d2")
    assert not fs.exists(f"{tree}/d")
    assert fs.find(f"{tree}/d2") == [f"{tree}/d2/renamed.txt", f"{tree}/d2/sub/y", f"{tree}/d2/x"]
    # Over an existing file: replaced.
    fs.mv(f"{tree}/b.bin", f"{tree}/d2/x")
    assert fs.cat_file(f"{tree}/d2/x") == bytes(range(256))
    with pytest.raises(FileNotFoundError):
        fs.mv(f"{tree}/missing", f"{tree}/elsewhere")


@pytest.mark.parametrize("dest_has_entries", [True, False], ids=["nonempty", "empty"])
def test_mv_dir_into_existing_dir(fs, tree, dest_has_entries):
    if dest_has_entries:
        fs.pipe_file(f"{tree}/empty/keep", b"k")
    fs.mv(f"{tree}/d", f"{tree}/empty", recursive=True)
    assert fs.cat_file(f"{tree}/empty/d/x") == b"X"
    assert fs.cat_file(f"{tree}/empty/d/sub/y") == b"YY"


def test_cp_file(fs, tree):
    fs.cp_file(f"{tree}/a.txt", f"{tree}/new/parent/copy.txt")  # auto_mkdir
    assert fs.cat_file(f"{tree}/new/parent/copy.txt") == b"hello world"
    assert fs.cat_file(f"{tree}/a.txt") == b"hello world"
    fs.cp_file(f"{tree}/d", f"{tree}/dcopy")  # a directory: only the directory
    assert fs.isdir(f"{tree}/dcopy") and fs.ls(f"{tree}/dcopy") == []
    with pytest.raises(FileNotFoundError):
        fs.cp_file(f"{tree}/missing", f"{tree}/x")


def test_pipe_and_cat_file(fs, base):
    data = bytes(range(256)) * 4
    fs.pipe_file(f"{base}/deep/er/f", data)  # parents made
    assert fs.cat_file(f"{base}/deep/er/f") == data
    assert fs.cat(f"{base}/deep/er/f") == data
    assert fs.cat_file(f"{base}/deep/er/f", start=10, end=20) == data[10:20]
    assert fs.cat_file(f"{base}/deep/er/f", start=-5) == data[-5:]
    assert fs.cat_file(f"{base}/deep/er/f", start=2, end=-3) == data[2:-3]
    assert fs.cat_file(f"{base}/deep/er/f", start=-10, end=-4) == data[-10:-4]
    assert fs.cat_file(f"{base}/deep/er/f", start=-5000, end=5000) == data
    assert fs.cat_file(f"{base}/deep/er/f", start=30, end=20) == b""
    assert fs.cat_file(f"{base}/deep/er/f", start=5000) == b""
    assert fs.head(f"{base}/deep/er/f", 3) == data[:3]
    assert fs.tail(f"{base}/deep/er/f", 3) == data[-3:]
    with pytest.raises(FileExistsError):
        fs.pipe_file(f"{base}/deep/er/f", b"new", mode="create")
    fs.pipe_file(f"{base}/deep/er/f", b"new")
    assert fs.cat_file(f"{base}/deep/er/f") == b"new"
    with pytest.raises(FileNotFoundError):
        fs.cat_file(f"{base}/missing")
    with pytest.raises(IsADirectoryError):
        fs.cat_file(f"{base}/deep")


def test_cat_ranges(fs, tree):
    a, b = f"{tree}/a.txt", f"{tree}/b.bin"
    missing = f"{tree}/missing"
    paths = [a, b, missing, a, b, f"hf3fs://{a}"]
    starts = [0, 10, 0, -5, -3, 6]
    ends = [5, 20, 1, None, -1, 100]
    out = fs.cat_ranges(paths, starts, ends, on_error="return")
    assert out[0] == b"hello"
    assert out[1] == bytes(range(10, 20))
    assert isinstance(out[2], FileNotFoundError)
    assert out[3] == b"world"
    assert out[4] == bytes([253, 254])
    assert out[5] == b"world"
    with pytest.raises(FileNotFoundError):
        fs.cat_ranges(paths, starts, ends, on_error="raise")
    # Scalar starts/ends apply to every path.
    assert fs.cat_ranges([a, b], 1, 3) == [b"el", bytes([1, 2])]
    with pytest.raises(ValueError):
        fs.cat_ranges([a, b], [0], [1])
    with pytest.raises(NotImplementedError):
        fs.cat_ranges([a], [0], [1], max_gap=10)


@pytest.mark.parametrize("block_size", [None, 7, 1000])
def test_write_modes(fs, base, block_size):
    path = f"{base}/sub/w.bin"
    with fs.open(path, "wb", block_size=block_size) as f:
        assert isinstance(f, Hf3fsFile)
        for i in range(50):
            f.write(bytes([i]) * 100)
    expected = b"".join(bytes([i]) * 100 for i in range(50))
    assert fs.cat_file(path) == expected
    with fs.open(path, "ab", block_size=block_size) as f:
        f.write(b"tail")
    assert fs.cat_file(path) == expected + b"tail"
    with fs.open(path, "wb") as f:
        f.write(b"short")
    assert fs.cat_file(path) == b"short"
    with pytest.raises(FileExistsError):
        fs.open(path, "xb")
    assert fs.cat_file(path) == b"short"
    with fs.open(f"{base}/sub/new", "xb") as f:
        f.write(b"exclusive")
    assert fs.cat_file(f"{base}/sub/new") == b"exclusive"


def test_open_unsupported(fs, base):
    with pytest.raises(NotImplementedError):
        fs.open(f"{base}/f", "wb", autocommit=False)
    with pytest.raises(FileNotFoundError):
        fs.open(f"{base}/missing", "rb")


def test_open_directory_for_reading_raises(fs, base):
    fs.mkdir(f"{base}/dir")
    with pytest.raises(IsADirectoryError):
        fs.open(f"{base}/dir", "rb").read()


def test_buffered_reads_seek(fs, base):
    data = os.urandom(100_000)
    fs.pipe_file(f"{base}/r.bin", data)
    for cache_type in ("readahead", "bytes", "none", "all"):
        with fs.open(f"{base}/r.bin", "rb", block_size=4096, cache_type=cache_type) as f:
            assert f.size == len(data)
            assert f.read(10) == data[:10]
            f.seek(50_000)
            assert f.read(5000) == data[50_000:55_000]
            assert f.tell() == 55_000
            f.seek(-100, os.SEEK_CUR)
            assert f.read(100) == data[54_900:55_000]
            f.seek(-7, os.SEEK_END)
            assert f.read() == data[-7:]
            assert f.read(10) == b""
            f.seek(3)
            buf = bytearray(20)
            assert f.readinto(buf) == 20 and bytes(buf) == data[3:23]


def test_auto_mkdir(base):
    fs = Hf3fsFileSystem(skip_instance_cache=True)
    fs.pipe_file(f"{base}/a/b/c/f", b"1")
    with fs.open(f"{base}/x/y/f", "wb") as f:
        f.write(b"2")
    assert fs.cat_file(f"{base}/a/b/c/f") == b"1" and fs.cat_file(f"{base}/x/y/f") == b"2"
    strict = Hf3fsFileSystem(auto_mkdir=False, skip_instance_cache=True)
    with pytest.raises(FileNotFoundError):
        strict.pipe_file(f"{base}/p/q/f", b"1")
    with pytest.raises(FileNotFoundError):
        with strict.open(f"{base}/p/q/g", "wb") as f:
            f.write(b"1")
    assert not fs.exists(f"{base}/p")


def test_read_only_token_refuses_writes(mounts):
    root = mounts.add("ro", {"r-token": "read", "w-token": "write"})
    (root / "f").write_bytes(b"original")
    (root / "d").mkdir()
    fs = Hf3fsFileSystem(token="r-token", skip_instance_cache=True)
    assert fs.cat_file("ro/f") == b"original"
    assert fs.ls("ro", detail=False) == ["ro/d", "ro/f"]
    attempts = {
        "pipe new": lambda: fs.pipe_file("ro/new", b"x"),
        "pipe over": lambda: fs.pipe_file("ro/f", b"x"),
        "pipe into new dir": lambda: fs.pipe_file("ro/sub/new", b"x"),
        "open wb": lambda: fs.open("ro/f", "wb").close(),
        "open ab": lambda: fs.open("ro/f", "ab").close(),
        "touch": lambda: fs.touch("ro/t"),
        "rm": lambda: fs.rm("ro/f"),
        "rmdir": lambda: fs.rmdir("ro/d"),
        "mkdir": lambda: fs.mkdir("ro/d2"),
        "makedirs": lambda: fs.makedirs("ro/a/b", exist_ok=True),
        "mv": lambda: fs.mv("ro/f", "ro/g"),
        "cp_file": lambda: fs.cp_file("ro/f", "ro/g"),
    }
    for name, attempt in attempts.items():
        with pytest.raises(PermissionError) as exc:
            attempt()
        assert exc.value.errno == errno.EACCES, name
    assert sorted(p.name for p in root.iterdir()) == ["d", "f"]
    assert (root / "f").read_bytes() == b"original"
    # The write token of the same mount may write.
    writer = Hf3fsFileSystem(token="w-token", skip_instance_cache=True)
    writer.pipe_file("ro/new", b"written")
    assert (root / "new").read_bytes() == b"written"
    with pytest.raises(PermissionError):
        Hf3fsFileSystem(token="wrong", skip_instance_cache=True).cat_file("ro/f")


def test_client_restricts_to_its_mount(mounts):
    root = mounts.add("one")
    mounts.add("two")
    client = hf3fs.Client("one", "")
    fs = Hf3fsFileSystem(client=client, skip_instance_cache=True)
    assert fs.ls("", detail=False) == ["one"]
    fs.pipe_file("one/dir/f", b"through the client")
    assert (root / "dir" / "f").read_bytes() == b"through the client"
    assert fs.cat_file("hf3fs://one/dir/f") == b"through the client"
    for attempt in (
        lambda: fs.cat_file("two/f"),
        lambda: fs.ls("two"),
        lambda: fs.pipe_file("two/f", b"x"),
    ):
        with pytest.raises(ValueError, match="two"):
            attempt()


def test_unknown_mount_is_value_error(fs):
    with pytest.raises(ValueError, match="no-such-mount"):
        fs.info("no-such-mount/x")


def test_pickle_round_trip(fs, base):
    fs.pipe_file(f"{base}/p", b"pickled")
    clone = pickle.loads(pickle.dumps(fs))
    assert isinstance(clone, Hf3fsFileSystem)
    assert clone.cat_file(f"{base}/p") == b"pickled"
    clone.pipe_file(f"{base}/q", b"from the clone")
    assert fs.cat_file(f"{base}/q") == b"from the clone"
    # Open files pickle too: fsspec re-opens them by path at the same position.
    with fs.open(f"{base}/p", "rb") as f:
        f.seek(3)
        g = pickle.loads(pickle.dumps(f))
        assert g.read() == b"kled"
        g.seek(0)
        assert g.read() == b"pickled"


def test_pickle_keeps_token(mounts):
    root = mounts.add("tok", {"r": "read"})
    (root / "f").write_bytes(b"secret")
    fs = Hf3fsFileSystem(token="r", skip_instance_cache=True)
    clone = pickle.loads(pickle.dumps(fs))
    assert clone.cat_file("tok/f") == b"secret"
    with pytest.raises(PermissionError):
        clone.pipe_file("tok/f", b"x")


def test_errors_name_the_fsspec_path():
    fs = Hf3fsFileSystem(skip_instance_cache=True)
    name = f"local/errors-{uuid.uuid4().hex}/missing"
    for call in (fs.ls, fs.cat_file, fs.rm_file):
        with pytest.raises(FileNotFoundError) as info:
            call(name)
        assert info.value.filename == name
