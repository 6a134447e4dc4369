"""The `sftmask` command line: wiring, rendering and exit codes only; the work is in the library."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sftmask import __version__
from sftmask.errors import SftmaskError

app = typer.Typer(
    help="Tokenize prompt/response data and build token-exact training labels (-100 where masked).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_CODES = {
    0: "success",
    1: "unexpected internal error (a bug: please report it with the traceback)",
    2: "invalid options or config file",
    3: "bad input data (malformed record, missing field, unreadable or empty input)",
    4: "tokenizer cannot be loaded or cannot do what was asked",
    5: "output directory cannot be written (exists and not empty without --overwrite, permissions)",
    130: "interrupted",
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sftmask {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """sftmask: SFT dataset preprocessing with exact -100 masks."""


def _fail(exc: SftmaskError) -> typer.Exit:
    message = " ".join(str(exc).splitlines())
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(exc.exit_code)


@app.command()
def build(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Input files or globs (.jsonl/.json/.csv/.tsv, optionally .gz/.zst); '-' reads JSONL from stdin.",
            show_default=False,
        ),
    ] = None,
    tokenizer: Annotated[
        str | None,
        typer.Option("--tokenizer", "-t", help="Hugging Face Hub name or local tokenizer folder.", show_default=False),
    ] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Output directory.", show_default=False)] = None,
    input_format: Annotated[
        str | None, typer.Option(help="jsonl, csv or tsv; overrides the file suffix.", show_default=False)
    ] = None,
    prompt_field: Annotated[
        str | None, typer.Option(help="Field with the prompt (masked).  [default: prompt]", show_default=False)
    ] = None,
    response_field: Annotated[
        str | None, typer.Option(help="Field with the response (trained).  [default: response]", show_default=False)
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            help="Masking strategy: response-only, all or first-subtoken.  [default: response-only]",
            show_default=False,
        ),
    ] = None,
    data_kind: Annotated[
        str | None,
        typer.Option(
            help="Kind of record: prompt-response or words (word-labelled NER/POS data).  "
            "[default: the strategy's first; words when a words option is given]",
            show_default=False,
        ),
    ] = None,
    tokens_field: Annotated[
        str | None,
        typer.Option(help="Words data: field with the list of words.  [default: tokens]", show_default=False),
    ] = None,
    tags_field: Annotated[
        str | None,
        typer.Option(
            help="Words data: field with the parallel list of tags (ints or strings).  [default: ner_tags]",
            show_default=False,
        ),
    ] = None,
    label_names: Annotated[
        str | None,
        typer.Option(
            help="Words data: label names in id order: a file with one per line, or B-PER,I-PER,...",
            show_default=False,
        ),
    ] = None,
    label_all_subtokens: Annotated[
        bool | None,
        typer.Option(
            "--label-all-subtokens",
            help="Words data: label continuation sub-tokens too (B-X becomes I-X).",
            show_default=False,
        ),
    ] = None,
    max_length: Annotated[int | None, typer.Option(help="Maximum tokens per row.", show_default=False)] = None,
    truncation: Annotated[
        str | None,
        typer.Option(
            help="prompt (drop prompt from the left, keep BOS), response (cut the end) or drop (reject).  [default: prompt]",
            show_default=False,
        ),
    ] = None,
    add_eos: Annotated[
        bool | None,
        typer.Option(
            "--add-eos/--no-add-eos",
            help="Append the tokenizer's EOS to the response and train on it.  [default: add-eos]",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format", help="parquet or arrow (Dataset.save_to_disk layout).  [default: parquet]", show_default=False
        ),
    ] = None,
    rows_per_shard: Annotated[
        int | None, typer.Option(help="Rows per output shard.  [default: 100000]", show_default=False)
    ] = None,
    keep_columns: Annotated[
        str | None,
        typer.Option(help="Comma-separated input fields to pass through, e.g. id,source.", show_default=False),
    ] = None,
    on_error: Annotated[
        str | None,
        typer.Option(
            help="fail: stop at the first bad record; skip: write it to rejects.jsonl and go on.  [default: fail]",
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[
        bool | None, typer.Option("--overwrite", help="Replace a non-empty output directory.", show_default=False)
    ] = None,
    trust_remote_code: Annotated[
        bool | None,
        typer.Option("--trust-remote-code", help="Allow tokenizer code from the Hub repository.", show_default=False),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Records per tokenization batch.  [default: 1000]", show_default=False)
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="YAML or TOML file with the same keys as these options; flags win.",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or log messages.")] = False,
) -> None:
    """Tokenize INPUTS, build labels, write Parquet/Arrow shards + manifest.json to --output."""
    from sftmask.config import make_config
    from sftmask.pipeline import build as run_build

    _setup_logging(quiet)
    options: dict[str, Any] = {
        "inputs": inputs or None,
        "tokenizer": tokenizer,
        "output": output,
        "input_format": input_format,
        "prompt_field": prompt_field,
        "response_field": response_field,
        "strategy": strategy,
        "data_kind": data_kind,
        "tokens_field": tokens_field,
        "tags_field": tags_field,
        "label_names": label_names,
        "label_all_subtokens": label_all_subtokens,
        "max_length": max_length,
        "truncation": truncation,
        "add_eos": add_eos,
        "format": output_format,
        "rows_per_shard": rows_per_shard,
        "keep_columns": keep_columns,
        "on_error": on_error,
        "overwrite": overwrite,
        "trust_remote_code": trust_remote_code,
        "batch_size": batch_size,
    }
    try:
        cfg = make_config(options, config)
        with _progress(quiet) as on_progress:
            result = run_build(cfg, on_progress)
    except SftmaskError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        typer.echo("Interrupted; no output written.", err=True)
        raise typer.Exit(130) from None
    counts = result.stats.to_json()
    if json_output:
        summary = {"output": result.output, **counts, "shards": len(result.shards)}
        typer.echo(json.dumps(summary))
        return
    typer.echo(_summary_line(result.output, counts, len(result.shards)))


def _summary_line(output: str, counts: dict[str, Any], shards: int) -> str:
    share = counts["trained_tokens"] / counts["tokens"] if counts["tokens"] else 0.0
    line = (
        f"wrote {counts['rows_written']:,} rows ({counts['tokens']:,} tokens, {share:.1%} trained) "
        f"in {shards} shard{'s' if shards != 1 else ''} to {output}"
    )
    if counts["truncated"]:
        line += f"; {counts['truncated']:,} truncated"
    if counts["rejected"]:
        reasons = ", ".join(f"{k}: {v:,}" for k, v in counts["rejected_by_reason"].items())
        line += f"; {counts['rejected']:,} rejected ({reasons}) -> {os.path.join(output, 'rejects.jsonl')}"
    return line


def _setup_logging(quiet: bool) -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.basicConfig(
        level=logging.ERROR if quiet else logging.WARNING, format="sftmask: %(message)s", stream=sys.stderr
    )


class _progress:
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
            console=_stderr_console(),
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


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)
