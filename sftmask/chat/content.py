"""Message content as a chat template takes it: OpenAI's text parts passed through or joined,
null content beside tool calls made what the template expects.

OpenAI's chat format allows a message's content to be a list of parts
(``[{"type": "text", "text": "..."}]``). Some templates iterate over such a list (Qwen3.5,
Gemma 3/4, Llama 4); most expect a string. sftmask tells them apart as vLLM does
(``vllm/entrypoints/chat_utils.py``, ``_detect_content_format``): a template whose syntax tree
has a ``for`` loop over a message's ``content`` (``for item in message['content']``, through any
variable assigned from ``messages`` or a message, or a loop over a variable named ``content``)
takes the ``openai`` format, and the list is passed through unchanged, so the rendering is what
``apply_chat_template`` gives; any other template takes the ``string`` format, and the text parts
are joined with a newline between parts, as vLLM's ``string`` content format joins them
(``"\\n".join(texts)``). Null content (OpenAI's shape of a message holding only ``tool_calls``)
becomes ``""`` for a string template and ``[]`` for an openai one, as vLLM gives them.
Parts that are not text are rejected earlier (`sftmask.kinds.chat`, ``non-text-content``).
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Iterator
from typing import Any, Literal

import jinja2.nodes

from sftmask.chat.sandbox import compile_template

ContentFormat = Literal["string", "openai"]


def _is_var(node: jinja2.nodes.Node, name: str) -> bool:
    return isinstance(node, jinja2.nodes.Name) and node.ctx == "load" and node.name == name


def _is_item(node: jinja2.nodes.Node, name: str, key: str) -> bool:
    if isinstance(node, jinja2.nodes.Getitem):
        return _is_var(node.node, name) and isinstance(node.arg, jinja2.nodes.Const) and node.arg.value == key
    if isinstance(node, jinja2.nodes.Getattr):
        return _is_var(node.node, name) and node.attr == key
    return False


def _reads(node: jinja2.nodes.Node, name: str, key: str | None = None) -> bool:
    """Whether `node` is ``name`` (or ``name[key]``), through filters, tests and slices."""
    if isinstance(node, jinja2.nodes.Filter):
        return node.node is not None and _reads(node.node, name, key)
    if isinstance(node, jinja2.nodes.Test):
        return _reads(node.node, name, key)
    if isinstance(node, jinja2.nodes.Getitem) and isinstance(node.arg, jinja2.nodes.Slice):
        return _reads(node.node, name, key)
    return _is_item(node, name, key) if key else _is_var(node, name)


def _aliases(root: jinja2.nodes.Template, name: str) -> list[str]:
    """`name` and every variable assigned from it (or from one of those), e.g. ``loop_messages``."""
    found = [name]
    queue = deque([name])
    while queue:
        current = queue.popleft()
        for assign in root.find_all(jinja2.nodes.Assign):
            target = assign.target
            if _reads(assign.node, current) and isinstance(target, jinja2.nodes.Name) and target.name not in found:
                found.append(target.name)
                queue.append(target.name)
    return found


def _loop_targets(root: jinja2.nodes.Template, names: list[str], key: str | None = None) -> Iterator[str]:
    for loop in root.find_all(jinja2.nodes.For):
        if isinstance(loop.target, jinja2.nodes.Name) and any(_reads(loop.iter, name, key) for name in names):
            yield loop.target.name


@functools.lru_cache(maxsize=32)
def content_format(template: str) -> ContentFormat:
    """``openai`` when the template loops over a message's content, else ``string`` (see the module
    docstring). A template that does not parse is ``string`` (rendering it reports the error)."""
    try:
        root = compile_template(template).environment.parse(template)
    except Exception:  # a syntax error: the renderer reports it
        return "string"
    messages = list(_loop_targets(root, _aliases(root, "messages")))
    if any(True for _ in _loop_targets(root, messages, "content")):
        return "openai"
    for loop in root.find_all(jinja2.nodes.For):
        if _is_var(loop.iter, "content"):
            return "openai"
    return "string"


def template_content(messages: list[dict[str, Any]], fmt: ContentFormat) -> list[dict[str, Any]]:
    """Messages with their content as a template of content format `fmt` takes it (see the module
    docstring); the same list when every content is a string."""
    if all(isinstance(m.get("content"), str) for m in messages):
        return messages
    out = []
    for message in messages:
        content = message.get("content")
        if content is None:
            message = {**message, "content": "" if fmt == "string" else []}
        elif isinstance(content, list) and fmt == "string":
            message = {**message, "content": "\n".join(part["text"] for part in content)}
        out.append(message)
    return out
