"""Shared fixtures: every test runs against mounts in temporary directories."""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import s3_server
from dataset_helpers import (
    DIST_ENV,
    LAYOUT,
    LAYOUT_512,
    LAYOUT_600,
    write_dataset,
    write_two_files,
)
from parity import pair  # noqa: F401 - fixture: (os side, hf3fs side) for parity tests

# Isolate the whole session from the user's real config and data before hf3fs is used.
_SESSION_HOME = tempfile.mkdtemp(prefix="hf3fs-test-home-")
os.environ["HF3FS_HOME"] = os.path.join(_SESSION_HOME, "local")
os.environ.pop("HF3FS_CONFIG", None)
os.environ.pop("HF3FS_MOUNT", None)
os.environ.pop("HF3FS_TOKEN", None)
# Remote footers are cached on disk between opens: in the session's directory, not ~/.cache.
os.environ["HF3FS_FOOTER_CACHE"] = os.path.join(_SESSION_HOME, "footers")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # The session's home (the embedded 'local' mount's data) goes with the session.
    import shutil

    shutil.rmtree(_SESSION_HOME, ignore_errors=True)


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class MountFactory:
    """Writes an hf3fs config with mounts under a temp dir and points HF3FS_CONFIG at it."""

    def __init__(self, base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.base = base
        self.config = base / "hf3fs.toml"
        self._monkeypatch = monkeypatch
        self._sections: list[str] = []

    def add(self, name: str, tokens: dict[str, str] | None = None) -> Path:
        """Add mount ``name`` (tokens: token -> role) and return its root."""
        root = self.base / f"mount-{name}"
        root.mkdir()
        lines = [f"[mounts.{name}]", f'root = "{root}"']
        for token, role in (tokens or {}).items():
            lines += [
                f"[[mounts.{name}.tokens]]",
                f'sha256 = "{sha256(token)}"',
                f'role = "{role}"',
            ]
        self._sections.append("\n".join(lines))
        self.config.write_text("\n\n".join(self._sections) + "\n")
        self._monkeypatch.setenv("HF3FS_CONFIG", str(self.config))
        return root


@pytest.fixture
def mounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MountFactory:
    return MountFactory(tmp_path, monkeypatch)


@pytest.fixture
def mount(mounts: MountFactory):
    """A client on a fresh mount ``t`` open to any token; returns (client, root)."""
    import hf3fs

    root = mounts.add("t")
    return hf3fs.Client("t", ""), root


@pytest.fixture
def no_dist_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clear the variables a dataset would take its rank and world size from."""
    for name in DIST_ENV:
        monkeypatch.delenv(name, raising=False)


# ---- the embedded ``local`` mount through fsspec ----------------------------------------------


@pytest.fixture
def fs():
    """An ``Hf3fsFileSystem`` of its own (no fsspec instance cache)."""
    from hf3fs.fs import Hf3fsFileSystem

    return Hf3fsFileSystem(skip_instance_cache=True)


@pytest.fixture
def base(fs, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh directory ``local/<test module>-<uuid>`` on the embedded ``local`` mount (an
    fsspec path), removed afterwards."""
    path = f"local/{request.module.__name__}-{uuid.uuid4().hex}"
    fs.mkdir(path)
    yield path
    if fs.exists(path):
        fs.rm(path, recursive=True)


# ---- Parquet datasets (dataset_helpers' writers); tests only read them ------------------------


@pytest.fixture(scope="module")
def data_415(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``LAYOUT`` dataset (415 rows numbered by ``row_id``, uneven row groups)."""
    directory = tmp_path_factory.mktemp("data415")
    write_dataset(directory, LAYOUT)
    return directory


@pytest.fixture(scope="module")
def data_512(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``LAYOUT_512`` dataset: 1, 2 or 4 workers get whole 16-row batches."""
    directory = tmp_path_factory.mktemp("data512")
    write_dataset(directory, LAYOUT_512)
    return directory


@pytest.fixture(scope="module")
def data_600(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``LAYOUT_600`` dataset: 600 rows divide among 2, 3, 4, 5, 6, 8, 10 or 12 ranks."""
    directory = tmp_path_factory.mktemp("data600")
    write_dataset(directory, LAYOUT_600)
    return directory


@pytest.fixture
def parquet_dir(tmp_path: Path) -> Path:
    """``write_two_files``: a.parquet and b.parquet (codecs, row groups and page indexes
    differ; ``TWO_FILES`` says what each holds) in a fresh directory."""
    directory = tmp_path / "ds"
    write_two_files(directory)
    return directory


@pytest.fixture(scope="session", autouse=True)
def no_dev_shm_leaks():
    """iovecs are memfds: no test may leave an hf3fs entry in /dev/shm."""
    shm = "/dev/shm"
    before = set(os.listdir(shm)) if os.path.isdir(shm) else set()
    yield
    after = set(os.listdir(shm)) if os.path.isdir(shm) else set()
    leaked = sorted(name for name in after - before if "hf3fs" in name)
    assert not leaked, f"new hf3fs entries in {shm}: {leaked}"


# ---- S3 (moto's server on 127.0.0.1) ----------------------------------------------------------

S3_KEY_ID = "testing"
S3_SECRET = "testing"
S3_REGION = "us-east-1"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of an S3 server on 127.0.0.1: ``$HF3FS_TEST_S3_ENDPOINT`` (set by
    ``tests/s3_server.py -- ...``), else one started for the session."""
    url = os.environ.get(s3_server.ENDPOINT_VAR)
    if url:
        yield url.rstrip("/")
        return
    with s3_server.running() as url:
        yield url


@functools.lru_cache
def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client on ``endpoint`` with the test credentials (no AWS_* environment,
    no config files, no retries: nothing but ``endpoint`` is contacted)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=S3_KEY_ID,
        aws_secret_access_key=S3_SECRET,
        region_name=S3_REGION,
    )
    return session.client(
        "s3",
        endpoint_url=endpoint,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        ),
    )


class S3Bucket:
    """A fresh bucket on the test server and how to reach it.

    ``options`` are the ``storage_options`` for hf3fs (object_store's keys); ``env`` the
    same settings as ``AWS_*`` variables for a subprocess.
    """

    def __init__(self, endpoint: str, bucket: str, client: Any) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.client = client

    @property
    def options(self) -> dict[str, str]:
        return {
            "aws_endpoint": self.endpoint,
            "aws_access_key_id": S3_KEY_ID,
            "aws_secret_access_key": S3_SECRET,
            "aws_region": S3_REGION,
            "aws_allow_http": "true",
        }

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": S3_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "AWS_REGION": S3_REGION,
            "AWS_ALLOW_HTTP": "true",
        }

    def url(self, key: str = "") -> str:
        """``s3://<bucket>/<key>``."""
        return f"s3://{self.bucket}/{key}"

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def keys(self, prefix: str = "") -> list[str]:
        """Every key under ``prefix``, sorted."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def upload_dir(self, directory: str | Path, prefix: str = "") -> list[str]:
        """Upload every file under ``directory`` to ``<prefix>/<relative path>``; returns
        the keys, sorted."""
        directory = Path(directory)
        prefix = prefix.strip("/")
        keys = []
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            rel = path.relative_to(directory).as_posix()
            key = f"{prefix}/{rel}" if prefix else rel
            self.put(key, path.read_bytes())
            keys.append(key)
        return sorted(keys)

    def empty(self) -> None:
        """Delete every object in the bucket."""
        keys = self.keys()
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": k} for k in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": chunk})


@pytest.fixture
def s3_buckets(s3_endpoint: str) -> Iterator[Any]:
    """A factory: ``s3_buckets(endpoint=None)`` creates a fresh, empty bucket on
    ``endpoint`` (default: the session's server) and returns its :class:`S3Bucket`.
    Buckets are deleted afterwards, except on servers that are gone by then."""
    made: list[S3Bucket] = []

    def new(endpoint: str | None = None) -> S3Bucket:
        endpoint = endpoint or s3_endpoint
        name = f"hf3fs-test-{uuid.uuid4().hex[:16]}"  # 3-63 lowercase characters
        client = s3_client(endpoint)
        client.create_bucket(Bucket=name)
        bucket = S3Bucket(endpoint, name, client)
        made.append(bucket)
        return bucket

    yield new
    for bucket in made:
        if bucket.endpoint != s3_endpoint:
            continue  # a test's own server: it goes with its data
        bucket.empty()
        bucket.client.delete_bucket(Bucket=bucket.bucket)


@pytest.fixture
def s3(s3_buckets: Any) -> S3Bucket:
    """A fresh, empty bucket on the session's S3 server (deleted afterwards)."""
    return s3_buckets()
