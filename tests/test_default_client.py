"""The module-level default client and helpers that take client=None."""

from __future__ import annotations

import os
import threading

import pytest

import hf3fs


def test_setup_and_with_client(mounts):
    a = mounts.add("a")
    b = mounts.add("b")
    (a / "only-a").touch()
    (b / "only-b").touch()
    ca = hf3fs.setupDefaultClient("a", "")
    assert hf3fs.defaultClient() is ca
    assert hf3fs.listdir("/") == ["only-a"]
    cb = hf3fs.Client("b", "")
    with hf3fs.withClient(cb):
        assert hf3fs.defaultClient() is cb
        assert hf3fs.listdir("/") == ["only-b"]
        seen = []
        t = threading.Thread(target=lambda: seen.append(hf3fs.defaultClient()))
        t.start()
        t.join()
        assert seen == [ca]  # the override is per thread
    assert hf3fs.defaultClient() is ca
    with pytest.raises(TypeError):
        with hf3fs.withClient("not a client"):
            pass


def test_default_client_from_environment(mounts, monkeypatch):
    root = mounts.add("envmount", {"s3cret": "read"})
    (root / "x").touch()
    monkeypatch.setenv("HF3FS_MOUNT", "envmount")
    monkeypatch.setenv("HF3FS_TOKEN", "s3cret")
    client = hf3fs.setupDefaultClient()
    assert client.mount_name == "envmount" and client.role == "read"
    assert hf3fs.listdir("/") == ["x"]
    f = hf3fs.BinaryFile("/x", "rb")
    assert f.read() == b""
    f.close()
    with pytest.raises(PermissionError):
        hf3fs.BinaryFile("/y", "wb")
    assert os.listdir(root) == ["x"]
