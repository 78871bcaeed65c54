"""iovec memory and batched preadv/pwritev: the behaviour the foundation provides."""

from __future__ import annotations

import errno
import multiprocessing as mp
import os
import random

import numpy as np
import pytest

import hf3fs


@pytest.fixture
def data_file(mount):
    c, root = mount
    data = random.Random(7).randbytes(1 << 20)
    (root / "data").write_bytes(data)
    return c, root, data


def test_buffer_protocol_is_zero_copy(mount):
    c, _ = mount
    iov = c.iovalloc(4096)
    arr = np.frombuffer(iov, dtype=np.uint8)
    view = memoryview(iov)
    view[10:13] = b"abc"
    assert bytes(arr[10:13]) == b"abc"
    arr[100] = 7
    assert view[100] == 7
    sub = hf3fs.iovec(iov, 10, 3)
    assert bytes(memoryview(sub)) == b"abc" and len(sub) == 3
    assert bytes(memoryview(hf3fs.iovec(iov, view[10:12]))) == b"ab"


def test_sub_iovec_bounds(mount):
    c, _ = mount
    iov = c.iovalloc(1024)
    other = c.iovalloc(1024)
    for args in [(iov, 1000, 100), (iov, -1, 1), (iov, 0, -1), (iov, 2000)]:
        with pytest.raises(ValueError):
            hf3fs.iovec(*args)
    with pytest.raises(ValueError, match="inside"):
        hf3fs.iovec(iov, memoryview(other)[0:10])
    with pytest.raises(ValueError, match="contiguous"):
        hf3fs.iovec(iov, np.frombuffer(iov, dtype=np.uint8)[::2])
    sub = hf3fs.iovec(hf3fs.iovec(iov, 100, 200), 50, 10)
    memoryview(sub)[:] = b"0123456789"
    assert bytes(memoryview(iov)[150:160]) == b"0123456789"


def test_free_with_live_exports_and_after_free(mount):
    c, _ = mount
    iov = c.iovalloc(4096)
    arr = np.frombuffer(iov, dtype=np.uint8)
    with pytest.raises(BufferError):
        c.iovfree(iov)
    del arr
    sub = hf3fs.iovec(iov, 0, 16)
    view = memoryview(sub)
    with pytest.raises(BufferError):
        c.iovfree(iov)  # a sub-iovec's export pins the whole allocation
    view.release()
    c.iovfree(iov)
    c.iovfree(iov)  # twice is harmless
    assert iov.freed
    with pytest.raises(ValueError, match="freed"):
        memoryview(iov)
    with pytest.raises(ValueError, match="freed"):
        c.preadv([(sub, 3, 0)])


def test_view_outlives_del_iov(mount):
    c, _ = mount
    iov = c.iovalloc(4096)
    view = memoryview(iov)
    view[0:4] = b"keep"
    del iov
    assert bytes(view[0:4]) == b"keep"


def test_preadv_results_and_integrity(data_file):
    c, root, data = data_file
    fd = c.open("/data", os.O_RDONLY)
    iov = c.iovalloc(1 << 20)
    rng = random.Random(1)
    entries, expect = [], []
    for j in range(256):
        off = rng.randrange(len(data) - 4096)
        entries.append((hf3fs.iovec(iov, j * 4096, 4096), fd, off))
        expect.append(data[off : off + 4096])
    assert c.preadv(entries) == [4096] * 256
    mem = memoryview(iov)
    for j, want in enumerate(expect):
        assert mem[j * 4096 : (j + 1) * 4096] == want
    # Short only at end of file; past the end reads 0.
    assert c.preadv([(hf3fs.iovec(iov, 0, 4096), fd, len(data) - 100)]) == [100]
    assert c.preadv([(hf3fs.iovec(iov, 0, 4096), fd, len(data) + 5)]) == [0]


def test_preadv_errors_carry_every_result(data_file):
    c, _, _ = data_file
    fd = c.open("/data", os.O_RDONLY)
    iov = c.iovalloc(8192)
    batch = [
        (hf3fs.iovec(iov, 0, 100), fd, 0),
        (hf3fs.iovec(iov, 100, 100), 999, 0),
        (hf3fs.iovec(iov, 200, 100), fd, -5),
    ]
    with pytest.raises(OSError) as info:
        c.preadv(batch)
    assert info.value.errno == errno.EBADF
    assert "entry 1" in str(info.value) and "fd 999" in str(info.value)
    assert info.value.results == [100, -errno.EBADF, -errno.EINVAL]


