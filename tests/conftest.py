"""Shared fixtures: every test runs against mounts in temporary directories."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import pytest
from parity import pair  # noqa: F401 - fixture: (os side, hf3fs side) for parity tests

# Isolate the whole session from the user's real config and data before hf3fs is used.
_SESSION_HOME = tempfile.mkdtemp(prefix="hf3fs-test-home-")
os.environ["HF3FS_HOME"] = os.path.join(_SESSION_HOME, "local")
os.environ.pop("HF3FS_CONFIG", None)
os.environ.pop("HF3FS_MOUNT", None)
os.environ.pop("HF3FS_TOKEN", None)


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


@pytest.fixture(scope="session", autouse=True)
def no_dev_shm_leaks():
    """iovecs are memfds: no test may leave an hf3fs entry in /dev/shm."""
    shm = "/dev/shm"
    before = set(os.listdir(shm)) if os.path.isdir(shm) else set()
    yield
    after = set(os.listdir(shm)) if os.path.isdir(shm) else set()
    leaked = sorted(name for name in after - before if "hf3fs" in name)
    assert not leaked, f"new hf3fs entries in {shm}: {leaked}"
