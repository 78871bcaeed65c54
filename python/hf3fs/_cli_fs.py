"""``hf3fs ls|stat|cat|cp|mkdir|rm|du``: file commands over every backend.

A path is ``hf3fs://<mount>/<path>``, ``s3://<bucket>/<key>`` (configured by
``AWS_*`` variables and ``--storage-option``), ``file:///<path>`` or a local
path. Each names a file system of the IO layer (``FileSystem.from_uri``, the
same Rust backends ``ParquetDataset`` reads through) and a path on it, so
every command is written once: ``cp`` is ``FileSystem.copy_file_to``
(parallel reads through the IO engine or concurrent ranged GETs, large
writes, multipart uploads; a server-side copy inside one bucket).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import stat as stat_mod
import sys
import time
from collections.abc import Iterator
from typing import Any

from . import _progress
from ._hf3fs import FileSystem, _parse_uri

# cat writes a file in pieces of this size, so a large file is not held whole.
CAT_CHUNK = 4 << 20
# The schemes the commands take (`mock://` is a new empty file system per
# call: nothing a command could show or keep).
SCHEMES = ("hf3fs", "s3", "file")


def parse_storage_options(pairs: list[str] | None) -> dict[str, str]:
    """``KEY=VALUE`` command-line pairs as storage options."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--storage-option {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


class Place:
    """A path on one of the IO layer's file systems, and how the user wrote it."""

    def __init__(self, fs: FileSystem, root: str, path: str, display: str) -> None:
        self.fs = fs
        # Which file system (`hf3fs://<mount>`, `s3://<bucket>`, `file`): two
        # places with the same root are on the same one.
        self.root = root
        self.path = path
        self.display = display
        # `s3://b/new/` names a directory even before a key lies below it, as
        # for `aws s3 cp` (a copy there lands at `new/<name>`, never at `new`).
        self.names_dir = root.startswith("s3://") and display.endswith("/")

    def join(self, relative: str) -> Place:
        """The place of ``relative`` (``/``-separated) inside this directory."""
        path = f"{self.path.rstrip('/')}/{relative}" if self.path else relative
        sep = "" if self.display.endswith("/") else "/"
        return Place(self.fs, self.root, path, f"{self.display}{sep}{relative}")

    @contextlib.contextmanager
    def naming(self) -> Iterator[None]:
        """Errors name this place as the user wrote it, not the path inside its file system."""
        try:
            yield
        except OSError as e:
            if e.filename in (None, self.path, f"{self.root}/{self.path}"):
                e.filename = self.display
            raise

    @property
    def name(self) -> str:
        """The last component (the mount or bucket for a root)."""
        return (
            self.path.rstrip("/").rsplit("/", 1)[-1]
            or self.display.rstrip("/").rsplit("/", 1)[-1]
            or self.path
        )

    def is_root(self) -> bool:
        """Whether this is its file system's root."""
        return self.path in ("", "/")

    def stat(self, *, follow_symlinks: bool = True) -> Any:
        """``stat`` of the path (made from the listing for an object)."""
        with self.naming():
            return self.fs.stat(self.path, follow_symlinks=follow_symlinks)

    def is_dir(self) -> bool:
        """Whether the path is a directory (missing: whether it ends in ``/`` on a store)."""
        try:
            return stat_mod.S_ISDIR(self.stat().st_mode)
        except FileNotFoundError:
            return self.names_dir

    def listing(self, *, recursive: bool = False) -> list[tuple[str, str, int]]:
        """``(relative path, kind, size)`` of the entries below, sorted; one
        listing for a whole tree (linked directories are listed, not entered)."""
        with self.naming():
            infos = self.fs.get_file_info_selector(self.path, recursive=recursive)
        base = len(self.path)
        return [(p[base:].lstrip("/"), kind, size or 0) for p, kind, size, _ in infos]

    def names(self) -> list[str]:
        """The directory's entries, sorted."""
        return [rel for rel, _, _ in self.listing()]

    def mkdir(self, *, parents: bool) -> None:
        """Make the directory (``parents``: and missing parents, existing is fine)."""
        with self.naming():
            if not parents:
                with contextlib.suppress(FileNotFoundError):
                    self.fs.stat(self.path)
                    raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), self.path)
            self.fs.create_dir(self.path, recursive=parents)

    def remove(self, *, recursive: bool) -> None:
        """Remove the file (a link itself), or the directory (``recursive`` for a tree)."""
        with self.naming():
            st = self.fs.stat(self.path, follow_symlinks=False)
            if not stat_mod.S_ISDIR(st.st_mode):
                self.fs.delete_file(self.path)
            elif not recursive:
                raise IsADirectoryError(errno.EISDIR, "Is a directory (use -r)", self.path)
            elif self.is_root():
                raise OSError(errno.EBUSY, "refusing to remove a file system's root", self.path)
            else:
                self.fs.delete_dir(self.path)

    def file_sizes(self) -> Iterator[int]:
        """The size of every file at or below this place."""
        st = self.stat()
        if not stat_mod.S_ISDIR(st.st_mode):
            yield st.st_size
            return
        yield from (size for _, kind, size in self.listing(recursive=True) if kind == "file")


