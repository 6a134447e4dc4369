"""The dataset card (README.md) of a split output: the Hub's `configs:` block, so that
`datasets.load_dataset(DIR)` opens the splits as they are, and a short summary for people."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CARD = "README.md"


def card_text(manifest: dict[str, Any], split_globs: dict[str, str]) -> str:
    """README.md for a build: YAML front matter (`configs`: each split's shard glob) and a summary.

    Args:
        manifest: the build's manifest (counts, tokenizer, strategy, packing, sources).
        split_globs: each split's shard files, as a glob relative to the output (``data/train-*``).
    """
    front = {
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": glob} for split, glob in split_globs.items()],
            }
        ],
        "tags": ["sftmask", "sft"],
    }
    lines = ["---", yaml.safe_dump(front, sort_keys=False).rstrip(), "---", "", "# SFT data built by sftmask", ""]
    tokenizer = manifest.get("tokenizer", {}).get("name_or_path", "?")
    lines.append(
        f"Tokenized with `{tokenizer}`; `labels` are unshifted (the model shifts), -100 where masked. "
        f"Built by sftmask {manifest.get('sftmask_version', '?')}: `manifest.json` holds every option and count."
    )
    lines += ["", "| split | rows | tokens | trained tokens |", "| --- | ---: | ---: | ---: |"]
    for split, entry in manifest.get("splits", {}).items():
        lines.append(f"| {split} | {entry['rows']:,} | {entry['tokens']:,} | {entry['trained_tokens']:,} |")
    sources = manifest.get("sources")
    if sources:
        lines += [
            "",
            "| source | strategy | records read | rows written | rejected | left out |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for name, entry in sources.items():
            written = ", ".join(f"{split} {n:,}" for split, n in entry["rows_written_by_split"].items())
            lines.append(
                f"| {name} | {entry['strategy']} | {entry['records_read']:,} | {written} | "
                f"{entry['rejected']:,} | {entry['left_out'] + entry['duplicates']:,} |"
            )
    else:
        lines += ["", f"Strategy: `{manifest.get('strategy', {}).get('name')}`."]
    packing = manifest.get("packing")
    if packing:
        settings = packing.get("trainer_settings", {})
        lines += [
            "",
            f"Packed ({packing['strategy']}, {packing['pack_length']:,} tokens a row): rows have `position_ids` and "
            "`seq_lengths`, no `attention_mask`. Read them with (`PackedCollator` is `sftmask.packing.PackedCollator`):",
            "",
            *(f"- {trainer}: `{setting}`" for trainer, setting in settings.items() if trainer != "warning"),
        ]
        if "warning" in settings:
            lines += ["", f"Warning: {settings['warning']}."]
    lines += [
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        'splits = load_dataset("path/to/this/folder")',
        "```",
        "",
    ]
    return "\n".join(lines)


def write_card(directory: Path, manifest: dict[str, Any], split_globs: dict[str, str]) -> None:
    """Write README.md into the output directory."""
    (directory / CARD).write_text(card_text(manifest, split_globs), encoding="utf-8")
