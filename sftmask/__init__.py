"""sftmask: tokenize prompt/response data and build token-exact training labels.

The library behind the `sftmask` command: every command is one call here.

>>> import sftmask
>>> table = sftmask.label(
...     [{"prompt": "Say hi.", "response": " Hi!"}], "sample_data/tokenizer", strategy="response-only"
... )
>>> table.num_rows, table.column_names
(1, ['input_ids', 'attention_mask', 'labels', 'assistant_masks'])

Importing `sftmask` is cheap: the names below load their modules on first use.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Not `typing.TYPE_CHECKING`: importing typing alone costs more than this module (see ARCHITECTURE.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from sftmask.config.build import BuildConfig
    from sftmask.config.recipe import RecipeConfig, load_config
    from sftmask.errors import (
        ConfigError,
        InputDataError,
        NotAnOutputError,
        OutputError,
        SftmaskError,
        ShardReadError,
        TokenizerError,
        ValidationFailed,
    )
    from sftmask.io.output import BuiltOutput, open_output
    from sftmask.pipeline import BuildResult, build, label
    from sftmask.report.stats import compute_stats
    from sftmask.report.validate import ValidationReport, validate
    from sftmask.tokenization.load import LoadedTokenizer, load_tokenizer

_EXPORTS = {
    "build": "sftmask.pipeline",
    "label": "sftmask.pipeline",
    "BuildResult": "sftmask.pipeline",
    "BuildConfig": "sftmask.config.build",
    "load_config": "sftmask.config.recipe",
    "RecipeConfig": "sftmask.config.recipe",
    "open_output": "sftmask.io.output",
    "BuiltOutput": "sftmask.io.output",
    "validate": "sftmask.report.validate",
    "ValidationReport": "sftmask.report.validate",
    "compute_stats": "sftmask.report.stats",
    "load_tokenizer": "sftmask.tokenization.load",
    "LoadedTokenizer": "sftmask.tokenization.load",
    "SftmaskError": "sftmask.errors",
    "ConfigError": "sftmask.errors",
    "InputDataError": "sftmask.errors",
    "TokenizerError": "sftmask.errors",
    "OutputError": "sftmask.errors",
    "NotAnOutputError": "sftmask.errors",
    "ShardReadError": "sftmask.errors",
    "ValidationFailed": "sftmask.errors",
}

__all__ = [
    "BuildConfig",
    "BuildResult",
    "BuiltOutput",
    "ConfigError",
    "InputDataError",
    "LoadedTokenizer",
    "NotAnOutputError",
    "OutputError",
    "RecipeConfig",
    "SftmaskError",
    "ShardReadError",
    "TokenizerError",
    "ValidationFailed",
    "ValidationReport",
    "__version__",
    "build",
    "compute_stats",
    "label",
    "load_config",
    "load_tokenizer",
    "open_output",
    "validate",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sftmask' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
