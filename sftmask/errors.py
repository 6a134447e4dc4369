"""User-facing error types: each kind of user error has its own class and exit code."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SftmaskError(Exception):
    """Base class for errors caused by input, configuration or environment, not by a bug.

    The CLI prints ``Error: <message>`` and exits with ``exit_code``; anything that is not a
    ``SftmaskError`` is a bug and may show a traceback.
    """

    exit_code = 1


class ConfigError(SftmaskError):
    """Invalid options or config file (unknown key, unknown strategy, bad value)."""

    exit_code = 2


class InputDataError(SftmaskError):
    """A problem in the input data: unreadable file, malformed record, missing field."""

    exit_code = 3

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None, row: int | None = None
    ) -> None:
        self.file = file
        self.line = line
        self.row = row
        """Row (from 0) of a table or JSON array input, instead of a line."""
        self.detail = message
        where = ""
        if file is not None:
            if line is not None:
                where = f"{file}:{line}: "
            elif row is not None:
                where = f"{file} row {row}: "
            else:
                where = f"{file}: "
        super().__init__(where + message)


class TokenizerError(SftmaskError):
    """The tokenizer cannot be loaded or cannot do what the strategy needs."""

    exit_code = 4


class OutputError(SftmaskError):
    """The output directory cannot be written (exists, not empty, permissions)."""

    exit_code = 5


class NotAnOutputError(SftmaskError):
    """A directory given to inspect/stats/validate is not something `sftmask build` wrote."""

    exit_code = 3


class ShardReadError(SftmaskError):
    """A shard of a built output is missing or cannot be decoded."""

    exit_code = 3


class ValidationFailed(SftmaskError):
    """`sftmask validate` found problems in a built output."""

    exit_code = 6


class WorkerDied(SftmaskError):
    """A `--num-proc` worker process died (killed by a signal, e.g. by the out-of-memory killer)."""

    exit_code = 7


class RecordRejected(Exception):
    """Raised internally for one record that cannot be used; becomes a reject or an error."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to a misspelt `word`, if one is close enough."""
    found = difflib.get_close_matches(word, [c for c in choices if isinstance(c, str)], n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'assistant-only'?)`` for the closest choice, or nothing."""
    close = closest(word, choices)
    return f" (did you mean {close!r}?)" if close is not None else ""
