"""hf3fs: the 3FS ``hf3fs`` client API over any mounted file system.

A :class:`Client` works on one *mount* (a named directory: a 3FS FUSE mount,
Lustre, NFS or a local disk) with POSIX-like calls on *server paths* (``/`` is
the mount root), client-side fds, shared-memory :class:`iovec` buffers and
batched ``preadv``/``pwritev``. With no configuration there is one mount,
``local``, under ``~/.local/share/hf3fs/local``.

Examples
--------
>>> import os, hf3fs
>>> client = hf3fs.Client("local", "")
>>> fd = client.open("/hello.txt", os.O_RDWR | os.O_CREAT)
>>> client.write(fd, b"hello")
5
>>> client.close(fd)
"""

from . import fuse
from ._default import defaultClient, setupDefaultClient, withClient
from ._dirs import DirEntry, listdir, scandir, walk
from ._hf3fs import _DIR, Client, __version__, dirent, iovec, stat_result
from .binary_file import BinaryFile

__all__ = [
    "BinaryFile",
    "Client",
    "DirEntry",
    "__version__",
    "_DIR",
    "defaultClient",
    "dirent",
    "fuse",
    "iovec",
    "listdir",
    "scandir",
    "setupDefaultClient",
    "stat_result",
    "walk",
    "withClient",
]
