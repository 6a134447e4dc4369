"""Chat templates compiled and rendered as ``transformers`` renders them, without importing it.

`apply_chat_template` renders with a Jinja sandbox set up in
``transformers.utils.chat_template_utils``: an ``ImmutableSandboxedEnvironment`` with
``trim_blocks`` and ``lstrip_blocks``, the ``loopcontrols`` extension, a ``{% generation %}``
tag that records the character span of what it encloses, a ``tojson`` filter without HTML
escaping, and the globals ``raise_exception``, ``strftime_now``, ``dict`` and ``namespace``; its
messages get their reasoning aliased (``reasoning_content``/``thinking``/``reasoning``) and every
value is made plain data first. This module builds the same environment and prepares the data
the same way, for two reasons that matter to a build: importing transformers costs about 2 s of
start-up (more with torch installed), and its generation tag measures the text rendered so far
by joining it anew at every tag, which is quadratic in the length of a conversation; here the
length is kept as a running total. tests/chat/test_sandbox.py renders every published template
llama.cpp vendors with both and requires the same text, spans and errors.

The environment also sizes, before they run, the operations that one C call could make run for
hours or fill the memory (``10 ** n``, ``'{:>3000000000}'.format(x)``, ``'x' * n``: see
`sftmask.chat.bounds`); templates that do not compute such values render unchanged.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import json
import threading
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import jinja2
import jinja2.ext
import jinja2.nodes
import numpy as np
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from markupsafe import EscapeFormatter, Markup

from sftmask.chat import bounds

Span = tuple[int, int]

REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")
"""Names a message's reasoning is passed under (transformers aliases them to one another)."""
TEMPLATE_INPUTS = ("messages", "tools", "documents", "add_generation_prompt")
"""The variables every rendering passes (special tokens and template variables come beside them)."""


class _Tracking(threading.local):
    spans: list[Span] | None = None
    length = 0
    """Characters rendered so far by the `render` call tracking spans in this thread."""


_TRACKING = _Tracking()


class _Generation(jinja2.ext.Extension):
    """``{% generation %} ... {% endgeneration %}``: records the span of the enclosed text."""

    tags = {"generation"}  # noqa: RUF012  (Jinja declares it a plain class attribute)

    def parse(self, parser: Any) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_mark"), [], [], body).set_lineno(lineno)

    def _mark(self, caller: Any) -> str:
        text: str = caller()
        if _TRACKING.spans is not None:  # the text rendered before this block, as transformers counts it
            _TRACKING.spans.append((_TRACKING.length, _TRACKING.length + len(text)))
        return text


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


_TOJSON_KEPT = 256
"""Containers whose JSON `_tojson` keeps (then it starts afresh)."""
_tojson_kept: dict[tuple[Any, ...], tuple[Any, str]] = {}


def _tojson(
    x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None, sort_keys: bool = False
) -> str:
    """transformers' ``tojson`` filter. The JSON of a list or dict is kept with the object itself
    (so its id names it while kept): the tool schemas a batch's conversations share (one parsed
    object, `sftmask.kinds.chat.parse_conversations`) are written once. Kept objects are never
    changed: a template cannot change what it is given (the sandbox is immutable), and sftmask does
    not change parsed records."""
    if not isinstance(x, dict | list):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
    key = (id(x), ensure_ascii, repr(indent), repr(separators), sort_keys)
    kept = _tojson_kept.get(key)
    if kept is not None and kept[0] is x:
        return kept[1]
    text = json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
    if len(_tojson_kept) >= _TOJSON_KEPT:
        _tojson_kept.clear()
    _tojson_kept[key] = (x, text)
    return text


def _strftime_now(format: str) -> str:
    return datetime.now().strftime(format)


