"""The IO layer: ``hf3fs://`` for fsspec and pyarrow, and coalesced reads.

- :class:`Hf3fsFileSystem` is an fsspec file system registered for the
  ``hf3fs`` protocol, so ``pandas.read_parquet("hf3fs://local/x.parquet")``,
  polars, pyarrow and HF ``datasets`` open ``hf3fs://<mount>/<path>`` URLs.
- :class:`S3FileSystem` is the same for ``s3://<bucket>/<key>``, through the
  Rust object store backend; :func:`register_s3` makes fsspec (and so pandas)
  use it for every ``s3://`` URL.
- :class:`ArrowHandler` plugs a mount into ``pyarrow.fs.PyFileSystem`` for
  ``pyarrow.dataset``.
- :class:`FileSystem` is the Rust IO layer itself (``hf3fs``, local, mock,
  subtree and latency-injecting ``slow`` file systems), with
  :class:`RandomAccessFile` for positional and batched reads.
- :class:`CacheOptions`, :class:`ReadRangeCache` and :func:`coalesce_ranges`
  merge many small reads into few large ones, as Arrow's ``ReadRangeCache`` does.
- :func:`runtime_info` reports the process's one IO runtime: every thread hf3fs
  runs belongs to it, whatever the number of files, clients or datasets.

Examples
--------
>>> import pandas as pd
>>> pd.DataFrame({"x": [1, 2]}).to_parquet("hf3fs://local/demo/x.parquet")
>>> pd.read_parquet("hf3fs://local/demo/x.parquet")["x"].tolist()
[1, 2]
"""

from __future__ import annotations

import errno
import io
import os
import threading
from datetime import UTC, datetime
from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem
from fsspec.utils import stringify_path

from ._hf3fs import (
    Buffer,
    CacheOptions,
    FileSystem,
    OutputStream,
    RandomAccessFile,
    ReadRangeCache,
    _runtime_info,
    coalesce_ranges,
)

__all__ = [
    "ArrowHandler",  # noqa: F822 -- built on first access by __getattr__
    "Buffer",
    "CacheOptions",
    "FileSystem",
    "Hf3fsFileSystem",
    "OutputStream",
    "RandomAccessFile",
    "ReadRangeCache",
    "S3FileSystem",
    "coalesce_ranges",
    "register_s3",
    "runtime_info",
]

PROTOCOL = "hf3fs"


def runtime_info() -> dict[str, int]:
    """The process's IO runtime: the threads it runs now and at most.

    Every thread hf3fs starts belongs to this one runtime, shared by every
    client, file system and dataset reader; pools start threads when work
    needs them and end them after ~2 s idle (the IO engine's threads stay).
    A forked child (a DataLoader worker) starts its own.

    Returns
    -------
    dict of str to int
        ``engine_threads`` (batched ``preadv``/``pwritev``; up to
        ``HF3FS_IO_THREADS``), ``request_threads`` / ``max_request_threads``
        (read requests in flight), ``io_threads`` / ``max_io_threads``
        (metadata calls, footer reads), ``cpu_threads`` /
        ``max_cpu_threads`` (the CPU pool: Parquet decoding, filters), and the request limits
        ``local_requests`` (``HF3FS_IO_LOCAL_REQUESTS``) and
        ``remote_requests`` (``HF3FS_IO_REMOTE_REQUESTS``).

    Examples
    --------
    >>> from hf3fs.fs import runtime_info
    >>> runtime_info()["local_requests"]  # doctest: +SKIP
    8
    """
    return _runtime_info()


def _not_found(path: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)


def _info_dict(name: str, kind: str, size: int | None, mtime_ns: int | None) -> dict[str, Any]:
    info: dict[str, Any] = {"name": name, "size": size or 0, "type": kind}
    if mtime_ns is not None:
        info["mtime"] = mtime_ns / 1e9
    return info