class Places:
    """Parses command-line paths; one file system per mount, bucket or the local disk."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.token = getattr(args, "token", None)
        self.storage_options = parse_storage_options(getattr(args, "storage_option", None))
        self.filesystems: dict[str, FileSystem] = {}

    def parse(self, text: str) -> Place:
        """The place a command-line path names; URIs are split (and %-decoded)
        by the parser ``FileSystem.from_uri`` uses."""
        uri = _parse_uri(text)
        if uri is not None and uri.scheme not in SCHEMES:
            raise ValueError(f"{text}: the CLI takes local paths, file://, hf3fs:// and s3:// URIs")
        root = "file" if uri is None or uri.scheme == "file" else f"{uri.scheme}://{uri.authority}"
        fs, path = FileSystem.from_uri(
            text, token=self.token, storage_options=self.storage_options or None
        )
        return Place(self.filesystems.setdefault(root, fs), root, path, text)


def _write_all(write: Any, data: Any) -> None:
    """Write all of ``data``: an unbuffered stdout (``python -u``) or a pipe may take part."""
    view = memoryview(data).cast("B")
    while view:
        n = write(view)
        if n is None:  # a non-blocking stream that is full: nothing was written
            raise BlockingIOError(11, "Resource temporarily unavailable: output would block")
        view = view[n:]


def _size(n: float, human: bool) -> str:
    if not human:
        return str(int(n))
    for unit in ("B", "K", "M", "G", "T"):
        if abs(n) < 1024 or unit == "T":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}T"


def _long_line(place: Place, st: Any, human: bool) -> str:
    mtime = time.strftime("%Y-%m-%d %H:%M", time.localtime(st.st_mtime))
    return f"{stat_mod.filemode(st.st_mode)} {_size(st.st_size, human):>10} {mtime} {place.name}"


def ls(args: argparse.Namespace) -> int:
    """``hf3fs ls``: list each directory (or name each file)."""
    places = Places(args)
    for i, text in enumerate(args.paths):
        place = places.parse(text)
        if len(args.paths) > 1:
            print(("\n" if i else "") + f"{place.display}:")
        st = place.stat()
        if not stat_mod.S_ISDIR(st.st_mode):
            print(_long_line(place, st, args.human) if args.long else place.name)
            continue
        for name in place.names():
            if name.startswith(".") and not args.all:
                continue
            if args.long:
                child = place.join(name)
                print(_long_line(child, child.stat(follow_symlinks=False), args.human))
            else:
                print(name)
    return 0


def stat(args: argparse.Namespace) -> int:
    """``hf3fs stat``: size, mode, owner and times of each path."""
    places = Places(args)
    for text in args.paths:
        place = places.parse(text)
        st = place.stat()
        kind = "directory" if stat_mod.S_ISDIR(st.st_mode) else "regular file"
        print(f"  File: {place.display}")
        print(f"  Size: {st.st_size:<12} Blocks: {st.st_blocks:<8} {kind}")
        print(f"Access: ({oct(st.st_mode & 0o7777)}/{stat_mod.filemode(st.st_mode)})  ", end="")
        print(f"Uid: {st.st_uid}  Gid: {st.st_gid}  Inode: {st.st_ino}  Links: {st.st_nlink}")
        for label, t in (("Access", st.st_atime), ("Modify", st.st_mtime), ("Change", st.st_ctime)):
            print(f"{label}: {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(t))}")
    return 0


def cat(args: argparse.Namespace) -> int:
    """``hf3fs cat``: write each file's bytes to standard output."""
    places = Places(args)
    out = sys.stdout.buffer
    for text in args.paths:
        place = places.parse(text)
        if place.is_dir():
            raise IsADirectoryError(errno.EISDIR, "Is a directory", place.display)
        with place.naming():
            f = place.fs.open_input_file(place.path)
            for offset in range(0, f.size(), CAT_CHUNK):
                _write_all(out.write, f.read_at(offset, CAT_CHUNK))
    out.flush()
    return 0


