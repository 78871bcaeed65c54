"""``BinaryFile``: a raw binary file object over a client fd."""

from __future__ import annotations

import io
import os

from ._default import _client
from ._hf3fs import Client

_MODE_FLAGS = {
    "r": os.O_RDONLY,
    "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
}


def _parse_mode(mode: str) -> tuple[int, str, bool, bool, bool]:
    """Return (flags, normalized mode, readable, writable, append) for a mode string."""
    if not isinstance(mode, str):
        raise TypeError(f"BinaryFile: mode must be str, not {type(mode).__name__}")
    chars = set(mode)
    kinds = chars & set("rwax")
    if len(kinds) != 1 or not chars <= set("rwaxb+") or len(mode) != len(chars) or "t" in mode:
        raise ValueError(
            f"BinaryFile: invalid mode {mode!r} (use r, r+, w, w+, a, a+, x, x+, optionally with b)"
        )
    kind = kinds.pop()
    plus = "+" in chars
    flags = _MODE_FLAGS[kind]
    if plus:
        flags = (flags & ~os.O_ACCMODE) | os.O_RDWR
    readable = kind == "r" or plus
    writable = kind != "r" or plus
    return flags, kind + "b" + ("+" if plus else ""), readable, writable, kind == "a"


class BinaryFile(io.RawIOBase):
    """A binary file on a mount, as an unbuffered :class:`io.RawIOBase`.

    Parameters
    ----------
    path : str or os.PathLike
        Server path of the file.
    mode : str
        ``r``, ``r+``, ``w``, ``w+``, ``a``, ``a+``, ``x`` or ``x+``, with or without ``b``.
    dir_fd : int, optional
        Client fd of a directory ``path`` is relative to.
    client : Client, optional
        Client to use (default: the default client).
    ignore_cache : bool, default False
        Drop the pages read from the page cache, so reads always go to storage
        and a one-pass scan does not evict hotter data.

    Examples
    --------
    >>> with hf3fs.BinaryFile("/data.bin", "wb") as f:
    ...     f.write(b"abc")
    3
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        mode: str,
        dir_fd: int | None = None,
        client: Client | None = None,
        ignore_cache: bool = False,
    ) -> None:
        super().__init__()
        flags, self.mode, self._readable, self._writable, append = _parse_mode(mode)
        self.name = os.fspath(path)
        self._client = _client(client)
        self._ignore_cache = ignore_cache
        self._fd: int | None = None
        self._fd = self._client.open(self.name, flags, 0o666, dir_fd=dir_fd)
        if append:
            self._client.lseek(self._fd, 0, os.SEEK_END)

    @property
    def fd(self) -> int:
        """The client fd (not an OS fd)."""
        self._check_open()
        assert self._fd is not None
        return self._fd

    def _check_open(self) -> None:
        if self.closed or self._fd is None:
            raise ValueError("I/O operation on closed file")

    def readable(self) -> bool:
        """Whether the file was opened for reading."""
        self._check_open()
        return self._readable

    def writable(self) -> bool:
        """Whether the file was opened for writing."""
        self._check_open()
        return self._writable

    def seekable(self) -> bool:
        """Always True: client fds are regular files."""
        self._check_open()
        return True

    def fileno(self) -> int:
        """The client fd (for the client's calls, not the ``os`` module's)."""
        raise io.UnsupportedOperation(
            "BinaryFile wraps a client fd, not an OS fd; use .fd with its Client"
        )

    def readinto(self, buffer) -> int:  # type: ignore[override]
        """Read into a writable buffer; returns the byte count (0 at end of file)."""
        if not self.readable():
            raise io.UnsupportedOperation("File not open for reading")
        fd = self.fd
        start = self._client.lseek(fd, 0, os.SEEK_CUR) if self._ignore_cache else 0
        n = self._client.read(fd, buffer)
        if self._ignore_cache and n:
            self._client._drop_cache(fd, start, n)
        return n

    def readall(self) -> bytes:
        """Read to the end of the file."""
        if not self.readable():
            raise io.UnsupportedOperation("File not open for reading")
        fd = self.fd
        pos = self._client.lseek(fd, 0, os.SEEK_CUR)
        remaining = max(self._client.fstat(fd).st_size - pos, 0)
        chunks = []
        # Read what fstat promises in one call, then keep going in case the file grew.
        size = remaining + 1
        while True:
            buf = bytearray(max(size, 1 << 16))
            n = self.readinto(buf)
            if n == 0:
                break
            chunks.append(bytes(memoryview(buf)[:n]))
            size = 1 << 16
        return b"".join(chunks)

    def write(self, buffer) -> int:  # type: ignore[override]
        """Write a bytes-like object; returns the byte count written."""
        if not self.writable():
            raise io.UnsupportedOperation("File not open for writing")
        return self._client.write(self.fd, buffer)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move the position; returns the new absolute position."""
        return self._client.lseek(self.fd, offset, whence)

    def tell(self) -> int:
        """The current position."""
        return self._client.lseek(self.fd, 0, os.SEEK_CUR)

    def truncate(self, size: int | None = None) -> int:
        """Resize the file to ``size`` bytes (default: the current position)."""
        if not self.writable():
            raise io.UnsupportedOperation("File not open for writing")
        if size is None:
            size = self.tell()
        self._client.ftruncate(self.fd, size)
        return size

    def close(self) -> None:
        """Close the file; closing twice is harmless."""
        if self._fd is not None and not self.closed:
            fd, self._fd = self._fd, None
            try:
                self._client.close(fd)
            finally:
                super().close()
        else:
            super().close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self._fd}"
        return f"<hf3fs.BinaryFile name={self.name!r} mode={self.mode!r} {state}>"


__all__ = ["BinaryFile"]
