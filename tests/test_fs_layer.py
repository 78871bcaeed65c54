"""The Rust IO layer: ``FileSystem``, ``RandomAccessFile``, ``OutputStream``,
``CacheOptions``, ``ReadRangeCache`` and ``coalesce_ranges``."""

from __future__ import annotations

import errno
import gc
import os
import random
import uuid

import numpy as np
import pytest

import hf3fs
from hf3fs.fs import (
    Buffer,
    CacheOptions,
    FileSystem,
    OutputStream,
    RandomAccessFile,
    ReadRangeCache,
    coalesce_ranges,
)

MIB = 1 << 20


def put(fs: FileSystem, path: str, data: bytes, metadata: dict | None = None) -> None:
    with fs.open_output_stream(path, metadata=metadata) as out:
        out.write(data)


@pytest.fixture
def data() -> bytes:
    return random.Random(1).randbytes(300_000)


@pytest.fixture
def mock_file(data):
    fs = FileSystem.mock()
    put(fs, "f", data)
    return fs, fs.open_input_file("f")


def addr(buf) -> int:
    return np.frombuffer(buf, dtype=np.uint8).__array_interface__["data"][0]


# ---- file systems --------------------------------------------------------------------------


def test_constructors_and_type_names(tmp_path):
    mock = FileSystem.mock()
    assert mock.type_name == "mock" and "Mock" in repr(mock)
    assert FileSystem.local().type_name == "local"
    assert FileSystem.subtree("a", mock).type_name == "subtree"
    assert FileSystem.slow(mock, latency=0).type_name == "slow"
    assert FileSystem.for_client(hf3fs.Client("local", "")).type_name == "hf3fs"
    assert FileSystem.mock() is not mock  # each mock is a new, empty file system
    assert FileSystem.mock().get_file_info_selector("") == []


def test_from_uri(tmp_path):
    fs, path = FileSystem.from_uri("hf3fs://local/x/y")
    assert (fs.type_name, path) == ("hf3fs", "x/y")
    fs, path = FileSystem.from_uri(f"file://{tmp_path}//a/")
    assert (fs.type_name, path) == ("local", f"{tmp_path}/a")
    fs, path = FileSystem.from_uri("file:///tmp/a%20b")
    assert (fs.type_name, path) == ("local", "/tmp/a b")
    fs, path = FileSystem.from_uri("mock://a/b")
    assert (fs.type_name, path) == ("mock", "a/b")
    fs, path = FileSystem.from_uri(str(tmp_path / "plain"))
    assert (fs.type_name, path) == ("local", str(tmp_path / "plain"))
    fs, path = FileSystem.from_uri("relative/path")
    assert fs.type_name == "local" and path == os.path.join(os.getcwd(), "relative/path")
    with pytest.raises(ValueError) as exc:
        FileSystem.from_uri("gs://bucket/key")
    for scheme in ("gs", "hf3fs://", "s3://", "file://", "mock://"):
        assert scheme in str(exc.value)
    for bad in ("hf3fs:///x", "file://otherhost/x", "file:///x%zz", ""):
        with pytest.raises(ValueError):
            FileSystem.from_uri(bad)
    with pytest.raises(ValueError, match="nosuch"):
        FileSystem.from_uri("hf3fs://nosuch/x")


def test_from_uri_hf3fs_reads_and_writes_the_mount(mounts):
    root = mounts.add("u", {"r": "read", "w": "write"})
    (root / "f").write_bytes(b"on disk")
    fs, path = FileSystem.from_uri("hf3fs://u/f", token="r")
    assert path == "f" and fs.open_input_file(path).read_at(0, 100) == b"on disk"
    with pytest.raises(PermissionError):
        fs.open_output_stream("g")
    with pytest.raises(PermissionError):
        FileSystem.from_uri("hf3fs://u/f", token="wrong")
    writer, _ = FileSystem.from_uri("hf3fs://u/", token="w")
    writer.create_dir("sub")
    put(writer, "sub/g", b"new")
    assert (root / "sub" / "g").read_bytes() == b"new"


