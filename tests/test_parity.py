"""Parity with ``os``: the same operations run through ``os`` on a temp directory A and
through ``hf3fs`` on a mount rooted at another temp directory B, results compared field by
field (values, stat fields, and errors as (type, errno, strerror, filename, filename2))."""

from __future__ import annotations

import os

import pytest
from parity import (  # the harness; the `pair` fixture comes from conftest
    DIRFLAGS,
    LONG,
    RO,
    RW,
    WO,
    assert_same,
)

SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


# ---- scenarios: each runs identically on both sides ----------------------------------------


def tree(s):
    """/f, /d/{g, sub/h, empty/}, /d/lf -> ../f, /d/ld -> sub, /dangling -> nowhere."""
    s.put("/f", b"hello world")
    s.mkdir("/d")
    s.put("/d/g", b"g")
    s.mkdir("/d/sub")
    s.put("/d/sub/h", b"hh")
    s.mkdir("/d/empty")
    s.symlink("../f", "/d/lf")
    s.symlink("sub", "/d/ld")
    s.symlink("nowhere", "/dangling")


def each(s, op, *paths, **kw):
    """``op(path, **kw)`` for each path (each one is logged on its own)."""
    for path in paths:
        getattr(s, op)(path, **kw)


@scenario
def io_read_lseek(s):
    s.put("/f", b"hello world")
    fd = s.open("/f", RO)
    s.read(fd, 5)
    s.read(fd, 100)  # partial read
    s.read(fd, 10)  # at EOF: 0 bytes
    s.read(fd, 0)
    s.lseek(fd, 0, os.SEEK_SET)
    s.lseek(fd, 3, os.SEEK_CUR)
    s.read(fd, 2)
    s.lseek(fd, -2, os.SEEK_END)
    s.read(fd, 10)
    s.lseek(fd, -1, os.SEEK_SET)  # EINVAL
    s.lseek(fd, -100, os.SEEK_CUR)  # EINVAL
    s.lseek(fd, 99, 77)  # bad whence: EINVAL
    s.lseek(fd, 100, os.SEEK_END)
    s.read(fd, 4)
    s.lseek(fd, 0, os.SEEK_DATA)
    s.lseek(fd, 0, os.SEEK_HOLE)
    s.lseek(fd, 100, os.SEEK_DATA)  # ENXIO
    s.fstat(fd)
    s.close(fd)


@scenario
def io_write_modes(s):
    fd = s.open("/f", RW | os.O_CREAT, 0o640)
    s.write(fd, b"abcdef")
    s.lseek(fd, 2, os.SEEK_SET)
    s.write(fd, b"XY")
    s.lseek(fd, 10, os.SEEK_SET)
    s.write(fd, b"Z")  # leaves a hole of zeros
    s.lseek(fd, 0, os.SEEK_SET)
    s.read(fd, 100)
    s.fstat(fd)
    s.close(fd)
    fd = s.open("/f", WO | os.O_APPEND)
    s.lseek(fd, 0, os.SEEK_SET)
    s.write(fd, b"++")  # O_APPEND ignores the position
    s.lseek(fd, 0, os.SEEK_CUR)
    s.close(fd)
    fd = s.open("/f", RW | os.O_TRUNC)
    s.fstat(fd)
    s.write(fd, b"new")
    s.close(fd)
    fd = s.creat("/c", 0o600)
    s.write(fd, b"created")
    s.close(fd)
    s.close(s.creat("/c"))  # creat truncates
    s.stat("/c")
    s.creat("/c", excl=True)  # EEXIST
    s.close(s.open("/t", RO | os.O_CREAT, 0o604))


