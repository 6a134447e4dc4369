"""Chat templates shipped with sftmask, each with ``{% generation %}`` markers around what the model
writes in an assistant turn; the published ones render exactly the text their model's own
template renders (tests/chat/test_published.py checks it on the published files).

Where each comes from and its licence: NOTICE.md beside these files.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class ShippedTemplate:
    """A shipped chat template."""

    file: str
    description: str
    source: str
    """Where the unmarked template was published."""
    licence: str


SHIPPED: dict[str, ShippedTemplate] = {
    "chatml": ShippedTemplate("chatml.jinja", "ChatML (<|im_start|>role ... <|im_end|>)", "sftmask", "Apache-2.0"),
    "mistral-inst": ShippedTemplate(
        "mistral-inst.jinja",
        "Mistral [INST] ... [/INST] with BOS, system before the first user turn",
        "sftmask",
        "Apache-2.0",
    ),
    "qwen3": ShippedTemplate(
        "qwen3.jinja", "Qwen3 (thinking in <think>, tools)", "Qwen/Qwen3-0.6B tokenizer_config.json", "Apache-2.0"
    ),
    "deepseek-r1": ShippedTemplate(
        "deepseek-r1.jinja",
        "DeepSeek-R1 distills (reasoning stripped from earlier turns)",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B tokenizer_config.json",
        "MIT",
    ),
    "phi-3.5": ShippedTemplate(
        "phi-3.5.jinja",
        "Phi-3.5 (<|user|> ... <|end|>, EOS at the end)",
        "microsoft/Phi-3.5-mini-instruct tokenizer_config.json",
        "MIT",
    ),
    "mistral-nemo": ShippedTemplate(
        "mistral-nemo.jinja",
        "Mistral-Nemo (system prompt in the last user turn, tool calls)",
        "mistralai/Mistral-Nemo-Instruct-2407 tokenizer_config.json",
        "Apache-2.0",
    ),
}
"""Name -> shipped template; the name works as ``--chat-template NAME``."""


def read_shipped(name: str) -> str:
    """The text of a shipped template."""
    return resources.files(__name__).joinpath(SHIPPED[name].file).read_text(encoding="utf-8")