def mkdir(args: argparse.Namespace) -> int:
    """``hf3fs mkdir``: make each directory (``-p``: parents too, existing is fine)."""
    places = Places(args)
    for text in args.paths:
        places.parse(text).mkdir(parents=args.parents)
    return 0


def rm(args: argparse.Namespace) -> int:
    """``hf3fs rm``: remove files (``-r``: directories too; ``-f``: missing is fine)."""
    places = Places(args)
    for text in args.paths:
        place = places.parse(text)
        try:
            place.remove(recursive=args.recursive)
        except FileNotFoundError:
            if not args.force:
                raise
    return 0


def du(args: argparse.Namespace) -> int:
    """``hf3fs du``: total bytes of the files under each path."""
    places = Places(args)
    for text in args.paths:
        place = places.parse(text)
        total = 0
        if place.is_dir() and not args.summarize:
            for name in place.names():
                child = place.join(name)
                size = sum(child.file_sizes())
                print(f"{_size(size, args.human):>10}  {child.display}")
                total += size
        else:
            total = sum(place.file_sizes())
        print(f"{_size(total, args.human):>10}  {place.display}")
    return 0


def _inode(st: Any) -> tuple[int, int] | None:
    """``(device, inode)``: one file whatever its spelling (None for objects, which have none)."""
    return (st.st_dev, st.st_ino) if st.st_ino else None


def _same_file(src: Place, st: Any, dst: Place) -> bool:
    """Whether ``dst`` exists and is the file ``src`` (whose stat is ``st``) is."""
    if dst.root != src.root:
        return False
    try:
        other = dst.stat()
    except FileNotFoundError:
        return False
    if _inode(st) and _inode(other):
        return _inode(st) == _inode(other)
    return dst.path == src.path  # objects have no inodes: the same key


def _within(dst: Place, directory: Place, st: Any) -> bool:
    """Whether ``dst`` (existing or not) is ``directory`` (whose stat is ``st``) or
    lies inside it.

    By path as the file system spells it (local ones absolute, so a relative
    target inside the source is caught), and where there are inodes, by each
    existing ancestor of ``dst``: one that is ``directory`` itself makes ``dst``
    an alias inside it through a symlink (as GNU cp compares inodes).
    """
    if dst.root != directory.root:
        return False
    if directory.is_root():
        return True
    base = directory.path.rstrip("/")
    if dst.path == base or dst.path.startswith(base + "/"):
        return True
    inode = _inode(st)
    if inode is None:
        return False  # keys in a store have no aliases
    path = dst.path.rstrip("/")
    while path:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, PermissionError):
            if _inode(dst.fs.stat(path)) == inode:
                return True
        path = path.rpartition("/")[0]
    return False


def _copy_plan(
    src: Place, dst: Place, recursive: bool, dirs: list[Place]
) -> list[tuple[Place, Place, int]]:
    """The files to copy (source, target, size); ``dirs`` gets the directories to make.

    Nothing is written while planning, so a refused copy leaves no trace.
    A tree is one recursive listing of the source. Links to files are copied
    as their files; linked directories are made but not entered, so a copy
    never loops or leaves the tree.
    """
    st = src.stat()
    if not stat_mod.S_ISDIR(st.st_mode):
        if _same_file(src, st, dst):
            raise ValueError(f"{src.display} and {dst.display} are the same file")
        return [(src, dst, st.st_size)]
    if not recursive:
        raise IsADirectoryError(errno.EISDIR, "Is a directory (use -r)", src.display)
    if _within(dst, src, st):
        raise ValueError(f"cannot copy directory {src.display} into itself ({dst.display})")
    # Object stores make no directories (keys imply them); create_dir writes nothing there.
    made = {dst.path: dst}
    plan: list[tuple[Place, Place, int]] = []
    for rel, kind, size in src.listing(recursive=True):
        target = dst.join(rel)
        if kind == "directory":
            made.setdefault(target.path, target)
        elif kind == "file":
            # A store's listing may leave a file's prefixes implied: make them too.
            parent = rel.rpartition("/")[0]
            if parent:
                made.setdefault(dst.join(parent).path, dst.join(parent))
            plan.append((src.join(rel), target, size))
        # Sockets, devices and dangling links: nothing a copy could read.
    dirs.extend(made.values())
    return plan


