"""The parallel IO engine: batched preadv/pwritev on io_uring or IO threads, coalescing,
errors, concurrency, fork safety, engine options, mlock'd and NUMA-bound iovecs, Ctrl-C."""

from __future__ import annotations

import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from errno import EBADF, EINVAL, EISDIR
from pathlib import Path

import numpy as np
import pytest

import hf3fs

KiB, MiB = 1 << 10, 1 << 20
ENGINES = ["threads", "uring"]
IO_ENV = ("HF3FS_IO_ENGINE", "HF3FS_IO_THREADS", "HF3FS_IO_QUEUE_DEPTH")
SENTINEL = 0xA5
FORK_WARNING = "ignore:.*fork.*:DeprecationWarning"


# ---------------------------------------------------------------------------- helpers


def new_client(mount: str, engine: str, token: str = "", **kw) -> hf3fs.Client:
    """A client on ``engine``; skips when the kernel refuses io_uring."""
    try:
        return hf3fs.Client(mount, token, io_engine=engine, **kw)
    except OSError as e:
        if engine == "uring":
            pytest.skip(f"io_uring is not available here: {e}")
        raise


@pytest.fixture(params=ENGINES)
def eng(request, mounts, monkeypatch):
    """(client, root) on a fresh mount ``t`` with the parametrized engine."""
    for var in IO_ENV:
        monkeypatch.delenv(var, raising=False)
    root = mounts.add("t")
    return new_client("t", request.param, io_threads=4), root


def make_file(root: Path, name: str, size: int, seed: int = 0) -> bytes:
    data = random.Random(seed).randbytes(size)
    (root / name).write_bytes(data)
    return data


class OsFile:
    """The same file opened with ``os.open`` (the reference for every check)."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY)

    def pread(self, n: int, off: int) -> bytes:
        return os.pread(self.fd, n, off) if off >= 0 else b""

    def all(self) -> bytes:
        return self.pread(os.fstat(self.fd).st_size, 0)

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def osfile():
    opened: list[OsFile] = []

    def open_(path: Path) -> OsFile:
        opened.append(OsFile(path))
        return opened[-1]

    yield open_
    for f in opened:
        f.close()


def assert_same(got, want, what: str) -> None:
    """Compare two buffers without letting pytest diff megabytes."""
    a, b = np.frombuffer(got, dtype=np.uint8), np.frombuffer(want, dtype=np.uint8)
    assert a.size == b.size, f"{what}: {a.size} bytes, expected {b.size}"
    bad = np.flatnonzero(a != b)
    assert bad.size == 0, f"{what}: {bad.size} bytes differ, first at {bad[0]}"


def pack(lens: list[int], gap: int = 0, reverse: bool = False) -> tuple[list[int], int]:
    """Memory positions for entries of ``lens`` bytes (last entry first if ``reverse``)."""
    order = range(len(lens) - 1, -1, -1) if reverse else range(len(lens))
    pos, at = [0] * len(lens), gap
    for i in order:
        pos[i], at = at, at + lens[i] + gap
    return pos, at


def read_and_verify(c, iov, spans, fd, ref: OsFile) -> list[int]:
    """preadv ``spans`` [(mem_pos, offset, len)] of client ``fd`` into ``iov`` (pre-filled
    with a sentinel) and check results and the whole of ``iov`` against ``os.pread``."""
    np.frombuffer(iov, dtype=np.uint8)[:] = SENTINEL
    results = c.preadv([(hf3fs.iovec(iov, pos, n), fd, off) for pos, off, n in spans])
    image = bytearray([SENTINEL]) * len(iov)
    expect = []
    for pos, off, n in spans:
        want = ref.pread(n, off)
        image[pos : pos + len(want)] = want
        expect.append(len(want))
    assert results == expect
    assert_same(iov, image, "iovec after preadv")
    return results


def random_spans(rng, count, max_len, size, eof_share=0.05):
    """``count`` reads of 1..max_len bytes at random offsets, some crossing or past EOF."""
    lens = [rng.randint(1, max_len) for _ in range(count)]
    pos, total = pack(lens)
    offs = []
    for n in lens:
        roll = rng.random()
        if roll < eof_share:
            offs.append(size - rng.randint(0, n))  # crosses or starts at EOF
        elif roll < eof_share * 1.5:
            offs.append(size + rng.randint(0, 5 * n))  # past EOF
        else:
            offs.append(rng.randrange(size - n))
    return list(zip(pos, offs, lens, strict=True)), total


def fill_random(iov, seed: int) -> bytes:
    data = random.Random(seed).randbytes(len(iov))
    memoryview(iov)[:] = data
    return data


def write_and_verify(c, root: Path, name: str, writes, seed: int, base: bytes = b"") -> None:
    """pwritev ``writes`` [(offset, len)] (memory packed in list order) to ``name`` and
    check the whole file with ``os.pread``; ``base`` is the file's content before."""
    lens = [n for _, n in writes]
    pos, total = pack(lens, gap=3)
    iov = c.iovalloc(total)
    src = fill_random(iov, seed)
    fd = c.open(f"/{name}", os.O_RDWR | os.O_CREAT)
    batch = [(hf3fs.iovec(iov, p, n), fd, off) for p, (off, n) in zip(pos, writes, strict=True)]
    assert c.pwritev(batch) == lens
    c.close(fd)
    end = max([len(base)] + [off + n for off, n in writes])
    image = bytearray(base) + bytes(end - len(base))
    for p, (off, n) in zip(pos, writes, strict=True):
        image[off : off + n] = src[p : p + n]
    ref = OsFile(root / name)
    try:
        assert_same(ref.all(), image, f"{name} after pwritev")
    finally:
        ref.close()