@scenario
def io_ftruncate(s):
    s.put("/f", b"0123456789")
    fd = s.open("/f", RW)
    s.lseek(fd, 8, os.SEEK_SET)
    s.ftruncate(fd, 4)  # shrink; the position stays at 8
    s.lseek(fd, 0, os.SEEK_CUR)
    s.read(fd, 10)
    s.ftruncate(fd, 12)  # extend with zeros
    s.lseek(fd, 0, os.SEEK_SET)
    s.read(fd, 100)
    s.fstat(fd)
    s.ftruncate(fd, -1)  # EINVAL
    s.close(fd)
    fd = s.open("/f", RO)
    s.ftruncate(fd, 0)  # not open for writing: EINVAL
    s.close(fd)


@scenario
def io_bad_fds(s):
    s.put("/f", b"data")
    s.mkdir("/d")
    for bad in (9999, -1):  # EBADF for every call
        s.read(bad, 1)
        s.write(bad, b"x")
        s.fstat(bad)
        s.lseek(bad, 0, os.SEEK_SET)
        s.ftruncate(bad, 0)
        s.close(bad)
    fd = s.open("/f", RO)
    s.write(fd, b"x")  # read-only fd: EBADF
    s.close(fd)
    s.read(fd, 1)  # closed fd: EBADF
    s.close(fd)
    fd = s.open("/f", WO)
    s.read(fd, 1)  # write-only fd: EBADF
    s.close(fd)
    fd = s.open("/d", DIRFLAGS)
    s.read(fd, 1)  # EISDIR
    s.write(fd, b"x")  # EBADF
    s.fstat(fd)
    s.close(fd)


@scenario
def open_errors(s):
    tree(s)
    c, x = WO | os.O_CREAT, os.O_CREAT | os.O_EXCL
    expected = {  # what os gives (the errno is for the reader; parity is what is checked)
        "EEXIST": [("/f", WO | x), ("/d", RO | x), ("/d/lf", WO | x)],  # lf -> ../f
        "ENOENT": [("/missing", RO), ("/nodir/f", c), ("", RO)],
        "EISDIR": [("/d", WO), ("/d", RW), ("/d/", c), ("/d/ld/", c)],
        "EISDIR: O_CREAT and a trailing slash": [("/new/", c), ("/dangling/", c), ("/f/", c)],
        "EISDIR: ... through a symlink to a file": [("/d/lf/", c)],
        "ENOTDIR": [("/f/x", RO), ("/f/x", c), ("/f/", RO), ("/f", DIRFLAGS)],
        "ENOTDIR through a symlink": [("/d/lf/", RO), ("/d/lf/.", RO)],
        "ENAMETOOLONG": [(LONG, RO), (LONG, c)],
        "ELOOP": [("/d/lf", RO | os.O_NOFOLLOW), ("/d/ld", DIRFLAGS | os.O_NOFOLLOW)],
        "opens (a trailing slash follows the link)": [("/d/ld/", RO | os.O_NOFOLLOW)],
    }
    for calls in expected.values():
        for path, flags in calls:
            s.close(s.open(path, flags))  # close(None) is a TypeError on both sides
    fd = s.open("/", DIRFLAGS)
    s.fstat(fd)
    s.close(fd)
    fd = s.open("/d//sub/./h", RO)
    s.read(fd, 10)
    s.close(fd)


@scenario
def type_and_value_errors(s):
    s.put("/f", b"x")
    fd = s.open("/f", RW)
    each(s, "stat", "/a\0b", 1.5)  # ValueError, TypeError (an int would be an fd to os)
    for op in ("mkdir", "remove", "rmdir"):
        each(s, op, "/a\0b", 123, None)
    each(s, "listdir", "/a\0b")  # os.listdir and os.chdir take an fd too
    each(s, "chdir", "/a\0b", None)
    s.open("/a\0b", RO)
    s.open(None, RO)
    s.rename("/f", "/g\0")
    s.rename("/f\0", "/g")
    s.rename(1, "/x")
    s.rename("/f", None)
    s.chmod("/f", "0o644")
    s.read("3", 1)
    s.write("3", b"x")
    s.lseek("3", 0, 0)
    s.close("3")
    s.fstat(None)
    s.write(fd, "not bytes")
    s.utime("/f", times=(1, 2), ns=(1, 2))  # both: ValueError
    s.utime("/f", times=(1,))  # TypeError
    s.close(fd)


