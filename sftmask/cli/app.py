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
from sftmask.cli import display, startup
from sftmask.cli.options import (
    BUILD_OPTIONS,
    CONFIG_FILE,
    ENCODING_OPTIONS,
    INPUTS,
    NAMES,
    TEMPLATE_CHECK_OPTIONS,
    Command,
    Group,
    build_options,
    escape_markup,
    option_names,
)
from sftmask.errors import SftmaskError

app = typer.Typer(
    cls=Group,
    help="Tokenize prompt/response data and build token-exact training labels (-100 where masked).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

EXIT_CODES = {
    0: "success",
    1: "unexpected internal error (a bug: please report it with the traceback)",
    2: "invalid options or config file",
    3: "bad input data (malformed record, missing field, unreadable or empty input)",
    4: "tokenizer cannot be loaded or cannot do what was asked",
    5: "output directory cannot be written (exists and not empty without --overwrite, not a sftmask output, locked by another build, disk full, permissions)",
    6: "validate found problems in a built output, or template check found spans that disagree",
    7: "a --num-proc worker process died (killed, e.g. by the out-of-memory killer)",
    130: "interrupted (Ctrl-C, SIGINT)",
    137: "the process doing the work was killed (SIGKILL: by the out-of-memory killer?); 128 + N for another signal N",
    143: "terminated (SIGTERM)",
}


def run(*, exit_fast: bool = False) -> None:
    """The ``sftmask`` command: the app, in a child process that signals can always stop
    (`sftmask.cli.supervisor`; `exit_fast`: this process ends without unwinding, see there)."""
    from sftmask.cli.supervisor import run as supervised

    supervised(app, exit_fast=exit_fast)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sftmask {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """sftmask: SFT dataset preprocessing with exact -100 masks."""
    if ctx.invoked_subcommand != "build":  # build resumes once its own imports and config are done
        startup.resume()


def _fail(exc: SftmaskError) -> typer.Exit:
    from sftmask.limits import clip

    message = clip(" ".join(str(exc).splitlines()))
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(exc.exit_code)


BUILD_EXAMPLES = """Examples:

  # prompt/response records (prompt, response); only the response is trained
  sftmask build data.jsonl -t Qwen/Qwen2.5-0.5B -o out/
  # chat records (messages); train the assistant turns, rows of <= 4096 tokens
  sftmask build chats.jsonl -t Qwen/Qwen3-0.6B --strategy assistant-only \\
      --max-length 4096 -o out/
  # Alpaca records (instruction, input, output) from a CSV, skipping bad rows
  sftmask build data.csv -t gpt2 --template alpaca --on-error skip -o out/
  # packed rows of up to 8192 tokens for padding-free training
  sftmask build data.jsonl -t Qwen/Qwen2.5-0.5B --pack-length 8192 -o out/
  # every option from a config file (the same keys); flags win
  sftmask build -c build.yaml --overwrite"""


@app.command(cls=Command, epilog=escape_markup(BUILD_EXAMPLES))
@build_options(BUILD_OPTIONS)
def build(
    inputs: Annotated[list[str] | None, INPUTS] = None,
    config: Annotated[Path | None, CONFIG_FILE] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or log messages.")] = False,
    *,
    options: dict[str, Any],
) -> None:
    """Tokenize INPUTS, build labels, write Parquet/Arrow shards + manifest.json to --output."""
    from sftmask.cli.streams import native_stderr_aside
    from sftmask.cli.supervisor import stop_message, stop_on_signals, stopped_by
    from sftmask.config.recipe import make_config
    from sftmask.pipeline import build as run_build

    _setup_logging(quiet)
    options = {"inputs": inputs or None, **options}
    try:
        with stop_on_signals():
            cfg = make_config(options, config, names=NAMES)
            startup.resume()  # the start-up is over: the build's work runs with the collector on
            # Ray's core writes error-level lines (and stack dumps) to stderr on builds that succeed.
            with native_stderr_aside(cfg.engine == "ray"), display.progress(quiet) as on_progress:
                result = run_build(cfg, on_progress)
    except SftmaskError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt as exc:
        signum = stopped_by(exc)
        typer.echo(stop_message(signum), err=True)
        raise typer.Exit(128 + signum) from None
    counts = result.manifest["counts"]  # rows and tokens written (after a recipe's mixing), the left-out rows
    packing = result.manifest.get("packing")
    if json_output:
        summary = {"output": result.output, **counts, "shards": len(result.shards)}
        if packing:
            summary["packing"] = {k: packing[k] for k in ("rows", "efficiency", "examples_per_row")}
        for key in ("splits", "sources"):
            if key in result.manifest:
                summary[key] = result.manifest[key]
        typer.echo(json.dumps(summary))
        return
    limit = result.manifest["tokenizer"].get("model_max_length")
    line = display.summary_line(result.output, counts, len(result.shards), packing, limit)
    typer.echo(line + display.splits_note(result.manifest))


def _is_dataset_folder(path: Path) -> bool:
    """A folder written by `save_to_disk` (an input), not by `sftmask build` (which has a manifest)."""
    saved = (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()
    return saved and not (path / "manifest.json").exists()


def _setup_logging(quiet: bool) -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.basicConfig(
        level=logging.ERROR if quiet else logging.WARNING, format="sftmask: %(message)s", stream=sys.stderr
    )


# --- inspect, stats, validate: reading what build wrote --------------------------------------


INSPECT_EXAMPLES = """Examples:

  # the first 3 records as build would label them (trained tokens highlighted)
  sftmask inspect data.jsonl -t Qwen/Qwen2.5-0.5B
  # chat records, last turn trained, as an HTML page
  sftmask inspect chats.jsonl -t Qwen/Qwen3-0.6B --strategy last-turn \\
      --html view.html
  # rows 100 to 104 of a built output
  sftmask inspect out/ --index 100 -n 5"""


@app.command("inspect", cls=Command, epilog=escape_markup(INSPECT_EXAMPLES))
@build_options(ENCODING_OPTIONS)
def inspect_command(
    sources: Annotated[
        list[str],
        typer.Argument(
            metavar="INPUT | DIR",
            help="Input files, globs or save_to_disk folders to run the build stages on (nothing is written), "
            "or a directory written by `sftmask build`.",
            show_default=False,
        ),
    ],
    count: Annotated[
        int, typer.Option("--count", "-n", metavar="N", min=1, help="How many records or rows to show.")
    ] = 3,
    index: Annotated[
        int, typer.Option("--index", metavar="I", min=0, help="First record (INPUT) or row (DIR) to show, from 0.")
    ] = 0,
    html_file: Annotated[
        Path | None,
        typer.Option(
            "--html", metavar="FILE", help="Write the view as a self-contained HTML page instead.", show_default=False
        ),
    ] = None,
    config: Annotated[Path | None, CONFIG_FILE] = None,
    *,
    options: dict[str, Any],
) -> None:
    """Show, token by token, which tokens are trained: for INPUT records (as build would make them) or a built DIR.

    INPUT records are read, encoded and labelled with the same options as `sftmask build` (nothing is written). A DIR's rows are read as written, decoded with the manifest's tokenizer unless --tokenizer is given; of the build options only --tokenizer and --trust-remote-code apply to it.
    """
    from sftmask.config.build import make_config
    from sftmask.errors import ConfigError, TokenizerError
    from sftmask.io.output import open_output
    from sftmask.report.inspect import inspect_input, inspect_output, render_html, render_plain, render_rich
    from sftmask.tokenization.load import load_tokenizer

    _setup_logging(quiet=False)
    tokenizer = options.pop("tokenizer")
    trust_remote_code = options.pop("trust_remote_code")  # both also apply to a built DIR
    try:
        if len(sources) == 1 and Path(sources[0]).is_dir() and not _is_dataset_folder(Path(sources[0])):
            split = options.pop("split", None)  # a DIR's split to show (of INPUT: the split read)
            given = option_names(options)
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
            rows = inspect_output(output, tok, start=index, count=count, split=split)
            title = f"sftmask inspect {output.path}"
        else:
            if tokenizer is None and config is None:
                missing = not any(Path(src).exists() or src == "-" or "*" in src for src in sources)
                what = f"{sources[0]} is neither a file nor a directory" if missing else "--tokenizer is needed"
                raise ConfigError(
                    f"{what}: pass a directory written by `sftmask build`, or input files with --tokenizer"
                )
            # The build config needs an output; inspect writes nothing, so any placeholder does.
            settings = {**options, "inputs": sources, "tokenizer": tokenizer, "output": "-"}
            cfg = make_config({**settings, "trust_remote_code": trust_remote_code}, config, names=NAMES)
            tok = load_tokenizer(cfg.tokenizer, trust_remote_code=cfg.trust_remote_code)
            rows = inspect_input(cfg, tok, start=index, count=count)
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
        typer.echo(f"wrote {display.count(len(rows), 'row')} to {html_file}")
        return
    if display.colour():
        from rich.console import Console

        Console(highlight=False).print(render_rich(rows))
    else:
        typer.echo(render_plain(rows), nl=False)


STATS_EXAMPLES = """Examples:

  sftmask stats out/
  # as JSON, with the histograms drawn into a PNG (pip install "sftmask[plot]")
  sftmask stats out/ --json --plot lengths.png
  # an output on S3 (pip install s3fs)
  sftmask stats s3://bucket/sft/run1"""


@app.command(cls=Command, epilog=escape_markup(STATS_EXAMPLES))
def stats(
    directory: Annotated[
        str, typer.Argument(metavar="DIR", help="A directory written by `sftmask build`.", show_default=False)
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON.")] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="FILE.png",
            help="Also draw the length and trained-share histograms into a PNG.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Rows, tokens, trained share, length percentiles and histogram, truncation, rejects, shards of a built DIR."""
    from sftmask.errors import NotAnOutputError
    from sftmask.io.output import open_output
    from sftmask.io.remote import local_copy
    from sftmask.report.stats import compute_stats, write_plot

    try:
        with local_copy(directory, NotAnOutputError) as local:
            result = compute_stats(open_output(local))
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
        typer.echo(display.stats_table(result), nl=False)
    if plot is not None:
        typer.echo(f"wrote {plot}", err=True)


VALIDATE_EXAMPLES = """Examples:

  sftmask validate out/
  # also check that the tokenizer is the one the output was built with
  sftmask validate out/ -t Qwen/Qwen2.5-0.5B
  # the report as JSON, up to 100 problems
  sftmask validate out/ --json --max-problems 100"""


@app.command(cls=Command, epilog=escape_markup(VALIDATE_EXAMPLES))
def validate(
    directory: Annotated[
        str, typer.Argument(metavar="DIR", help="A directory written by `sftmask build`.", show_default=False)
    ],
    tokenizer: Annotated[
        str | None,
        typer.Option(
            "--tokenizer",
            "-t",
            metavar="NAME_OR_PATH",
            help="Also check that this tokenizer has the manifest's fingerprint.",
            show_default=False,
        ),
    ] = None,
    max_problems: Annotated[int, typer.Option(metavar="N", min=1, help="How many problems to list.")] = 20,
    trust_remote_code: Annotated[
        bool, typer.Option("--trust-remote-code", help="Allow tokenizer code from the Hub repository.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check every shard of a built DIR: schema, lengths, label rule, trained rows, attention mask, counts vs the manifest."""
    from sftmask.errors import NotAnOutputError, ValidationFailed
    from sftmask.io.output import open_output
    from sftmask.io.remote import local_copy
    from sftmask.report.validate import validate as run_validate
    from sftmask.tokenization.load import load_tokenizer

    _setup_logging(quiet=False)
    try:
        with local_copy(directory, NotAnOutputError) as local:
            output = open_output(local)
            tok = load_tokenizer(tokenizer, trust_remote_code=trust_remote_code) if tokenizer else None
            report = run_validate(output, tokenizer=tok, max_problems=max_problems)
        report.output = directory  # a remote DIR's name, not its temporary copy's
    except SftmaskError as exc:
        raise _fail(exc) from None
    if json_output:
        typer.echo(json.dumps(report.to_json()))
    elif report.ok:
        typer.echo(
            f"ok: {display.count(report.rows, 'row')} in {display.count(report.shards, 'shard')} of {directory} "
            f"pass {display.count(len(report.checks), 'check')} ({', '.join(report.checks)})"
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
                f"{directory} failed validation: {display.count(report.problem_count, 'problem')} "
                f"(first {listed} listed on stdout)"
            )
        )


# --- template: the shipped chat templates, checking a template's assistant spans -------------

template_app = typer.Typer(
    cls=Group, help="Chat templates: list the shipped ones, check a template's assistant spans.", no_args_is_help=True
)
app.add_typer(template_app, name="template")


@template_app.command("list", cls=Command)
def template_list() -> None:
    """List the chat templates shipped with sftmask (usable as --chat-template NAME)."""
    from sftmask.chat.templates import SHIPPED

    for name, shipped in SHIPPED.items():
        typer.echo(f"{name:14} {shipped.description} [{shipped.source}; {shipped.licence}]")


TEMPLATE_CHECK_EXAMPLES = """Examples:

  # a shipped template against the tokenizer's own rendering
  sftmask template check chatml -t Qwen/Qwen2.5-0.5B-Instruct
  # your template on the first 500 conversations of your data
  sftmask template check my-template.jinja chats.jsonl -t ./my-model -n 500"""


@template_app.command("check", cls=Command, epilog=escape_markup(TEMPLATE_CHECK_EXAMPLES))
@build_options(TEMPLATE_CHECK_OPTIONS)
def template_check(
    template: Annotated[
        str, typer.Argument(metavar="TEMPLATE", help="Jinja chat template file, or a shipped template's name.")
    ],
    data: Annotated[
        str | None,
        typer.Argument(metavar="DATA", help="Chat records to render too (the first --count).", show_default=False),
    ] = None,
    count: Annotated[
        int,
        typer.Option(
            "--count", "-n", metavar="N", min=1, help="Conversations to check: built-in samples, or the first of DATA."
        ),
    ] = 120,
    *,
    options: dict[str, Any],
) -> None:
    """Render sample conversations (or DATA's) with TEMPLATE and say whether its assistant spans agree with a second opinion.

    With {% generation %} markers, the second opinion is the spans sftmask finds without them; without markers, the shipped marked template that renders the same text, or without one, checks that need no twin: each span starts after the role header and ends with the turn end, each prefix of a conversation renders as a prefix of it and gives the same turn, and which conversations fall back to prefix analysis. Exit code 6 when they differ.
    """
    from sftmask.chat.check import check_template
    from sftmask.chat.choice import choose_template
    from sftmask.chat.encode import renderer_options
    from sftmask.chat.samples import conversations as sample_conversations
    from sftmask.chat.templates import SHIPPED, read_shipped
    from sftmask.config.build import make_config
    from sftmask.io.readers import resolve_inputs
    from sftmask.kinds.chat import first_conversations
    from sftmask.pipeline import open_tokenizer

    _setup_logging(quiet=False)
    try:
        settings = {**options, "inputs": [data or "-"], "output": "-", "strategy": "assistant-only"}
        cfg = make_config({**settings, "chat_template": template, "data_kind": "chat"}, names=NAMES)
        tok = open_tokenizer(cfg)
        choice = choose_template(tok.hf, template)
        if data is not None:
            files = resolve_inputs([data], cfg.input_format)
            conversations = first_conversations(cfg, cfg.kind.fields(cfg), files, count)
            where = f"{len(conversations)} conversations of {data}"
        else:
            conversations = sample_conversations(count, seed=0)
            where = f"{len(conversations)} sample conversations"
        shipped = {name: read_shipped(name) for name in SHIPPED}
        report = check_template(
            tok.hf,
            tok.full_encoder,
            choice.text,
            conversations,
            shipped=shipped,
            name=template,
            **renderer_options(cfg),
        )
    except SftmaskError as exc:
        raise _fail(exc) from None
    typer.echo(f"{template}: {where}, compared with {report.compared_with}")
    if report.checked:  # no twin: what was checked, and where it disagrees
        for what, (passed, total) in report.checked.items():
            typer.echo(f"  {what}: {passed} of {total}")
        for problem in report.problems:
            typer.echo(f"  differs: {problem}")
        for note in report.notes:
            typer.echo(f"  not checked: {note}")
        if not report.ok:
            raise typer.Exit(6)
        typer.echo("  OK: every check passes")
        return
    typer.echo(f"  agree on {report.agreed} of {report.conversations}")
    if report.both_failed:
        typer.echo(f"  {report.both_failed} the template refuses either way (not compared)")
    for reason, n in sorted(report.failed.items()):
        typer.echo(f"  {n} failed on one side only: {reason}")
    for dis in report.disagreements[:3]:
        shown = " ".join(f"{t}{'' if a == b else ('[+]' if a else '[-]')}" for t, a, b in dis.tokens if a or b)
        typer.echo(
            f"  conversation {dis.index + 1} ({dis.strategy}) differs; trained tokens, [+]/[-] where only "
            f"the template does / does not train them: {shown[:600]}"
        )
    if not report.ok:
        raise typer.Exit(6)
    typer.echo("  OK: the spans agree")
