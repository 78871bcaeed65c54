"""Directory helpers with the semantics of ``os``: DirEntry, scandir, listdir, walk."""

from __future__ import annotations

import os
import posixpath
import stat as stat_module
from collections.abc import Callable, Iterator

from ._default import _client
from ._hf3fs import _DIR, Client, stat_result

DT_UNKNOWN = 0
DT_DIR = 4
DT_REG = 8
DT_LNK = 10


class DirEntry:
    """An entry yielded by :func:`scandir`, like :class:`os.DirEntry`.

    Parameters
    ----------
    parentPath : str
        The path that was scanned (relative to ``parentFd`` when that is given).
    name : str
        The entry's name.
    etype : int
        Its ``DT_*`` type from ``readdir`` (``0`` when unknown).
    parentFd : int or None
        Client fd of a directory ``parentPath`` is relative to.
    client : Client, optional
        The client to look the entry up with (default: the default client).
    """

    __slots__ = ("name", "path", "_etype", "_dir_fd", "_client", "_ino", "_stat", "_lstat")

    def __init__(
        self,
        parentPath: str,
        name: str,
        etype: int,
        parentFd: int | None,
        client: Client | None = None,
        *,
        ino: int | None = None,
    ) -> None:
        self.name = name
        self.path = posixpath.join(parentPath, name) if parentPath else name
        self._etype = etype
        self._dir_fd = parentFd
        self._client = _client(client)
        self._ino = ino
        self._stat: stat_result | None = None
        self._lstat: stat_result | None = None

    def stat(self, *, follow_symlinks: bool = True) -> stat_result:
        """Return the entry's status, cached after the first call.

        Parameters
        ----------
        follow_symlinks : bool, default True
            Follow a symlink to its target.

        Returns
        -------
        stat_result
        """
        if follow_symlinks and not self.is_symlink():
            follow_symlinks = False
        if follow_symlinks:
            if self._stat is None:
                self._stat = self._client.stat(self.path, dir_fd=self._dir_fd)
            return self._stat
        if self._lstat is None:
            self._lstat = self._client.stat(self.path, dir_fd=self._dir_fd, follow_symlinks=False)
        return self._lstat

    def _test_mode(self, dt: int, fmt: int, follow_symlinks: bool) -> bool:
        if self._etype != DT_UNKNOWN and not (follow_symlinks and self._etype == DT_LNK):
            return self._etype == dt
        try:
            st = self.stat(follow_symlinks=follow_symlinks)
        except FileNotFoundError:
            return False
        return stat_module.S_IFMT(st.st_mode) == fmt

    def is_dir(self, *, follow_symlinks: bool = True) -> bool:
        """Whether the entry is a directory (or a symlink to one, when following)."""
        return self._test_mode(DT_DIR, stat_module.S_IFDIR, follow_symlinks)

    def is_file(self, *, follow_symlinks: bool = True) -> bool:
        """Whether the entry is a regular file (or a symlink to one, when following)."""
        return self._test_mode(DT_REG, stat_module.S_IFREG, follow_symlinks)

    def is_symlink(self) -> bool:
        """Whether the entry is a symbolic link."""
        return self._test_mode(DT_LNK, stat_module.S_IFLNK, False)

    def inode(self) -> int:
        """The entry's inode number."""
        if self._ino is None:
            self._ino = self.stat(follow_symlinks=False).st_ino
        return self._ino

    def __fspath__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return f"<DirEntry {self.name!r}>"


class _ScandirIterator:
    """Iterator over a directory; also a context manager, like ``os.scandir``'s."""

    def __init__(self, path: str, dir_fd: int | None, client: Client) -> None:
        self._client = client
        self._path = path
        self._dir_fd = dir_fd
        self._dir: _DIR | None = client.opendir(path, dir_fd=dir_fd)

    def __iter__(self) -> _ScandirIterator:
        return self

    def __next__(self) -> DirEntry:
        if self._dir is None:
            raise StopIteration
        ent = self._client.readdir(self._dir)
        if ent is None:
            self.close()
            raise StopIteration
        return DirEntry(
            self._path, ent.d_name, ent.d_type, self._dir_fd, self._client, ino=ent.d_ino
        )

    def close(self) -> None:
        """Release the directory stream."""
        self._dir = None

    def __enter__(self) -> _ScandirIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def scandir(
    path: str | os.PathLike[str] = ".", dir_fd: int | None = None, client: Client | None = None
) -> _ScandirIterator:
    """Iterate over the entries of a directory as :class:`DirEntry` objects.

    Parameters
    ----------
    path : str or os.PathLike, default "."
        Directory on the mount (relative to the client's cwd or ``dir_fd``).
    dir_fd : int, optional
        Client fd of a directory ``path`` is relative to.
    client : Client, optional
        Client to use (default: the default client).

    Returns
    -------
    iterator of DirEntry
        Also a context manager. ``.`` and ``..`` are not listed.
    """
    return _ScandirIterator(os.fspath(path), dir_fd, _client(client))


def listdir(path: str | os.PathLike[str] = ".", client: Client | None = None) -> list[str]:
    """Return the names of the entries of a directory (without ``.`` and ``..``).

    Parameters
    ----------
    path : str or os.PathLike, default "."
        Directory on the mount.
    client : Client, optional
        Client to use (default: the default client).

    Returns
    -------
    list of str
        Names in the order the file system lists them.
    """
    with scandir(path, client=client) as it:
        return [entry.name for entry in it]


def walk(
    top: str | os.PathLike[str],
    topdown: bool = True,
    onerror: Callable[[OSError], object] | None = None,
    followlinks: bool = False,
    dir_fd: int | None = None,
    client: Client | None = None,
) -> Iterator[tuple[str, list[str], list[str]]]:
    """Walk a directory tree, yielding ``(dirpath, dirnames, filenames)`` like :func:`os.walk`.

    Parameters
    ----------
    top : str or os.PathLike
        Root of the walk.
    topdown : bool, default True
        Yield a directory before its subdirectories (and let the caller prune
        ``dirnames`` in place).
    onerror : callable, optional
        Called with the ``OSError`` when a directory cannot be listed.
    followlinks : bool, default False
        Descend into symlinks to directories.
    dir_fd : int, optional
        Client fd of a directory ``top`` is relative to.
    client : Client, optional
        Client to use (default: the default client).

    Yields
    ------
    tuple of (str, list of str, list of str)
    """
    c = _client(client)
    stack: list[object] = [os.fspath(top)]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            yield item
            continue
        current = str(item)
        dirs: list[str] = []
        nondirs: list[str] = []
        walk_dirs: list[str] = []
        try:
            entries = list(scandir(current, dir_fd=dir_fd, client=c))
        except OSError as error:
            if onerror is not None:
                onerror(error)
            continue
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            (dirs if is_dir else nondirs).append(entry.name)
            if not topdown and is_dir:
                try:
                    walk_into = followlinks or not entry.is_symlink()
                except OSError:
                    walk_into = False
                if walk_into:
                    walk_dirs.append(entry.path)
        if topdown:
            yield current, dirs, nondirs
            for name in reversed(dirs):
                new_path = posixpath.join(current, name)
                if followlinks or not _islink(c, new_path, dir_fd):
                    stack.append(new_path)
        else:
            stack.append((current, dirs, nondirs))
            stack.extend(reversed(walk_dirs))


def _islink(client: Client, path: str, dir_fd: int | None) -> bool:
    try:
        return client.stat(path, dir_fd=dir_fd, follow_symlinks=False).is_link()
    except OSError:
        return False


__all__ = ["DirEntry", "listdir", "scandir", "walk"]
