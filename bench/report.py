"""Markdown tables, the JSON dump and the optional plot."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.runner import Result


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)  # rows that can be plotted as ratios


def fmt_time(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return ""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_spread(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return ""
    return f"{fmt_time(low)} - {fmt_time(high)}"


def fmt_ratio(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.2f}x"


def fmt_number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return ""
    return f"{value:.3g}"


def best_peer(results: Sequence[Result]) -> Result | None:
    """The fastest peer that ran correctly (tracegrad is never a peer)."""
    peers = [r for r in results if r.is_peer and r.status == "ok" and r.median_s is not None]
    return min(peers, key=lambda r: r.median_s or math.inf, default=None)


def status_text(result: Result) -> str:
    return f"{result.status}: {result.reason}" if result.reason else result.status


def timing_table(
    title: str,
    results: Sequence[Result],
    metric_names: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> Table:
    """The standard table: median, spread, ratio to the best peer, limit metrics, compile."""
    header = [
        "implementation",
        "median",
        "spread (min - max)",
        "vs best peer",
        *metric_names,
        "compile",
    ]
    best = best_peer(results)
    rows = []
    for r in results:
        name = f"{r.impl} ({r.note})" if r.note else r.impl
        if r.status != "ok" or r.median_s is None:
            rows.append([name, status_text(r)] + [""] * (len(header) - 2))
            continue
        ratio = r.median_s / best.median_s if best and best.median_s else None
        metrics = [fmt_number(r.metrics.get(m)) for m in metric_names]
        rows.append(
            [
                name,
                fmt_time(r.median_s),
                fmt_spread(r.low_s, r.high_s),
                fmt_ratio(ratio),
                *metrics,
                fmt_time(r.compile_s),
            ]
        )
    all_notes = list(notes)
    if best is not None:
        all_notes.append(f"best peer: {best.impl}")
    return Table(title, header, rows, all_notes, list(results))


def render(table: Table) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "/") for c in cells) + " |"

    out = [f"### {table.title}", "", line(table.header), line(["---"] * len(table.header))]
    out += [line(row) for row in table.rows]
    out += [""] + [f"- {note}" for note in table.notes] if table.notes else []
    return "\n".join(out) + "\n"


def write_json(
    path: Path, meta: dict[str, Any], tables: Sequence[Table], results: Sequence[Result]
) -> None:
    payload = {
        "meta": meta,
        "results": [asdict(r) for r in results],
        "tables": [
            {"title": t.title, "header": t.header, "rows": t.rows, "notes": t.notes} for t in tables
        ],
    }
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n", encoding="utf-8")


def write_plot(path: Path, tables: Sequence[Table]) -> str | None:
    """Bar charts of time / best peer time per table; returns why not, if it cannot plot."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, NullFormatter
    except ImportError:
        return "matplotlib is not installed"
    panels = []
    for table in tables:
        best = best_peer(table.results)
        ok = [r for r in table.results if r.status == "ok" and r.median_s is not None]
        if best is None or best.median_s is None or len(ok) < 2 or ok[0].workload == "bandwidth":
            continue
        panels.append((table.title, [(r.impl, (r.median_s or 0.0) / best.median_s) for r in ok]))
    if not panels:
        return "no table has timed rows"
    cols = 3 if len(panels) > 4 else min(len(panels), 2)
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.0 * cols, 0.45 * 8 * rows + 1.0), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, (title, bars) in zip(axes.flat, panels, strict=False):
        names = [name for name, _ in bars]
        ratios = [ratio for _, ratio in bars]
        colors = ["tab:red" if name.startswith("tracegrad") else "tab:blue" for name in names]
        ax.barh(names, ratios, color=colors)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("time / best peer (lower is better)", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
