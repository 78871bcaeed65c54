"""Page-cache helpers the benchmarks share: evict, warm, and measure residency."""

from __future__ import annotations

import ctypes
import mmap
import os

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t] + [ctypes.c_int] * 3 + [ctypes.c_long]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]

# Reads of this size warm a file at sequential speed without a large buffer.
_WARM_CHUNK = 16 << 20


def evict(path: str) -> None:
    """Drop the file's pages from the page cache (best effort)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def warm(path: str) -> None:
    """Read the whole file so its pages are cached."""
    with open(path, "rb") as f:
        while f.read(_WARM_CHUNK):
            pass


def resident_pages(path: str) -> tuple[int, int] | None:
    """(pages in the page cache, pages) of the file; None when it cannot be mapped."""
    size = os.path.getsize(path)
    page = os.sysconf("SC_PAGE_SIZE")
    pages = (size + page - 1) // page
    if pages == 0:
        return 0, 0
    fd = os.open(path, os.O_RDONLY)
    try:
        area = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if area is None or area == ctypes.c_void_p(-1).value:
            return None
        try:
            vec = (ctypes.c_ubyte * pages)()
            _libc.mincore(area, size, vec)
            return sum(b & 1 for b in bytes(vec)), pages
        finally:
            _libc.munmap(area, size)
    finally:
        os.close(fd)


def resident_fraction(*paths: str) -> float:
    """Fraction of the files' pages in the page cache (``mincore``)."""
    resident = total = 0
    for path in paths:
        counts = resident_pages(path)
        if counts is None:
            return float("nan")
        resident += counts[0]
        total += counts[1]
    return resident / total if total else 0.0
