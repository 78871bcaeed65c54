"""fsspec's abstract test suite and our own behaviour tests for ``Hf3fsFileSystem``."""

from __future__ import annotations

import uuid

import fsspec
import pytest
from fsspec.tests.abstract import AbstractFixtures
from fsspec.tests.abstract.copy import AbstractCopyTests
from fsspec.tests.abstract.get import AbstractGetTests
from fsspec.tests.abstract.open import AbstractOpenTests
from fsspec.tests.abstract.pipe import AbstractPipeTests
from fsspec.tests.abstract.put import AbstractPutTests

from hf3fs.fs import Hf3fsFileSystem


class Hf3fsFixtures(AbstractFixtures):
    @pytest.fixture
    def fs(self):
        return Hf3fsFileSystem(skip_instance_cache=True)

    @pytest.fixture
    def fs_join(self):
        return lambda *parts: "/".join(parts)

    @pytest.fixture
    def fs_path(self, fs):
        path = f"local/abstract-{uuid.uuid4().hex}"
        fs.mkdir(path)
        yield path
        if fs.exists(path):
            fs.rm(path, recursive=True)


class TestHf3fsCopy(AbstractCopyTests, Hf3fsFixtures):
    pass


class TestHf3fsGet(AbstractGetTests, Hf3fsFixtures):
    pass


class TestHf3fsPut(AbstractPutTests, Hf3fsFixtures):
    pass


class TestHf3fsOpen(AbstractOpenTests, Hf3fsFixtures):
    pass


class TestHf3fsPipe(AbstractPipeTests, Hf3fsFixtures):
    pass
