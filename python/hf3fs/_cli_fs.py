"""``hf3fs ls|stat|cat|cp|mkdir|rm|du``: file commands over mounts and local paths.

A path is ``hf3fs://<mount>/<path>`` (a :class:`Client` on that mount),
``s3://<bucket>/<key>`` (the object store backend, configured by ``AWS_*``
variables and ``--storage-option``), or a local path (the ``os`` module).
``cp`` moves data with batched ``preadv`` / ``pwritev`` through one
shared-memory iovec, and to and from object stores with ranged GETs and
multipart uploads.
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
from ._cli_store import StorePlace, StorePlaces, parse_storage_options
from ._hf3fs import Client, _parse_uri, iovec

# cp moves data in calls of COPY_ENTRIES entries of COPY_ENTRY bytes: 4 MiB
# entries are large enough that each is one sequential request on any file
# system, and 16 of them (64 MiB in flight) keep a parallel file system busy
# while the iovec stays small.
COPY_ENTRY = 4 << 20
COPY_ENTRIES = 16
# cat writes a file in pieces of this size, so a large file is not held whole.
CAT_CHUNK = 4 << 20


class Place:
    """A path on a mount (``client`` set) or on the local file system."""

    def __init__(self, client: Client | None, path: str, display: str) -> None:
        self.client = client
        self.path = path
        self.display = display

    def join(self, name: str) -> Place:
        """The place of ``name`` inside this directory."""
        sep = "" if self.display.endswith("/") else "/"
        path = os.path.join(self.path, name)
        return Place(self.client, path, f"{self.display}{sep}{name}")

    @contextlib.contextmanager
    def naming(self) -> Iterator[None]:
        """Errors name this place as the user wrote it (a URL), not the server path."""
        try:
            yield
        except OSError as e:
            if self.client is not None and e.filename in (self.path, None):
                e.filename = self.display
            raise

    @property
    def name(self) -> str:
        """The last component of the path."""
        return os.path.basename(self.path.rstrip("/")) or self.path

    def stat(self, *, follow_symlinks: bool = True) -> Any:
        """``stat`` of the path (``os.stat`` or the client's)."""
        if self.client is None:
            return os.stat(self.path, follow_symlinks=follow_symlinks)
        with self.naming():
            return self.client.stat(self.path, follow_symlinks=follow_symlinks)

    def is_dir(self) -> bool:
        """Whether the path is a directory (False when missing)."""
        try:
            return stat_mod.S_ISDIR(self.stat().st_mode)
        except FileNotFoundError:
            return False

    def names(self) -> list[str]:
        """The directory's entries, sorted."""
        if self.client is None:
            return sorted(os.listdir(self.path))
        from ._dirs import listdir

        with self.naming():
            return sorted(listdir(self.path, client=self.client))

    def mkdir(self, *, parents: bool) -> None:
        """Make the directory (``parents``: and missing parents, existing is fine)."""
        if self.client is None:
            if parents:
                os.makedirs(self.path, exist_ok=True)
            else:
                os.mkdir(self.path)
        else:
            with self.naming():
                try:
                    self.client.mkdir(self.path, recursive=parents)
                except FileExistsError:
                    # -p: an existing directory is fine, as with os.makedirs(exist_ok=True).
                    if not (parents and self.is_dir()):
                        raise

    def remove(self, *, recursive: bool) -> None:
        """Remove the file, or the directory (``recursive`` for a non-empty one)."""
        if self.client is not None:
            with self.naming():
                self.client.remove(self.path, recursive=recursive)
        elif self.is_dir() and not os.path.islink(self.path):
            if not recursive:
                raise IsADirectoryError(21, "Is a directory (use -r)", self.path)
            import shutil

            shutil.rmtree(self.path)
        else:
            os.remove(self.path)

    def walk_files(self, st: Any = None) -> Iterator[tuple[Place, Any]]:
        """Every file under this place (itself when a file), with its stat.

        ``st``: this place's stat when the caller has it (saves a call per entry).
        """
        st = st if st is not None else self.stat()
        if not stat_mod.S_ISDIR(st.st_mode):
            yield self, st
            return
        for name in self.names():
            child = self.join(name)
            yield from child.walk_files(child.stat(follow_symlinks=False))


class Places:
    """Parses command-line paths; one client per mount, one file system per bucket."""

    def __init__(self, args: argparse.Namespace) -> None:
        token = getattr(args, "token", None)
        self.token = token if token is not None else os.environ.get("HF3FS_TOKEN", "")
        self.clients: dict[str, Client] = {}
        self.stores = StorePlaces(parse_storage_options(getattr(args, "storage_option", None)))

    def parse(self, text: str) -> Any:
        """The place a command-line path names (``hf3fs://``, ``s3://``, ``file://`` or local).

        URIs are split (and %-decoded) by the one parser ``FileSystem.from_uri`` uses.
        """
        uri = _parse_uri(text)
        if uri is None:
            return Place(None, text, text)
        if uri.scheme == "s3":
            return self.stores.parse(uri.authority, uri.path, text)
        if uri.scheme == "file":
            return Place(None, uri.path, text)
        if uri.scheme != "hf3fs":
            raise ValueError(f"{text}: the CLI takes local paths, hf3fs:// and s3:// URIs")
        client = self.clients.get(uri.authority)
        if client is None:
            client = self.clients[uri.authority] = Client(uri.authority, self.token)
        return Place(client, "/" + uri.path, text)


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
        kind = (
            "directory"
            if stat_mod.S_ISDIR(st.st_mode)
            else "symbolic link"
            if stat_mod.S_ISLNK(st.st_mode)
            else "regular file"
        )
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
            raise IsADirectoryError(21, "Is a directory", place.display)
        if isinstance(place, StorePlace):
            f = place.fs.open_input_file(place.path)
            for offset in range(0, f.size(), CAT_CHUNK):
                _write_all(out.write, f.read_at(offset, CAT_CHUNK))
            continue
        if place.client is None:
            with open(place.path, "rb") as f:
                while chunk := f.read(CAT_CHUNK):
                    _write_all(out.write, chunk)
            continue
        client = place.client
        with place.naming():
            fd = client.open(place.path, os.O_RDONLY)
        try:
            buf = bytearray(CAT_CHUNK)
            while n := client.read(fd, buf):
                _write_all(out.write, memoryview(buf)[:n])
        finally:
            client.close(fd)
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
        per_child: list[tuple[str, int]] = []
        if place.is_dir() and not args.summarize:
            for name in place.names():
                child = place.join(name)
                size = sum(st.st_size for _, st in child.walk_files())
                per_child.append((child.display, size))
                total += size
        else:
            total = sum(st.st_size for _, st in place.walk_files())
        for display, size in per_child:
            print(f"{_size(size, args.human):>10}  {display}")
        print(f"{_size(total, args.human):>10}  {place.display}")
    return 0


class _Copier:
    """Copies files between places through one iovec with batched calls."""

    def __init__(self, bar: _progress.Bar) -> None:
        self.bar = bar
        # (client, its iovec) for each client that moved data.
        self.iovs: list[tuple[Client, Any]] = []

    def _iov(self, client: Client) -> Any:
        for owner, iov in self.iovs:
            if owner is client:
                return iov
        iov = client.iovalloc(COPY_ENTRY * COPY_ENTRIES)
        self.iovs.append((client, iov))
        return iov

    def close(self) -> None:
        while self.iovs:
            client, iov = self.iovs.pop()
            client.iovfree(iov)

    def copy(self, src: Any, dst: Any, size: int) -> None:
        if isinstance(src, StorePlace) or isinstance(dst, StorePlace):
            self._copy_store(src, dst, size)
            return
        with src.naming():
            src_fd = (
                os.open(src.path, os.O_RDONLY)
                if src.client is None
                else src.client.open(src.path, os.O_RDONLY)
            )
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            with dst.naming():
                dst_fd = (
                    os.open(dst.path, flags, 0o644)
                    if dst.client is None
                    else dst.client.open(dst.path, flags, 0o644)
                )
            try:
                self._move(src, src_fd, dst, dst_fd, size)
            finally:
                (os.close if dst.client is None else dst.client.close)(dst_fd)
        finally:
            (os.close if src.client is None else src.client.close)(src_fd)

    def _move(self, src: Place, src_fd: int, dst: Place, dst_fd: int, size: int) -> None:
        client = src.client or dst.client
        if client is None:  # local to local: the kernel copies
            offset = 0
            while offset < size:
                n = os.copy_file_range(src_fd, dst_fd, min(size - offset, 1 << 30))
                if n == 0:
                    raise _shrank(src, offset)
                offset += n
                self.bar.update(n)
            return
        iov = self._iov(client)
        mem = memoryview(iov)
        try:
            offset = 0
            while offset < size:
                chunk = min(size - offset, COPY_ENTRY * COPY_ENTRIES)
                entries = [
                    (iovec(iov, at, min(COPY_ENTRY, chunk - at)), at)
                    for at in range(0, chunk, COPY_ENTRY)
                ]
                if src.client is client:
                    got = client.preadv([(v, src_fd, offset + at) for v, at in entries])
                    if sum(got) < chunk:
                        raise _shrank(src, offset + sum(got))
                else:
                    view = mem[:chunk]
                    n = 0
                    while n < chunk:
                        r = os.preadv(src_fd, [view[n:]], offset + n)
                        if r == 0:
                            raise _shrank(src, offset + n)
                        n += r
                if dst.client is client:
                    client.pwritev([(v, dst_fd, offset + at) for v, at in entries])
                elif dst.client is None:
                    done = 0
                    while done < chunk:
                        done += os.pwrite(dst_fd, mem[done:chunk], offset + done)
                else:  # another mount: its client writes from our iovec's memory
                    dst.client.lseek(dst_fd, offset, os.SEEK_SET)
                    _write_all(lambda b: dst.client.write(dst_fd, b), mem[:chunk])
                offset += chunk
                self.bar.update(chunk)
        finally:
            mem.release()

    def _copy_store(self, src: Any, dst: Any, size: int) -> None:
        """A copy to or from an object store: ranged reads of COPY_ENTRY bytes,
        COPY_ENTRIES in flight, into a stream (a multipart upload for stores)."""
        if isinstance(src, StorePlace) and isinstance(dst, StorePlace) and src.fs is dst.fs:
            src.fs.copy_file(src.path, dst.path)  # one server-side copy
            self.bar.update(size)
            return
        with contextlib.ExitStack() as stack:
            read = self._reader(src, stack, size)
            write = self._writer(dst, stack)
            offset = 0
            while offset < size:
                chunk = min(size - offset, COPY_ENTRY * COPY_ENTRIES)
                pieces = read(offset, chunk)
                got = sum(len(p) for p in pieces)
                for piece in pieces:
                    write(piece)
                if got < chunk:
                    raise _shrank(src, offset + got)
                offset += chunk
                self.bar.update(chunk)

    @staticmethod
    def _reader(place: Any, stack: contextlib.ExitStack, size: int) -> Any:
        """``read(offset, n)``: the bytes there, as a list of pieces."""
        if isinstance(place, StorePlace):
            f = place.fs.open_input_file(place.path)
            if f.size() != size:  # replaced since the copy was planned
                raise OSError(
                    errno.ESTALE,
                    f"changed while copying ({f.size()} bytes, planned {size})",
                    place.display,
                )

            def read_store(offset: int, n: int) -> list[Any]:
                ranges = [(offset + at, min(COPY_ENTRY, n - at)) for at in range(0, n, COPY_ENTRY)]
                return f.read_many(ranges)

            return read_store
        with place.naming():
            if place.client is None:
                fd = os.open(place.path, os.O_RDONLY)
                stack.callback(os.close, fd)
                return lambda offset, n: [os.pread(fd, n, offset)]
            client = place.client
            fd = client.open(place.path, os.O_RDONLY)
        stack.callback(client.close, fd)

        def read_mount(offset: int, n: int) -> list[Any]:
            buf = bytearray(n)
            client.lseek(fd, offset, os.SEEK_SET)
            got = 0
            while got < n and (r := client.read(fd, memoryview(buf)[got:])):
                got += r
            return [memoryview(buf)[:got]]

        return read_mount

    @staticmethod
    def _writer(place: Any, stack: contextlib.ExitStack) -> Any:
        """``write(data)``: append to the copy; it is complete when the stack closes."""
        if isinstance(place, StorePlace):
            out = stack.enter_context(place.fs.open_output_stream(place.path))
            return out.write
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        with place.naming():
            if place.client is None:
                fd = os.open(place.path, flags, 0o644)
                stack.callback(os.close, fd)
                return lambda data: _write_all(lambda b: os.write(fd, b), data)
            client = place.client
            fd = client.open(place.path, flags, 0o644)
        stack.callback(client.close, fd)
        return lambda data: _write_all(lambda b: client.write(fd, b), data)


def _shrank(src: Place, offset: int) -> OSError:
    return OSError(5, f"Input/output error: file ended at byte {offset} while copying", src.display)


def _same(a: Any, b: Any) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _within(place: Place, directory: Any) -> bool:
    """Whether ``place`` (existing or not) lies inside the directory whose stat is given."""
    path = place.path if place.client is not None else os.path.abspath(place.path)
    while True:
        parent = os.path.dirname(path.rstrip("/")) or "/"
        if parent == path:
            return False
        try:
            if _same(Place(place.client, parent, parent).stat(), directory):
                return True
        except FileNotFoundError:
            pass
        path = parent


def _copy_plan(
    src: Place, dst: Place, recursive: bool, dirs: list[Place], st: Any = None
) -> list[tuple[Place, Place, int]]:
    """The files to copy (source, target, size); ``dirs`` gets the directories to make.

    Nothing is written while planning, so a refused copy leaves no trace. ``st``:
    the source's stat when the caller has it.
    """
    st = st if st is not None else src.stat()
    if not stat_mod.S_ISDIR(st.st_mode):
        try:
            # Stats of different kinds of place never name the same file.
            if type(dst) is type(src) and _same(dst.stat(), st):
                raise ValueError(f"{src.display} and {dst.display} are the same file")
        except FileNotFoundError:
            pass
        return [(src, dst, st.st_size)]
    if not recursive:
        raise IsADirectoryError(21, "Is a directory (use -r)", src.display)
    if isinstance(src, StorePlace) or isinstance(dst, StorePlace):
        return _copy_tree_store(src, dst, dirs, st)
    if _within(dst, st):
        raise ValueError(f"cannot copy directory {src.display} into itself ({dst.display})")
    plan: list[tuple[Place, Place, int]] = []
    dirs.append(dst)
    for name in src.names():
        child = src.join(name)
        child_st = child.stat(follow_symlinks=False)
        if stat_mod.S_ISLNK(child_st.st_mode):
            continue  # links are not followed: a copy of a tree stays inside it
        plan.extend(_copy_plan(child, dst.join(name), recursive, dirs, child_st))
    return plan


def _copy_tree_store(src: Any, dst: Any, dirs: list[Any], st: Any) -> list[tuple[Any, Any, int]]:
    """:func:`_copy_plan` of a directory when either side is an object store: a
    source tree is one recursive listing rather than a stat per entry."""
    if isinstance(src, StorePlace) and isinstance(dst, StorePlace):
        if src.relative(dst) is not None or src.path == dst.path and src.fs is dst.fs:
            raise ValueError(f"cannot copy directory {src.display} into itself ({dst.display})")
    # Keys imply an object store's directories; elsewhere every parent is made.
    parents: dict[str, Any] = {}
    if not isinstance(dst, StorePlace):
        parents[dst.path] = dst
    plan: list[tuple[Any, Any, int]] = []
    for place, child_st in src.walk_files(st):
        if stat_mod.S_ISLNK(child_st.st_mode):
            continue  # links are not followed, as in _copy_plan
        if isinstance(src, StorePlace):
            rel = src.relative(place) or place.name
        else:
            rel = os.path.relpath(place.path, src.path)
        target = dst
        for part in rel.split("/"):
            target = target.join(part)
        if not isinstance(dst, StorePlace) and "/" in rel:
            parent = Place(
                target.client, os.path.dirname(target.path), target.display.rsplit("/", 1)[0]
            )
            parents.setdefault(parent.path, parent)
        plan.append((place, target, child_st.st_size))
    dirs.extend(parents.values())
    return plan


def cp(args: argparse.Namespace) -> int:
    """``hf3fs cp``: copy files and trees between local paths and mounts."""
    places = Places(args)
    sources = [places.parse(t) for t in args.sources]
    dst = places.parse(args.dest)
    into_dir = dst.is_dir()
    if len(sources) > 1 and not into_dir:
        raise NotADirectoryError(20, "Not a directory (copying several sources)", dst.display)
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
    copier = _Copier(bar)
    try:
        for src, target, size in plan:
            copier.copy(src, target, size)
    finally:
        copier.close()
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
            "moves in batched preadv/pwritev calls through one shared-memory iovec, and "
            "to and from s3:// in parallel ranged GETs and multipart uploads."
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
