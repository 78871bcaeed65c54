"""The dataset benchmark's interleaved mode: hf3fs and its peers in one process, pass by pass.

``hf3fs bench dataset --modes interleaved`` warms the page cache and starts ONE
child (:meth:`hf3fs.bench.dataset_readers.Child.interleaved`) that runs the
in-process readers (``hf3fs,polars`` unless ``--readers`` names others), each
once untimed, then ``--repeat`` rounds of one full pass each, the order
reversed every other round (hf3fs, polars; polars, hf3fs; ...), so every reader
meets the same machine state (CPU frequency, neighbours, page cache). Per pass
it measures wall seconds and the process's CPU seconds (``time.process_time``:
user + sys of every thread, counted until 50 ms after the pass so threads
winding down count for their reader). The table gives each reader's median
rows/s and CPU seconds a pass, its min-max rows/s over the rounds and both
against hf3fs; two targets, printed met or not, never asserted:

* hf3fs rows/s >= :data:`RATE_TARGET` x polars';
* hf3fs CPU seconds a pass <= :data:`CPU_TARGET` x polars'.

:mod:`hf3fs.bench.dataset` imports this module when it runs the mode.
"""

from __future__ import annotations

from .._progress import Bar
from .dataset import IN_PROCESS, LABELS, MODE_TEXT, fmt_rate, met, rate, ratio_verdict, run_child

RATE_TARGET = 1.5  # hf3fs rows/s, x polars'
CPU_TARGET = 0.67  # hf3fs CPU seconds a pass, x polars'
PEER = "polars"
NOT_HERE = "not an in-process reader: the interleaved mode runs " + ", ".join(IN_PROCESS)


def run_mode(spec: dict, readers: list[str]) -> tuple[dict[str, dict], dict]:
    """Run the in-process ``readers`` in one child; (each reader's result, the process's
    round orders and RSS). The others are n/a; when the child fails, every reader fails."""
    ours = [r for r in readers if r in IN_PROCESS]
    child: dict = {"status": "ok", "readers": {}}
    if ours:
        bar = Bar(total=1, desc="mode interleaved", unit="run", leave=False)
        bar.set_postfix_str(",".join(ours))
        child = run_child({**spec, "reader": "interleaved", "readers": ours})
        bar.update()
        bar.close()
    results = {}
    for reader in readers:
        if reader not in IN_PROCESS:
            results[reader] = {"status": "n/a", "error": NOT_HERE}
        elif child["status"] != "ok":
            results[reader] = dict(child)
        else:
            results[reader] = child["readers"][reader]
    process = {k: child.get(k) for k in ("orders", "base_rss_mib", "peak_rss_mib")}
    return results, process


def cpu(r: dict | None) -> float | None:
    """A reader's median CPU seconds a pass, or None when it did not run to the end."""
    return r["cpu_seconds"] if r and r.get("status") == "ok" else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def summarise(results: dict[str, dict], process: dict) -> dict:
    """Add each finished reader's min-max rows/s over the rounds (``results`` carry
    ``rows_per_s`` by now); the process's record with hf3fs against polars."""
    for r in results.values():
        if r["status"] == "ok":
            r["rows_per_s_min"] = r["rows"] / max(r["all_seconds"])
            r["rows_per_s_max"] = r["rows"] / min(r["all_seconds"])
    hf, peer = results.get("hf3fs"), results.get(PEER)
    return {
        **process,
        "rate_target": RATE_TARGET,
        "cpu_target": CPU_TARGET,
        "peer": PEER,
        f"hf3fs_vs_{PEER}": {
            "rows_per_s": ratio(rate(hf), rate(peer)),
            "cpu_per_pass": ratio(cpu(hf), cpu(peer)),
        },
    }


def render(results: dict[str, dict], summary: dict, repeat: int) -> list[str]:
    """The mode's table, hf3fs against polars, and the process's RSS and round orders."""
    out = [f"mode interleaved: {MODE_TEXT['interleaved']}; median of {repeat} round(s)"]
    header = (
        f"{'reader':<24} {'rows/s':>12} {'CPU s/pass':>10} {'rows/s min-max':>23} "
        f"{'vs hf3fs':>8} {'CPU vs hf3fs':>12} {'checksum':>8}"
    )
    out += [header, "-" * len(header)]
    hf = results.get("hf3fs")
    for reader, r in results.items():
        label = LABELS[reader]
        if r["status"] != "ok":
            out.append(f"{label:<24} {r['status']}: {r['error']}")
            continue
        span = f"{fmt_rate(r['rows_per_s_min'])}-{fmt_rate(r['rows_per_s_max'])}"
        vs, cpu_vs = ratio(rate(r), rate(hf)), ratio(cpu(r), cpu(hf))
        out.append(
            f"{label:<24} {fmt_rate(r['rows_per_s']):>12} {r['cpu_seconds']:>10.3f} {span:>23} "
            f"{f'{vs:.2f}x' if vs else '-':>8} {f'{cpu_vs:.2f}x' if cpu_vs else '-':>12} "
            f"{'OK' if r['checksum_ok'] else 'MISMATCH':>8}"
        )
        if r.get("note"):
            out.append(f"{'':<24}   note: {r['note']}")
    versus = summary[f"hf3fs_vs_{PEER}"]
    if versus["rows_per_s"] and versus["cpu_per_pass"]:
        out.append(
            f"hf3fs / {PEER} rows/s: {versus['rows_per_s']:.2f}x; "
            f"CPU per pass: {versus['cpu_per_pass']:.2f}x"
        )
    if summary.get("peak_rss_mib"):
        orders = " / ".join(", ".join(o) for o in summary["orders"][:2])
        out.append(
            f"one process: base RSS {summary['base_rss_mib']:.0f} MiB, peak "
            f"{summary['peak_rss_mib']:.0f} MiB (every reader); rounds {orders}"
            + (" ..." if len(summary["orders"]) > 2 else "")
        )
    return out


def targets(results: dict[str, dict]) -> list[tuple[str, str]]:
    """The mode's two hf3fs targets against polars (n/a unless both finished)."""
    hf, peer = results.get("hf3fs"), results.get(PEER)
    x = ratio(cpu(hf), cpu(peer))
    return [
        (
            f"interleaved: hf3fs rows/s >= {RATE_TARGET}x {PEER}",
            ratio_verdict(rate(hf), [rate(peer)], RATE_TARGET),
        ),
        (
            f"interleaved: hf3fs CPU per pass <= {CPU_TARGET}x {PEER}",
            met(x <= CPU_TARGET, f"{x:.2f}x") if x else "n/a",
        ),
    ]
