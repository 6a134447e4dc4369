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
    6: "validate found problems in a built output",
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
            help="Input files or globs (.jsonl/.json/.csv/.tsv, optionally .gz/.zst; .parquet/.arrow), or folders "
            "written by Dataset(Dict).save_to_disk; '-' reads JSONL from stdin.",
            show_default=False,
        ),
    ] = None,
    tokenizer: Annotated[
        str | None,
        typer.Option("--tokenizer", "-t", help="Hugging Face Hub name or local tokenizer folder.", show_default=False),
    ] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Output directory.", show_default=False)] = None,
    input_format: Annotated[
        str | None,
        typer.Option(
            help="jsonl, json (one array of records), csv, tsv, parquet or arrow; overrides the file suffix.",
            show_default=False,
        ),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(
            help="Split to read from a DatasetDict.save_to_disk folder; also names the shards. (default: train)",
            show_default=False,
        ),
    ] = None,
    prompt_field: Annotated[
        str | None, typer.Option(help="Field with the prompt (masked). (default: prompt)", show_default=False)
    ] = None,
    response_field: Annotated[
        str | None, typer.Option(help="Field with the response (trained). (default: response)", show_default=False)
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            help="Masking strategy: response-only, all, first-subtoken; for chat data assistant-only, last-turn. (default: response-only)",
            show_default=False,
        ),
    ] = None,
    data_kind: Annotated[
        str | None,
        typer.Option(
            help="Kind of record: prompt-response, chat, words (word-labelled NER/POS data) or text "
            "(pre-formatted text). (default: the strategy's first; words or text when one of its options is given)",
            show_default=False,
        ),
    ] = None,
    text_field: Annotated[
        str | None,
        typer.Option(help="Text data: field with the pre-formatted text. (default: text)", show_default=False),
    ] = None,
    response_marker: Annotated[
        str | None,
        typer.Option(
            help="Text data: train only what follows this marker's first occurrence (e.g. '### Response:'). "
            "(default: train every token)",
            show_default=False,
        ),
    ] = None,
    tokens_field: Annotated[
        str | None,
        typer.Option(help="Words data: field with the list of words. (default: tokens)", show_default=False),
    ] = None,
    tags_field: Annotated[
        str | None,
        typer.Option(
            help="Words data: field with the parallel list of tags (ints or strings). (default: ner_tags)",
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
    messages_field: Annotated[
        str | None,
        typer.Option(
            help="Chat data: field with the list of messages. (default: messages; conversations for sharegpt)",
            show_default=False,
        ),
    ] = None,
    messages_format: Annotated[
        str | None,
        typer.Option(
            help="Chat data: openai (role/content) or sharegpt (from/value, human/gpt). (default: openai)",
            show_default=False,
        ),
    ] = None,
    role_key: Annotated[
        str | None, typer.Option(help="Chat data: key of a message's role (overrides the format).", show_default=False)
    ] = None,
    content_key: Annotated[
        str | None, typer.Option(help="Chat data: key of a message's text (overrides the format).", show_default=False)
    ] = None,
    tools_field: Annotated[
        str | None,
        typer.Option(
            help="Chat data: field with tool schemas passed to the template. (default: tools)", show_default=False
        ),
    ] = None,
    chat_template: Annotated[
        str | None,
        typer.Option(
            help="Jinja chat template file overriding the tokenizer's own, or a shipped one: chatml, "
            "chatml-generation, mistral-inst, mistral-inst-generation.",
            show_default=False,
        ),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(
            help="Prompt/response data: prompt template name (alpaca, chatml, question-answer), a YAML file, or chat.",
            show_default=False,
        ),
    ] = None,
    max_length: Annotated[int | None, typer.Option(help="Maximum tokens per row.", show_default=False)] = None,
    truncation: Annotated[
        str | None,
        typer.Option(
            help="prompt (drop prompt from the left, keep BOS), response (cut the end) or drop (reject). (default: prompt)",
            show_default=False,
        ),
    ] = None,
    add_eos: Annotated[
        bool | None,
        typer.Option(
            "--add-eos/--no-add-eos",
            help="Append the tokenizer's EOS to the response and train on it. (default: add-eos)",
            show_default=False,
        ),
    ] = None,
    assistant_masks: Annotated[
        bool | None,
        typer.Option(
            "--assistant-masks/--no-assistant-masks",
            help="Write assistant_masks (1 where labels != -100) beside labels, for trainers that rebuild "
            "labels (TRL before 1.16 with packing). (default: assistant-masks; never for words data)",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format", help="parquet or arrow (Dataset.save_to_disk layout). (default: parquet)", show_default=False
        ),
    ] = None,
    rows_per_shard: Annotated[
        int | None, typer.Option(help="Rows per output shard. (default: 100000)", show_default=False)
    ] = None,
    keep_columns: Annotated[
        str | None,
        typer.Option(help="Comma-separated input fields to pass through, e.g. id,source.", show_default=False),
    ] = None,
    on_error: Annotated[
        str | None,
        typer.Option(
            help="fail: stop at the first bad record; skip: write it to rejects.jsonl and go on. (default: fail)",
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
        int | None, typer.Option(help="Records per tokenization batch. (default: 1000)", show_default=False)
    ] = None,
    num_proc: Annotated[
        int | None,
        typer.Option(
            help="Worker processes for tokenization (output is identical for any value). (default: 1: the Rust tokenizer already uses all cores)",
            show_default=False,
        ),
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
        "split": split,
        "prompt_field": prompt_field,
        "response_field": response_field,
        "strategy": strategy,
        "data_kind": data_kind,
        "text_field": text_field,
        "response_marker": response_marker,
        "messages_field": messages_field,
        "messages_format": messages_format,
        "role_key": role_key,
        "content_key": content_key,
        "tools_field": tools_field,
        "chat_template": chat_template,
        "template": template,
        "tokens_field": tokens_field,
        "tags_field": tags_field,
        "label_names": label_names,
        "label_all_subtokens": label_all_subtokens,
        "max_length": max_length,
        "truncation": truncation,
        "add_eos": add_eos,
        "format": output_format,
        "assistant_masks": assistant_masks,
        "rows_per_shard": rows_per_shard,
        "keep_columns": keep_columns,
        "on_error": on_error,
        "overwrite": overwrite,
        "trust_remote_code": trust_remote_code,
        "batch_size": batch_size,
        "num_proc": num_proc,
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


# --- inspect, stats, validate: reading what build wrote --------------------------------------

_BUILD_ONLY = "Build option for inspecting INPUT files"


@app.command("inspect")
def inspect_command(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Input files or globs to run the build stages on (nothing is written), "
            "or a directory written by `sftmask build`.",
            show_default=False,
        ),
    ],
    tokenizer: Annotated[
        str | None,
        typer.Option(
            "--tokenizer",
            "-t",
            help="Tokenizer (needed for INPUT files; for a built DIR the manifest's is used unless given).",
            show_default=False,
        ),
    ] = None,
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="How many records or rows to show.")] = 3,
    index: Annotated[
        int, typer.Option("--index", min=0, help="First record (INPUT) or row (DIR) to show, from 0.")
    ] = 0,
    html_file: Annotated[
        Path | None,
        typer.Option("--html", help="Write the view as a self-contained HTML page instead.", show_default=False),
    ] = None,
    input_format: Annotated[
        str | None,
        typer.Option(help=f"{_BUILD_ONLY}: jsonl, json, csv, tsv, parquet or arrow.", show_default=False),
    ] = None,
    split: Annotated[
        str | None, typer.Option(help=f"{_BUILD_ONLY}: split of a DatasetDict folder.", show_default=False)
    ] = None,
    prompt_field: Annotated[str | None, typer.Option(help=f"{_BUILD_ONLY}: prompt field.", show_default=False)] = None,
    response_field: Annotated[
        str | None, typer.Option(help=f"{_BUILD_ONLY}: response field.", show_default=False)
    ] = None,
    strategy: Annotated[str | None, typer.Option(help=f"{_BUILD_ONLY}: masking strategy.", show_default=False)] = None,
    max_length: Annotated[
        int | None, typer.Option(help=f"{_BUILD_ONLY}: maximum tokens per row.", show_default=False)
    ] = None,
    truncation: Annotated[
        str | None, typer.Option(help=f"{_BUILD_ONLY}: prompt, response or drop.", show_default=False)
    ] = None,
    add_eos: Annotated[
        bool | None,
        typer.Option("--add-eos/--no-add-eos", help=f"{_BUILD_ONLY}: append and train EOS.", show_default=False),
    ] = None,
    on_error: Annotated[str | None, typer.Option(help=f"{_BUILD_ONLY}: fail or skip.", show_default=False)] = None,
    data_kind: Annotated[
        str | None, typer.Option(help=f"{_BUILD_ONLY}: prompt-response, chat, words or text.", show_default=False)
    ] = None,
    text_field: Annotated[
        str | None, typer.Option(help=f"{_BUILD_ONLY}: text data: field with the text.", show_default=False)
    ] = None,
    response_marker: Annotated[
        str | None, typer.Option(help=f"{_BUILD_ONLY}: text data: train what follows it.", show_default=False)
    ] = None,
    template: Annotated[
        str | None, typer.Option(help=f"{_BUILD_ONLY}: prompt template name or file, or chat.", show_default=False)
    ] = None,
    chat_template: Annotated[
        str | None, typer.Option(help=f"{_BUILD_ONLY}: Jinja chat template file or shipped name.", show_default=False)
    ] = None,
    messages_field: Annotated[
        str | None, typer.Option(help=f"{_BUILD_ONLY}: chat data: field with the messages.", show_default=False)
    ] = None,
    messages_format: Annotated[
        str | None, typer.Option(help=f"{_BUILD_ONLY}: chat data: openai or sharegpt.", show_default=False)
    ] = None,
    tokens_field: Annotated[
        str | None, typer.Option(help=f"{_BUILD_ONLY}: words data: field with the words.", show_default=False)
    ] = None,
    tags_field: Annotated[
        str | None, typer.Option(help=f"{_BUILD_ONLY}: words data: field with the tags.", show_default=False)
    ] = None,
    label_names: Annotated[
        str | None,
        typer.Option(help=f"{_BUILD_ONLY}: words data: label names (file or comma list).", show_default=False),
    ] = None,
    label_all_subtokens: Annotated[
        bool | None,
        typer.Option(
            "--label-all-subtokens", help=f"{_BUILD_ONLY}: words data: label continuations.", show_default=False
        ),
    ] = None,
    trust_remote_code: Annotated[
        bool | None,
        typer.Option("--trust-remote-code", help="Allow tokenizer code from the Hub repository.", show_default=False),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help=f"{_BUILD_ONLY}: YAML or TOML build config.", show_default=False),
    ] = None,
) -> None:
    """Show, token by token, which tokens are trained: for INPUT records (as build would make them) or a built DIR."""
    from sftmask.config import make_config
    from sftmask.errors import ConfigError, TokenizerError
    from sftmask.inspection import inspect_input, inspect_output, render_html, render_plain, render_rich
    from sftmask.output_reader import open_output
    from sftmask.pipeline import open_tokenizer
    from sftmask.tokenizer import load_tokenizer

    _setup_logging(quiet=False)
    build_options: dict[str, Any] = {
        "input_format": input_format,
        "split": split,
        "prompt_field": prompt_field,
        "response_field": response_field,
        "strategy": strategy,
        "max_length": max_length,
        "truncation": truncation,
        "add_eos": add_eos,
        "on_error": on_error,
        "data_kind": data_kind,
        "text_field": text_field,
        "response_marker": response_marker,
        "template": template,
        "chat_template": chat_template,
        "messages_field": messages_field,
        "messages_format": messages_format,
        "tokens_field": tokens_field,
        "tags_field": tags_field,
        "label_names": label_names,
        "label_all_subtokens": label_all_subtokens,
    }
    try:
        if len(sources) == 1 and Path(sources[0]).is_dir() and not _is_dataset_folder(Path(sources[0])):
            given = [f"--{k.replace('_', '-')}" for k, v in build_options.items() if v is not None]
            if given or config is not None:
                raise ConfigError(
                    f"{', '.join(given) or '--config'}: build options apply to INPUT files, not to a built "
                    f"directory ({sources[0]}), whose rows are read as written"
                )
            output = open_output(sources[0])
            name = tokenizer or output.tokenizer_name
            try:
                tok = load_tokenizer(name, trust_remote_code=bool(trust_remote_code))
            except TokenizerError as exc:
                hint = "" if tokenizer else "; pass --tokenizer with the tokenizer the output was built with"
                raise TokenizerError(f"{exc}{hint}") from exc
            rows = inspect_output(output, tok, start=index, count=count)
            title = f"sftmask inspect {output.path}"
        else:
            if tokenizer is None and config is None:
                missing = not any(Path(src).exists() or src == "-" or "*" in src for src in sources)
                what = f"{sources[0]} is neither a file nor a directory" if missing else "--tokenizer is needed"
                raise ConfigError(
                    f"{what}: pass a directory written by `sftmask build`, or input files with --tokenizer"
                )
            # The build config needs an output; inspect writes nothing, so any placeholder does.
            options = {**build_options, "inputs": sources, "tokenizer": tokenizer, "output": "-"}
            options["trust_remote_code"] = trust_remote_code
            cfg = make_config(options, config)
            rows = inspect_input(cfg, open_tokenizer(cfg), start=index, count=count)
            title = f"sftmask inspect {' '.join(sources)} ({cfg.strategy})"
    except SftmaskError as exc:
        raise _fail(exc) from None
    if not rows:
        typer.echo(f"Error: nothing to show: fewer than {index + 1} records or rows", err=True)
        raise typer.Exit(3)
    if html_file is not None:
        try:
            html_file.write_text(render_html(rows, title=title), encoding="utf-8")
        except OSError as exc:
            typer.echo(f"Error: cannot write {html_file}: {exc.strerror or exc}", err=True)
            raise typer.Exit(5) from None
        typer.echo(f"wrote {len(rows)} row{'s' if len(rows) != 1 else ''} to {html_file}")
        return
    if _colour():
        from rich.console import Console

        Console(highlight=False).print(render_rich(rows))
    else:
        typer.echo(render_plain(rows), nl=False)