class _MountFS:
    """A mount's :class:`FileSystem` whose errors name fsspec paths (``<mount>/<path>``)
    rather than paths inside the mount."""

    def __init__(self, fs: FileSystem, mount: str) -> None:
        self._fs = fs
        self._mount = mount

    def _name(self, path: Any) -> Any:
        # Object stores already name the URL (s3://bucket/key).
        if not isinstance(path, str) or "://" in path:
            return path
        return f"{self._mount}/{path}"

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._fs, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except OSError as e:
                if e.errno is None or not isinstance(e.filename, str):
                    raise
                named = type(e)(
                    e.errno, e.strerror, self._name(e.filename), None, self._name(e.filename2)
                )
                raise named from None

        # Cached on the instance: later lookups skip __getattr__.
        setattr(self, name, call)
        return call


class Hf3fsFileSystem(AbstractFileSystem):
    """fsspec file system for ``hf3fs://<mount>/<path>`` URLs.

    Paths are ``<mount>/<path>``: the first component names a configured
    mount (``local`` is the embedded default). Reads go through the Rust IO
    layer; ``cat_ranges`` reads every range of a file in one parallel batch.

    Parameters
    ----------
    token : str, optional
        Token for the mounts; default ``$HF3FS_TOKEN``, else empty.
    client : hf3fs.Client, optional
        Use this client (and only its mount) instead of connecting anew.
    auto_mkdir : bool, default True
        Create missing parent directories when a file is opened for writing,
        as object stores behave (``to_parquet`` into a new directory works).
    **storage_options
        Passed to fsspec (``skip_instance_cache``, ...).
    """

    protocol = PROTOCOL
    root_marker = ""

    def __init__(
        self,
        *,
        token: str | None = None,
        client: Any = None,
        auto_mkdir: bool = True,
        **storage_options: Any,
    ) -> None:
        super().__init__(token=token, client=client, auto_mkdir=auto_mkdir, **storage_options)
        self._token = token
        self._client = client
        self.auto_mkdir = auto_mkdir
        self._mounts: dict[str, _MountFS] = {}
        self._mounts_lock = threading.Lock()

    # -- paths -----------------------------------------------------------
    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = stringify_path(path)
        protocols = (cls.protocol,) if isinstance(cls.protocol, str) else cls.protocol
        for protocol in protocols:
            if path.startswith(f"{protocol}://"):
                path = path[len(protocol) + 3 :]
                break
            if path.startswith(f"{protocol}::"):
                path = path[len(protocol) + 2 :]
                break
        return path.strip("/")

    def unstrip_protocol(self, name: str) -> str:
        """``name`` as a full URL (``hf3fs://``, ``s3://``)."""
        return f"{self._scheme}://{self._strip_protocol(name)}"

    # The URI scheme of the Rust file systems behind the first path component.
    _scheme = PROTOCOL

    def _connect(self, mount: str) -> FileSystem:
        if self._client is not None:
            if mount != self._client.mount_name:
                raise ValueError(
                    f"this Hf3fsFileSystem uses a client of mount "
                    f"{self._client.mount_name!r}; path names mount {mount!r}"
                )
            return FileSystem.for_client(self._client)
        fs, _ = FileSystem.from_uri(f"{PROTOCOL}://{mount}/", token=self._token)
        return fs

    def _split(self, path: str) -> tuple[str, str]:
        path = self._strip_protocol(path)
        mount, _, rel = path.partition("/")
        return mount, rel

    def _fs(self, mount: str) -> _MountFS:
        with self._mounts_lock:
            fs = self._mounts.get(mount)
            if fs is None:
                fs = self._mounts[mount] = _MountFS(self._connect(mount), mount)
            return fs

    def _target(self, path: str) -> tuple[_MountFS, str, str]:
        """The Rust file system, the path inside the mount, and the stripped path."""
        stripped = self._strip_protocol(path)
        mount, rel = self._split(stripped)
        if not mount:
            raise IsADirectoryError(errno.EISDIR, "the hf3fs root lists mounts", path)
        return self._fs(mount), rel, stripped

    # -- metadata --------------------------------------------------------
    def info(self, path: Any, **kwargs: Any) -> dict[str, Any]:
        """fsspec's ``info``: name, size, type and times of ``path``."""
        stripped = self._strip_protocol(path)
        mount, rel = self._split(stripped)
        if not mount:
            return {"name": "", "size": 0, "type": "directory"}
        [(_, kind, size, mtime)] = self._fs(mount).get_file_info([rel])
        if kind == "not_found":
            raise _not_found(stripped)
        return _info_dict(stripped, kind, size, mtime)

    def _mount_names(self) -> list[str]:
        if self._client is not None:
            return [self._client.mount_name]
        from ._hf3fs import _mounts

        return sorted(name for name, _ in _mounts())

    def ls(self, path: Any, detail: bool = True, **kwargs: Any) -> list[Any]:
        """fsspec's ``ls``: the entries of a directory (dicts when ``detail``)."""
        stripped = self._strip_protocol(path)
        mount, rel = self._split(stripped)
        if not mount:
            entries = [_info_dict(m, "directory", 0, None) for m in self._mount_names()]
        else:
            try:
                listed = self._fs(mount).get_file_info_selector(rel)
            except NotADirectoryError:
                entries = [self.info(stripped)]
            else:
                entries = [
                    _info_dict(f"{mount}/{p}", kind, size, mtime) for p, kind, size, mtime in listed
                ]
        return entries if detail else [e["name"] for e in entries]

    def find(
        self,
        path: Any,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Every file below ``path`` (and directories with ``withdirs``), in one
        recursive listing rather than one call per directory."""
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        stripped = self._strip_protocol(path)
        mount, rel = self._split(stripped)
        if not mount:
            return super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail)
        out: dict[str, dict[str, Any]] = {}
        if withdirs and self.isdir(stripped):
            out[stripped] = self.info(stripped)
        try:
            listed = self._fs(mount).get_file_info_selector(
                rel,
                recursive=True,
                max_recursion=None if maxdepth is None else maxdepth - 1,
            )
        except (FileNotFoundError, NotADirectoryError):
            listed = []
        for p, kind, size, mtime in listed:
            if kind != "directory" or withdirs:
                name = f"{mount}/{p}"
                out[name] = _info_dict(name, kind, size, mtime)
        if not out and self.isfile(stripped):
            out[stripped] = self.info(stripped)
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names

    def modified(self, path: Any) -> datetime:
        """Modification time of ``path`` as a datetime."""
        mtime = self.info(path).get("mtime")
        if mtime is None:
            raise NotImplementedError("this file system keeps no modification times")
        return datetime.fromtimestamp(mtime, tz=UTC)

    def created(self, path: Any) -> datetime:
        """The modification time of ``path``: POSIX keeps no creation time."""
        return self.modified(path)

    # -- changes ---------------------------------------------------------
    def mkdir(self, path: Any, create_parents: bool = True, **kwargs: Any) -> None:
        """fsspec's ``mkdir``: make a directory (``create_parents``: and parents)."""
        fs, rel, stripped = self._target(path)
        if self.exists(stripped):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), stripped)
        fs.create_dir(rel, recursive=create_parents)

    def makedirs(self, path: Any, exist_ok: bool = False) -> None:
        """fsspec's ``makedirs``: make a directory and its parents."""
        fs, rel, stripped = self._target(path)
        if self.exists(stripped) and (not exist_ok or not self.isdir(stripped)):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), stripped)
        fs.create_dir(rel, recursive=True)

    def rmdir(self, path: Any) -> None:
        """Remove an empty directory."""
        fs, rel, stripped = self._target(path)
        if fs.get_file_info_selector(rel):
            raise OSError(errno.ENOTEMPTY, os.strerror(errno.ENOTEMPTY), stripped)
        fs.delete_dir(rel)

    def rm_file(self, path: Any) -> None:
        """Remove one file."""
        fs, rel, _ = self._target(path)
        fs.delete_file(rel)

    def _rm(self, path: Any) -> None:
        self.rm_file(path)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """fsspec's ``rm``: remove paths (``recursive`` for directories)."""
        for named in [path] if isinstance(path, str) else list(path):
            if not any(c in str(named) for c in "*?[") and not self.exists(named):
                raise _not_found(self._strip_protocol(named))
        paths = self.expand_path(path, recursive=recursive, maxdepth=maxdepth)
        for p in sorted(paths, reverse=True):
            fs, rel, stripped = self._target(p)
            [(_, kind, _, _)] = fs.get_file_info([rel])
            if kind == "directory":
                if not recursive:
                    raise IsADirectoryError(
                        errno.EISDIR, "a directory; pass recursive=True", stripped
                    )
                fs.delete_dir(rel)
            elif kind != "not_found":  # already gone with a parent directory
                fs.delete_file(rel)

    def mv(
        self,
        path1: Any,
        path2: Any,
        recursive: bool = False,
        maxdepth: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Move within a mount with one rename (files and whole directories);
        other moves copy, then delete."""
        single = isinstance(path1, str) and isinstance(path2, str)
        if single and not any(c in path1 for c in "*?["):
            fs1, rel1, s1 = self._target(path1)
            fs2, rel2, s2 = self._target(path2)
            if fs1 is fs2:
                # As shutil.move and fsspec's local file system: into an existing directory.
                if self.isdir(s2):
                    name = s1.rsplit("/", 1)[-1]
                    rel2 = f"{rel2}/{name}" if rel2 else name
                fs1.move(rel1, rel2)
                return
        super().mv(path1, path2, recursive=recursive, maxdepth=maxdepth, **kwargs)

    def cp_file(self, path1: Any, path2: Any, **kwargs: Any) -> None:
        """Copy one file within the mount."""
        fs1, rel1, s1 = self._target(path1)
        fs2, rel2, s2 = self._target(path2)
        [(_, kind, _, _)] = fs1.get_file_info([rel1])
        if kind == "directory":
            self.makedirs(s2, exist_ok=True)
            return
        if kind == "not_found":
            raise _not_found(s1)
        if self.auto_mkdir:
            self._make_parent(s2)
        if fs1 is fs2:
            fs1.copy_file(rel1, rel2)
            return
        with self.open(s1, "rb") as src, fs2.open_output_stream(rel2) as dst:
            while chunk := src.read(self.blocksize):
                dst.write(chunk)

    def _make_parent(self, stripped: str) -> None:
        parent = stripped.rpartition("/")[0]
        mount, rel = self._split(parent)
        if mount and rel:
            self._fs(mount).create_dir(rel, recursive=True)

    def pipe_file(self, path: Any, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        """Write ``value`` (bytes) to ``path``."""
        fs, rel, stripped = self._target(path)
        if mode == "create" and self.exists(stripped):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), stripped)
        if self.auto_mkdir:
            self._make_parent(stripped)
        with fs.open_output_stream(rel) as out:
            out.write(value)

    # -- reads -----------------------------------------------------------
    @staticmethod
    def _bounds(start: int | None, end: int | None, size: int) -> tuple[int, int]:
        start = 0 if start is None else (max(size + start, 0) if start < 0 else start)
        end = size if end is None else (max(size + end, 0) if end < 0 else min(end, size))
        return start, max(end, start)

    def cat_file(
        self, path: Any, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        """The bytes of ``path`` (``start``/``end``: a range of them)."""
        fs, rel, _ = self._target(path)
        f = fs.open_input_file(rel)
        s, e = self._bounds(start, end, f.size())
        return f.read_at(s, e - s)

    def cat_ranges(
        self,
        paths: list[Any],
        starts: Any,
        ends: Any,
        max_gap: int | None = None,
        on_error: str = "return",
        **kwargs: Any,
    ) -> list[Any]:
        """Byte ranges of one or more files; each file's ranges are read in
        one parallel batch (``RandomAccessFile.read_many``)."""
        if max_gap is not None:
            raise NotImplementedError("max_gap: use CacheOptions/ReadRangeCache to coalesce")
        if not isinstance(paths, list):
            raise TypeError("paths must be a list")
        starts = starts if isinstance(starts, list) else [starts] * len(paths)
        ends = ends if isinstance(ends, list) else [ends] * len(paths)
        if not len(starts) == len(ends) == len(paths):
            raise ValueError("paths, starts and ends must have the same length")
        out: list[Any] = [None] * len(paths)
        by_path: dict[str, list[int]] = {}
        for i, p in enumerate(paths):
            by_path.setdefault(self._strip_protocol(p), []).append(i)
        for p, indices in by_path.items():
            try:
                fs, rel, _ = self._target(p)
                f = fs.open_input_file(rel)
                size = f.size()
                ranges = []
                for i in indices:
                    s, e = self._bounds(starts[i], ends[i], size)
                    ranges.append((s, e - s))
                for i, data in zip(indices, f.read_many(ranges), strict=True):
                    out[i] = data
            except Exception as exc:
                if on_error != "return":
                    raise
                for i in indices:
                    out[i] = exc
        return out

    def _open(
        self,
        path: Any,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Hf3fsFile:
        if not autocommit:
            raise NotImplementedError("hf3fs files are written in place (autocommit=True)")
        fs, rel, stripped = self._target(path)
        if mode == "xb":
            if self.exists(stripped):
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), stripped)
            mode = "wb"
        if mode == "rb":
            # One lookup serves both the directory check and the file's size.
            info = self.info(stripped)
            if info["type"] == "directory":
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), stripped)
            kwargs.setdefault("size", info["size"])
        if mode in ("wb", "ab") and self.auto_mkdir:
            self._make_parent(stripped)
        return Hf3fsFile(
            self,
            stripped,
            mode=mode,
            block_size=block_size or "default",
            cache_options=cache_options,
            target=(fs, rel),
            **kwargs,
        )


class Hf3fsFile(AbstractBufferedFile):
    """A file of :class:`Hf3fsFileSystem`: reads fetch byte ranges through the
    Rust layer (``pread``); writes stream to the file as the buffer fills."""

    def __init__(self, fs: Hf3fsFileSystem, path: str, *, target: tuple[FileSystem, str], **kw):
        self._rfs, self._rel = target
        self._reader: RandomAccessFile | None = None
        self._writer: OutputStream | None = None
        super().__init__(fs, path, **kw)

    def _fetch_range(self, start: int, end: int) -> bytes:
        if self._reader is None:
            self._reader = self._rfs.open_input_file(self._rel)
        return self._reader.read_at(start, max(end - start, 0))

    def _initiate_upload(self) -> None:
        if "a" in self.mode:
            self._writer = self._rfs.open_append_stream(self._rel)
        else:
            self._writer = self._rfs.open_output_stream(self._rel)

    def _upload_chunk(self, final: bool = False) -> bool:
        assert self._writer is not None
        data = self.buffer.getvalue()
        if data:
            self._writer.write(data)
        if final:
            self._writer.close()
        return True


class _ArrowReader(io.RawIOBase):
    """A seekable reader over a :class:`RandomAccessFile` for ``pyarrow.PythonFile``."""

    def __init__(self, file: RandomAccessFile) -> None:
        super().__init__()
        self._file = file
        self._size = file.size()
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._file.read_into(self._pos, buffer)
        self._pos += n
        return n

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(self._size - self._pos, 0)
        data = self._file.read_at(self._pos, size)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError(errno.EINVAL, "negative seek position", self._file.path)
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def size(self) -> int:
        return self._size


class _ArrowWriter(io.RawIOBase):
    """A writer over an :class:`OutputStream` for ``pyarrow.PythonFile``."""

    def __init__(self, stream: OutputStream) -> None:
        super().__init__()
        self._stream = stream

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self._stream.write(data)

    def tell(self) -> int:
        return self._stream.tell()

    def flush(self) -> None:
        if not self._stream.closed:
            self._stream.flush()

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()


def _make_arrow_handler() -> type:
    import pyarrow as pa
    import pyarrow.fs as pafs

    kinds = {
        "not_found": pafs.FileType.NotFound,
        "file": pafs.FileType.File,
        "directory": pafs.FileType.Directory,
        "other": pafs.FileType.Unknown,
    }

    def to_arrow(infos: list[tuple[str, str, int | None, int | None]]) -> list[Any]:
        return [
            pafs.FileInfo(p, type=kinds[kind], size=size, mtime_ns=mtime)
            for p, kind, size, mtime in infos
        ]

    class ArrowHandler(pafs.FileSystemHandler):
        """A ``pyarrow.fs.FileSystemHandler`` for one mount (or any :class:`FileSystem`).

        Paths are relative to the mount root.

        Parameters
        ----------
        mount : str, default "local"
            The mount to serve.
        token : str, optional
            Its token; default ``$HF3FS_TOKEN``, else empty.
        client : hf3fs.Client, optional
            Serve this client's mount instead.
        filesystem : FileSystem, optional
            Serve this IO-layer file system instead.

        Examples
        --------
        >>> import pyarrow.fs, pyarrow.dataset as ds
        >>> pafs = pyarrow.fs.PyFileSystem(ArrowHandler("local"))
        >>> ds.dataset("demo", filesystem=pafs, format="parquet")  # doctest: +SKIP
        """

        def __init__(
            self,
            mount: str = "local",
            *,
            token: str | None = None,
            client: Any = None,
            filesystem: FileSystem | None = None,
        ) -> None:
            if filesystem is not None:
                self.fs = filesystem
            elif client is not None:
                self.fs = FileSystem.for_client(client)
            else:
                self.fs, _ = FileSystem.from_uri(f"{PROTOCOL}://{mount}/", token=token)
            self.mount = mount

        def __eq__(self, other: object) -> bool:
            return isinstance(other, ArrowHandler) and other.fs is self.fs

        def __ne__(self, other: object) -> bool:
            return not self == other

        def __hash__(self) -> int:
            return id(self.fs)

        def get_type_name(self) -> str:
            return PROTOCOL

        def normalize_path(self, path: str) -> str:
            return self.fs.normalize_path(path)

        def get_file_info(self, paths: list[str]) -> list[Any]:
            return to_arrow(self.fs.get_file_info(list(paths)))

        def get_file_info_selector(self, selector: Any) -> list[Any]:
            return to_arrow(
                self.fs.get_file_info_selector(
                    selector.base_dir,
                    recursive=selector.recursive,
                    allow_not_found=selector.allow_not_found,
                )
            )

        def create_dir(self, path: str, recursive: bool) -> None:
            self.fs.create_dir(path, recursive=recursive)

        def delete_dir(self, path: str) -> None:
            self.fs.delete_dir(path)

        def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
            self.fs.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

        def delete_root_dir_contents(self) -> None:
            self.fs.delete_root_dir_contents()

        def delete_file(self, path: str) -> None:
            self.fs.delete_file(path)

        def move(self, src: str, dest: str) -> None:
            self.fs.move(src, dest)

        def copy_file(self, src: str, dest: str) -> None:
            self.fs.copy_file(src, dest)

        def open_input_stream(self, path: str) -> Any:
            return pa.PythonFile(_ArrowReader(self.fs.open_input_file(path)), mode="r")

        def open_input_file(self, path: str) -> Any:
            return pa.PythonFile(_ArrowReader(self.fs.open_input_file(path)), mode="r")

        def open_output_stream(self, path: str, metadata: Any = None) -> Any:
            meta = dict(metadata) if metadata else None
            stream = self.fs.open_output_stream(path, metadata=meta)
            return pa.PythonFile(_ArrowWriter(stream), mode="w")

        def open_append_stream(self, path: str, metadata: Any = None) -> Any:
            meta = dict(metadata) if metadata else None
            stream = self.fs.open_append_stream(path, metadata=meta)
            return pa.PythonFile(_ArrowWriter(stream), mode="w")

    return ArrowHandler


_lazy: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    # ArrowHandler subclasses a pyarrow class: build it only when asked for,
    # so importing hf3fs.fs never needs pyarrow.
    if name == "ArrowHandler":
        if name not in _lazy:
            _lazy[name] = _make_arrow_handler()
        return _lazy[name]
    raise AttributeError(f"module 'hf3fs.fs' has no attribute {name!r}")


# The object store class extends Hf3fsFileSystem, so it is imported once that exists.
from ._fs_s3 import S3FileSystem, register_s3  # noqa: E402
