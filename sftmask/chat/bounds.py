"""What one operation of a chat template may make, sized before it runs.

The render limits (`sftmask.limits.render_limit`) stop a template between two Python bytecodes,
so one C call runs to its end first: ``10 ** n`` with a large ``n`` runs for hours, and
``'{:>3000000000}'.format(x)``, ``'%*d' % (10**9, 1)`` or ``'x' * n`` fill gigabytes before the
watchdog can look. The sandbox (`sftmask.chat.sandbox`) hands these operations to the checks
here first, and they are refused when their result would pass the limits:

- integers made by ``**`` and ``*``: at most `sftmask.limits.RENDER_INT_BITS` bits;
- repetition (``*`` of a string, list or tuple), printf formatting (``%`` and the ``format``
  filter), ``str.format``/``format_map`` widths and precisions, padding (``center``, ``ljust``,
  ``rjust``, ``zfill``, ``expandtabs``, the ``center`` and ``indent`` filters), ``replace``, a
  ``batch`` filled up to its size and ``int.to_bytes``: at most `sftmask.limits.RENDER_MEMORY_BYTES`
  characters (items count 8 bytes each).

Each check costs a few comparisons; the values real templates compute pass them unchanged (they
render exactly as transformers renders them). Operations whose cost is not their result's size
(comparing two lists that hold one long list many times) are left to the render limits and, in
the CLI, to the supervising process that can kill a render stuck in one C call.
"""

from __future__ import annotations

import functools
import operator
import types
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from sftmask import limits
from sftmask.limits import RenderSizeExceeded

POINTER_BYTES = 8
"""What one item of a list or tuple takes (a reference)."""
_BINOPS: dict[str, Callable[[Any, Any], Any]] = {"*": operator.mul, "**": operator.pow, "%": operator.mod}


def _too_big(what: str, size: int, unit: str = "characters", limit: int | None = None) -> NoReturn:
    limit = limits.RENDER_MEMORY_BYTES if limit is None else limit
    raise RenderSizeExceeded(
        f"{what} would make {size:,} {unit}, more than one operation of a chat template may make ({limit:,})"
    )


def _check_size(what: str, size: int, unit: str = "characters") -> None:
    if size > limits.RENDER_MEMORY_BYTES:
        _too_big(what, size, unit)


def _is_int(value: Any) -> bool:
    return isinstance(value, int)  # bool too: True * 'x' is 'x'


def _item_size(value: Any) -> tuple[int, str]:
    """How much one copy of a string, list or tuple takes, and in what unit."""
    if isinstance(value, str):
        return len(value), "characters"
    return POINTER_BYTES * len(value), "bytes"


def binop(op: str, left: Any, right: Any) -> Any:
    """``left op right`` for the intercepted operators (``*``, ``**``, ``%``), refused when the
    result would be too large.

    Raises:
        RenderSizeExceeded: the result would pass the limits.
    """
    if op == "%":
        if isinstance(left, str):
            check_printf(left, right)
    elif op == "**":
        if _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
            # The result has more than (bits of left - 1) * right bits.
            bits = (abs(left).bit_length() - 1) * right
            if bits > limits.RENDER_INT_BITS:
                _too_big(f"{_short(left)} ** {_short(right)}", bits, "bits", limits.RENDER_INT_BITS)
    elif op == "*":
        if _is_int(left) and _is_int(right):
            bits = abs(left).bit_length() + abs(right).bit_length() - 1
            if bits > limits.RENDER_INT_BITS:
                _too_big(f"{_short(left)} * {_short(right)}", bits, "bits", limits.RENDER_INT_BITS)
        else:
            seq, times = (left, right) if _is_int(right) else (right, left)
            if _is_int(times) and isinstance(seq, (str, list, tuple)) and times > 1:
                size, unit = _item_size(seq)
                _check_size(f"{type(seq).__name__} * {_short(times)}", size * times, unit)
    return _BINOPS[op](left, right)


def _short(value: Any) -> str:
    """An integer as an error message can show it (not 300,000 digits of it)."""
    if abs(value) < 10**12:
        return str(value)
    return f"<a {value.bit_length():,}-bit integer>"


def _number(text: str, start: int) -> tuple[int, int]:
    """The decimal number of ASCII digits at `start` (0 when there is none) and the index after it."""
    end = start
    while end < len(text) and "0" <= text[end] <= "9":
        end += 1
    if end == start:
        return 0, start
    if end - start > 18:
        return 10**18, end  # a width of 19 digits or more is too large whatever it is
    return int(text[start:end]), end


def check_printf(fmt: str, args: Any) -> None:
    """Refuse a printf-style format (``fmt % args``, the ``format`` filter) whose widths and
    precisions (``%3000000000d``, ``%*d`` with the width among `args`) would make too long a text.

    Raises:
        RenderSizeExceeded: the widths and precisions pass the limit.
    """
    if "%" not in fmt:
        return
    values = args if isinstance(args, tuple) else (args,)
    total, index, i, n = 0, 0, fmt.find("%"), len(fmt)
    while 0 <= i < n - 1:
        i += 1
        if fmt[i] == "%":
            i = fmt.find("%", i + 1)
            continue
        if fmt[i] == "(":  # a mapping key: its parentheses may nest
            depth = 0
            while i < n:
                depth += {"(": 1, ")": -1}.get(fmt[i], 0)
                i += 1
                if depth == 0:
                    break
        while i < n and fmt[i] in "-+ #0":
            i += 1
        for part in ("width", "precision"):
            if part == "precision":
                if i >= n or fmt[i] != ".":
                    break
                i += 1
            if i < n and fmt[i] == "*":  # the next value is the width (or precision)
                given = values[index] if index < len(values) else 0
                total += abs(given) if _is_int(given) else 0
                index, i = index + 1, i + 1
            else:
                size, i = _number(fmt, i)
                total += size
        index += 1
        i = fmt.find("%", i)
    _check_size("a format's widths and precisions", total)