@scenario
def stat_kinds(s):
    tree(s)
    paths = "/ /. /f /d /d/sub /d/empty /d/sub/h /d/ld/h /d/. /d/.. //d//sub /d/sub/ /d/ld/ "
    paths += "/d/ld/.. /d/ld/../g /d/./ld/./h /d/lf /d/ld /dangling /d/sub/../lf"
    for path in paths.split():
        s.stat(path)
        s.stat(path, follow_symlinks=False)  # a link itself, with st_ltarg
    errors = "/missing /dangling/ /dangling/.. /f/ /f/. /f/.. /f/x /d/lf/ /d/lf/x"
    each(s, "stat", "", LONG, *errors.split())  # ENOENT, ENAMETOOLONG, ENOENT x3, ENOTDIR...


@scenario
def chmod_chown(s):
    tree(s)
    for path, mode in (("/f", 0o600), ("/d", 0o700), ("/d/g", 0o4755), ("/d/empty", 0o1777)):
        s.chmod(path, mode)
        s.stat(path)
    s.chmod("/d/lf", 0o640)  # follows to /f
    s.stat("/f")
    s.chmod("/f", 0o604, follow_symlinks=False)  # not a symlink: allowed
    s.stat("/f")
    for path in ("/missing", "/dangling", "/f/x"):
        s.chmod(path, 0o600)
        s.chown(path, -1, -1)
    s.chown("/f", -1, -1)
    s.chown("/f", -1, 4242)
    s.chown("/d/ld", -1, 4343, follow_symlinks=False)
    s.stat("/f")
    s.stat("/d/ld", follow_symlinks=False)


@scenario
def utime(s):
    tree(s)
    s.utime("/f", times=(1.5, 1234567890.987654321))
    s.stat("/f", times=True)
    s.utime("/f", times=(-1.25, 0))
    s.stat("/f", times=True)
    s.utime("/d", ns=(1_000_000_001, 2_999_999_999))
    s.stat("/d", times=True)
    s.utime("/d/lf", ns=(5, 6))  # follows to /f
    s.stat("/f", times=True)
    s.utime("/d/ld", ns=(7, 8), follow_symlinks=False)  # the link itself
    s.stat("/d/ld", follow_symlinks=False, times=True)
    s.utime("/d/ld", ns=(-1, 10**18))
    s.stat("/d/sub", times=True)
    each(s, "utime", "/missing", "/dangling", "/f/x", ns=(1, 2))  # ENOENT x2, ENOTDIR


@scenario
def mkdir(s):
    s.put("/f")
    s.symlink("nowhere", "/dangling")
    s.mkdir("/d")
    s.mkdir("/m", 0o750)
    s.stat("/m")
    s.mkdir("/t/")  # a trailing slash is fine
    # EEXIST x6, ENOENT x2, ENOTDIR, ENAMETOOLONG
    each(
        s, "mkdir", "/d", "/f", "/", "/d/.", "/dangling", "/dangling/", "/no/such", "", "/f/x", LONG
    )
    s.mkdir("/r/a/b/c", 0o700, recursive=True)
    s.stat("/r/a")
    s.stat("/r/a/b/c")
    s.mkdir("/r/x/", recursive=True)
    each(s, "mkdir", "/r/a/b/c", "/r/a", "/f", recursive=True)  # exists: EEXIST like makedirs
    s.mkdir("/f/y/z", recursive=True)  # through a file


@scenario
def rmdir_remove(s):
    tree(s)
    # ENOTEMPTY, ENOTDIR x3, ENOENT x2, EINVAL, ENOTEMPTY
    each(s, "rmdir", "/d", "/f", "/d/ld", "/d/ld/", "/missing", "", "/d/empty/.", "/d/sub/..")
    s.rmdir("/d/empty/")
    s.stat("/d/empty")
    # EISDIR x2, ENOENT x2, ENOTDIR x2
    each(s, "remove", "/d", "/d/ld/", "/missing", "", "/f/", "/d/sub/h/x")
    s.remove("/d/ld")  # the link only
    s.stat("/d/sub")
    s.remove("/dangling")
    s.remove("/d/g")
    s.listdir("/d")