def _is_dataset_folder(path: Path) -> bool:
    """A folder written by `save_to_disk` (an input), not by `sftmask build` (which has a manifest)."""
    saved = (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()
    return saved and not (path / "manifest.json").exists()


def _colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


@app.command()
def stats(
    directory: Annotated[str, typer.Argument(help="A directory written by `sftmask build`.", show_default=False)],
    json_output: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON.")] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Also draw the length and trained-share histograms into a PNG.", show_default=False
        ),
    ] = None,
) -> None:
    """Rows, tokens, trained share, length percentiles and histogram, truncation, rejects, shards of a built DIR."""
    from sftmask.output_reader import open_output
    from sftmask.stats import compute_stats, write_plot

    try:
        result = compute_stats(open_output(directory))
    except SftmaskError as exc:
        raise _fail(exc) from None
    if plot is not None:
        try:
            write_plot(result, plot)
        except ImportError:
            typer.echo(
                "Error: --plot needs matplotlib; install it with: pip install 'sftmask[plot]' (in a checkout: pip install -e '.[plot]')",
                err=True,
            )
            raise typer.Exit(2) from None
        except OSError as exc:
            typer.echo(f"Error: cannot write {plot}: {exc.strerror or exc}", err=True)
            raise typer.Exit(5) from None
    if json_output:
        typer.echo(json.dumps(result))
    else:
        typer.echo(_stats_table(result), nl=False)
    if plot is not None:
        typer.echo(f"wrote {plot}", err=True)


