"""The exceptions a dataset raises for its files' data (``hf3fs.dataset`` exports them).

Each subclasses ``ValueError``, which every one of these cases raised before they had classes of
their own, so an existing ``except ValueError`` still catches them. IO errors stay the ``OSError``
subclass of their errno, and a bad argument stays a plain ``ValueError``: a training script can
skip a corrupt file without also hiding its own mistakes.

The native module raises them (``crates/hf3fs-py/src/error.rs``). Every field is a keyword with a
default, so ``type(e)(str(e))`` works (torch's DataLoader re-raises a worker's exception that way)
and pickling keeps the fields.
"""

from __future__ import annotations

__all__ = ["CorruptFileError", "DatasetError", "SchemaMismatchError", "UnsupportedTypeError"]


class DatasetError(ValueError):
    """A dataset's files cannot be read as one dataset.

    The base of :class:`CorruptFileError`, :class:`SchemaMismatchError` and
    :class:`UnsupportedTypeError`; a ``ValueError``.
    """


class CorruptFileError(DatasetError):
    """A file that is not readable Parquet: a damaged or truncated footer, a page that does not
    decode, or data that ends before its metadata says.

    Attributes
    ----------
    path : str or None
        The file, as the dataset names it (the source's URI style).
    row_group : int or None
        The row group whose data does not decode; None for a footer.
    column : str or None
        The column that does not decode, when one was found.
    offset : int or None
        Where in the file: the failing column chunk's (or row group's) first byte, the footer's
        (the file's last 8 bytes), or where the data ends.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        row_group: int | None = None,
        column: str | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.row_group = row_group
        self.column = column
        self.offset = offset


class SchemaMismatchError(DatasetError):
    """A file whose columns or column types differ from the first file's.

    Attributes
    ----------
    path : str or None
        The file that differs.
    first_path : str or None
        The dataset's first file, whose schema is the dataset's.
    column : str or None
        The first column that differs (in name or type).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        first_path: str | None = None,
        column: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.first_path = first_path
        self.column = column


class UnsupportedTypeError(DatasetError):
    """A column whose type the asked-for use cannot take: a ``Pack`` column that is not a list of
    integers, or a type with no numpy form under ``format="numpy"``.

    Attributes
    ----------
    column : str or None
        The column.
    data_type : str or None
        Its Arrow type, as Arrow writes it.
    """

    def __init__(
        self, message: str, *, column: str | None = None, data_type: str | None = None
    ) -> None:
        super().__init__(message)
        self.column = column
        self.data_type = data_type
