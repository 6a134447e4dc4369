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

The rendered prompt is masked and the rendered response trained, with the same token-exact
encoding as plain prompt/response data.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sftmask import reasons
from sftmask.errors import ConfigError, RecordRejected
from sftmask.limits import clip, load_yaml, read_text_file

TEMPLATE_DIR = Path(__file__).resolve().parent / "builtin"
"""Where named templates live, shipped as package data (``--template alpaca`` is
``sftmask/prompts/builtin/alpaca.yaml``)."""


@dataclass(frozen=True)
class Part:
    """A piece of the prompt: always ``text``, or ``text``/``otherwise`` depending on ``when``."""

    text: str
    when: str | None = None
    otherwise: str = ""


@dataclass(frozen=True)
class PromptTemplate:
    """A loaded prompt template."""

    name: str
    description: str
    parts: tuple[Part, ...]
    response: str

    @property
    def required_fields(self) -> list[str]:
        """Fields every record must hold as strings."""
        texts = [self.response]
        for part in self.parts:
            texts += [part.text, part.otherwise]
        conditions = {part.when for part in self.parts if part.when}
        used = _unique(name for text in texts for name in placeholders(text))
        plain = {name for part in self.parts if part.when is None for name in placeholders(part.text)}
        plain |= set(placeholders(self.response))
        return [name for name in used if name not in conditions or name in plain]

    @property
    def optional_fields(self) -> list[str]:
        """Fields that conditions test: they may be empty, null or absent."""
        required = set(self.required_fields)
        return _unique(part.when for part in self.parts if part.when and part.when not in required)

    def render(self, record: dict[str, str | None]) -> tuple[str, str]:
        """The (prompt, response) texts for one record (missing optional fields are None)."""
        values = {key: value or "" for key, value in record.items()}
        prompt = []
        for part in self.parts:
            text = part.text if part.when is None or values.get(part.when) else part.otherwise
            prompt.append(_substitute(text, values))
        return "".join(prompt), _substitute(self.response, values)


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
            names = ", ".join([*available_templates(), "chat"])
            raise ConfigError(f"unknown template {name_or_file!r}; choose one of: {names}, or pass a YAML file")
    text = read_text_file(path, "template", ConfigError)
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
    unknown = set(data) - {"description", "prompt", "response"}
    if unknown:
        raise bad(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; keys are description, prompt, response")
    prompt, response = data.get("prompt"), data.get("response")
    if not isinstance(response, str):
        raise bad("'response' must be a string such as \"{output}\"")
    raw_parts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(raw_parts, list):
        raise bad("'prompt' must be a string or a list of parts")
    parts = []
    for item in raw_parts:
        if isinstance(item, str):
            parts.append(Part(item))
        elif isinstance(item, dict) and set(item) <= {"if", "then", "else"} and isinstance(item.get("if"), str):
            then, otherwise = item.get("then", ""), item.get("else", "")
            if not isinstance(then, str) or not isinstance(otherwise, str):
                raise bad(f"'then' and 'else' must be strings in {clip(repr(item), 200)}")
            parts.append(Part(then, item["if"], otherwise))
        else:
            raise bad(
                f"a prompt part must be a string or {{if: FIELD, then: TEXT, else: TEXT}}, not {clip(repr(item), 200)}"
            )
    template = PromptTemplate(path.stem, str(data.get("description", "")), tuple(parts), response)
    for text in [response, *(t for p in parts for t in (p.text, p.otherwise))]:
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
    if not template.required_fields and not template.optional_fields:
        raise bad("uses no record field")
    return template


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
                if value is not None and not isinstance(value, str):
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