def _stats_table(s: dict[str, Any]) -> str:
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
    out = [f"{key:<18} {value}" for key, value in lines]
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


@app.command()
def validate(
    directory: Annotated[str, typer.Argument(help="A directory written by `sftmask build`.", show_default=False)],
    tokenizer: Annotated[
        str | None,
        typer.Option(
            "--tokenizer",
            "-t",
            help="Also check that this tokenizer has the manifest's fingerprint.",
            show_default=False,
        ),
    ] = None,
    max_problems: Annotated[int, typer.Option(min=1, help="How many problems to list.")] = 20,
    trust_remote_code: Annotated[
        bool, typer.Option("--trust-remote-code", help="Allow tokenizer code from the Hub repository.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check every shard of a built DIR: schema, lengths, label rule, trained rows, attention mask, counts vs the manifest."""
    from sftmask.errors import ValidationFailed
    from sftmask.output_reader import open_output
    from sftmask.tokenizer import load_tokenizer
    from sftmask.validation import validate as run_validate

    _setup_logging(quiet=False)
    try:
        output = open_output(directory)
        tok = load_tokenizer(tokenizer, trust_remote_code=trust_remote_code) if tokenizer else None
        report = run_validate(output, tokenizer=tok, max_problems=max_problems)
    except SftmaskError as exc:
        raise _fail(exc) from None
    if json_output:
        typer.echo(json.dumps(report.to_json()))
    elif report.ok:
        typer.echo(
            f"ok: {report.rows:,} rows in {report.shards} shard{'s' if report.shards != 1 else ''} of {directory} "
            f"pass {len(report.checks)} checks ({', '.join(report.checks)})"
        )
    else:
        for problem in report.problems:
            typer.echo(f"{problem} [{problem.check}]")
        if report.problem_count > len(report.problems):
            typer.echo(f"... and {report.problem_count - len(report.problems):,} more")
    if not report.ok:
        listed = len(report.problems)
        raise _fail(
            ValidationFailed(
                f"{directory} failed validation: {report.problem_count:,} problem"
                f"{'s' if report.problem_count != 1 else ''} (first {listed} listed on stdout)"
            )
        )
