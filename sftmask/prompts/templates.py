"""Prompt templates: small YAML files that build the prompt and response text from record fields.

A template has a ``prompt`` (a string, or a list of parts) and a ``response`` string, with
``{field}`` placeholders over record fields (``{{`` and ``}}`` for literal braces). A part may be
conditional: ``{if: FIELD, then: TEXT, else: TEXT}`` renders ``then`` when the record's FIELD
is a non-empty string and ``else`` (default: nothing) when it is empty, null or absent::

    prompt:
      - "### Instruction:\\n{instruction}\\n\\n"
      - if: input
        then: "### Input:\\n{input}\\n\\n"
      - "### Response:\\n"
    response: "{output}"

``then`` and ``else`` may themselves be conditional parts. A template with a ``history`` text
renders LLaMA-Factory's ``history`` field (earlier ``[prompt, response]`` turns) where the prompt
writes ``{history}``, each turn with the ``history`` text's ``{prompt}`` and ``{response}``::

    history: "### Instruction:\n{prompt}\n\n### Response:\n{response}\n\n"

The rendered prompt (earlier turns included) is masked and the rendered response trained, with
the same token-exact encoding as plain prompt/response data.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftmask import reasons
from sftmask.errors import ConfigError, RecordRejected, did_you_mean
from sftmask.limits import clip, load_yaml, read_text_file

TEMPLATE_DIR = Path(__file__).resolve().parent / "builtin"
"""Where named templates live, shipped as package data (``--template alpaca`` is
``sftmask/prompts/builtin/alpaca.yaml``)."""


@dataclass(frozen=True)
class Part:
    """A piece of the prompt: always ``text``, or ``text``/``otherwise`` depending on ``when``
    (each a text or a conditional part of its own)."""

    text: str | Part
    when: str | None = None
    otherwise: str | Part = ""

    def texts(self) -> list[str]:
        """Every text this part may render."""
        return [
            t for piece in (self.text, self.otherwise) for t in (piece.texts() if isinstance(piece, Part) else [piece])
        ]

    def conditions(self) -> list[str]:
        """The fields this part (and the parts it holds) test."""
        inner = [c for piece in (self.text, self.otherwise) if isinstance(piece, Part) for c in piece.conditions()]
        return ([self.when] if self.when else []) + inner

    def render(self, values: dict[str, str]) -> str:
        piece = self.text if self.when is None or values.get(self.when) else self.otherwise
        return piece.render(values) if isinstance(piece, Part) else _substitute(piece, values)


HISTORY = "history"
"""The record field holding LLaMA-Factory's earlier turns, and the prompt's placeholder for them."""
HISTORY_FIELDS = ("prompt", "response")
"""The placeholders of a template's ``history`` text: one earlier turn's prompt and response."""


@dataclass(frozen=True)
class PromptTemplate:
    """A loaded prompt template."""

    name: str
    description: str
    parts: tuple[Part, ...]
    response: str
    history: str | None = None
    """How an earlier turn of the record's ``history`` renders ({prompt}, {response}); None: no history."""

    @property
    def required_fields(self) -> list[str]:
        """Fields every record must hold as strings."""
        texts = [self.response, *(t for part in self.parts for t in part.texts())]
        conditions = {c for part in self.parts for c in part.conditions()}
        used = _unique(name for text in texts for name in placeholders(text) if not self._reserved(name))
        plain = {name for part in self.parts if part.when is None for name in placeholders(_text(part))}
        plain |= set(placeholders(self.response))
        return [name for name in used if name not in conditions or name in plain]

    @property
    def optional_fields(self) -> list[str]:
        """Fields that may be empty, null or absent: those conditions test, and ``history``."""
        required = set(self.required_fields)
        tested = _unique(c for part in self.parts for c in part.conditions() if c not in required)
        return tested + ([HISTORY] if self.history is not None and HISTORY not in tested else [])

    def _reserved(self, name: str) -> bool:
        return self.history is not None and name == HISTORY

    def render(self, record: dict[str, Any]) -> tuple[str, str]:
        """The (prompt, response) texts for one record (missing optional fields are None).

        Raises:
            RecordRejected: the record's ``history`` is not a list of [prompt, response] pairs.
        """
        values = {key: value or "" for key, value in record.items() if key != HISTORY or self.history is None}
        if self.history is not None:
            values[HISTORY] = "".join(
                _substitute(self.history, dict(zip(HISTORY_FIELDS, turn, strict=True)))
                for turn in _turns(record.get(HISTORY))
            )
        prompt = [part.render(values) for part in self.parts]
        return "".join(prompt), _substitute(self.response, values)


def _text(part: Part) -> str:
    return part.text if isinstance(part.text, str) else ""


def _turns(value: Any) -> list[tuple[str, str]]:
    """LLaMA-Factory's ``history``: a list of [prompt, response] pairs of strings (null: none)."""
    if value is None:
        return []
    if isinstance(value, list) and all(
        isinstance(turn, list) and len(turn) == 2 and all(isinstance(t, str) for t in turn) for turn in value
    ):
        return [(turn[0], turn[1]) for turn in value]
    raise RecordRejected(
        reasons.INVALID_HISTORY,
        f"field {HISTORY!r} must be a list of [prompt, response] pairs of strings, not {clip(repr(value), 80)}",
    )


@functools.lru_cache(maxsize=256)
def _pieces(text: str) -> tuple[tuple[str, str | None], ...]:
    return tuple((literal, name) for literal, name, _, _ in string.Formatter().parse(text))


