"""The dataset benchmark's latency summary: what each reader keeps of its warm throughput.

``hf3fs bench dataset --latency-ms 2,20,100`` runs the latency mode once per
value (modes ``latency-2ms``...). After every mode, :func:`summarise` sets
each reader's rows/s at each latency against its own warm rows/s from the
same run (``kept``; n/a without the warm mode in ``--modes``), and judges two
targets for hf3fs at each latency, printed met or not, never asserted:

* it keeps >= :data:`KEEP_TARGET` of its own warm rows/s;
* it loses a smaller fraction of them than pyarrow.dataset through the same
  latency (keeps more).

:mod:`hf3fs.bench.dataset` imports this module when it has run its modes.
"""

from __future__ import annotations

from .dataset import LABELS, fmt_rate, met, rate, ratio_verdict

KEEP_TARGET = 0.9  # of hf3fs's own warm rows/s, at each latency
PEER = "pyarrow-dataset"  # hf3fs must lose a smaller fraction than this reader


def ms_label(ms: float) -> str:
    return f"{ms:g} ms"


def kept(latency_rate: float | None, warm_rate: float | None) -> float | None:
    """The fraction of its warm rows/s a reader keeps under latency (None when either is)."""
    return latency_rate / warm_rate if latency_rate and warm_rate else None


def latency_targets(readers: dict[str, dict]) -> dict[str, str]:
    """The two hf3fs targets at one latency, from :func:`summarise`'s per-reader rows."""
    hf = readers.get("hf3fs", {})
    peer = readers.get(PEER, {})
    if hf.get("kept") and peer.get("kept"):
        detail = f"hf3fs keeps {hf['kept']:.2f}x, {LABELS[PEER]} {peer['kept']:.2f}x"
        loses = met(hf["kept"] > peer["kept"], detail)
    else:
        loses = "n/a"
    return {
        f"hf3fs keeps >= {KEEP_TARGET}x its warm rows/s": ratio_verdict(
            hf.get("rows_per_s"), [hf.get("warm_rows_per_s")], KEEP_TARGET
        ),
        f"hf3fs loses less than {LABELS[PEER]}": loses,
    }


def summarise(
    all_results: dict[str, dict[str, dict]], runs: list[tuple[str, str, float]], readers: list[str]
) -> dict:
    """Per latency mode: each reader's status, rows/s, warm rows/s and ``kept``, and the
    targets. ``runs`` is :func:`hf3fs.bench.dataset.mode_runs`' (key, mode, ms) list."""
    warm = all_results.get("warm")
    latencies = []
    for key, mode, ms in runs:
        if mode != "latency":
            continue
        rows = {}
        for reader in readers:
            r = all_results[key].get(reader) or {"status": "missing"}
            now = rate(r)
            base = rate(warm.get(reader)) if warm is not None else None
            rows[reader] = {
                "status": r["status"],
                "rows_per_s": now,
                "warm_rows_per_s": base,
                "kept": kept(now, base),
            }
        latencies.append(
            {"latency_ms": ms, "mode": key, "readers": rows, "targets": latency_targets(rows)}
        )
    return {
        "warm_mode": warm is not None,
        "keep_target": KEEP_TARGET,
        "peer": PEER,
        "latencies": latencies,
    }


def render_summary(summary: dict) -> list[str]:
    """The summary table (a reader a row, a rows/s and kept column pair per latency) and
    the targets at each latency."""
    latencies = summary["latencies"]
    title = "latency summary: rows/s at each latency; kept = that / the reader's warm rows/s"
    out = [title + " (this run)"]
    if not summary["warm_mode"]:
        out.append("(kept: n/a, the warm mode is not in --modes)")
    groups = "".join(f"{ms_label(lat['latency_ms']):^20}" for lat in latencies)
    out.append((f"{'':<24} {'warm':>12}" + groups).rstrip())
    header = f"{'reader':<24} {'rows/s':>12}" + f" {'rows/s':>12} {'kept':>6}" * len(latencies)
    out += [header, "-" * len(header)]
    readers = list(latencies[0]["readers"]) if latencies else []
    for reader in readers:
        first = latencies[0]["readers"][reader]
        warm = first["warm_rows_per_s"]
        line = f"{LABELS[reader]:<24} {fmt_rate(warm) if warm else 'n/a':>12}"
        for lat in latencies:
            row = lat["readers"][reader]
            now = fmt_rate(row["rows_per_s"]) if row["rows_per_s"] else row["status"]
            keep = f"{row['kept']:.2f}x" if row["kept"] else "n/a"
            line += f" {now[:12]:>12} {keep:>6}"
        out.append(line)
    out.append("latency targets")
    for lat in latencies:
        for what, verdict in lat["targets"].items():
            out.append(f"  {ms_label(lat['latency_ms']) + ': ' + what:<52} {verdict}")
    return out
