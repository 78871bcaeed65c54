"""Map local paths under a mount's root to server paths and mount names."""

from __future__ import annotations

import os

from ._hf3fs import _locate


def serverPath(p: str | os.PathLike[str]) -> str:
    """Return the server path of a local path under a configured mount.

    The path is made absolute and its symlinks resolved, then the mount root is
    dropped: ``/data/prod/a/b`` on mount ``prod`` rooted at ``/data/prod`` is ``/a/b``.

    Parameters
    ----------
    p : str or os.PathLike
        A local path (it need not exist yet).

    Returns
    -------
    str
        The path on the mount, starting with ``/``.

    Raises
    ------
    ValueError
        If the path lies under no configured mount (the message lists the mounts).
    """
    return _locate(p)[1]


def mountName(p: str | os.PathLike[str]) -> str:
    """Return the name of the configured mount a local path lies under.

    Parameters
    ----------
    p : str or os.PathLike
        A local path.

    Returns
    -------
    str
        The mount's name (the longest matching root wins).

    Raises
    ------
    ValueError
        If the path lies under no configured mount.
    """
    return _locate(p)[0]


__all__ = ["mountName", "serverPath"]
