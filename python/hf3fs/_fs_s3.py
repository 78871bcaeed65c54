"""fsspec over object stores: :class:`S3FileSystem` for ``s3://<bucket>/<key>`` and
:func:`register_s3`, re-exported by :mod:`hf3fs.fs`."""

from __future__ import annotations

from typing import Any

from fsspec.spec import AbstractFileSystem

from ._hf3fs import FileSystem
from .fs import Hf3fsFileSystem

# fsspec's own constructor options, kept apart from a store's settings.
_FSSPEC_OPTIONS = frozenset(
    {"skip_instance_cache", "use_listings_cache", "listings_expiry_time", "max_paths"}
)

# s3fs's spelling of the common settings, so code written for s3fs keeps working.
_S3FS_ALIASES = {
    "key": "aws_access_key_id",
    "secret": "aws_secret_access_key",
    "token": "aws_session_token",
    "endpoint_url": "aws_endpoint",
    "region_name": "aws_region",
}


def _store_options(options: dict[str, Any]) -> dict[str, Any]:
    """object_store settings from fsspec-style keyword arguments."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if value is None:
            continue
        if key == "anon":
            if value:
                out["aws_skip_signature"] = True
        elif key == "client_kwargs":
            out.update(_store_options(dict(value)))
        else:
            out[_S3FS_ALIASES.get(key, key)] = value
    return out


class S3FileSystem(Hf3fsFileSystem):
    """fsspec file system for ``s3://<bucket>/<key>`` (S3 and S3-compatible
    stores) through hf3fs's object store backend.

    Paths are ``<bucket>/<key>``. Reads are ranged GETs through the process's
    IO scheduler (``cat_ranges`` keeps every range of a file in flight at
    once); writes are multipart uploads, and an object appears whole when
    its file is closed. Directories are implied by keys, as in s3fs.

    Parameters
    ----------
    **storage_options
        object_store's S3 settings (``aws_endpoint``, ``aws_access_key_id``,
        ``aws_secret_access_key``, ``aws_region``, ``aws_allow_http``,
        ``aws_skip_signature``, ``timeout``, ``max_retries``,
        ``retry_timeout``, ...), over the ``AWS_*`` environment. s3fs's
        ``key``, ``secret``, ``token``, ``endpoint_url``, ``anon`` and
        ``client_kwargs`` are understood too, and fsspec's own options
        (``skip_instance_cache``, ...) go to fsspec.

    Examples
    --------
    >>> import pandas as pd
    >>> fs = S3FileSystem(aws_endpoint="http://127.0.0.1:9000")  # doctest: +SKIP
    >>> pd.read_parquet("s3://corpus/part-0.parquet", filesystem=fs)  # doctest: +SKIP
    """

    protocol = ("s3", "s3a")
    _scheme = "s3"

    def __init__(self, **storage_options: Any) -> None:
        fsspec_options = {k: v for k, v in storage_options.items() if k in _FSSPEC_OPTIONS}
        store = {k: v for k, v in storage_options.items() if k not in _FSSPEC_OPTIONS}
        super().__init__(auto_mkdir=False, **fsspec_options)
        # fsspec's instance cache and pickling key on these.
        self.storage_args = ()
        self.storage_options = dict(storage_options)
        self._store_options = _store_options(store)

    def _connect(self, mount: str) -> FileSystem:
        fs, _ = FileSystem.from_uri(f"s3://{mount}/", storage_options=self._store_options)
        return fs

    def _mount_names(self) -> list[str]:
        raise NotImplementedError("listing buckets is not supported; name one: s3://<bucket>/")

    def _make_parent(self, stripped: str) -> None:
        # Keys imply their directories; there is nothing to create.
        return

    def mv(
        self,
        path1: Any,
        path2: Any,
        recursive: bool = False,
        maxdepth: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Move objects: a file with one server-side copy and a delete; a
        directory (``recursive``) object by object, as s3fs does."""
        if isinstance(path1, str) and self.isdir(path1):
            AbstractFileSystem.mv(self, path1, path2, recursive=True, maxdepth=maxdepth, **kwargs)
            return
        super().mv(path1, path2, recursive=recursive, maxdepth=maxdepth, **kwargs)


def register_s3() -> None:
    """Make fsspec open every ``s3://`` (and ``s3a://``) URL with
    :class:`S3FileSystem`, replacing s3fs, so ``pandas.read_parquet``,
    polars and HF ``datasets`` read object stores through hf3fs.

    Examples
    --------
    >>> import hf3fs.fs
    >>> hf3fs.fs.register_s3()
    >>> import pandas as pd
    >>> pd.read_parquet("s3://corpus/part-0.parquet")  # doctest: +SKIP
    """
    from fsspec import register_implementation

    for protocol in S3FileSystem.protocol:
        register_implementation(protocol, S3FileSystem, clobber=True)
