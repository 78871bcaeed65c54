"""Progress bars: tqdm's widget in Jupyter, a bar on a terminal, silence otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()  # type: ignore[attr-defined]
    except Exception:
        return False
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


def wanted(enabled: bool | None) -> bool:
    """Whether to show a bar: ``enabled`` when given, else when a person is watching
    (stderr is a terminal, or a Jupyter kernel renders widgets)."""
    if enabled is not None:
        return bool(enabled)
    stream = sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)()) or _in_notebook()


class Bar:
    """A tqdm bar, or nothing when not wanted or tqdm is not installed.

    ``update(n)``, ``set_postfix_str(s)`` and ``close()`` are no-ops then, so
    callers need no conditionals.
    """

    def __init__(
        self,
        *,
        total: float | None = None,
        desc: str | None = None,
        unit: str = "it",
        unit_scale: bool = False,
        leave: bool = True,
        enabled: bool | None = None,
    ) -> None:
        self._bar: Any = None
        if not wanted(enabled):
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            if enabled:
                raise ImportError("progress bars need tqdm: pip install tqdm") from None
            return
        self._bar = tqdm(
            total=total,
            desc=desc,
            unit=unit,
            unit_scale=unit_scale,
            dynamic_ncols=True,
            leave=leave,
        )

    def update(self, n: float = 1) -> None:
        """Advance the bar by ``n``."""
        if self._bar is not None:
            self._bar.update(n)

    def advance_to(self, done: float, total: float) -> None:
        """Show ``done`` of ``total`` (for callers that report counts, not steps).

        Reports from several threads may arrive out of order: the bar only moves forward.
        """
        if self._bar is not None:
            self._bar.total = total
            if done > self._bar.n:
                self._bar.update(done - self._bar.n)

    @property
    def active(self) -> bool:
        """Whether a bar is being drawn."""
        return self._bar is not None

    def set_postfix_str(self, text: str) -> None:
        """Show ``text`` after the bar."""
        if self._bar is not None:
            self._bar.set_postfix_str(text)

    def close(self) -> None:
        """Finish the bar (idempotent)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iterate(
    items: Iterable[T],
    *,
    total: float | None = None,
    desc: str | None = None,
    unit: str = "it",
    enabled: bool | None = None,
) -> Iterator[T]:
    """Yield ``items`` while a bar counts them."""
    with Bar(total=total, desc=desc, unit=unit, enabled=enabled) as bar:
        for item in items:
            yield item
            bar.update(1)