class _TemplateDict:
    """``dict(...)`` in a template: a plain dict, with no attributes to reach Python internals."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict.fromkeys(*args, **kwargs)


class _TemplateNamespace(jinja2.utils.Namespace):
    """``namespace(...)`` refusing underscore-prefixed attributes (no way into CPython internals)."""

    def __init__(*args: Any, **kwargs: Any) -> None:  # Jinja's signature trick: namespace(self=...) works
        self, args = args[0], args[1:]
        attrs = dict(*args, **kwargs)
        for name in attrs:
            _TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        _TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check_name(name: Any) -> None:
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(
                f"Chat templates cannot store underscore-prefixed attributes on a namespace, but got {name!r}. "
                "Please rename the attribute."
            )


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` in a template: each field's width and precision sized first."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        bounds.check_format_spec(format_spec)
        return super().format_field(value, format_spec)


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    """``Markup.format`` (a ``|safe`` string's) in a template, sized like `_BoundedFormatter`."""


_FORMATS = frozenset({"format", "format_map"})
"""The str methods Jinja's sandbox formats itself (`_TemplateEnvironment.wrap_str_format`)."""
_DICT_ATTRIBUTES = frozenset(dir(dict))
"""The attributes a plain dict has (its methods and object's): any other name is an item or nothing."""


class _TemplateEnvironment(ImmutableSandboxedEnvironment):
    """transformers' sandbox, with the operations that can make large values sized before they run
    (`sftmask.chat.bounds`): ``*``, ``**`` and ``%``, calls of padding string methods, ``str.format``
    and ``format_map``."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._safe: dict[tuple[type, str], bool] = {}
        self._safe_token = abc.get_cache_token()

    def getattr(self, obj: Any, attribute: str) -> Any:
        # ``message.role``: Jinja tries the attribute first, and a plain dict has none of that name,
        # so Python would raise and catch an AttributeError per lookup; go to the item at once.
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except (TypeError, LookupError):
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        # Jinja's verdict depends on the object's type and the name alone (isinstance checks of the
        # type, against ABCs among others, then the name): kept per (type, name). A type registered
        # with an ABC since (the token changes) clears what was kept; an object whose ``__class__``
        # is not its type is asked every time.
        cls = type(obj)
        if obj.__class__ is not cls:
            return super().is_safe_attribute(obj, attr, value)
        token = abc.get_cache_token()
        if token != self._safe_token:
            self._safe.clear()
            self._safe_token = token
        key = (cls, attr)
        safe = self._safe.get(key)
        if safe is None:
            safe = self._safe[key] = super().is_safe_attribute(obj, attr, value)
        return safe

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        return bounds.binop(operator, left, right)

    # Jinja's parameter names: a template's keyword arguments (self=..., obj=...) cannot clash with them.
    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        bounds.check_call(__obj, args, kwargs)
        if type(__obj) is types.BuiltinMethodType and type(__obj.__self__) is str and __obj.__name__ not in _FORMATS:
            # A str method (``startswith``, ``split``, ``strip``: most calls a chat template makes).
            # What Jinja's sandbox and `Context.call` do comes down to calling it: a builtin method
            # cannot be marked unsafe (no attributes of its own) nor ask for the context, and
            # format methods (wrapped by `wrap_str_format`) are not this path.
            kwargs.pop("_block_vars", None)
            kwargs.pop("_loop_vars", None)
            try:
                return __obj(*args, **kwargs)
            except StopIteration:  # as Context.call
                return __context.environment.undefined(
                    "value was undefined because a callable raised a StopIteration exception"
                )
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # Jinja's own, with the bounded formatters.
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)) or value.__name__ not in (
            "format",
            "format_map",
        ):
            return None
        f_self: Any = value.__self__
        if not isinstance(f_self, str):
            return None
        str_type: type[str] = type(f_self)
        is_format_map = value.__name__ == "format_map"
        formatter: SandboxedFormatter
        if isinstance(f_self, Markup):
            formatter = _BoundedEscapeFormatter(self, escape=f_self.escape)
        else:
            formatter = _BoundedFormatter(self)
        vformat = formatter.vformat

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs:
                    raise TypeError("format_map() takes no keyword arguments")
                if len(args) != 1:
                    raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
                kwargs = args[0]
                args = ()
            return str_type(vformat(f_self, args, kwargs))

        return functools.update_wrapper(wrapper, value)


@functools.lru_cache(maxsize=32)
def compile_template(source: str) -> jinja2.Template:
    """The compiled template (cached by its text).

    Raises:
        jinja2.TemplateError: it does not compile.
    """
    env = _TemplateEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[_Generation, jinja2.ext.loopcontrols])
    env.filters.update(bounds.bounded_filters(env.filters))
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.globals["dict"] = _TemplateDict()
    env.globals["namespace"] = _TemplateNamespace
    return env.from_string(source)


def plain_data(value: Any) -> Any:
    """`value` rebuilt from plain JSON types, anything else an inert ``"<TypeName>"`` placeholder
    (what transformers lets a template see)."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, Mapping):
        return {plain_data(key): plain_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_data(item) for item in value]
    if isinstance(value, tuple):
        return tuple(plain_data(item) for item in value)
    if isinstance(value, np.generic):  # np.bool_(False) would otherwise become a truthy placeholder
        return plain_data(value.item())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: plain_data(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):
        return plain_data(value.model_dump())
    return f"<{type(value).__name__}>"


def _alias_reasoning(message: dict[str, Any]) -> dict[str, Any]:
    reasoning = next((message[key] for key in REASONING_FIELDS if message.get(key) is not None), None)
    if reasoning is None:
        return message
    return {"thinking": reasoning, **message, "reasoning_content": reasoning}


def template_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parsed messages (plain JSON data) as transformers hands them to a template: a message with
    reasoning under any of its names has it under ``thinking`` and ``reasoning_content`` too."""
    return [_alias_reasoning(m) for m in messages]


def check_tools(tools: Any) -> None:
    """Raise, as transformers does, when a tool is not a JSON schema (a dict)."""
    if tools is not None and not all(isinstance(tool, dict) for tool in tools):
        raise ValueError(
            "Tools should either be a JSON schema, or a callable function with type hints "
            "and a docstring suitable for auto-conversion to a schema."
        )


@contextmanager
def _tracking(spans: list[Span]) -> Iterator[None]:
    if _TRACKING.spans is not None:
        raise RuntimeError("generation spans are already being tracked in this thread")
    _TRACKING.spans, _TRACKING.length = spans, 0
    try:
        yield
    finally:
        _TRACKING.spans, _TRACKING.length = None, 0


def render(template: jinja2.Template, variables: dict[str, Any], *, spans: bool = False) -> tuple[str, list[Span]]:
    """The text `template` renders from `variables`, and (with `spans`) the character spans of its
    ``{% generation %}`` blocks, in the order they close."""
    if not spans:
        return template.render(**variables), []
    found: list[Span] = []
    blocks: list[str] = []
    with _tracking(found):
        for block in template.generate(**variables):
            blocks.append(block)
            _TRACKING.length += len(block)
    return "".join(blocks), found