def test_normalize_path():
    mock = FileSystem.mock()
    assert mock.normalize_path("/a//b/") == "a/b"
    local = FileSystem.local()
    assert local.normalize_path("/tmp//a/") == "/tmp/a"
    with pytest.raises(ValueError):
        local.normalize_path("relative")
    for fs in (mock, FileSystem.subtree("a", mock)):
        with pytest.raises(ValueError, match=r"\.\."):
            fs.normalize_path("../x")


def test_file_info_and_selector():
    fs = FileSystem.mock()
    fs.create_dir("a/b/c")
    put(fs, "a/f", b"12345")
    put(fs, "a/b/g", b"")
    infos = fs.get_file_info(["a", "a/f", "a/b/g", "missing", ""])
    assert [(p, kind, size) for p, kind, size, _ in infos] == [
        ("a", "directory", None),
        ("a/f", "file", 5),
        ("a/b/g", "file", 0),
        ("missing", "not_found", None),
        ("", "directory", None),
    ]
    assert isinstance(infos[1][3], int) and infos[3][3] is None  # mtime in ns

    def sel(base, **kw):
        return [p for p, *_ in fs.get_file_info_selector(base, **kw)]

    assert sel("a") == ["a/b", "a/f"]
    assert sel("a", recursive=True) == ["a/b", "a/b/c", "a/b/g", "a/f"]
    assert sel("", recursive=True, max_recursion=1) == ["a", "a/b", "a/f"]
    assert fs.get_file_info_selector("missing", allow_not_found=True) == []
    with pytest.raises(FileNotFoundError):
        fs.get_file_info_selector("missing")
    with pytest.raises(NotADirectoryError):
        fs.get_file_info_selector("a/f")


def test_changes_on_mock():
    fs = FileSystem.mock()
    fs.create_dir("d/e")
    with pytest.raises(FileNotFoundError):
        fs.create_dir("x/y", recursive=False)
    put(fs, "d/f1", b"1")
    put(fs, "d/f2", b"2")
    fs.copy_file("d/f1", "d/e/copy")
    fs.move("d/f2", "moved")
    fs.delete_files(["d/f1", "moved"])
    everything = [p for p, *_ in fs.get_file_info_selector("", recursive=True)]
    assert everything == ["d", "d/e", "d/e/copy"]
    with pytest.raises(OSError) as exc:
        fs.delete_dir("nope")
    assert exc.value.errno == errno.ENOENT
    fs.delete_dir_contents("d")
    assert fs.get_file_info_selector("d") == []
    fs.delete_dir_contents("nope", missing_dir_ok=True)
    with pytest.raises(FileNotFoundError):
        fs.delete_dir_contents("nope")
    with pytest.raises(ValueError):
        fs.delete_dir_contents("")
    fs.delete_dir("d")
    put(fs, "z", b"z")
    fs.delete_root_dir_contents()
    assert fs.get_file_info_selector("", recursive=True) == []
    with pytest.raises(FileNotFoundError):
        fs.delete_file("z")


def test_subtree_confines_paths(tmp_path):
    local = FileSystem.local()
    (tmp_path / "inner").mkdir()
    (tmp_path / "outside").write_bytes(b"secret")
    sub = FileSystem.subtree(str(tmp_path / "inner"), local)
    put(sub, "f", b"in the subtree")
    assert (tmp_path / "inner" / "f").read_bytes() == b"in the subtree"
    assert sub.get_file_info(["/f"])[0][:3] == ("/f", "file", 14)
    assert [p for p, *_ in sub.get_file_info_selector("")] == ["f"]
    with pytest.raises(ValueError):
        sub.open_input_file("../outside")
    nested = FileSystem.subtree("a", FileSystem.subtree("b", FileSystem.mock()))
    nested.create_dir("c")
    assert nested.get_file_info(["c"])[0][1] == "directory"


# ---- reads ---------------------------------------------------------------------------------


