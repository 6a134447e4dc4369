"""The flags of `sftmask build`, `inspect` and `template check`, derived from the config's fields.

Every build option is one field of `sftmask.config.options.BuildOptions` (type, default,
docstring, `Flag`); `BUILD_OPTIONS` reads them into flags, help panels, metavars, defaults and
completions, and `build_options` makes them command parameters. So an option is added by adding
its field, and the docs' option table is generated from the same list (`scripts/cli_reference.py`,
checked by a test). The models import only pydantic, so `--help` loads no library code; the
registries that shell completion offers (`--strategy`, `--data-kind`, ...) are imported only when
completing.
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import re
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import typer
from pydantic.fields import FieldInfo
from typer.core import TyperCommand, TyperGroup

from sftmask.config.common import CHAT_DATA, INPUT, Argument, Flag
from sftmask.config.options import PANELS, BuildOptions


@dataclass(frozen=True)
class BuildOption:
    """One option of `sftmask build`, as read from its config field."""

    key: str
    """The config key (a `BuildOptions` field)."""
    type: type
    """What the flag parses: bool (a switch), int, float or str (which the config then validates)."""
    help: str
    """The first paragraph of the field's docstring."""
    panel: str
    metavar: str
    """What the value is (`N`, `FILE`, `[a|b]`); empty for a switch."""
    default: str | None
    """The default as `--help` and the docs state it; None when there is none to state."""
    names: tuple[str, ...]
    """The flags: `--key-with-dashes` (`--x/--no-x` for a switch that is on by default), then a short one."""
    choices: tuple[str, ...] = ()
    """Values shell completion offers, or `module:NAME` references to look them up (`completions`)."""
    changes_rows: bool = True
    """Whether the option can change the rows built; `inspect` accepts exactly those."""

    @classmethod
    def from_field(cls, key: str, field: FieldInfo) -> BuildOption:
        flag = _metadata(field, Flag)
        if flag is None:
            raise TypeError(f"BuildOptions.{key}: annotate the field with Flag(panel, ...) (see sftmask.config.common)")
        kind, literal = _value_type(field.annotation)
        switch_on = kind is bool and field.default is True
        flag_name = f"--{key.replace('_', '-')}"
        names = (f"{flag_name}/--no-{flag_name[2:]}" if switch_on else flag_name, *filter(None, [flag.short]))
        return cls(
            key=key,
            type=kind,
            help=_first_paragraph(field.description or ""),
            panel=flag.panel,
            metavar=flag.metavar or _metavar(kind, literal),
            default=flag.default or _shown_default(key, field),
            names=names,
            choices=(*literal, *flag.choices),
            changes_rows=flag.changes_rows,
        )

    @property
    def flag(self) -> str:
        """The long flag (`--add-eos`, `--tokenizer`)."""
        return self.names[0].split("/")[0]

    @property
    def spelled(self) -> str:
        """The flag as messages name it: `-t/--tokenizer`, `--max-length`."""
        return "/".join([*self.names[1:], self.flag])

    def completions(self) -> list[str]:
        """The values shell completion offers: the choices, registries looked up now (imports them)."""
        values: list[str] = []
        for choice in self.choices:
            module, sep, name = choice.partition(":")
            if not sep:
                values.append(choice)
                continue
            found = getattr(importlib.import_module(module), name)
            values += [str(value) for value in (found() if callable(found) else found)]
        return values

    def parameter(self) -> inspect.Parameter:
        """The keyword parameter Typer reads: value None when not given, so a config file can set it."""
        shown = escape_markup(self.help)
        option = typer.Option(
            *self.names,
            help=shown if self.default is None else f"{shown} [dim]\\[default: {escape_markup(self.default)}][/dim]",
            metavar=self.metavar or None,
            rich_help_panel=self.panel,
            show_default=False,
            autocompletion=_completer(self) if self.choices else None,
        )
        return inspect.Parameter(
            self.key,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[self.type | None, option],
        )


def _metadata(field: FieldInfo, kind: type[Any]) -> Any:
    return next((item for item in field.metadata if isinstance(item, kind)), None)


