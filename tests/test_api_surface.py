"""The public API has the reference client's names, signatures and defaults."""

from __future__ import annotations

import inspect

import pytest

import hf3fs

# From the reference documentation of the 3FS hf3fs client. Positional-only
# parameters (pybind11's arg0, arg1...) are written as `_`; `global` is a Python
# keyword and is accepted through **options (checked separately).
REFERENCE_CLIENT = {
    "chdir": "(_, /)",
    "chmod": "(path, mode, *, dir_fd=None, follow_symlinks=True)",
    "chown": "(path, uid, gid, *, dir_fd=None, follow_symlinks=True)",
    "close": "(_, /)",
    "creat": "(path, mode=438, *, dir_fd=None, excl=False)",
    "fstat": "(_, /)",
    "ftruncate": "(_, _, /)",
    "iovalloc": "(bytes, *, numa=-1, block_size=0, **options)",
    "iovfree": "(_, /)",
    "lseek": "(fd, pos, how, *, readahead=None)",
    "mkdir": "(path, mode=511, *, dir_fd=None, recursive=False)",
    "open": "(path, flags, mode=438, *, dir_fd=None)",
    "openIovecHandle": "(_, /)",
    "openWithFileHandles": "(_, /)",
    "opendir": "(name, *, dir_fd=None)",
    "preadv": "(_, /)",
    "pwritev": "(_, /)",
    "read": "(fd, buf, *, readahead=None)",
    "readdir": "(_, /)",
    "realpath": "(path, *, dir_fd=None, absolute=False)",
    "remove": "(path, *, dir_fd=None, recursive=False)",
    "rename": "(src, dst, *, src_dir_fd=None, dst_dir_fd=None)",
    "rewinddir": "(_, /)",
    "rmdir": "(path, *, dir_fd=None, recursive=False)",
    "sharedFileHandles": "(_, /)",
    "sharedIovecHandle": "(_, /)",
    "stat": "(path, *, dir_fd=None, follow_symlinks=True)",
    "utime": "(path, *, times=None, ns=None, dir_fd=None, follow_symlinks=True)",
    "write": "(fd, buf, *, flush=False)",
}

REFERENCE_HELPERS = {
    "DirEntry": "(parentPath, name, etype, parentFd, client=None)",
    "BinaryFile": "(path, mode, dir_fd=None, client=None, ignore_cache=False)",
    "listdir": "(path='.', client=None)",
    "scandir": "(path='.', dir_fd=None, client=None)",
    "walk": "(top, topdown=True, onerror=None, followlinks=False, dir_fd=None, client=None)",
}


def _shape(sig: inspect.Signature) -> list[tuple[str, object, object]]:
    params = [p for p in sig.parameters.values() if p.name != "self"]
    return [("_" if p.kind is p.POSITIONAL_ONLY else p.name, p.kind, p.default) for p in params]


def _reference(text: str) -> inspect.Signature:
    namespace: dict[str, object] = {}
    exec(f"def f{text}: pass", namespace)  # noqa: S102 - parses trusted literals above
    return inspect.signature(namespace["f"])  # type: ignore[arg-type]


def test_client_has_every_reference_method():
    assert len(REFERENCE_CLIENT) == 29
    missing = [name for name in REFERENCE_CLIENT if not callable(getattr(hf3fs.Client, name, None))]
    assert not missing


@pytest.mark.parametrize("name", sorted(REFERENCE_CLIENT))
def test_client_signature_matches_reference(name):
    ours = _shape(inspect.signature(getattr(hf3fs.Client, name)))
    ref = _reference(REFERENCE_CLIENT[name].replace("(_, _, /)", "(_a, _b, /)"))
    assert ours == _shape(ref)


@pytest.mark.parametrize("name", sorted(REFERENCE_HELPERS))
def test_helper_signature_matches_reference(name):
    ours = [
        p
        for p in _shape(inspect.signature(getattr(hf3fs, name)))
        if p[1] is not inspect.Parameter.KEYWORD_ONLY
    ]
    assert ours == _shape(_reference(REFERENCE_HELPERS[name]))


def test_constructor_and_global_keyword(mount):
    c, _ = mount
    sig = inspect.signature(hf3fs.Client)
    # The reference's parameters, then only keyword-only tuning arguments.
    reference = _shape(_reference("(mount_name, token, *, as_super=False)"))
    ours = _shape(sig)
    assert ours[: len(reference)] == reference
    assert [p[0] for p in ours[len(reference) :]] == ["io_engine", "io_threads", "io_queue_depth"]
    assert all(p[1] is inspect.Parameter.KEYWORD_ONLY for p in ours[len(reference) :])
    iov = c.iovalloc(4096, numa=-1, block_size=0, **{"global": True})
    assert isinstance(c.sharedIovecHandle(iov), str)


def test_public_names_have_docstrings():
    for name in hf3fs.__all__:
        obj = getattr(hf3fs, name)
        if isinstance(obj, str):
            continue
        assert (obj.__doc__ or "").strip(), name
    for name in REFERENCE_CLIENT:
        assert (getattr(hf3fs.Client, name).__doc__ or "").strip(), name
