"""Charts for benchmark results and datasets (matplotlib, an optional dependency).

Each function draws on a matplotlib ``Axes`` (a new figure when ``ax`` is None)
and returns that ``Axes``, so it works the same in a notebook, a script and
``hf3fs bench --plot``.

Examples
--------
>>> from hf3fs import plot
>>> ax = plot.throughput({"hf3fs": 120_000, "pyarrow": 80_000}, unit="rows/s")
>>> ax.figure.savefig("throughput.png")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["column_sizes", "throughput", "bench_results"]

# hf3fs first and in the project colour; peers in one neutral colour, so the
# eye finds the product's bar at once.
_HF3FS_COLOR = "#1f77b4"
_PEER_COLOR = "#9e9e9e"


def _axes(ax: Any, figsize: tuple[float, float]) -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "hf3fs.plot needs matplotlib: pip install matplotlib (or hf3fs[plot])"
        ) from e
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _label(value: float) -> str:
    # Three significant figures: 1.23 GB/s and 123,456 rows/s both read well.
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def throughput(
    rates: Mapping[str, float],
    *,
    unit: str = "rows/s",
    title: str | None = None,
    ax: Any = None,
) -> Any:
    """Horizontal bars of one throughput per reader.

    Parameters
    ----------
    rates : mapping of str to float
        Reader name to its throughput; readers whose name starts with
        ``hf3fs`` are highlighted. Missing or failed readers may be left out.
    unit : str, optional
        Axis label for the values, e.g. ``"rows/s"`` or ``"GB/s"``.
    title : str, optional
        Chart title.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not rates:
        raise ValueError("throughput: no results to plot")
    names = list(rates)
    values = [float(rates[n]) for n in names]
    ax = _axes(ax, (7, 0.5 * len(names) + 1.2))
    colors = [_HF3FS_COLOR if n.startswith("hf3fs") else _PEER_COLOR for n in names]
    # The first reader on top, in the order given.
    bars = ax.barh(names[::-1], values[::-1], color=colors[::-1])
    ax.bar_label(bars, labels=[_label(v) for v in values[::-1]], padding=3, fontsize=8)
    ax.set_xlabel(unit)
    ax.margins(x=0.15)
    if title:
        ax.set_title(title)
    return ax


def column_sizes(source: Any, *, title: str | None = None, ax: Any = None) -> Any:
    """Compressed and uncompressed bytes of each column of a dataset.

    Parameters
    ----------
    source : ParquetDataset or dict
        A :class:`hf3fs.dataset.ParquetDataset` or the dict its ``info()``
        returns.
    title : str, optional
        Chart title (default: a summary of files and rows).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    info = source if isinstance(source, Mapping) else source.info()
    columns = info.get("columns")
    if not columns:
        raise ValueError("column_sizes: the dataset info has no columns")
    names = list(columns)
    compressed = [columns[n]["compressed_bytes"] / 1e6 for n in names]
    uncompressed = [columns[n]["uncompressed_bytes"] / 1e6 for n in names]
    ax = _axes(ax, (7, 0.5 * len(names) + 1.2))
    y = range(len(names))
    height = 0.4
    up = [i + height / 2 for i in y]
    down = [i - height / 2 for i in y]
    ax.barh(up, uncompressed, height, label="uncompressed", color="#c6dbef")
    ax.barh(down, compressed, height, label="compressed", color=_HF3FS_COLOR)
    labels = [n if columns[n].get("read", True) else f"{n} (not read)" for n in names]
    ax.set_yticks(list(y), labels)
    ax.invert_yaxis()
    ax.set_xlabel("MB")
    ax.legend(loc="lower right")
    rows = info.get("num_rows", info.get("rows", 0))
    ax.set_title(title or f"{len(info.get('files', []))} files, {rows:,} rows")
    return ax


def bench_results(results: Mapping[str, Any], *, path: str | None = None) -> Any:
    """Chart the JSON of ``hf3fs bench io`` or ``hf3fs bench dataset``.

    Parameters
    ----------
    results : dict
        What ``--json`` wrote: the dataset benchmark's ``{"modes": {mode:
        {reader: {...}}}}`` (rows/s per reader, one panel per mode) or the IO
        benchmark's ``{"rows": [...]}`` (GB/s per reader, one panel per
        workload and cache state).
    path : str, optional
        Save the figure there (PNG, SVG, PDF by extension).

    Returns
    -------
    matplotlib.figure.Figure
    """
    panels: list[tuple[str, dict[str, float], str]] = []
    if "modes" in results:
        for mode, readers in results["modes"].items():
            rates = {
                name: r["rows_per_s"]
                for name, r in readers.items()
                if r.get("status") == "ok" and "rows_per_s" in r
            }
            if rates:
                panels.append((f"dataset, {mode}", rates, "rows/s"))
    elif results.get("rows") and "workload" in results["rows"][0]:
        for row in results["rows"]:
            key = f"{row['workload']}, {row['cache']}"
            panel = next((p for p in panels if p[0] == key), None)
            if panel is None:
                panel = (key, {}, "GB/s")
                panels.append(panel)
            panel[1][row["reader"]] = row["gbps"]
    if not panels:
        raise ValueError(
            "bench_results: nothing to plot (expects the io or dataset benchmark's results)"
        )
    import matplotlib.pyplot as plt

    height = sum(0.45 * len(p[1]) + 1.0 for p in panels)
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, height), squeeze=False)
    for ax, (title, rates, unit) in zip(axes[:, 0], panels, strict=True):
        throughput(rates, unit=unit, title=title, ax=ax)
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=120)
    return fig
