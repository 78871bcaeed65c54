from collections.abc import Iterator, Mapping, Sequence
from os import PathLike
from typing import Any

from ._hf3fs import ArrowBatch as ArrowBatch
from ._hf3fs import CacheOptions, Client, FileSystem

__all__ = ["ArrowBatch", "ParquetDataset"]

class ParquetDataset:
    """Parquet files read as batches, sharded across ranks and DataLoader workers.

    A ``torch.utils.data.IterableDataset`` when torch is importable.
    """

    def __init__(
        self,
        source: str | PathLike[str] | Sequence[str | PathLike[str]],
        *,
        columns: Sequence[str] | None = None,
        filter: Any = None,
        batch_size: int = 1024,
        shuffle: bool = False,
        seed: int = 0,
        shuffle_window: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        drop_remainder: bool = True,
        drop_last: bool = False,
        format: str = "numpy",
        prefetch_bytes: int = 268435456,
        numa: int = -1,
        cache_options: CacheOptions | None = None,
        client: Client | None = None,
        filesystem: FileSystem | None = None,
        num_threads: int | None = None,
    ) -> None: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...
    def set_epoch(self, epoch: int) -> None: ...
    @property
    def epoch(self) -> int: ...
    @property
    def rank(self) -> int: ...
    @property
    def world_size(self) -> int: ...
    @property
    def num_rows(self) -> int: ...
    @property
    def files(self) -> list[str]: ...
    @property
    def columns(self) -> list[str]: ...
    @property
    def schema(self) -> Any: ...
    def num_batches(self, *, num_workers: int = 0) -> int: ...
    def state_dict(
        self, *, batches: int | None = None, num_workers: int | None = None
    ) -> dict[str, Any]: ...
    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...
    def head(self, n: int = 5) -> Any: ...
    def info(self) -> dict[str, Any]: ...
    def _repr_html_(self) -> str: ...
    def _iter_worker(self, worker: int, num_workers: int) -> Iterator[Any]: ...
