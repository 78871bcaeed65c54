"""Mounts, tokens and roles, path confinement, argument checking, threads."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time

import pytest

import hf3fs


def _write(root, rel, data=b"x"):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ---- mounts and tokens -------------------------------------------------------------------


def test_embedded_default_mount_is_created(tmp_path, monkeypatch):
    home = tmp_path / "home" / "local"
    monkeypatch.setenv("HF3FS_HOME", str(home))
    monkeypatch.delenv("HF3FS_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))
    client = hf3fs.Client("local", "any token at all")
    assert home.is_dir()
    assert client.role == "write"
    fd = client.creat("/f")
    client.write(fd, b"abc")
    client.close(fd)
    assert (home / "f").read_bytes() == b"abc"


def test_unknown_mount_lists_configured_ones(mounts):
    mounts.add("prod")
    mounts.add("stage")
    with pytest.raises(ValueError, match=r"unknown mount 'cpu'.*prod, stage") as info:
        hf3fs.Client("cpu", "")
    assert str(mounts.config) in str(info.value)


def test_config_errors_name_the_file(tmp_path, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text("[mounts.x\nroot = 1\n")
    monkeypatch.setenv("HF3FS_CONFIG", str(bad))
    with pytest.raises(ValueError, match="bad.toml"):
        hf3fs.Client("x", "")
    monkeypatch.setenv("HF3FS_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ValueError, match="missing.toml"):
        hf3fs.Client("x", "")
    raw = tmp_path / "raw.toml"
    raw.write_text(
        '[mounts.x]\nroot = "/tmp"\n[[mounts.x.tokens]]\nsha256 = "hunter2"\nrole = "read"\n'
    )
    monkeypatch.setenv("HF3FS_CONFIG", str(raw))
    with pytest.raises(ValueError, match="64 hex digits"):
        hf3fs.Client("x", "hunter2")


def test_tokens_and_roles(mounts):
    root = mounts.add("sec", {"r-token": "read", "w-token": "write", "root-token": "root"})
    _write(root, "f", b"original")
    with pytest.raises(PermissionError) as info:
        hf3fs.Client("sec", "wrong")
    assert info.value.errno == errno.EACCES and "sec" in str(info.value)
    assert hf3fs.Client("sec", "w-token").role == "write"
    with pytest.raises(PermissionError, match="root"):
        hf3fs.Client("sec", "w-token", as_super=True)
    assert hf3fs.Client("sec", "root-token", as_super=True).as_super


def test_read_token_cannot_modify_anything(mounts):
    root = mounts.add("ro", {"r": "read"})
    _write(root, "f", b"original")
    (root / "d").mkdir()
    c = hf3fs.Client("ro", "r")
    fd = c.open("/f", os.O_RDONLY)
    buf = bytearray(8)
    assert c.read(fd, buf) == 8 and bytes(buf) == b"original"
    iov = c.iovalloc(4096)
    attempts = [
        lambda: c.open("/f", os.O_RDWR),
        lambda: c.open("/f", os.O_WRONLY | os.O_TRUNC),
        lambda: c.open("/new", os.O_RDONLY | os.O_CREAT),
        lambda: c.creat("/new"),
        lambda: c.mkdir("/d2"),
        lambda: c.mkdir("/a/b", recursive=True),
        lambda: c.remove("/f"),
        lambda: c.remove("/d", recursive=True),
        lambda: c.rmdir("/d"),
        lambda: c.rename("/f", "/g"),
        lambda: c.chmod("/f", 0o600),
        lambda: c.chown("/f", -1, -1),
        lambda: c.utime("/f", times=(1, 1)),
        lambda: c.ftruncate(fd, 0),
        lambda: c.write(fd, b"zz"),
        lambda: c.pwritev([(iov, fd, 0)]),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionError) as info:
            attempt()
        assert info.value.errno == errno.EACCES
        assert "read" in str(info.value)
    assert (root / "f").read_bytes() == b"original"
    assert sorted(os.listdir(root)) == ["d", "f"]
    assert (root / "f").stat().st_mode & 0o777 != 0o600


def test_chown_to_another_user_needs_super(mounts):
    root = mounts.add("own", {"w": "write", "admin": "root"})
    _write(root, "f")
    other = os.geteuid() + 1000
    with pytest.raises(PermissionError) as info:
        hf3fs.Client("own", "w").chown("/f", other, -1)
    assert info.value.errno == errno.EPERM
    assert (root / "f").stat().st_uid == os.geteuid()
    hf3fs.Client("own", "w").chown("/f", os.geteuid(), -1)
    if os.geteuid() == 0:
        hf3fs.Client("own", "admin", as_super=True).chown("/f", other, other)
        assert (root / "f").stat().st_uid == other


def test_fuse_server_path_and_mount_name(mounts):
    root = mounts.add("m")
    inner = mounts.add("inner")
    assert hf3fs.fuse.serverPath(root / "a" / "b.bin") == "/a/b.bin"
    assert hf3fs.fuse.serverPath(str(root)) == "/"
    assert hf3fs.fuse.mountName(root / "x") == "m"
    assert hf3fs.fuse.mountName(inner / "x") == "inner"
    (root / "real").mkdir()
    os.symlink(root / "real", mounts.base / "alias")
    assert hf3fs.fuse.serverPath(mounts.base / "alias" / "f") == "/real/f"
    with pytest.raises(ValueError, match="not under any configured mount"):
        hf3fs.fuse.serverPath("/definitely/not/a/mount")


# ---- path confinement --------------------------------------------------------------------


@pytest.fixture
def jail(mounts):
    """A mount whose root has a sibling directory with a secret in it."""
    root = mounts.add("jail")
    outside = mounts.base / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"OUTSIDE")
    _write(root, "secret", b"inside")
    (root / "sub").mkdir()
    return hf3fs.Client("jail", ""), root, outside


def _read_all(c, path):
    fd = c.open(path, os.O_RDONLY)
    try:
        buf = bytearray(64)
        return bytes(buf[: c.read(fd, buf)])
    finally:
        c.close(fd)


@pytest.mark.parametrize(
    "path",
    [
        "/../secret",
        "../../../secret",
        "/sub/../../secret",
        "sub/../../../../secret",
        "/./sub/../secret",
    ],
)
def test_dotdot_never_leaves_the_root(jail, path):
    c, _, _ = jail
    assert _read_all(c, path) == b"inside"


def test_symlinks_resolve_inside_the_root(jail):
    c, root, outside = jail
    os.symlink(outside / "secret", root / "abs_out")  # absolute, to the real outside path
    os.symlink("../outside/secret", root / "rel_out")
    os.symlink("/secret", root / "abs_in")
    os.symlink("../../..", root / "sub" / "up")
    os.symlink(str(outside), root / "dir_out")
    assert _read_all(c, "/abs_in") == b"inside"
    assert _read_all(c, "/sub/up/secret") == b"inside"
    for path in ["/abs_out", "/rel_out", "/dir_out/secret"]:
        with pytest.raises(FileNotFoundError):
            _read_all(c, path)
    assert c.realpath("/sub/up") == "/"
    # Mutations through links never touch the outside.
    with pytest.raises(OSError):
        c.creat("/dir_out/planted")
    c.remove("/dir_out", recursive=True)
    c.chmod("/abs_in", 0o600)
    assert (outside / "secret").read_bytes() == b"OUTSIDE"
    assert sorted(os.listdir(outside)) == ["secret"]
    assert (outside / "secret").stat().st_mode & 0o777 != 0o600


def test_symlink_loops_give_eloop(jail):
    c, root, _ = jail
    os.symlink("b", root / "a")
    os.symlink("a", root / "b")
    os.symlink("self", root / "self")
    for path in ["/a", "/self", "/a/x"]:
        with pytest.raises(OSError) as info:
            c.stat(path)
        assert info.value.errno == errno.ELOOP
    assert c.stat("/a", follow_symlinks=False).is_link()
    assert c.stat("/a", follow_symlinks=False).st_ltarg == "b"


def test_chdir_dotdot_stays_at_root(jail):
    c, _, _ = jail
    c.chdir("..")
    assert c.getcwd() == "/"
    c.chdir("/sub/../../..")
    assert c.getcwd() == "/"
    assert _read_all(c, "../secret") == b"inside"


def test_racing_symlink_swaps_never_escape(jail):
    """A thread swaps a directory between a real dir and a link to the outside
    while another opens through it: every read sees inside data or an error."""
    c, root, outside = jail
    (root / "swap_real").mkdir()
    (root / "swap_real" / "secret").write_bytes(b"inside-swap")
    os.symlink(str(outside), root / "swap_link")
    stop = threading.Event()

    def swapper():
        target = root / "swap"
        while not stop.is_set():
            for src in ("swap_real", "swap_link"):
                tmp = root / f".tmp-{src}"
                if src == "swap_real":
                    os.symlink("swap_real", tmp)
                else:
                    os.symlink(os.readlink(root / "swap_link"), tmp)
                os.replace(tmp, target)

    t = threading.Thread(target=swapper)
    t.start()
    seen = set()
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            for path in ("/swap/secret", "/swap/../secret", "/swap/../../outside/secret"):
                try:
                    seen.add(_read_all(c, path))
                except OSError:
                    pass
    finally:
        stop.set()
        t.join()
    assert b"OUTSIDE" not in seen
    assert seen <= {b"inside", b"inside-swap"}


# ---- argument checking ---------------------------------------------------------------------


def test_bad_argument_types_raise_type_error(mount):
    c, root = mount
    _write(root, "f")
    fd = c.open("/f", os.O_RDONLY)
    calls = [
        lambda: c.stat(3),
        lambda: c.stat(b"/f"),
        lambda: c.open(None, os.O_RDONLY),
        lambda: c.open("/f", "r"),
        lambda: c.read("3", bytearray(1)),
        lambda: c.read(fd, "not a buffer"),
        lambda: c.read(fd, b"read-only bytes"),
        lambda: c.write(fd, 12),
        lambda: c.mkdir("/d", "0o777"),
        lambda: c.preadv("not a list"),
        lambda: c.preadv([("iov", fd, 0)]),
        lambda: c.preadv([(c.iovalloc(8), fd)]),
        lambda: c.iovalloc(8, bogus=True),
        lambda: c.chdir(1.5),
    ]
    for call in calls:
        with pytest.raises(TypeError):
            call()


def test_bad_argument_values_raise_value_error(mount):
    c, root = mount
    _write(root, "f")
    fd = c.open("/f", os.O_RDONLY)
    calls = [
        lambda: c.stat("/f\0x"),
        lambda: c.open("/a\0b", os.O_RDONLY),
        lambda: c.read(fd, bytearray(4), readahead=-1),
        lambda: c.lseek(fd, 0, os.SEEK_SET, readahead=-5),
        lambda: c.utime("/f", times=(1, 2), ns=(1, 2)),
        lambda: c.utime("/f", times=(float("nan"), 1.0)),
        lambda: c.iovalloc(0),
        lambda: c.iovalloc(-1),
        lambda: c.iovalloc(4096, block_size=-1),
        lambda: c.iovalloc(4096, numa=4096),
        lambda: c.iovalloc(4096, numa=-2),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            call()


def test_bad_fds_raise_ebadf(mount):
    c, _ = mount
    for call in [
        lambda: c.close(99),
        lambda: c.read(-1, bytearray(1)),
        lambda: c.write(1000, b"x"),
        lambda: c.fstat(2),
        lambda: c.lseek(77, 0, 0),
        lambda: c.ftruncate(77, 0),
        lambda: c.stat("x", dir_fd=55),
    ]:
        with pytest.raises(OSError) as info:
            call()
        assert info.value.errno == errno.EBADF


def test_fds_are_client_side_and_reused_lowest_first(mount):
    c, root = mount
    _write(root, "f")
    fds = [c.open("/f", os.O_RDONLY) for _ in range(4)]
    assert fds == [3, 4, 5, 6]
    c.close(4)
    assert c.open("/f", os.O_RDONLY) == 4
    other = hf3fs.Client("t", "")
    assert other.open("/f", os.O_RDONLY) == 3  # each client has its own table


# ---- concurrency and signals ----------------------------------------------------------------


def test_many_threads_on_one_client(mount):
    c, root = mount
    n_files = 32
    for i in range(n_files):
        _write(root, f"f{i}", f"file-{i}-".encode() * 100)
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for j in range(200):
                i = (k * 7 + j) % n_files
                fd = c.open(f"/f{i}", os.O_RDONLY)
                buf = bytearray(4096)
                n = c.read(fd, buf)
                assert bytes(buf[:n]) == f"file-{i}-".encode() * 100
                assert c.fstat(fd).st_size == n
                c.close(fd)
        except BaseException as e:  # noqa: BLE001 - reported after join
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert c.open("/f0", os.O_RDONLY) == 3  # every fd was closed


# The Ctrl-C runs in a child interpreter of its own: a SIGINT meant for the call must not depend
# on what the tests before it left in this process (in the full suite this process stopped seeing
# it; see the issue notes), nor reach pytest if the call finished first.
CTRL_C_REMOVE = """
import os, signal, sys, threading, time
import hf3fs

c = hf3fs.Client(sys.argv[1], "")
root = sys.argv[2]
for d in range(40):
    sub = os.path.join(root, "tree", f"d{d}")
    os.makedirs(sub)
    for f in range(250):
        open(os.path.join(sub, f"f{f}"), "w").close()

def interrupt_soon():
    time.sleep(0.02)
    os.kill(os.getpid(), signal.SIGINT)

t = threading.Thread(target=interrupt_soon)
t.start()
try:
    c.remove("/tree", recursive=True)
    time.sleep(5)  # the signal arrives even if the remove finished first
    print("not interrupted")
except KeyboardInterrupt:
    print("interrupted")
t.join()
c.remove("/tree", recursive=True)  # the client is still usable afterwards
print("gone" if not os.path.exists(os.path.join(root, "tree")) else "left")
"""


def test_ctrl_c_interrupts_a_long_recursive_remove(mounts, tmp_path):
    root = mounts.add("t")
    script = tmp_path / "ctrl_c_remove.py"
    script.write_text(CTRL_C_REMOVE)
    proc = subprocess.run(
        [sys.executable, str(script), "t", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["interrupted", "gone"], (proc.stdout, proc.stderr)