@scenario
def recursive_remove(s):
    tree(s)
    s.mkdir("/keep")
    s.put("/keep/k", b"k")
    s.mkdir("/t/a/b", recursive=True)
    s.put("/t/a/b/x", b"x")
    s.put("/t/y")
    s.symlink("../../keep", "/t/a/lk")  # removed as a link, never followed
    s.remove("/t", recursive=True)
    s.listdir("/keep")
    s.remove("/f", recursive=True)  # a plain file
    s.remove("/d/ld", recursive=True)  # a symlink to a dir: the link only
    s.listdir("/d/sub")
    s.remove("/missing", recursive=True)
    s.rmdir("/d", recursive=True)
    s.rmdir("/keep/k", recursive=True)  # a file: ENOTDIR
    s.rmdir("/missing", recursive=True)
    s.listdir("/")


@scenario
def rename(s):
    tree(s)
    s.put("/f2", b"two")
    s.rename("/f2", "/f")  # file over file
    s.stat("/f")
    s.mkdir("/e")
    s.rename("/d/sub", "/e")  # dir over empty dir
    s.listdir("/e")
    s.rename("/d/empty", "/d")  # dir over non-empty dir: ENOTEMPTY
    s.rename("/f", "/e")  # file over dir: EISDIR
    s.rename("/e", "/f")  # dir over file: ENOTDIR
    s.rename("/missing", "/x")  # ENOENT, with filename and filename2
    s.rename("/f", "/nodir/x")  # ENOENT
    s.rename("/d", "/d/empty/inner")  # into itself: EINVAL
    s.rename("/f", "/f")  # no-op
    s.rename("/f", "/f/x")  # ENOTDIR
    s.rename("/f", "/g/")  # ENOTDIR
    s.rename("", "/x")  # ENOENT
    s.rename("/f", LONG)  # ENAMETOOLONG
    s.rename("/d/lf", "/lf2")  # moves the link, target unchanged
    s.stat("/lf2", follow_symlinks=False)
    s.rename("/dangling", "/d/dangling2")
    s.rename("/d/empty/", "/d/empty2/")


@scenario
def symlinks(s):
    tree(s)
    s.symlink("lf", "/d/chain")  # -> lf -> ../f
    s.stat("/d/chain")
    s.stat("/d/chain", follow_symlinks=False)
    s.symlink("../ld", "/d/sub/up")
    s.stat("/d/sub/up/h")
    s.symlink("loop2", "/loop1")
    s.symlink("loop1", "/loop2")
    s.symlink("self", "/self")
    for path in ("/loop1", "/self", "/loop1/x"):  # ELOOP
        s.stat(path)
        s.open(path, RO)
        s.listdir(path)
    s.stat("/loop1", follow_symlinks=False)
    each(s, "realpath", "/d/chain", "/d/ld/h", "/d/sub/up/", "/", "/d/..", "d/lf")
    fd = s.open("/dangling", WO | os.O_CREAT)  # creates the target
    s.write(fd, b"made")
    s.close(fd)
    s.stat("/nowhere")
    s.mkdir("/d/ld/newdir")
    s.stat("/d/sub/newdir")
    s.mkdir("/d/lf")  # EEXIST


@scenario
def listdir_scandir(s):
    tree(s)
    for path in (
        "/",
        "/d",
        "/d/sub",
        "/d/empty",
        "/d/ld",
        "/d/ld/",
        "d",
        "/f",
        "/missing",
        "/d/lf",
        "/dangling",
        "",
    ):
        s.listdir(path)
        s.scandir(path)