def check_format_spec(spec: str) -> None:
    """Refuse a ``str.format`` field whose width and precision (``{:>3000000000}``) would make
    too long a text: every number in the spec counts (the fill character may be a digit too).

    Raises:
        RenderSizeExceeded: they pass the limit.
    """
    total, i = 0, 0
    while i < len(spec):
        size, end = _number(spec, i)
        total += size
        i = max(end, i + 1)
    _check_size(f"the format field {{:{spec[:40]}}}", total)


def _padding(owner: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    width = args[0] if args else kwargs.get("width", 0)
    return max(width, len(owner)) if _is_int(width) else 0


def _expanded(owner: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    tabsize = args[0] if args else kwargs.get("tabsize", 8)
    return len(owner) + owner.count("\t") * tabsize if _is_int(tabsize) and tabsize > 1 else 0


def _replaced(owner: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """An upper bound of ``owner.replace(old, new, count)``'s length."""
    if len(args) < 2 or not isinstance(args[0], str) or not isinstance(args[1], str):
        return 0  # str.replace refuses it
    old, new = args[0], args[1]
    count = args[2] if len(args) > 2 else kwargs.get("count", -1)
    if len(new) <= len(old):
        return len(owner)
    found = len(owner) + 1 if not old else owner.count(old)
    if _is_int(count) and count >= 0:
        found = min(found, count)
    return len(owner) + found * (len(new) - len(old))


_STR_METHODS: dict[str, Callable[[str, tuple[Any, ...], Mapping[str, Any]], int]] = {
    "center": _padding,
    "ljust": _padding,
    "rjust": _padding,
    "zfill": _padding,
    "expandtabs": _expanded,
    "replace": _replaced,
}
"""String methods whose result can be much longer than the string: name -> its length."""


def check_call(func: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse a call of a string method that pads or replaces (``'x'.center(3000000000)``) or of
    ``int.to_bytes`` whose result would be too large; other calls pass.

    Raises:
        RenderSizeExceeded: the result would pass the limit.
    """
    if type(func) is not types.BuiltinMethodType:
        return
    owner, name = func.__self__, func.__name__
    if isinstance(owner, str):
        size = _STR_METHODS.get(name)
        if size is not None:
            _check_size(f"str.{name}", size(owner, args, kwargs))
    elif name == "to_bytes" and _is_int(owner):
        length = args[0] if args else kwargs.get("length", 1)
        if _is_int(length):
            _check_size("int.to_bytes", length, "bytes")


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str, default: Any) -> Any:
    """A filter's argument, given by position or by name (a call the filter refuses passes the
    check, and the filter raises its own error)."""
    return args[index] if len(args) > index else kwargs.get(name, default)


def _center(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    width = _arg(args, kwargs, 1, "width", 80)
    if _is_int(width):
        _check_size("the center filter", width)


def _indent(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    text, width = _arg(args, kwargs, 0, "s", ""), _arg(args, kwargs, 1, "width", 4)
    indent = len(width) if isinstance(width, str) else width if _is_int(width) else 0
    if isinstance(text, str) and indent > 1:
        _check_size("the indent filter", len(text) + indent * (text.count("\n") + 1))


def _replace_filter(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    # replace is pass_eval_context: args[0] is the evaluation context.
    text, count = _arg(args, kwargs, 1, "s", None), _arg(args, kwargs, 4, "count", None)
    old, new = _arg(args, kwargs, 2, "old", None), _arg(args, kwargs, 3, "new", None)
    if isinstance(text, str):
        _check_size("the replace filter", _replaced(text, (old, new) if count is None else (old, new, count), {}))


def _format_filter(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    if args and isinstance(args[0], str):
        check_printf(args[0], kwargs or args[1:])


def _batch(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    linecount, fill_with = _arg(args, kwargs, 1, "linecount", 0), _arg(args, kwargs, 2, "fill_with", None)
    if fill_with is not None and _is_int(linecount):
        _check_size("the batch filter", POINTER_BYTES * linecount, "bytes")


_FILTER_CHECKS: dict[str, Callable[[tuple[Any, ...], Mapping[str, Any]], None]] = {
    "center": _center,
    "indent": _indent,
    "replace": _replace_filter,
    "format": _format_filter,
    "batch": _batch,
}
"""Jinja's filters that can make a result much larger than their input: name -> its check,
called with the filter's arguments (args, kwargs) before the filter runs."""


def bounded_filters(filters: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """`filters` (Jinja's), with those that can make large results checked first (`_FILTER_CHECKS`).

    A wrapped filter keeps its name and how Jinja passes it the context (``pass_eval_context``).
    """
    return {name: _checked(filters[name], check) for name, check in _FILTER_CHECKS.items()}


def _checked(
    original: Callable[..., Any], check: Callable[[tuple[Any, ...], Mapping[str, Any]], None]
) -> Callable[..., Any]:
    @functools.wraps(original)
    def checked(*args: Any, **kwargs: Any) -> Any:
        check(args, kwargs)
        return original(*args, **kwargs)

    return checked
