"""What the commands print: the build's summary line, its progress bar, the stats table, and
whether to colour."""

from __future__ import annotations

import os
import sys
from typing import Any


def summary_line(
    output: str,
    counts: dict[str, Any],
    shards: int,
    packing: dict[str, Any] | None = None,
    model_max_length: int | None = None,
) -> str:
    share = counts["trained_tokens"] / counts["tokens"] if counts["tokens"] else 0.0
    what = f"{count(counts['rows_written'], 'row')} ("
    if packing:
        what = (
            f"{counts['rows_written']:,} examples packed into {packing['rows']:,} rows of up to "
            f"{packing['pack_length']:,} tokens ({packing['examples_per_row']['mean']:.1f} a row, "
            f"{packing['efficiency']:.1%} full; "
        )
    line = (
        f"wrote {what}{count(counts['tokens'], 'token')}, {share:.1%} trained) in {count(shards, 'shard')} to {output}"
    )
    if counts["truncated"]:
        line += f"; {counts['truncated']:,} truncated"
    if model_max_length is not None and counts["longest_row"] > model_max_length:
        line += (
            f"; longest row {counts['longest_row']:,} tokens ({counts['longest_row_at']}), more than the "
            f"tokenizer's model_max_length {model_max_length:,}"
        )
    if counts["rejected"]:
        reasons = ", ".join(f"{k}: {v:,}" for k, v in counts["rejected_by_reason"].items())
        line += f"; {counts['rejected']:,} rejected ({reasons}) -> {os.path.join(output, 'rejects.jsonl')}"
    return line


def splits_note(manifest: dict[str, Any]) -> str:
    """What the summary line adds for a build with splits or sources: rows per split, and per
    source its rows and what mixing left out (``; validation 19; sources: alpaca 40, chat 36 (24 left out)``)."""
    note = ""
    splits = manifest.get("splits") or {}
    if len(splits) > 1:
        note += "; " + ", ".join(f"{name} {entry['rows']:,}" for name, entry in splits.items())
    sources = manifest.get("sources") or {}
    if sources:
        parts = []
        for name, entry in sources.items():
            extra = [
                f"{entry[key]:,} {key.replace('_', ' ')}"
                for key in ("rejected", "duplicates", "left_out", "repeated")
                if entry.get(key)
            ]
            parts.append(f"{name} {entry['rows_written']:,}" + (f" ({', '.join(extra)})" if extra else ""))
        note += "; sources: " + ", ".join(parts)
    return note


def count(n: int, noun: str) -> str:
    """``1 row``, ``2 rows``, ``1,000 rows``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


class progress:
    """A rich progress bar on stderr when it is a terminal; nothing in pipes, CI or --quiet."""

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty() and not os.environ.get("CI")
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("[bold]building"),
            BarColumn(),
            TextColumn("{task.fields[records]:,} records  {task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=True,
            console=stderr_console(),
        )
        self._bar.start()
        self._task = self._bar.add_task("build", total=None, records=0, rate="")

        def update(p: Any) -> None:
            elapsed = self._bar.tasks[0].elapsed or 1e-9
            self._bar.update(
                self._task,
                completed=p.bytes_read,
                total=p.total_bytes,
                records=p.records,
                rate=f"{p.tokens / elapsed:,.0f} tok/s",
            )

        return update

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def stats_table(s: dict[str, Any]) -> str:
    def num(value: Any) -> str:
        return "?" if value is None else f"{value:,}"

    length = s["length"]
    share = s["trained_share_per_row"]
    lines = [
        ("rows", num(s["rows"])),
        ("tokens", num(s["tokens"])),
        ("trained tokens", f"{num(s['trained_tokens'])} ({s['trained_share']:.1%})"),
        ("row length", "  ".join(f"{k} {num(v)}" for k, v in length.items())),
        (
            "trained share/row",
            "  ".join(f"{k} {'?' if v is None else f'{v:.0%}'}" for k, v in share.items() if k != "mean"),
        ),
        ("truncated", num(s["truncated"])),
        (
            "rejected",
            num(s["rejected"])
            + (f" ({', '.join(f'{k}: {v:,}' for k, v in s['rejected_by_reason'].items())})" if s["rejected"] else ""),
        ),
        ("boundary merges", num(s["boundary_merges"])),
        ("shards", f"{len(s['shards'])} ({s['format']})"),
    ]
    if len(s.get("splits") or {}) > 1:
        lines.append(("splits", "  ".join(f"{k} {num(v['rows'])}" for k, v in s["splits"].items())))
    for name, source in (s.get("sources") or {}).items():
        rows = source["splits"].get("rows") or {k: v["rows"] for k, v in source["splits"].items()}
        out = [
            f"{key.replace('_', ' ')} {num(source[key])}" for key in ("rejected", "duplicates", "left_out", "repeated")
        ]
        lines.append(
            (
                f"source {name}",
                f"read {num(source['records_read'])}; rows {'  '.join(f'{k} {num(v)}' for k, v in rows.items())}; "
                f"trained tokens {num(source['trained_tokens'])}; truncated {num(source['truncated'])}; "
                + "; ".join(out),
            )
        )
    if s.get("packing"):
        p = s["packing"]
        per_row = p.get("examples_per_row") or {}
        efficiency = "?" if p["efficiency"] is None else f"{p['efficiency']:.1%}"
        lines.append(
            (
                "packing",
                f"{p['strategy']}, rows of up to {num(p['pack_length'])} tokens, {efficiency} full; "
                f"{num(p['examples'])} examples, {per_row.get('mean', 0):.2f} a row (max {per_row.get('max', '?')})",
            )
        )
    width = max(18, *(len(key) for key, _ in lines))  # a long source name widens the column
    out = [f"{key:<{width}} {value}" for key, value in lines]
    for title, key, fmt in (
        ("row length histogram (tokens: rows)", "length_histogram", "{:.0f}-{:.0f}"),
        ("trained share histogram (share: rows)", "trained_share_histogram", "{:.0%}-{:.0%}"),
    ):
        hist = s[key]
        top = max(hist["counts"], default=0) or 1
        out.append(title)
        edges = hist["edges"]
        for i, n in enumerate(hist["counts"]):
            upper = edges[i + 1] - 1 if key == "length_histogram" else edges[i + 1]
            label = fmt.format(edges[i], upper)
            out.append(f"  {label:>13} {n:>9,} {'#' * round(40 * n / top)}")
    return "\n".join(out) + "\n"