def error_text_names(err: OSError, index: int, fd: int, offset: int) -> None:
    text = str(err)
    assert re.search(rf"\bentry {index}\b", text), text
    assert re.search(rf"\bfd {fd}\b", text), text
    assert re.search(rf"\boffset {offset}\b", text), text


def wait_child(pid: int, rfd: int, timeout: float) -> None:
    """Wait for a forked child (kill it past ``timeout``) and fail with its traceback."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(rfd)
            pytest.fail(f"forked child did not finish in {timeout} s (deadlock?)")
        time.sleep(0.02)
    chunks = []
    while chunk := os.read(rfd, 65536):
        chunks.append(chunk)
    os.close(rfd)
    code = os.waitstatus_to_exitcode(status)
    assert code == 0, f"child exit {code}:\n{b''.join(chunks).decode(errors='replace')}"


def fork_run(fn, timeout: float = 60) -> None:
    """Run ``fn`` in a forked child that leaves with ``os._exit``."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.close(rfd)
            fn()
            code = 0
        except BaseException:
            os.write(wfd, traceback.format_exc().encode()[-60000:])
        finally:
            os._exit(code)
    os.close(wfd)
    wait_child(pid, rfd, timeout)


def subprocess_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "sub-home"
    home.mkdir(mode=0o777, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("HF3FS_CONFIG",) + IO_ENV}
    env["HF3FS_HOME"] = str(home)
    return env


def run_python(code: str, tmp_path: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [sys.executable, "-c", code],
            env=subprocess_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"subprocess hung for {timeout} s; output: {e.stdout!r} {e.stderr!r}")


def batch_checker(c, data: bytes, fd: int, seed: int, count: int = 500, max_len: int = 8 * KiB):
    """A function that preadv's a random batch into its own iovec and checks it."""
    rng = random.Random(seed)
    spans, total = random_spans(rng, count, max_len, len(data), eof_share=0)
    iov = c.iovalloc(total)

    def run() -> None:
        np.frombuffer(iov, dtype=np.uint8)[:] = 0
        results = c.preadv([(hf3fs.iovec(iov, p, n), fd, off) for p, off, n in spans])
        assert results == [n for _, _, n in spans]
        mem = memoryview(iov)
        for i, (p, off, n) in enumerate(spans):
            assert mem[p : p + n] == data[off : off + n], f"entry {i}"

    return run


# ---------------------------------------------------------------------------- 1. integrity


def test_large_random_batch_matches_os_pread(eng, osfile):
    c, root = eng
    size = 16 * MiB + 1234
    make_file(root, "big", size, seed=1)
    fd, ref = c.open("/big", os.O_RDONLY), osfile(root / "big")
    spans, total = random_spans(random.Random(2), 4000, 64 * KiB, size)
    assert any(off + n > size for _, off, n in spans)
    iov = c.iovalloc(total)
    results = read_and_verify(c, iov, spans, fd, ref)
    assert 0 < sum(results) <= total