@scenario
def dir_fds(s):
    tree(s)
    dfd = s.open("/d", DIRFLAGS)
    s.stat("g", dir_fd=dfd)
    s.stat("lf", dir_fd=dfd, follow_symlinks=False)
    s.stat("/f", dir_fd=dfd)  # absolute path: dir_fd ignored
    fd = s.open("new", WO | os.O_CREAT, dir_fd=dfd)
    s.write(fd, b"via dir_fd")
    s.close(fd)
    s.mkdir("made", dir_fd=dfd)
    s.rename("new", "made/moved", src_dir_fd=dfd, dst_dir_fd=dfd)
    sfd = s.open("/d/sub", DIRFLAGS)
    s.rename("h", "h2", src_dir_fd=sfd, dst_dir_fd=dfd)
    s.chmod("h2", 0o611, dir_fd=dfd)
    s.utime("h2", ns=(11, 22), dir_fd=dfd)
    s.stat("h2", dir_fd=dfd, times=True)
    s.remove("g", dir_fd=dfd)
    s.rmdir("empty", dir_fd=dfd)
    s.stat("missing", dir_fd=dfd)  # ENOENT, filename as passed
    each(s, "stat", "", ".", "..", "sub/../g", "ld/", dir_fd=dfd)
    s.open("missing", RO, dir_fd=dfd)
    ffd = s.open("/f", RO)
    s.stat("x", dir_fd=ffd)  # dir_fd is not a directory: ENOTDIR
    s.open("x", RO, dir_fd=ffd)
    s.rename("x", "y", src_dir_fd=ffd)
    s.rename("/f", "y", dst_dir_fd=ffd)
    s.close(ffd)
    s.stat("x", dir_fd=ffd)  # closed dir_fd: EBADF
    s.open("x", RO, dir_fd=ffd)
    s.rename("x", "y", src_dir_fd=ffd)
    s.rename("/d", "/renamed")
    s.stat("made/moved", dir_fd=dfd)  # still the same directory
    s.close(sfd)
    s.close(dfd)
    s.mkdir("/gone")
    gfd = s.open("/gone", DIRFLAGS)
    s.rmdir("/gone")
    s.open("x", WO | os.O_CREAT, dir_fd=gfd)  # the directory was removed: ENOENT
    s.close(gfd)


@scenario
def chdir_relative(s):
    tree(s)
    s.getcwd()
    s.chdir("/d")
    s.getcwd()
    s.stat("g")
    s.listdir()
    s.listdir(".")
    s.scandir("sub")
    s.close(s.open("rel", WO | os.O_CREAT))
    s.mkdir("reldir")
    s.rename("rel", "reldir/rel")
    s.realpath("reldir/rel")
    s.stat("missing")
    s.chdir("ld")  # through a symlink: cwd becomes the real directory
    s.getcwd()
    s.stat("h")
    s.chdir("..")
    s.getcwd()
    s.remove("reldir/rel")
    s.rmdir("reldir")
    each(s, "chdir", "/f", "/missing", "", "g")  # ENOTDIR, ENOENT x2, ENOTDIR
    s.getcwd()
    s.chdir("/")
    s.listdir()
    s.chdir("/d/sub")
    s.rename("/d", "/moved")  # the cwd moves with its directory, as a process cwd does
    s.getcwd()
    s.stat("h")


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_parity(pair, name):
    for side in pair:
        SCENARIOS[name](side)
    assert_same(pair)


@pytest.mark.parametrize("topdown", [True, False])
@pytest.mark.parametrize("followlinks", [False, True])
def test_walk(pair, topdown, followlinks):
    for s in pair:
        tree(s)
        s.mkdir("/d/sub/deep/er", recursive=True)
        s.mkdir("/d/skip/below", recursive=True)
        for top in ("/", "/d", "/d/", "d", "/d/ld", "/missing", "/f", "/d/empty"):
            s.walk(top, topdown=topdown, followlinks=followlinks)  # onerror for /missing, /f
        if topdown:
            s.walk("/", topdown=True, followlinks=followlinks, prune=("skip", "sub"))
    assert_same(pair)