def _substitute(text: str, values: dict[str, str]) -> str:
    """`text` with each ``{field}`` replaced by the field's value: plain substitution, never
    `str.format` (whose format specs would be evaluated, widths included)."""
    return "".join(literal + ("" if name is None else values[name]) for literal, name in _pieces(text))


def placeholders(text: str) -> list[str]:
    """Field names used by ``{name}`` placeholders in a template text."""
    return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]


def _unique(names: Any) -> list[str]:
    return list(dict.fromkeys(names))


def available_templates() -> list[str]:
    """Names of the shipped templates."""
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.yaml"))


@functools.lru_cache(maxsize=16)
def load_template(name_or_file: str) -> PromptTemplate:
    """Load a shipped template by name, or a template YAML file by path.

    Raises:
        ConfigError: no such template, or the file is not a valid template.
    """
    path = Path(name_or_file)
    if not (path.suffix in {".yaml", ".yml"} or path.exists()):
        path = TEMPLATE_DIR / f"{name_or_file}.yaml"
        if not path.is_file():
            names = [*available_templates(), "chat"]
            raise ConfigError(
                f"unknown template {name_or_file!r}{did_you_mean(name_or_file, names)}; "
                f"choose one of: {', '.join(names)}, or pass a YAML file"
            )
    text = read_text_file(path, "template", ConfigError)
    import yaml  # here: a build without a template reads no YAML

    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"template {path}: not valid YAML: {clip(' '.join(str(exc).split()), 500)}") from exc
    return _parse(path, data)


def _parse(path: Path, data: Any) -> PromptTemplate:
    def bad(problem: str) -> ConfigError:
        return ConfigError(f"template {path}: {problem}")

    if not isinstance(data, dict):
        raise bad("must be a mapping with 'prompt' and 'response'")
    unknown = set(data) - {"description", "prompt", "response", HISTORY}
    if unknown:
        raise bad(
            f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; keys are description, prompt, response, history"
        )
    prompt, response, history = data.get("prompt"), data.get("response"), data.get(HISTORY)
    if not isinstance(response, str):
        raise bad("'response' must be a string such as \"{output}\"")
    if history is not None and not isinstance(history, str):
        raise bad("'history' must be a string such as \"Q: {prompt}\\nA: {response}\\n\"")
    raw_parts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(raw_parts, list):
        raise bad("'prompt' must be a string or a list of parts")
    parts = [_part(item, bad) for item in raw_parts]
    template = PromptTemplate(path.stem, str(data.get("description", "")), tuple(parts), response, history)
    for text in [response, *(t for p in parts for t in p.texts())]:
        _check_placeholders(text, bad)
    if history is not None:
        _check_placeholders(history, bad)
        names = set(placeholders(history))
        if names - set(HISTORY_FIELDS):
            raise bad(f"'history' may use only {{prompt}} and {{response}}, not {', '.join(sorted(names))}")
        if not any(HISTORY in placeholders(t) for p in parts for t in p.texts()):
            raise bad("a template with 'history' writes it where the prompt says {history}")
    if not template.required_fields and not template.optional_fields:
        raise bad("uses no record field")
    return template


def _part(item: Any, bad: Any) -> Part:
    """A prompt part from YAML: a string, or ``{if: FIELD, then: PART, else: PART}``."""
    if isinstance(item, str):
        return Part(item)
    if isinstance(item, dict) and set(item) <= {"if", "then", "else"} and isinstance(item.get("if"), str):
        then, otherwise = item.get("then", ""), item.get("else", "")
        pieces = [p if isinstance(p, str) else _part(p, bad) for p in (then, otherwise) if isinstance(p, str | dict)]
        if len(pieces) != 2:
            raise bad(f"'then' and 'else' must be strings or parts in {clip(repr(item), 200)}")
        return Part(pieces[0], item["if"], pieces[1])
    raise bad(f"a prompt part must be a string or {{if: FIELD, then: TEXT, else: TEXT}}, not {clip(repr(item), 200)}")


def _check_placeholders(text: str, bad: Any) -> None:
    try:
        names = placeholders(text)
    except ValueError as exc:
        raise bad(
            f"bad placeholder in {clip(repr(text), 200)}: {exc} (write {{{{ and }}}} for literal braces)"
        ) from exc
    for name in names:
        if not name.isidentifier():
            raise bad(f"placeholder {{{clip(name, 100)}}} must be a plain field name")
    for _, field, spec, conversion in string.Formatter().parse(text):
        if field is not None and (spec or conversion):
            shown = clip(f"{{{field}{'!' + conversion if conversion else ''}:{spec}}}", 100)
            raise bad(
                f"placeholder {shown}: only plain {{field}} placeholders are allowed "
                "(no format spec or conversion: they would be evaluated with record data)"
            )


def render_records(
    template: PromptTemplate, columns: dict[str, list[str | None]], n_rows: int
) -> tuple[list[str], list[str], dict[int, tuple[str, str]]]:
    """Render a batch: prompts, responses and rows whose optional fields are not strings."""
    prompts: list[str] = []
    responses: list[str] = []
    invalid: dict[int, tuple[str, str]] = {}
    for row in range(n_rows):
        record = {name: values[row] for name, values in columns.items()}
        try:
            for name, value in record.items():
                if value is not None and not isinstance(value, str) and not template._reserved(name):
                    raise RecordRejected(
                        reasons.NOT_A_STRING, f"field {name!r} is {type(value).__name__}, not a string"
                    )
            prompt, response = template.render(record)
        except RecordRejected as exc:
            invalid[row] = (exc.reason, exc.message)
            prompt, response = "", ""
        prompts.append(prompt)
        responses.append(response)
    return prompts, responses, invalid
