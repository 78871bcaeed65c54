"""The parity harness: run the same operations through ``os`` on a temp directory A
and through ``hf3fs`` on a mount rooted at B, and compare results field by field."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import stat as S

import pytest

import hf3fs

RO, WO, RW = os.O_RDONLY, os.O_WRONLY, os.O_RDWR
CREAT = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
DIRFLAGS = os.O_RDONLY | os.O_DIRECTORY
LONG = "/" + "n" * 300
ERRORS = (OSError, ValueError, TypeError, NotImplementedError)


def norm_stat(st, kind, ltarg, times=False):
    """The stat fields that must agree between two trees built the same way."""
    out = {f: getattr(st, f) for f in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size")}
    out["is_file,dir,link"], out["st_ltarg"] = kind, ltarg
    out["st[0,3..6]"] = tuple(st[i] for i in (0, 3, 4, 5, 6))
    if times:
        out["times"] = (st.st_atime_ns, st.st_mtime_ns, st.st_atime, st.st_mtime, st[7], st[8])
    return out


def mode_kind(st):
    return (S.S_ISREG(st.st_mode), S.S_ISDIR(st.st_mode), S.S_ISLNK(st.st_mode))


BIN_MODES = ["r", "r+", "w", "w+", "a", "a+", "x", "x+"]


class Side:
    """Runs operations and logs a normalized outcome of each.

    ``side.stat(...)`` runs ``op_stat`` when the side defines it, else the same-named call
    of ``os`` / the client with the same arguments (their signatures match). Results go to
    ``log``; an exception is logged as a normalized error tuple and the call returns None.
    """

    def __init__(self, root):
        self.root, self.log, self.fds = root, [], set()

    def name(self, filename):
        return filename

    def err(self, e):
        if isinstance(e, OSError) and e.errno is not None:
            names = self.name(e.filename), self.name(e.filename2)
            return (type(e).__name__, e.errno, e.strerror, *names)
        return (type(e).__name__,)

    def attempt(self, fn):
        try:
            return fn()
        except ERRORS as e:
            return self.err(e)

    def __getattr__(self, op):
        custom = getattr(type(self), "op_" + op, None)
        fn = functools.partial(custom, self) if custom else self.raw(op)

        def call(*args, **kwargs):
            label = [a for a in args if isinstance(a, str)]
            try:
                value = fn(*args, **kwargs)
            except ERRORS as e:
                self.log.append((op, label, self.err(e)))
                return None
            if op in ("open", "creat"):  # fd numbers differ between sides
                self.fds.add(value)
            elif op == "close":
                self.fds.discard(args[0])
            self.log.append((op, label, "fd" if op in ("open", "creat") else value))
            return value

        return call

    def put(self, path, data=b""):
        fd = self.creat(path)
        self.write(fd, data)
        self.close(fd)

    def op_symlink(self, target, link):
        os.symlink(target, self.root + link)

    def op_walk(self, top, topdown=True, followlinks=False, prune=()):
        errors, out = [], []
        for dirpath, dirs, files in self.walk_impl(top, topdown, errors.append, followlinks):
            dirs.sort()  # fixes the (top-down) visiting order on both sides
            out.append((self.name(dirpath), list(dirs), sorted(files)))
            dirs[:] = [d for d in dirs if d not in prune]
        if not topdown:  # every directory comes after the directories below it
            seen = [d for d, _, _ in out]
            for i, d in enumerate(seen):
                assert not any(x.startswith(d.rstrip("/") + "/") for x in seen[i + 1 :]), out
            out.sort()
        return out, [self.err(e) for e in errors]

    def op_scandir(self, path):
        rows = []
        with self.scandir_impl(path) as it:
            for e in it:
                nf = {"follow_symlinks": False}
                kinds = (e.is_dir(), e.is_dir(**nf), e.is_file(), e.is_file(**nf), e.is_symlink())
                st = self.attempt(lambda e=e: e.stat().st_mode)
                rows.append((e.name, self.name(e.path), kinds, st, e.stat(**nf).st_mode))
                self.check_entry(e)
        return sorted(rows)

    def check_entry(self, entry):
        pass

    def op_binfile(self, path, mode, actions, **kw):
        try:
            f = self.binfile_impl(path, mode, **kw)
        except ERRORS as e:
            return [("open", self.err(e))]
        res = [("open", self.name(f.name), f.tell())]
        with f:
            for act, *args in actions:
                res.append((act, *args, self.attempt(functools.partial(getattr(f, act), *args))))
        after = (lambda: f.read(1), f.tell, lambda: f.write(b"z"))  # all ValueError
        res.append(("closed", f.closed, *map(self.attempt, after)))
        return res


class OsSide(Side):
    """``os`` on root A: an absolute server path is passed as A + path, and filenames in
    errors are turned back into server paths."""

    def p(self, path):
        return self.root + path if isinstance(path, str) and path.startswith("/") else path

    def name(self, filename):
        if isinstance(filename, str) and (filename + "/").startswith(self.root + "/"):
            return filename[len(self.root) :] or "/"
        return filename

    def raw(self, op):
        fn = getattr(os, op)
        return lambda *args, **kw: fn(*map(self.p, args), **kw)

    def cleanup(self):
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    def op_open(self, path, flags, mode=0o666, **kw):  # the client's default mode
        return os.open(self.p(path), flags, mode, **kw)

    def op_creat(self, path, mode=0o666, *, dir_fd=None, excl=False):
        return os.open(self.p(path), CREAT | (os.O_EXCL * excl), mode, dir_fd=dir_fd)

    def op_stat(self, path, *, times=False, **kw):
        st = os.stat(self.p(path), **kw)
        link = S.S_ISLNK(st.st_mode)
        ltarg = os.readlink(self.p(path), dir_fd=kw.get("dir_fd")) if link else None
        return norm_stat(st, mode_kind(st), ltarg, times)

    def op_fstat(self, fd):
        st = os.fstat(fd)
        return norm_stat(st, mode_kind(st), None)

    def op_mkdir(self, path, mode=0o777, *, recursive=False, **kw):
        if recursive:
            return os.makedirs(self.p(path), mode)
        return os.mkdir(self.p(path), mode, **kw)

    def op_remove(self, path, *, recursive=False, **kw):
        p = self.p(path)
        if recursive and os.path.isdir(p) and not os.path.islink(p):
            return shutil.rmtree(p)
        return os.remove(p, **kw)

    def op_rmdir(self, path, *, recursive=False, **kw):
        return shutil.rmtree(self.p(path)) if recursive else os.rmdir(self.p(path), **kw)

    def op_realpath(self, path):
        return self.name(os.path.realpath(self.p(path), strict=True))

    def op_getcwd(self):
        return self.name(os.getcwd())

    def op_listdir(self, *path):
        return sorted(os.listdir(*map(self.p, path)))

    def walk_impl(self, top, *args):
        return os.walk(self.p(top), *args)

    def scandir_impl(self, path):
        return os.scandir(self.p(path))

    def binfile_impl(self, path, mode, dir_fd=None):
        if mode in BIN_MODES:
            mode = mode[0] + "b" + mode[1:]
        opener = None if dir_fd is None else (lambda p, fl: os.open(p, fl, 0o666, dir_fd=dir_fd))
        return open(self.p(path), mode, buffering=0, opener=opener)


class Hf3fsSide(Side):
    """``hf3fs`` on a mount rooted at B: server paths go to the client as they are."""

    def __init__(self, root, client):
        super().__init__(root)
        self.c = client

    def raw(self, op):
        return getattr(self.c, op)

    def cleanup(self):
        for fd in self.fds:
            with contextlib.suppress(OSError):
                self.c.close(fd)

    def local(self, path):
        """B + path, for an absolute server path os can look at directly."""
        if isinstance(path, str) and path.startswith("/") and ".." not in path and "\0" not in path:
            return self.root + path
        return None

    def op_read(self, fd, n):
        buf = bytearray(n)
        return bytes(buf[: self.c.read(fd, buf)])

    def op_stat(self, path, *, times=False, **kw):
        st = self.c.stat(path, **kw)
        local = None if kw.get("dir_fd") is not None else self.local(path)
        if local is not None:  # the real file's inode, not some copy's
            follow = kw.get("follow_symlinks", True)
            assert st.st_ino == os.stat(local, follow_symlinks=follow).st_ino, path
        return norm_stat(st, (st.is_file(), st.is_dir(), st.is_link()), st.st_ltarg, times)

    def op_fstat(self, fd):
        st = self.c.fstat(fd)
        return norm_stat(st, (st.is_file(), st.is_dir(), st.is_link()), st.st_ltarg)

    def op_realpath(self, path):
        real = self.c.realpath(path)
        assert self.c.realpath(path, absolute=True) == os.path.normpath(self.root + real)
        return real

    def op_listdir(self, *path):
        return sorted(hf3fs.listdir(*path, client=self.c))

    def walk_impl(self, top, *args):
        return hf3fs.walk(top, *args, client=self.c)

    def scandir_impl(self, path):
        return hf3fs.scandir(path, client=self.c)

    def check_entry(self, entry):
        local = self.local(entry.path)
        if local is not None:
            assert entry.inode() == os.lstat(local).st_ino, entry.path

    def binfile_impl(self, path, mode, dir_fd=None):
        return hf3fs.BinaryFile(path, mode, dir_fd=dir_fd, client=self.c)


def snapshot(root):
    """Everything under ``root``: (path, kind, mode, content or link target)."""
    out = []
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            if S.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            elif S.S_ISDIR(st.st_mode):
                extra = None
            else:
                with open(p, "rb") as f:
                    extra = f.read()
            out.append((p[len(root) :], oct(st.st_mode), extra))
    return sorted(out)


def assert_same(pair):
    """Both sides logged the same outcomes; else fail naming every step that differs."""
    o, h = pair
    diffs = []
    for i, (x, y) in enumerate(zip(o.log, h.log, strict=False)):
        if x[:2] != y[:2]:
            diffs.append(f"step {i}: the logs diverge: os {x[:2]}, hf3fs {y[:2]}")
            break
        if x != y:
            a, b = x[2], y[2]
            if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
                a, b = zip(*[(p, q) for p, q in zip(a, b, strict=True) if p != q], strict=True)
            diffs.append(f"step {i}: {x[0]}{x[1]}\n   os:    {a!r}\n   hf3fs: {b!r}")
    if len(h.log) != len(o.log):
        diffs.append(f"os logged {len(o.log)} steps, hf3fs {len(h.log)}")
    trees = [set(snapshot(side.root)) for side in pair]
    if trees[0] != trees[1]:
        diffs.append(f"trees differ:\n   os only:    {sorted(trees[0] - trees[1])}")
        diffs[-1] += f"\n   hf3fs only: {sorted(trees[1] - trees[0])}"
    if diffs:
        pytest.fail("\n".join(d.replace(LONG[1:], "<300 n>") for d in diffs), pytrace=False)


@pytest.fixture(params=["auto", "userspace"])
def pair(request, tmp_path, monkeypatch):
    """(OsSide, Hf3fsSide); the client resolves paths with openat2 where the kernel has it
    ("auto"), or component by component ("userspace")."""
    if request.param == "userspace":
        monkeypatch.setenv("HF3FS_RESOLVER", "userspace")
    else:
        monkeypatch.delenv("HF3FS_RESOLVER", raising=False)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    config = tmp_path / "parity.toml"
    config.write_text(f"[mounts.t]\nroot = {json.dumps(str(b))}\n")
    monkeypatch.setenv("HF3FS_CONFIG", str(config))
    monkeypatch.chdir(a)  # os resolves relative paths against the process cwd
    sides = OsSide(os.path.realpath(a)), Hf3fsSide(os.path.realpath(b), hf3fs.Client("t", ""))
    yield sides
    for side in sides:
        side.cleanup()