def test_block_boundary_is_rejected(data_file):
    c, _, _ = data_file
    fd = c.open("/data", os.O_RDONLY)
    iov = c.iovalloc(8192, block_size=4096)
    assert iov.block_size == 4096
    assert c.preadv([(hf3fs.iovec(iov, 4096, 4096), fd, 0)]) == [4096]
    with pytest.raises(OSError) as info:
        c.preadv([(hf3fs.iovec(iov, 4000, 200), fd, 0)])
    assert info.value.errno == errno.EINVAL and info.value.results == [-errno.EINVAL]


def test_pwritev_then_read_back(mount):
    c, root = mount
    fd = c.open("/out", os.O_RDWR | os.O_CREAT)
    iov = c.iovalloc(3 * 4096)
    memoryview(iov)[:] = bytes(range(256)) * 48
    assert (
        c.pwritev([(hf3fs.iovec(iov, i * 4096, 4096), fd, i * 8192) for i in range(3)])
        == [4096] * 3
    )
    on_disk = (root / "out").read_bytes()
    assert len(on_disk) == 2 * 8192 + 4096
    assert on_disk[8192 : 8192 + 4096] == bytes(memoryview(iov)[4096:8192])
    ro = c.open("/out", os.O_RDONLY)
    with pytest.raises(OSError) as info:
        c.pwritev([(hf3fs.iovec(iov, 0, 10), ro, 0)])
    assert info.value.errno == errno.EBADF


def _child_reads_shared(handle, fhs, q):
    c = hf3fs.Client("t", "")
    iov = c.openIovecHandle(handle)
    fds = c.openWithFileHandles(fhs)
    n = c.preadv([(hf3fs.iovec(iov, 0, 5), fds[0], 0)])
    q.put((n, bytes(memoryview(iov)[:5])))


@pytest.mark.parametrize("method", ["fork", pytest.param("spawn", marks=pytest.mark.slow)])
def test_iovec_and_file_handles_cross_processes(mount, method):
    c, root = mount
    (root / "f").write_bytes(b"hello world")
    iov = c.iovalloc(4096, **{"global": True})
    fd = c.open("/f", os.O_RDONLY)
    ctx = mp.get_context(method)
    q = ctx.Queue()
    p = ctx.Process(
        target=_child_reads_shared, args=(c.sharedIovecHandle(iov), c.sharedFileHandles([fd]), q)
    )
    p.start()
    result = q.get(timeout=60)
    p.join(60)
    assert p.exitcode == 0
    assert result == ([5], b"hello")
    assert bytes(memoryview(iov)[:5]) == b"hello"  # the child wrote into our memory


def test_sharing_rules(mount):
    c, root = mount
    (root / "f").touch()
    private = c.iovalloc(4096)
    with pytest.raises(ValueError, match="global"):
        c.sharedIovecHandle(private)
    w = c.open("/f", os.O_WRONLY)
    with pytest.raises(ValueError, match="read-only"):
        c.sharedFileHandles([w])
    with pytest.raises(OSError) as info:
        c.openWithFileHandles([123456789 << 96 | 5 << 64 | 42])
    assert info.value.errno == errno.ESTALE
    shared = c.iovalloc(4096, global_=True)
    handle = c.sharedIovecHandle(shared)
    c.iovfree(shared)
    del shared
    with pytest.raises(OSError):
        c.openIovecHandle(handle)
    with pytest.raises(ValueError):
        c.openIovecHandle("not-a-handle")


def test_forged_handle_to_a_plain_file_is_refused(mount, tmp_path):
    c, _ = mount
    victim = tmp_path / "plain"
    victim.write_bytes(b"not shared memory")
    fd = os.open(victim, os.O_RDWR)
    try:
        st = os.fstat(fd)
        forged = f"hf3fs-iov:1:{os.getpid()}:{fd}:{st.st_ino}:{st.st_size}:0:-1"
        with pytest.raises(OSError) as info:
            c.openIovecHandle(forged)
        assert info.value.errno == errno.ESTALE
    finally:
        os.close(fd)


def test_shared_handle_keeps_numa_unbound(mount):
    c, _ = mount
    iov = c.iovalloc(4096, global_=True)
    assert iov.numa == -1
    assert c.openIovecHandle(c.sharedIovecHandle(iov)).numa == -1