def check_reads(f: RandomAccessFile, data: bytes) -> None:
    rng = random.Random(42)
    size = len(data)
    assert f.size() == size
    for _ in range(50):
        off, n = rng.randrange(size + 10), rng.randrange(5000)
        assert f.read_at(off, n) == data[off : off + n]
    ranges = [(rng.randrange(size), rng.randrange(1, 20_000)) for _ in range(64)]
    ranges += [(0, 0), (size - 3, 10), (size + 5, 10)]
    out = f.read_many(ranges)
    assert out == [data[o : o + n] for o, n in ranges]
    buf = bytearray(1000)
    assert f.read_into(123, buf) == 1000 and bytes(buf) == data[123:1123]
    arr = np.zeros(4096, dtype=np.uint8)
    assert f.read_into(size - 100, arr) == 100
    assert arr[:100].tobytes() == data[-100:] and not arr[100:].any()
    view = memoryview(bytearray(10))[2:8]
    assert f.read_into(5, view) == 6 and view.tobytes() == data[5:11]
    f.will_need([(0, 100), (size // 2, 1000)])  # a hint: nothing to observe but no error


def test_reads_mock(mock_file, data):
    _, f = mock_file
    assert f.path == "f" and "f" in repr(f)
    check_reads(f, data)


def test_reads_local(tmp_path, data):
    (tmp_path / "f").write_bytes(data)
    check_reads(FileSystem.local().open_input_file(str(tmp_path / "f")), data)


def test_reads_hf3fs_mount(data):
    fs, path = FileSystem.from_uri(f"hf3fs://local/layer-{uuid.uuid4().hex}")
    put(fs, path, data)
    try:
        check_reads(fs.open_input_file(path), data)
    finally:
        fs.delete_file(path)


def test_read_argument_errors(mock_file):
    fs, f = mock_file
    for bad in (
        lambda: f.read_at(-1, 1),
        lambda: f.read_at(0, -1),
        lambda: f.read_into(-1, bytearray(1)),
        lambda: f.read_many([(0, 1), (-5, 1)]),
        lambda: f.read_many([(0, -1)]),
        lambda: f.will_need([(-1, 1)]),
        lambda: ReadRangeCache(f).cache([(-1, 10)]),
        lambda: ReadRangeCache(f).read(-1, 10),
        lambda: ReadRangeCache(f).read(0, -10),
        lambda: ReadRangeCache(f).wait_for([(0, -1)]),
    ):
        with pytest.raises(ValueError, match="non-negative"):
            bad()
    with pytest.raises(TypeError, match="read-only"):
        f.read_into(0, b"immutable")
    with pytest.raises(FileNotFoundError):
        fs.open_input_file("missing")
    fs.create_dir("dir")
    with pytest.raises(IsADirectoryError):
        fs.open_input_file("dir")


# ---- writes --------------------------------------------------------------------------------


def test_output_stream_semantics():
    fs = FileSystem.mock()
    out = fs.open_output_stream("f")
    assert isinstance(out, OutputStream) and out.path == "f" and not out.closed
    assert out.write(b"hello") == 5 and out.tell() == 5
    assert out.write(bytearray(b" ")) == 1
    assert out.write(memoryview(b"world")) == 5
    assert out.write(np.frombuffer(b"!!", dtype=np.uint8)) == 2
    out.flush()
    assert out.tell() == 13
    out.close()
    assert out.closed
    out.close()  # closing twice is fine
    for after_close in (lambda: out.write(b"x"), out.flush):
        with pytest.raises(OSError) as exc:
            after_close()
        assert exc.value.errno == errno.EBADF
    assert fs.open_input_file("f").read_at(0, 100) == b"hello world!!"
    # Truncate on open; append keeps and extends.
    with fs.open_output_stream("f") as out2:
        out2.write(b"new")
    assert out2.closed
    with fs.open_append_stream("f") as out3:
        out3.write(b"+more")
    assert fs.open_input_file("f").read_at(0, 100) == b"new+more"
    with pytest.raises(TypeError):
        fs.open_output_stream("g").write("text is not bytes")


def test_output_stream_closes_on_exception():
    fs = FileSystem.mock()
    with pytest.raises(RuntimeError):
        with fs.open_output_stream("f") as out:
            out.write(b"partial")
            raise RuntimeError("boom")
    assert out.closed
    assert fs.open_input_file("f").read_at(0, 100) == b"partial"


def test_output_stream_errors(tmp_path):
    fs = FileSystem.mock()
    with pytest.raises(FileNotFoundError):
        fs.open_output_stream("no/parent")
    fs.create_dir("d")
    with pytest.raises(IsADirectoryError):
        fs.open_output_stream("d")
    local = FileSystem.local()
    with local.open_output_stream(str(tmp_path / "x")) as out:
        out.write(b"local")
    assert (tmp_path / "x").read_bytes() == b"local"


def test_mock_keeps_metadata():
    fs = FileSystem.mock()
    put(fs, "f", b"x", metadata={"content-type": "text/plain", "n": 1})
    assert dict(fs.read_metadata("f")) == {"content-type": "text/plain", "n": "1"}
    put(fs, "g", b"y")
    assert fs.read_metadata("g") == []
    with pytest.raises(FileNotFoundError):
        fs.read_metadata("missing")


# ---- slow ----------------------------------------------------------------------------------


def test_slow_counts_requests_and_bytes(mock_file, data):
    inner, _ = mock_file
    slow = FileSystem.slow(inner, latency=0.0, seed=3)
    assert slow.stats() == {
        "read_requests": 0,
        "bytes_read": 0,
        "metadata_requests": 0,
        "peak_in_flight": 0,
    }
    f = slow.open_input_file("f")
    assert f.read_at(10, 100) == data[10:110]
    ranges = [(0, 5), (1000, 50), (len(data) - 2, 2)]
    assert f.read_many(ranges) == [data[:5], data[1000:1050], data[-2:]]
    buf = bytearray(7)
    assert f.read_into(3, buf) == 7
    slow.get_file_info(["f"])
    stats = slow.stats()
    assert stats["read_requests"] == 5  # read_many counts each range
    assert stats["bytes_read"] == 100 + 5 + 50 + 2 + 7
    assert stats["metadata_requests"] >= 2  # open and info
    assert 1 <= stats["peak_in_flight"] <= 3  # read_many's ranges go out together
    slow.reset_stats()
    assert slow.stats() == {
        "read_requests": 0,
        "bytes_read": 0,
        "metadata_requests": 0,
        "peak_in_flight": 0,
    }
    # The data and the file system underneath are the same.
    put(slow, "g", b"through slow")
    assert inner.open_input_file("g").read_at(0, 100) == b"through slow"
    bandwidth = FileSystem.slow(inner, latency=0.0, bandwidth=1e12)
    assert bandwidth.open_input_file("f").read_at(0, 10) == data[:10]
    assert bandwidth.stats() == {
        "read_requests": 1,
        "bytes_read": 10,
        "metadata_requests": 1,
        "peak_in_flight": 1,
    }


def test_slow_bytes_read_counts_returned_bytes(mock_file, data):
    inner, _ = mock_file
    slow = FileSystem.slow(inner, latency=0.0)
    f = slow.open_input_file("f")
    assert f.read_at(len(data) - 2, 10) == data[-2:]
    assert slow.stats()["bytes_read"] == 2


def test_slow_arguments():
    mock = FileSystem.mock()
    with pytest.raises(ValueError, match="latency"):
        FileSystem.slow(mock, latency=-1)
    for bw in (0, -5, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="bandwidth"):
            FileSystem.slow(mock, latency=0, bandwidth=bw)
    with pytest.raises(TypeError, match="slow"):
        mock.stats()
    mock.reset_stats()  # a no-op on file systems that keep no stats


def test_cache_issues_one_request_per_merged_range(mock_file, data):
    inner, _ = mock_file
    slow = FileSystem.slow(inner, latency=0.0)
    f = slow.open_input_file("f")
    slow.reset_stats()
    ranges = [(i * 1000, 100) for i in range(50)]  # gaps of 900 < hole 8192
    cache = ReadRangeCache(f, CacheOptions(max_request_size=0))
    cache.cache(ranges + [(200_000, 10)])
    cache.wait()
    assert cache.cached_ranges == [(0, 49_100), (200_000, 10)]
    assert slow.stats()["read_requests"] == 2
    assert slow.stats()["bytes_read"] == 49_110
    for off, n in ranges:
        assert bytes(cache.read(off, n)) == data[off : off + n]
    assert slow.stats()["read_requests"] == 2  # every read served from the cache


# ---- CacheOptions --------------------------------------------------------------------------


def test_cache_options_values():
    d = CacheOptions.defaults()
    assert (d.hole_size_limit, d.range_size_limit) == (8192, 32 * MIB)
    assert d.lazy is False and d.prefetch_limit == 0 and d.max_request_size == 16 * MIB
    assert CacheOptions() == d
    lazy = CacheOptions.lazy_defaults()
    assert lazy.lazy is True and lazy.hole_size_limit == 8192 and lazy != d
    assert CacheOptions(lazy=True) == lazy
    o = CacheOptions(hole_size_limit=1, range_size_limit=2, lazy=True, prefetch_limit=3)
    assert (o.hole_size_limit, o.range_size_limit, o.lazy, o.prefetch_limit) == (1, 2, True, 3)
    assert repr(o).startswith("CacheOptions(hole_size_limit=1, range_size_limit=2, lazy=True")
    net = CacheOptions.from_network_metrics(2, 500)
    assert (net.hole_size_limit, net.range_size_limit) == (1048576, 9437184)
    assert net.max_request_size == 9437184 and not net.lazy
    capped = CacheOptions.from_network_metrics(1000, 1000, 0.99, 64)
    assert capped.range_size_limit == 64 * MIB


def test_cache_options_invalid():
    with pytest.raises(ValueError, match="range_size_limit"):
        CacheOptions(range_size_limit=0)
    with pytest.raises(TypeError):
        CacheOptions(8192)  # keyword-only
    for args in [(0, 500), (2, 0), (2, 500, 1.0), (2, 500, 0.0), (2, 500, 0.9, 0)]:
        with pytest.raises(ValueError, match="from_network_metrics"):
            CacheOptions.from_network_metrics(*args)
    # Negative limits are refused (by the integer conversion: OverflowError today).
    with pytest.raises((ValueError, OverflowError)):
        CacheOptions(hole_size_limit=-1)


# ---- coalesce_ranges -----------------------------------------------------------------------


def test_coalesce_ranges():
    assert coalesce_ranges([], 10, 100) == []
    assert coalesce_ranges([(0, 0), (5, 0)], 10, 100) == []  # empty ranges dropped
    assert coalesce_ranges([(10, 5), (0, 5)], 5, 100) == [(0, 15)]  # sorted, gap == hole
    assert coalesce_ranges([(10, 5), (0, 5)], 4, 100) == [(0, 5), (10, 5)]  # gap > hole
    assert coalesce_ranges([(0, 10), (2, 3), (0, 4)], 0, 100) == [(0, 10)]  # contained
    assert coalesce_ranges([(0, 10), (5, 10)], 0, 100) == [(0, 15)]  # overlapping
    assert coalesce_ranges([(0, 50), (50, 50), (100, 50)], 0, 100) == [(0, 100), (100, 50)]
    assert coalesce_ranges([(0, 200)], 0, 100) == [(0, 200)]  # never split
    assert coalesce_ranges([(5, 1)] * 3, 0, 100) == [(5, 1)]
    with pytest.raises(ValueError, match="non-negative"):
        coalesce_ranges([(-1, 2)], 0, 1)
    with pytest.raises(ValueError, match="non-negative"):
        coalesce_ranges([(1, -2)], 0, 1)


def test_coalesce_ranges_covers_every_input():
    rng = random.Random(5)
    for _ in range(200):
        ranges = [(rng.randrange(10_000), rng.randrange(0, 300)) for _ in range(rng.randrange(30))]
        merged = coalesce_ranges(ranges, 64, 1000)
        assert merged == sorted(merged)
        for (o1, n1), (o2, _) in zip(merged, merged[1:], strict=False):
            assert o1 + n1 <= o2  # disjoint
        for o, n in ranges:
            if n:
                assert any(mo <= o and o + n <= mo + mn for mo, mn in merged)


# ---- ReadRangeCache ------------------------------------------------------------------------


def test_read_range_cache(mock_file, data):
    _, f = mock_file
    opts = CacheOptions(hole_size_limit=100, range_size_limit=10_000)
    cache = ReadRangeCache(f, opts, strict=True)
    assert cache.options == opts and cache.cached_ranges == []
    cache.cache([(200, 10), (0, 10), (50, 10), (5000, 100), (5050, 10)])
    assert cache.cached_ranges == [(0, 60), (200, 10), (5000, 100)]
    cache.wait()
    cache.wait_for([(0, 10), (5000, 100)])
    b1, b2 = cache.read(0, 10), cache.read(50, 10)
    assert isinstance(b1, Buffer) and len(b1) == 10 and "10 bytes" in repr(b1)
    assert bytes(b1) == data[:10] and bytes(b2) == data[50:60]
    view = memoryview(b1)
    assert view.readonly and view.tobytes() == data[:10]
    with pytest.raises(TypeError):
        view[0] = 1
    with pytest.raises(ValueError):
        np.frombuffer(b1, dtype=np.uint8)[0] = 1
    # Both reads are slices of the one merged buffer: no copy.
    assert addr(b2) - addr(b1) == 50
    assert addr(cache.read(5050, 10)) - addr(cache.read(5000, 10)) == 50
    assert bytes(cache.read(5000, 100)) == data[5000:5100]
    assert len(cache.read(123_456, 0)) == 0  # empty reads always succeed


def test_buffer_outlives_cache(mock_file, data):
    _, f = mock_file
    cache = ReadRangeCache(f)
    cache.cache([(0, 1000)])
    arr = np.frombuffer(cache.read(100, 200), dtype=np.uint8)
    del cache, f
    gc.collect()
    assert arr.tobytes() == data[100:300]


def test_read_range_cache_misses(mock_file, data):
    _, f = mock_file
    strict = ReadRangeCache(f, CacheOptions(hole_size_limit=0), strict=True)
    strict.cache([(0, 100), (1000, 100)])
    for off, n in [(300, 10), (50, 100), (990, 20)]:
        with pytest.raises(ValueError, match="not inside any cached range"):
            strict.read(off, n)
    with pytest.raises(ValueError, match="not inside any cached range"):
        strict.wait_for([(300, 10)])
    loose = ReadRangeCache(f, CacheOptions(hole_size_limit=0))
    loose.cache([(0, 100)])
    assert bytes(loose.read(300, 10)) == data[300:310]  # a miss is read directly
    assert bytes(loose.read(50, 100)) == data[50:150]
    loose.wait_for([(300, 10)])  # not cached, not strict: nothing to wait for


def test_read_range_cache_lazy(mock_file, data):
    _, f = mock_file
    cache = ReadRangeCache(f, CacheOptions.lazy_defaults(), strict=True)
    assert cache.options.lazy
    cache.cache([(0, 5), (10, 5), (100_000, 5)])
    assert cache.cached_ranges == [(0, 15), (100_000, 5)]
    cache.wait()  # nothing started yet: returns at once
    cache.wait_for([(100_000, 5)])
    assert bytes(cache.read(10, 5)) == data[10:15]
    assert bytes(cache.read(100_000, 5)) == data[100_000:100_005]


def test_read_range_cache_past_eof(mock_file, data):
    _, f = mock_file
    size = len(data)
    cache = ReadRangeCache(f)
    cache.cache([(size - 10, 20)])
    with pytest.raises(ValueError, match="past the end"):
        cache.read(size - 10, 20)
    assert bytes(cache.read(size - 10, 10)) == data[-10:]
    direct = ReadRangeCache(f)
    with pytest.raises(ValueError, match="past the end"):
        direct.read(size - 5, 10)


def test_read_range_cache_large_split_request(data):
    fs = FileSystem.mock()
    big = random.Random(9).randbytes(3 * MIB + 17)
    put(fs, "big", big)
    opts = CacheOptions(max_request_size=MIB)  # the merged range is read in 4 parts
    cache = ReadRangeCache(fs.open_input_file("big"), opts)
    cache.cache([(0, len(big))])
    assert cache.cached_ranges == [(0, len(big))]
    got = cache.read(0, len(big))
    assert bytes(got) == big
    assert addr(cache.read(MIB - 5, 10)) - addr(got) == MIB - 5  # one contiguous buffer


def test_read_range_cache_overlapping_cache_calls(mock_file, data):
    _, f = mock_file
    cache = ReadRangeCache(f, CacheOptions(hole_size_limit=0), strict=True)
    cache.cache([(0, 300)])
    cache.cache([(10, 5)])
    cache.cache([(400, 10)])
    assert bytes(cache.read(50, 10)) == data[50:60]