def test_large_single_entries_are_split_and_stop_at_eof(eng, osfile):
    c, root = eng
    size = 20 * MiB + 77
    make_file(root, "big", size, seed=3)
    fd, ref = c.open("/big", os.O_RDONLY), osfile(root / "big")
    iov = c.iovalloc(24 * MiB)
    assert read_and_verify(c, iov, [(0, 0, 24 * MiB)], fd, ref) == [size]
    assert read_and_verify(c, iov, [(1, 3, 24 * MiB - 1)], fd, ref) == [size - 3]
    spans = [(0, size - 3 * MiB, 8 * MiB), (8 * MiB, 5, 12 * MiB + 3)]
    assert read_and_verify(c, iov, spans, fd, ref) == [3 * MiB, 12 * MiB + 3]


def test_sub_iovec_entries(eng, osfile):
    c, root = eng
    data = make_file(root, "f", 256 * KiB, seed=4)
    fd = c.open("/f", os.O_RDONLY)
    iov = c.iovalloc(128 * KiB)
    np.frombuffer(iov, dtype=np.uint8)[:] = SENTINEL
    nested = hf3fs.iovec(hf3fs.iovec(iov, 1000, 50000), 7, 30000)
    by_view = hf3fs.iovec(iov, memoryview(iov)[60000:61000])
    whole = hf3fs.iovec(iov)
    assert c.preadv([(nested, fd, 123), (by_view, fd, 5)]) == [30000, 1000]
    mem = memoryview(iov)
    assert mem[1007:31007] == data[123:30123]
    assert mem[60000:61000] == data[5:1005]
    assert mem[1000:1007] == bytes([SENTINEL]) * 7 and mem[31007] == SENTINEL
    assert c.preadv([(whole, fd, 200 * KiB)]) == [56 * KiB]
    assert mem[: 56 * KiB] == data[200 * KiB :]


# ---------------------------------------------------------------------------- 2. coalescing


def contiguous(start: int, lens: list[int]) -> list[int]:
    offs, at = [], start
    for n in lens:
        offs.append(at)
        at += n
    return offs


@pytest.mark.parametrize("reverse", [False, True], ids=["in-order", "reversed-memory"])
def test_contiguous_run_into_scattered_memory(eng, osfile, reverse):
    c, root = eng
    make_file(root, "f", 4 * MiB, seed=5)
    fd, ref = c.open("/f", os.O_RDONLY), osfile(root / "f")
    lens = [random.Random(6).randint(1, 20000) for _ in range(200)]
    assert sum(lens) > MiB
    pos, total = pack(lens, gap=16, reverse=reverse)
    spans = list(zip(pos, contiguous(777, lens), lens, strict=True))
    iov = c.iovalloc(total)
    assert read_and_verify(c, iov, spans, fd, ref) == lens


def test_contiguous_run_crossing_eof(eng, osfile):
    c, root = eng
    size = MiB + 123
    make_file(root, "f", size, seed=7)
    fd, ref = c.open("/f", os.O_RDONLY), osfile(root / "f")
    lens = [4096] * 6
    pos, total = pack(lens, gap=8, reverse=True)
    spans = list(zip(pos, contiguous(size - 10000, lens), lens, strict=True))
    iov = c.iovalloc(total)
    assert read_and_verify(c, iov, spans, fd, ref) == [4096, 4096, 1808, 0, 0, 0]


def test_contiguous_run_with_a_huge_entry_and_other_fds(eng, osfile):
    c, root = eng
    make_file(root, "a", 8 * MiB, seed=8)
    make_file(root, "b", 64 * KiB, seed=9)
    fa, fb = c.open("/a", os.O_RDONLY), c.open("/b", os.O_RDONLY)
    ra, rb = osfile(root / "a"), osfile(root / "b")
    lens = [64 * KiB] * 20 + [3 * MiB + 5] + [64 * KiB] * 20
    pos, total = pack(lens, gap=1, reverse=True)
    run = list(zip(pos, contiguous(11, lens), lens, strict=True))
    iov = c.iovalloc(total + 2 * 4096)
    read_and_verify(c, iov, run, fa, ra)
    # The same run, interrupted by an entry on another fd, then resumed.
    np.frombuffer(iov, dtype=np.uint8)[:] = SENTINEL
    batch = [(hf3fs.iovec(iov, p, n), fa, off) for p, off, n in run]
    batch.insert(20, (hf3fs.iovec(iov, total, 4096), fb, 4096))
    batch.insert(5, (hf3fs.iovec(iov, total + 4096, 4096), fb, 0))
    assert c.preadv(batch) == [*lens[:5], 4096, *lens[5:20], 4096, *lens[20:]]
    mem = memoryview(iov)
    assert mem[total : total + 4096] == rb.pread(4096, 4096)
    assert mem[total + 4096 :] == rb.pread(4096, 0)
    for p, off, n in run:
        assert mem[p : p + n] == ra.pread(n, off)