def _value_type(annotation: Any) -> tuple[type, tuple[str, ...]]:
    """What a flag of this field type parses, and a Literal's values (`X | None` unwrapped)."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        annotation = args[0] if len(args) == 1 else str
    if get_origin(annotation) is Literal:
        return str, tuple(str(value) for value in get_args(annotation))
    if annotation in (bool, int, float):
        return annotation, ()
    return str, ()


def _metavar(kind: type, literal: tuple[str, ...]) -> str:
    if literal:
        return "[" + "|".join(literal) + "]"
    return {bool: "", int: "N", float: "N"}.get(kind, "TEXT")


def _shown_default(key: str, field: FieldInfo) -> str | None:
    value = field.default
    if field.is_required() or field.default_factory is not None or value is None or value is False:
        return None
    if value is True:
        return key.replace("_", "-")
    return f"{value:g}" if isinstance(value, float) else str(value)


def _first_paragraph(docstring: str) -> str:
    return " ".join(docstring.strip().split("\n\n")[0].split())


def escape_markup(text: str) -> str:
    """`text` to show as it is in help, which is Rich markup: `[ray]` in `pip install "sftmask[ray]"`
    would be read as a style tag and vanish. (The pattern is `rich.markup.escape`'s; Rich is not
    imported: most commands never load it.)"""
    return re.sub(r"(\\*)(\[[a-z#/@][^[]*?])", lambda m: f"{m[1]}{m[1]}\\{m[2]}", text)


def _completer(option: BuildOption) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        return [value for value in option.completions() if value.startswith(incomplete)]

    return complete


def _read_options(model: type[BuildOptions]) -> tuple[BuildOption, ...]:
    """The flags of every field of `model` but its arguments, by help panel, then in field order."""
    options = [
        BuildOption.from_field(key, field)
        for key, field in model.model_fields.items()
        if _metadata(field, Argument) is None
    ]
    unknown = sorted({option.panel for option in options} - set(PANELS))
    if unknown:
        raise TypeError(f"help panel(s) {', '.join(unknown)} not in sftmask.config.options.PANELS")
    return tuple(sorted(options, key=lambda option: PANELS.index(option.panel)))


def _input_argument(model: type[BuildOptions]) -> Any:
    field = model.model_fields["inputs"]
    argument: Argument = _metadata(field, Argument)
    return typer.Argument(
        metavar=argument.metavar, help=escape_markup(_first_paragraph(field.description or "")), show_default=False
    )


BUILD_OPTIONS = _read_options(BuildOptions)
"""Every option of `sftmask build`, one per `BuildOptions` field (but `inputs`, the INPUT arguments)."""

INPUTS = _input_argument(BuildOptions)
"""The INPUT arguments of `sftmask build` (the `inputs` field)."""

NAMES = {"inputs": INPUTS.metavar, **{option.key: option.spelled for option in BUILD_OPTIONS}}
"""How error messages name each config key: `INPUT`, `-t/--tokenizer`, `--max-length`."""

ENCODING_OPTIONS = tuple(option for option in BUILD_OPTIONS if option.changes_rows)
"""The options that change what rows are built: `inspect` takes these."""

TEMPLATE_CHECK_OPTIONS = tuple(
    option
    for option in BUILD_OPTIONS
    if (option.panel == CHAT_DATA and option.key != "chat_template") or option.key in ("tokenizer", "trust_remote_code")
)
"""What `sftmask template check` takes: the tokenizer and the chat data options (the template is its argument)."""

CONFIG_FILE = typer.Option(
    "--config",
    "-c",
    metavar="FILE",
    help="YAML or TOML file with the same keys as these options (max-length or max_length); flags win.",
    rich_help_panel=INPUT,
    show_default=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def build_options(options: Sequence[BuildOption]) -> Callable[[F], F]:
    """Give a command function these options as parameters; it receives them as `options`, a dict.

    The decorated function declares its own parameters and a keyword `options: dict[str, Any]`;
    Typer sees its own parameters followed by one per option. `options` maps each config key to
    its value, None when the flag was not given (so a config file or the default applies).
    """

    def decorate(func: F) -> F:
        signature = inspect.signature(func, eval_str=True)
        own = [p for name, p in signature.parameters.items() if name != "options"]
        keys = [option.key for option in options]

        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            given = {key: kwargs.pop(key) for key in keys}
            return func(*args, options=given, **kwargs)

        parameters = [*own, *(option.parameter() for option in options)]
        command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        return command  # type: ignore[return-value]

    return decorate


def option_names(options: dict[str, Any]) -> list[str]:
    """The flags of the options that were given (for messages)."""
    by_key = {option.key: option for option in BUILD_OPTIONS}
    return [by_key[key].flag for key, value in options.items() if value is not None]


def _without_python_types(params: list[Any]) -> list[Any]:
    # Typer shows each parameter's Python type (`<bool>`, `<list[str]>`) beside its metavar; a flag
    # takes no value and an argument's metavar already says what it is, so show neither.
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
        elif param.param_type_name == "argument" and param.metavar is not None:
            param.display_type_rich = lambda ctx: None
    return params


def _off_form_below(param: Any) -> Any:
    # A switch's off form (`--no-assistant-masks`) has a help column of its own, which at 80
    # columns left the help of its panel ~15 characters; shown under the on form, it takes none.
    if not getattr(param, "secondary_opts", None):
        return param
    shown = copy.copy(param)
    shown.opts = ["\n".join([*(opt for opt in param.opts if opt.startswith("--")), *param.secondary_opts])]
    shown.opts += [opt for opt in param.opts if not opt.startswith("--")]
    shown.secondary_opts = []
    return shown


def _none_stays_none(param: Any) -> None:
    """Have `param` give None at once for an option not given (Typer would first build its
    pydantic validator, to give None: 65 validators, 20 ms of every build's start). Only for
    what Typer turns into None itself: a single value, not required, without a callback."""
    if param.required or param.callback is not None or param.multiple or param.nargs != 1:
        return
    process = param.process_value

    def process_value(ctx: Any, value: Any) -> Any:
        return None if value is None else process(ctx, value)

    param.process_value = process_value


class Command(TyperCommand):
    """A command whose help shows metavars, not Python types, and a switch's off form under its on
    form, and whose options not given cost nothing to parse."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            _none_stays_none(param)

    def get_params(self, ctx: Any) -> list[Any]:
        return _without_python_types(super().get_params(ctx))

    def format_help(self, ctx: Any, formatter: Any) -> None:
        shown = copy.copy(self)  # the help's copy: parsing keeps the real parameters
        shown.params = [_off_form_below(param) for param in self.params]
        TyperCommand.format_help(shown, ctx, formatter)


class Group(TyperGroup):
    """The app's command group, likewise."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _without_python_types(super().get_params(ctx))