def _copy(src: Place, dst: Place, bar: _progress.Bar) -> None:
    """Copy one file, errors naming the places as the user wrote them."""
    try:
        src.fs.copy_file_to(src.path, dst.fs, dst.path, progress=bar.update)
    except OSError as e:
        for place in (src, dst):
            if e.filename in (place.path, f"{place.root}/{place.path}"):
                e.filename = place.display
        raise


def cp(args: argparse.Namespace) -> int:
    """``hf3fs cp``: copy files and trees between local paths, mounts and object stores."""
    places = Places(args)
    sources = [places.parse(t) for t in args.sources]
    dst = places.parse(args.dest)
    into_dir = dst.is_dir()
    if len(sources) > 1 and not into_dir:
        raise NotADirectoryError(
            errno.ENOTDIR, "Not a directory (copying several sources)", dst.display
        )
    plan: list[tuple[Place, Place, int]] = []
    dirs: list[Place] = []
    for src in sources:
        target = dst.join(src.name) if into_dir else dst
        plan.extend(_copy_plan(src, target, args.recursive, dirs))
    for directory in dirs:
        directory.mkdir(parents=True)
    total = sum(size for _, _, size in plan)
    start = time.perf_counter()
    bar = _progress.Bar(total=total, desc="cp", unit="B", unit_scale=True, enabled=args.progress)
    try:
        for src, target, _ in plan:
            _copy(src, target, bar)
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    if args.verbose:
        print(
            f"copied {len(plan)} file(s), {total:,} bytes in {seconds:.2f} s "
            f"({total / max(seconds, 1e-9) / 1e6:,.0f} MB/s)"
        )
    return 0


def _path_command(
    sub: Any, common: argparse.ArgumentParser, func: Any, help: str, description: str, nargs: str
) -> argparse.ArgumentParser:
    """A subcommand named after ``func`` that takes PATH arguments (``.`` when none)."""
    p = sub.add_parser(func.__name__, parents=[common], help=help, description=description)
    if nargs == "*":
        p.add_argument("paths", nargs="*", default=["."], metavar="PATH")
    else:
        p.add_argument("paths", nargs=nargs, metavar="PATH")
    p.set_defaults(func=func)
    return p


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register the file commands on the ``hf3fs`` parser."""
    p = _path_command(
        sub, common, ls, "list directories", "List directories (hf3fs://mount/path or local).", "*"
    )
    p.add_argument("-l", dest="long", action="store_true", help="long listing: mode, size, time")
    p.add_argument("-a", dest="all", action="store_true", help="include names starting with '.'")
    p.add_argument("-H", "--human", action="store_true", help="sizes in K, M, G")
    _path_command(
        sub, common, stat, "show file status", "Show size, mode, owner and times of each PATH.", "+"
    )
    _path_command(
        sub, common, cat, "write files to stdout", "Write the bytes of each PATH to stdout.", "+"
    )

    p = sub.add_parser(
        "cp",
        parents=[common],
        help="copy files between local paths, mounts and object stores",
        description=(
            "Copy SOURCE... to DEST (a directory when there are several sources). Data "
            "moves in parallel reads (batched through the IO engine on mounts and local "
            "disks, concurrent ranged GETs from s3://) and large writes (multipart uploads "
            "to s3://); a copy inside one bucket is server-side. Links to files are copied "
            "as files; linked directories are not entered."
        ),
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    p.add_argument("dest", metavar="DEST")
    p.add_argument("-r", "--recursive", action="store_true", help="copy directories")
    p.add_argument("-v", "--verbose", action="store_true", help="print files, bytes and MB/s")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )
    p.set_defaults(func=cp)

    p = _path_command(sub, common, mkdir, "make directories", "Make each directory PATH.", "+")
    p.add_argument("-p", "--parents", action="store_true", help="make parents; fine if it exists")
    p = _path_command(sub, common, rm, "remove files or directories", "Remove each PATH.", "+")
    p.add_argument("-r", "--recursive", action="store_true", help="remove directories too")
    p.add_argument("-f", "--force", action="store_true", help="no error when a PATH is missing")
    p = _path_command(
        sub,
        common,
        du,
        "disk usage (bytes of files)",
        "Sum the sizes of the files under each PATH (per entry, then the total).",
        "*",
    )
    p.add_argument("-s", "--summarize", action="store_true", help="only the total of each PATH")
    p.add_argument("-H", "--human", action="store_true", help="sizes in K, M, G")