# ---------------------------------------------------------------------------- 3. pwritev


@pytest.mark.parametrize("order", ["sorted", "shuffled"])
def test_pwritev_random_non_overlapping(eng, order):
    c, root = eng
    rng = random.Random(10)
    cuts = sorted(set(rng.sample(range(1, 8 * MiB), 600)) | {0, 8 * MiB})
    segments = [(a, b - a) for a, b in zip(cuts, cuts[1:], strict=False)]
    if order == "shuffled":
        segments = rng.sample(segments, len(segments) * 2 // 3)
    write_and_verify(c, root, "out", segments, seed=11)


def test_pwritev_big_and_extending(eng):
    c, root = eng
    write_and_verify(c, root, "big", [(3, 6 * MiB + 5)], seed=12)
    base = make_file(root, "small", 100, seed=13)
    write_and_verify(c, root, "small", [(MiB, 10), (50, 4096), (MiB + 10, 5 * MiB)], 14, base)


# ---------------------------------------------------------------------------- 4. errors


def test_preadv_mixed_failures(eng):
    c, root = eng
    data = make_file(root, "f", 100_000, seed=15)
    (root / "d").mkdir()
    fd, dfd = c.open("/f", os.O_RDONLY), c.open("/d", os.O_RDONLY)
    iov, blk = c.iovalloc(MiB), c.iovalloc(8192, block_size=4096)
    sub = lambda p, n: hf3fs.iovec(iov, p, n)  # noqa: E731
    batch = [
        (sub(0, 1000), fd, 10),
        (sub(1000, 1000), 99999, 4321),
        (sub(2000, 1000), fd, 99_500),
        (hf3fs.iovec(blk, 4000, 200), fd, 0),
        (sub(3000, 100), dfd, 0),
        (sub(4000, 100), fd, -7),
        (sub(5000, 100), fd, 200_000),
        (sub(6000, 100), fd, 50),
    ]
    with pytest.raises(OSError) as info:
        c.preadv(batch)
    assert info.value.errno == EBADF
    error_text_names(info.value, 1, 99999, 4321)
    assert info.value.results == [1000, -EBADF, 500, -EINVAL, -EISDIR, -EINVAL, 0, 100]
    mem = memoryview(iov)
    assert mem[0:1000] == data[10:1010]
    assert mem[2000:2500] == data[99_500:]
    assert mem[6000:6100] == data[50:150]
    # The first failure decides the exception, whatever comes after it.
    with pytest.raises(IsADirectoryError) as info:
        c.preadv([batch[0], (sub(3000, 100), dfd, 8), batch[1]])
    assert info.value.errno == EISDIR
    error_text_names(info.value, 1, dfd, 8)
    assert info.value.results == [1000, -EISDIR, -EBADF]
    with pytest.raises(OSError) as info:
        c.preadv([batch[5], batch[3]])
    assert info.value.errno == EINVAL
    error_text_names(info.value, 0, fd, -7)
    assert info.value.results == [-EINVAL, -EINVAL]


def test_pwritev_mixed_failures(eng):
    c, root = eng
    (root / "ro").write_bytes(b"r" * 1000)
    wfd, rofd = c.open("/w", os.O_RDWR | os.O_CREAT), c.open("/ro", os.O_RDONLY)
    iov = c.iovalloc(4096)
    src = fill_random(iov, 16)
    batch = [
        (hf3fs.iovec(iov, 0, 100), wfd, 0),
        (hf3fs.iovec(iov, 100, 100), rofd, 100),
        (hf3fs.iovec(iov, 200, 100), 99999, 0),
        (hf3fs.iovec(iov, 300, 100), wfd, 5000),
        (hf3fs.iovec(iov, 400, 100), wfd, -1),
    ]
    with pytest.raises(OSError) as info:
        c.pwritev(batch)
    assert info.value.errno == EBADF
    error_text_names(info.value, 1, rofd, 100)
    assert info.value.results == [100, -EBADF, -EBADF, 100, -EINVAL]
    on_disk = (root / "w").read_bytes()
    assert len(on_disk) == 5100
    assert on_disk[:100] == src[:100] and on_disk[5000:] == src[300:400]
    assert (root / "ro").read_bytes() == b"r" * 1000


def test_read_only_token_cannot_pwritev(eng, mounts):
    c, root = eng
    root_r = mounts.add("r", {"ro-token": "read"})
    (root_r / "f").write_bytes(b"x" * 100)
    reader = new_client("r", c.io_engine, "ro-token")
    fd = reader.open("/f", os.O_RDONLY)
    iov = reader.iovalloc(4096)
    assert reader.preadv([(hf3fs.iovec(iov, 0, 100), fd, 0)]) == [100]
    with pytest.raises(PermissionError):
        reader.pwritev([(hf3fs.iovec(iov, 0, 100), fd, 0)])
    assert (root_r / "f").read_bytes() == b"x" * 100


def test_empty_batches_and_wrong_types(eng):
    c, root = eng
    (root / "f").write_bytes(b"abc")
    fd = c.open("/f", os.O_RDWR)
    iov = c.iovalloc(4096)
    for call in (c.preadv, c.pwritev):
        assert call([]) == []
        bad = [
            "not a list",
            None,
            [(1, fd, 0)],
            [(b"abc", fd, 0)],
            [(iov, fd)],
            [(iov, fd, 0, 0)],
            [[iov, "fd", 0]],
            [(iov, fd, "0")],
            [(iov, fd, 0.5)],
            [(iov, fd, 0), "x"],
        ]
        for arg in bad:
            with pytest.raises(TypeError):
                call(arg)
    assert (root / "f").read_bytes() == b"abc"


# ---------------------------------------------------------------------------- 5. threads


def test_many_python_threads_on_one_client(eng):
    c, root = eng
    data = make_file(root, "f", 8 * MiB, seed=17)
    fd = c.open("/f", os.O_RDONLY)
    checkers = [batch_checker(c, data, fd, seed=100 + t, count=300) for t in range(8)]
    start = threading.Barrier(len(checkers))

    def work(check) -> int:
        start.wait(timeout=30)
        for _ in range(10):
            check()
        return 1

    with ThreadPoolExecutor(len(checkers)) as pool:
        assert sum(pool.map(work, checkers)) == len(checkers)


# ---------------------------------------------------------------------------- 6. fork


@pytest.mark.filterwarnings(FORK_WARNING)
def test_fork_child_starts_its_own_io_threads(eng):
    c, root = eng
    data = make_file(root, "f", 8 * MiB, seed=18)
    fd = c.open("/f", os.O_RDONLY)
    check = batch_checker(c, data, fd, seed=19, count=2000)
    check()  # the parent's IO threads now exist

    def child() -> None:
        check()
        batch_checker(c, data, fd, seed=20, count=500)()  # a fresh iovec in the child
        c2 = hf3fs.Client("t", "", io_engine=c.io_engine)
        batch_checker(c2, data, c2.open("/f", os.O_RDONLY), seed=21)()

    fork_run(child)
    check()  # the parent's engine still works


@pytest.mark.slow
@pytest.mark.filterwarnings(FORK_WARNING)
def test_fork_while_another_thread_runs_batches(eng):
    c, root = eng
    data = make_file(root, "f", 8 * MiB, seed=22)
    fd = c.open("/f", os.O_RDONLY)
    loop_check = batch_checker(c, data, fd, seed=23, count=400)
    child_check = batch_checker(c, data, fd, seed=24, count=2000)
    stop, running = threading.Event(), threading.Event()
    rounds, errors = [0], []

    def loop() -> None:
        try:
            while not stop.is_set():
                loop_check()
                rounds[0] += 1
                running.set()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
            running.set()

    t = threading.Thread(target=loop)
    t.start()
    try:
        assert running.wait(30)
        for _ in range(6):
            fork_run(child_check)
    finally:
        stop.set()
        t.join(60)
    assert not t.is_alive() and not errors, errors
    assert rounds[0] > 0
    child_check()


# ---------------------------------------------------------------------------- 7. options


@pytest.fixture
def io_mount(mounts, monkeypatch):
    for var in IO_ENV:
        monkeypatch.delenv(var, raising=False)
    mounts.add("t")
    return mounts


def add_io_table(mounts, body: str) -> None:
    mounts.config.write_text(mounts.config.read_text() + "\n[io]\n" + body)


def test_engine_options_from_arguments(io_mount):
    c = new_client("t", "threads", io_threads=3, io_queue_depth=8)
    assert (c.io_engine, c.io_threads, c.io_queue_depth) == ("threads", 3, 8)
    assert new_client("t", "uring").io_engine == "uring"
    assert new_client("t", "io_uring").io_engine == "uring"
    assert hf3fs.Client("t", "", io_engine="auto").io_engine in ("uring", "threads")
    for kw in [
        {"io_engine": "bogus"},
        {"io_engine": "uring2"},
        {"io_threads": 0},
        {"io_threads": -1},
        {"io_queue_depth": 0},
        {"io_queue_depth": -5},
    ]:
        with pytest.raises(ValueError):
            hf3fs.Client("t", "", **kw)


def test_engine_option_defaults(io_mount):
    c = hf3fs.Client("t", "")
    assert c.io_engine in ("uring", "threads")
    assert c.io_engine == hf3fs.Client("t", "", io_engine="auto").io_engine
    assert 2 <= c.io_threads <= min(16, max(2, os.cpu_count() or 2))
    assert c.io_queue_depth == 64


def test_engine_options_precedence(io_mount, monkeypatch):
    add_io_table(io_mount, 'engine = "threads"\nthreads = 3\nqueue_depth = 9\n')
    c = hf3fs.Client("t", "")
    assert (c.io_engine, c.io_threads, c.io_queue_depth) == ("threads", 3, 9)
    monkeypatch.setenv("HF3FS_IO_THREADS", "5")
    c = hf3fs.Client("t", "")
    assert (c.io_engine, c.io_threads, c.io_queue_depth) == ("threads", 5, 9)
    monkeypatch.setenv("HF3FS_IO_QUEUE_DEPTH", "11")
    c = hf3fs.Client("t", "", io_threads=4)
    assert (c.io_engine, c.io_threads, c.io_queue_depth) == ("threads", 4, 11)
    c = hf3fs.Client("t", "", io_queue_depth=2)
    assert (c.io_threads, c.io_queue_depth) == (5, 2)
    auto = hf3fs.Client("t", "", io_engine="auto").io_engine
    assert auto in ("uring", "threads")
    monkeypatch.setenv("HF3FS_IO_ENGINE", "auto")
    assert hf3fs.Client("t", "").io_engine == auto
    assert hf3fs.Client("t", "", io_engine="threads").io_engine == "threads"


@pytest.mark.parametrize(
    "var,value",
    [
        ("HF3FS_IO_ENGINE", "bogus"),
        ("HF3FS_IO_THREADS", "abc"),
        ("HF3FS_IO_THREADS", "0"),
        ("HF3FS_IO_THREADS", "-2"),
        ("HF3FS_IO_QUEUE_DEPTH", "0"),
        ("HF3FS_IO_QUEUE_DEPTH", "1.5"),
    ],
)
def test_bad_environment_values_name_the_variable(io_mount, monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=var):
        hf3fs.Client("t", "")


def test_unknown_io_config_key_names_the_file(io_mount):
    add_io_table(io_mount, 'engine = "threads"\nbogus_key = 1\n')
    with pytest.raises(ValueError) as info:
        hf3fs.Client("t", "")
    assert str(io_mount.config) in str(info.value)
    assert "bogus_key" in str(info.value)


# ---------------------------------------------------------------------------- 8. mlock


def test_iovec_is_pinned_when_allowed(mount):
    c, _ = mount
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if os.geteuid() != 0 and soft != resource.RLIM_INFINITY and soft < 64 * MiB:
        pytest.skip(f"RLIMIT_MEMLOCK is {soft} bytes and this is not root")
    iov = c.iovalloc(64 * MiB)
    assert iov.pinned is True
    assert hf3fs.iovec(iov, 0, 10).pinned is True


UNPINNED_CHILD = r"""
import ctypes, json, os, resource, warnings
if os.geteuid() == 0:
    # Root ignores RLIMIT_MEMLOCK through CAP_IPC_LOCK: drop that capability (bit 14).
    libc = ctypes.CDLL(None, use_errno=True)
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
    class Data(ctypes.Structure):
        _fields_ = [(f, ctypes.c_uint32) for f in ("effective", "permitted", "inheritable")]
    header, data = Header(0x20080522, 0), (Data * 2)()
    assert libc.capget(ctypes.byref(header), data) == 0, ctypes.get_errno()
    for f in ("effective", "permitted", "inheritable"):
        setattr(data[0], f, getattr(data[0], f) & ~(1 << 14))
    assert libc.capset(ctypes.byref(header), data) == 0, ctypes.get_errno()
resource.setrlimit(resource.RLIMIT_MEMLOCK, (1 << 20, 1 << 20))
import hf3fs
c = hf3fs.Client("local", "")
fd = c.open("/f", os.O_RDWR | os.O_CREAT)
c.write(fd, bytes(range(256)) * 4096)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    iov = c.iovalloc(64 << 20)
n = c.preadv([(hf3fs.iovec(iov, 5, 1 << 20), fd, 0), (hf3fs.iovec(iov, 40 << 20, 100), fd, 3)])
ok = bytes(memoryview(iov)[5:5 + (1 << 20)]) == bytes(range(256)) * 4096
ok = ok and bytes(memoryview(iov)[40 << 20:(40 << 20) + 100]) == bytes(range(3, 103))
print(json.dumps({
    "pinned": iov.pinned,
    "warnings": [[w.category.__name__, str(w.message)] for w in caught],
    "read": n,
    "ok": ok,
}))
"""


def test_unpinned_iovec_warns_once_and_still_works(tmp_path):
    proc = run_python(UNPINNED_CHILD, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["pinned"] is False
    assert len(out["warnings"]) == 1, out["warnings"]
    category, message = out["warnings"][0]
    assert category == "RuntimeWarning"
    assert "not pinned" in message and "RLIMIT_MEMLOCK" in message
    assert out["read"] == [MiB, 100] and out["ok"] is True


# ---------------------------------------------------------------------------- 9. NUMA


def numa_nodes() -> list[int]:
    base = Path("/sys/devices/system/node")
    nodes = [int(p.name[4:]) for p in base.glob("node[0-9]*")] if base.is_dir() else []
    return sorted(nodes) or [0]


def test_numa_binding(mount):
    c, root = mount
    make_file(root, "f", 8192, seed=25)
    iov = c.iovalloc(MiB, numa=0)
    assert iov.numa == 0
    fd = c.open("/f", os.O_RDONLY)
    assert c.preadv([(hf3fs.iovec(iov, 0, 8192), fd, 0)]) == [8192]
    assert memoryview(iov)[:8192] == (root / "f").read_bytes()


def test_numa_nodes_that_do_not_exist(mount):
    c, _ = mount
    missing = max(numa_nodes()) + 1
    with pytest.raises(ValueError, match="does not exist"):
        c.iovalloc(4096, numa=missing)
    with pytest.raises(ValueError):
        c.iovalloc(4096, numa=-2)
    for size in (0, -1):
        with pytest.raises(ValueError):
            c.iovalloc(size)


# ---------------------------------------------------------------------------- 10. Ctrl-C

CTRL_C_CHILD = r"""
import os, signal, sys, threading, hf3fs
c = hf3fs.Client("local", "", io_engine="threads", io_threads=1)
fd = c.open("/f", os.O_RDWR | os.O_CREAT)
c.write(fd, b"x" * (1 << 20))
iov = c.iovalloc(1 << 20)
# Offsets step by 7 blocks so that no two neighbours are contiguous (no coalescing).
batch = [(hf3fs.iovec(iov, (i % 256) * 4096, 4096), fd, (i * 7 % 256) * 4096)
         for i in range(200_000)]
threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
try:
    for _ in range(10_000):
        c.preadv(batch)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
else:
    print("NOT INTERRUPTED", flush=True)
    sys.exit(3)
print("AFTER", c.preadv(batch[:4]), flush=True)
"""


def test_ctrl_c_interrupts_a_huge_batch(tmp_path):
    proc = run_python(CTRL_C_CHILD, tmp_path, timeout=90)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "INTERRUPTED" in proc.stdout.splitlines()
    assert "AFTER [4096, 4096, 4096, 4096]" in proc.stdout.splitlines()
