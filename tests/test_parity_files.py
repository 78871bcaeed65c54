"""Parity of BinaryFile with the builtin ``open``, and hf3fs-only checks: deliberate
differences from ``os`` and things ``os`` cannot mirror."""

from __future__ import annotations

import errno
import os
import stat as S
import time

import pytest
from parity import (  # the harness; the `pair` fixture comes from conftest
    BIN_MODES,
    DIRFLAGS,
    assert_same,
)

import hf3fs

# ---- BinaryFile vs builtin open(..., buffering=0) -------------------------------------------

ACTIONS = [
    ("tell",),
    ("read", 5),
    ("write", b"XYZ"),
    ("tell",),
    ("seek", 0),
    ("read", 2),
    ("seek", 2, os.SEEK_CUR),
    ("read",),
    ("seek", -3, os.SEEK_END),
    ("readline",),
    ("write", b"!\nmore"),
    ("seek", 1),
    ("truncate",),
    ("tell",),
    ("seek", 0),
    ("read", -1),
    ("truncate", 20),
    ("seek", 0, os.SEEK_END),
    ("tell",),
    ("seek", -100),
    ("read", 3),
    ("readable",),
    ("writable",),
    ("seekable",),
    ("flush",),
]


@pytest.mark.parametrize("exists", [True, False], ids=["existing", "missing"])
@pytest.mark.parametrize("mode", BIN_MODES + [m[0] + "b" + m[1:] for m in BIN_MODES])
def test_binary_file(pair, mode, exists):
    for s in pair:
        if exists:
            s.put("/f", b"hello\nworld\n")
        s.binfile("/f", mode, ACTIONS)  # x on existing: FileExistsError; r on missing: ENOENT
        s.stat("/f")
    assert_same(pair)


@pytest.mark.parametrize("mode", ["rt", "q", "", "rw", "rr", "r+t", "b", "wx", 5])
def test_binary_file_invalid_mode(pair, mode):
    for s in pair:
        s.put("/f", b"data")
        s.binfile("/f", mode, ACTIONS)
    assert_same(pair)


def test_binary_file_dir_fd_and_errors(pair):
    for s in pair:
        s.mkdir("/d")
        dfd = s.open("/d", DIRFLAGS)
        s.binfile("f", "w+", [("write", b"abc"), ("seek", 1), ("read",)], dir_fd=dfd)
        s.binfile("f", "xb", [], dir_fd=dfd)  # FileExistsError
        s.binfile("/d", "wb", [])  # IsADirectoryError
        s.binfile("/d/f/x", "r", [])  # NotADirectoryError
        s.close(dfd)
    assert_same(pair)


# ---- hf3fs-only checks: deliberate differences and things os cannot mirror -----------------


@pytest.fixture
def client(pair):
    return pair[1].c, pair[1].root


def test_chmod_nofollow_symlink_is_eopnotsupp(client):
    c, root = client
    os.symlink("target", root + "/l")
    with pytest.raises(OSError) as info:
        c.chmod("/l", 0o600, follow_symlinks=False)
    assert (info.value.errno, info.value.filename) == (errno.EOPNOTSUPP, "/l")
    with pytest.raises(NotImplementedError):  # what os does (documented difference)
        os.chmod(root + "/l", 0o600, follow_symlinks=False)


@pytest.mark.parametrize("recursive", [False, True])
def test_mount_root_is_never_removed(client, recursive):
    c, root = client
    c.mkdir("/d")
    for op in (c.remove, c.rmdir):
        for path in ("/", "//", "/d/.."):
            with pytest.raises(OSError):
                op(path, recursive=recursive)
    assert os.listdir(root) == ["d"]


def test_paths_stay_inside_the_mount(client):
    c, root = client
    c.mkdir("/d")
    c.close(c.creat("/d/f"))
    os.symlink("/d/f", root + "/abs")  # an absolute target is relative to the mount root
    os.symlink("../../../../../../d", root + "/d/up")  # climbing past the root stays inside
    assert c.stat("/abs").st_ino == os.stat(root + "/d/f").st_ino
    assert c.stat("/abs", follow_symlinks=False).st_ltarg == "/d/f"
    assert c.realpath("/abs") == "/d/f"
    assert c.realpath("/d/up/f") == "/d/f"
    assert c.stat("/..").st_ino == os.stat(root).st_ino
    assert c.realpath("/../../d") == "/d"


def test_utime_default_is_now(client):
    c, root = client
    c.close(c.creat("/f"))
    c.utime("/f", ns=(0, 0))
    c.utime("/f")
    st = c.stat("/f")
    assert abs(st.st_mtime - time.time()) < 5
    assert abs(st.st_atime - time.time()) < 5
    assert st.st_mtime_ns == os.stat(root + "/f").st_mtime_ns


def test_opendir_readdir_rewinddir(client):
    c, root = client
    for name in ("a", "b", "c"):
        c.close(c.creat("/" + name))
    c.mkdir("/sub")
    os.symlink("a", root + "/l")
    d = c.opendir("/")
    first = list(iter(lambda: c.readdir(d), None))
    assert c.readdir(d) is None
    c.rewinddir(d)
    assert [c.readdir(d).d_name for _ in first] == [e.d_name for e in first]
    assert sorted(e.d_name for e in first) == sorted(os.listdir(root))  # no "." or ".."
    for e in first:
        st = os.lstat(os.path.join(root, e.d_name))
        assert e.d_ino == st.st_ino
        assert e.d_type in ({S.S_IFREG: 8, S.S_IFDIR: 4, S.S_IFLNK: 10}[S.S_IFMT(st.st_mode)], 0)


def test_scandir_walk_with_dir_fd_and_default_client(client):
    c, root = client
    c.mkdir("/d/sub/y", recursive=True)
    c.close(c.creat("/d/sub/x"))
    dfd = c.open("/d", DIRFLAGS)
    with hf3fs.scandir("sub", dir_fd=dfd, client=c) as it:
        entries = {e.name: (e.is_file(), e.is_dir(), e.stat().st_ino) for e in it}
    assert entries == {
        "x": (True, False, os.stat(root + "/d/sub/x").st_ino),
        "y": (False, True, os.stat(root + "/d/sub/y").st_ino),
    }
    assert list(hf3fs.walk("sub", dir_fd=dfd, client=c)) == [
        ("sub", ["y"], ["x"]),
        ("sub/y", [], []),
    ]
    c.close(dfd)
    with hf3fs.withClient(c):
        assert sorted(hf3fs.listdir("/d/sub")) == ["x", "y"]
        with hf3fs.BinaryFile("/d/sub/x", "wb") as f:
            f.write(b"via default")
    with open(root + "/d/sub/x", "rb") as f:
        assert f.read() == b"via default"


def test_stat_result_indexing(client):
    c, root = client
    c.close(c.creat("/f"))
    st, ost = c.stat("/f"), os.stat(root + "/f")
    assert len(st) == 10
    assert [st[i] for i in range(-10, 10)] == [ost[i] for i in range(-10, 10)]
    with pytest.raises(IndexError):
        st[10]


@pytest.mark.skipif(os.geteuid() == 0, reason="root bypasses permission bits")
def test_permission_denied(pair):
    for s in pair:
        s.mkdir("/locked")
        s.put("/locked/f", b"x")
        s.chmod("/locked", 0)
        s.listdir("/locked")  # PermissionError
        s.stat("/locked/f")
        s.walk("/locked")  # onerror gets the PermissionError
        s.chmod("/locked", 0o755)
    assert_same(pair)
