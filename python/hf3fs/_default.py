"""The module's default client, used by helpers called with ``client=None``."""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections.abc import Iterator

from ._hf3fs import Client

_lock = threading.Lock()
_default: Client | None = None
_default_pid: int | None = None
_override: contextvars.ContextVar[Client | None] = contextvars.ContextVar(
    "hf3fs_client_override", default=None
)


def setupDefaultClient(
    mount_name: str | None = None, token: str | None = None, *, as_super: bool = False
) -> Client:
    """Create the default client and return it.

    Parameters
    ----------
    mount_name : str, optional
        Mount to use; default ``$HF3FS_MOUNT``, else ``local``.
    token : str, optional
        Access token; default ``$HF3FS_TOKEN``, else the empty token (accepted
        by mounts that list no tokens).
    as_super : bool, default False
        Create a super client (needs a root token).

    Returns
    -------
    Client
        The new default client.
    """
    global _default, _default_pid
    if mount_name is None:
        mount_name = os.environ.get("HF3FS_MOUNT") or "local"
    if token is None:
        token = os.environ.get("HF3FS_TOKEN", "")
    client = Client(mount_name, token, as_super=as_super)
    with _lock:
        _default = client
        _default_pid = os.getpid()
    return client


def defaultClient() -> Client:
    """Return the default client, creating it from the environment on first use.

    Inside :func:`withClient` the client given there is returned instead.

    Returns
    -------
    Client
        The client helpers use when called with ``client=None``.
    """
    override = _override.get()
    if override is not None:
        return override
    with _lock:
        client = _default
    if client is None:
        client = setupDefaultClient()
    return client


@contextlib.contextmanager
def withClient(client: Client) -> Iterator[Client]:
    """Use ``client`` as the default client inside a ``with`` block.

    The override is per thread and per asyncio task (a context variable).

    Parameters
    ----------
    client : Client
        The client helpers use inside the block.

    Yields
    ------
    Client
        ``client``.
    """
    if not isinstance(client, Client):
        raise TypeError(f"withClient: expected hf3fs.Client, not {type(client).__name__}")
    token = _override.set(client)
    try:
        yield client
    finally:
        _override.reset(token)


def _client(client: Client | None) -> Client:
    """``client`` itself, or the default client when it is None."""
    if client is None:
        return defaultClient()
    if not isinstance(client, Client):
        raise TypeError(f"client must be an hf3fs.Client or None, not {type(client).__name__}")
    return client
