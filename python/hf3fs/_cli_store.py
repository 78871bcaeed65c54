"""Object store paths (``s3://<bucket>/<key>``) for the file commands.

A :class:`StorePlace` answers what ``hf3fs ls|stat|cat|cp|rm|du`` ask of a
path through the Rust IO layer's object store backend: stats are made from
object listings, and copies stream through ranged GETs and multipart
uploads (a copy inside one bucket is one server-side copy).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat as stat_mod
import zlib
from collections.abc import Iterator
from typing import Any

from ._hf3fs import FileSystem

# What `ls -l` and `stat` show for objects: stores keep no modes or owners.
FILE_MODE = stat_mod.S_IFREG | 0o644
DIR_MODE = stat_mod.S_IFDIR | 0o755


def parse_storage_options(pairs: list[str] | None) -> dict[str, str]:
    """``KEY=VALUE`` command-line pairs as storage options."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--storage-option {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


def _stat_result(url: str, kind: str, size: int | None, mtime_ns: int | None) -> os.stat_result:
    mtime = (mtime_ns or 0) / 1e9
    # A stable inode per URL, so "same file" checks compare objects by name.
    ino = zlib.crc32(url.encode()) or 1
    mode = DIR_MODE if kind == "directory" else FILE_MODE
    blocks = ((size or 0) + 511) // 512
    return os.stat_result(
        (mode, ino, 0, 1, 0, 0, size or 0, mtime, mtime, mtime)
        + (mtime, mtime, mtime, mtime_ns or 0, mtime_ns or 0, mtime_ns or 0, 4096, blocks)
    )


class StorePlace:
    """A key in a bucket: the same methods as ``_cli_fs.Place``."""

    client = None

    def __init__(self, fs: FileSystem, key: str, display: str) -> None:
        self.fs = fs
        self.path = key
        self.display = display
        # `s3://b/new/` names a directory even before a key lies below it, as
        # for `aws s3 cp` (a copy there lands at `new/<name>`, never at `new`).
        self.names_dir = display.endswith("/")

    def join(self, name: str) -> StorePlace:
        """The place of ``name`` below this one."""
        key = f"{self.path}/{name}" if self.path else name
        sep = "" if self.display.endswith("/") else "/"
        return StorePlace(self.fs, key, f"{self.display}{sep}{name}")

    @contextlib.contextmanager
    def naming(self) -> Iterator[None]:
        """Errors already name the URL."""
        yield

    @property
    def name(self) -> str:
        """The last component of the key (the bucket for its root)."""
        return self.path.rsplit("/", 1)[-1] or self.display.rstrip("/").rsplit("/", 1)[-1]

    def _info(self) -> tuple[str, int | None, int | None]:
        [(_, kind, size, mtime)] = self.fs.get_file_info([self.path])
        return kind, size, mtime

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        """A stat made from the object's listing (``FileNotFoundError`` when missing)."""
        kind, size, mtime = self._info()
        if kind == "not_found":
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), self.display)
        return _stat_result(self.display, kind, size, mtime)

    def is_dir(self) -> bool:
        """Whether keys lie below this one (or the URL ends with ``/`` and no file is there)."""
        kind = self._info()[0]
        return kind == "directory" or (kind == "not_found" and self.names_dir)

    def names(self) -> list[str]:
        """The names directly below, sorted."""
        listed = self.fs.get_file_info_selector(self.path)
        return sorted(p.rsplit("/", 1)[-1] for p, _, _, _ in listed)

    def mkdir(self, *, parents: bool) -> None:
        """Nothing to make (keys imply directories); fails only when a file is in the way."""
        self.fs.create_dir(self.path, recursive=parents)

    def remove(self, *, recursive: bool) -> None:
        """Delete the object, or (``recursive``) every object below."""
        kind, _, _ = self._info()
        if kind == "not_found":
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), self.display)
        if kind == "directory":
            if not recursive:
                raise IsADirectoryError(errno.EISDIR, "Is a directory (use -r)", self.display)
            self.fs.delete_dir(self.path)
        else:
            self.fs.delete_file(self.path)

    def walk_files(self, st: Any = None) -> Iterator[tuple[StorePlace, os.stat_result]]:
        """Every object at or below this key, from one recursive listing."""
        st = st if st is not None else self.stat()
        if not stat_mod.S_ISDIR(st.st_mode):
            yield self, st
            return
        prefix = f"{self.path}/" if self.path else ""
        for path, kind, size, mtime in self.fs.get_file_info_selector(self.path, recursive=True):
            if kind == "directory":
                continue
            rel = path[len(prefix) :]
            place = self
            for part in rel.split("/"):
                place = place.join(part)
            yield place, _stat_result(place.display, kind, size, mtime)

    def relative(self, other: StorePlace) -> str | None:
        """``other``'s key relative to this one, if it lies below it in the same bucket."""
        if other.fs is not self.fs:
            return None
        if not self.path:
            return other.path
        if other.path.startswith(self.path + "/"):
            return other.path[len(self.path) + 1 :]
        return None


class StorePlaces:
    """One file system per bucket for the paths of a command."""

    def __init__(self, storage_options: dict[str, str]) -> None:
        self.storage_options = storage_options
        self.buckets: dict[str, FileSystem] = {}

    def parse(self, bucket: str, key: str, text: str) -> StorePlace:
        """The place ``s3://<bucket>/<key>`` names (``key`` %-decoded; ``text`` as typed)."""
        fs = self.buckets.get(bucket)
        if fs is None:
            fs, _ = FileSystem.from_uri(f"s3://{bucket}/", storage_options=self.storage_options)
            self.buckets[bucket] = fs
        return StorePlace(fs, fs.normalize_path(key), text)
