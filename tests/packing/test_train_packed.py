"""Packed output in the trainers that read it: each example's loss equals its loss unpacked.

A tiny random Llama / Qwen2 model (sdpa and eager attention) scores every example of sftmask's
output three ways: TRL's `SFTTrainer(padding_free=True, max_length=None)` on packed rows, the
Hugging Face `Trainer` with `sftmask.packing.PackedCollator` on packed rows, and each unpacked row
alone; and the unpacked output through `DataCollatorForSeq2Seq` and `DataCollatorWithFlattening`.
Needs torch and trl (`.ci/run` installs torch==2.13.0 and trl; with CI set the tests must run).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sftmask.cli.app import app

if os.environ.get("CI"):  # .ci/run installs torch and trl: there the tests run, never skip
    import torch
    import trl
else:
    torch = pytest.importorskip("torch", reason="needs torch (pip install torch==2.13.0 trl)")
    trl = pytest.importorskip("trl", reason="needs trl (pip install torch==2.13.0 trl)")

import itertools

from datasets import Dataset, load_dataset
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DataCollatorForSeq2Seq,
    DataCollatorWithFlattening,
    LlamaConfig,
    Qwen2Config,
    Trainer,
    TrainingArguments,
)

from sftmask.packing import PackedCollator

REPO = Path(__file__).resolve().parents[2]
TOKENIZER = REPO / "sample_data" / "tokenizer"
PACK_LENGTH = 512
RECORDS = 24

Key = tuple[int, ...]
Losses = dict[Key, Any]
"""Per example (its token ids): the loss of each of its labels but the first (0 where -100)."""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Dataset]:
    """The first records of the sample data, built unpacked and packed (same max length)."""
    root = tmp_path_factory.mktemp("train")
    lines = (REPO / "sample_data" / "instructions.jsonl").read_text(encoding="utf-8").splitlines()[:RECORDS]
    data = root / "data.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    common = ["build", str(data), "-t", str(TOKENIZER), "--max-length", str(PACK_LENGTH)]
    out = {}
    for name, extra in (("unpacked", []), ("packed", ["--pack-length", str(PACK_LENGTH)])):
        result = CliRunner().invoke(app, [*common, "-o", str(root / name), *extra])
        assert result.exit_code == 0, result.output
        out[name] = load_dataset("parquet", data_dir=str(root / name))["train"]
    manifest = json.loads((root / "packed" / "manifest.json").read_text())
    assert manifest["packing"]["examples_per_row"]["max"] > 1  # rows really hold several examples
    return out


def tiny_model(arch: str, attn: str) -> Any:
    torch.manual_seed(0)
    size = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
    size |= {"num_key_value_heads": 2, "max_position_embeddings": 2 * PACK_LENGTH, "vocab_size": 6000}
    size["initializer_range"] = 0.2  # sharper attention than the default 0.02: leaks between examples show
    config = LlamaConfig(**size) if arch == "llama" else Qwen2Config(**size)
    model = AutoModelForCausalLM.from_config(config, attn_implementation=attn)
    return model.eval()


def token_losses(logits: Any, labels: Any) -> Any:
    """Loss of each label predicted from the position before it (0 where -100): the causal shift."""
    logp = torch.log_softmax(logits[:-1].float(), dim=-1)
    target = labels[1:]
    trained = target != -100
    picked = logp.gather(-1, target.clamp(min=0)[:, None])[:, 0]
    return torch.where(trained, -picked, 0.0)


def losses_of_flat(model: Any, batch: dict[str, Any]) -> Losses:
    """Per-example losses of a flattened batch (one row, examples found where positions restart)."""
    with torch.no_grad():
        logits = model(**batch).logits[0]
    ids, labels, positions = batch["input_ids"][0], batch["labels"][0], batch["position_ids"][0]
    loss = token_losses(logits, labels)
    starts = [*torch.nonzero(positions == 0).flatten().tolist(), len(ids)]
    out: Losses = {}
    for s, e in itertools.pairwise(starts):
        # Labels s+1 .. e-1 are predicted at s .. e-2; label s (the example's first, -100) at s-1.
        assert labels[s] == -100
        out[tuple(ids[s:e].tolist())] = loss[s : e - 1]
    return out


def losses_of_padded(model: Any, batch: dict[str, Any]) -> Losses:
    with torch.no_grad():
        logits = model(**batch).logits
    out: Losses = {}
    for row in range(len(batch["input_ids"])):
        n = int(batch["attention_mask"][row].sum())
        loss = token_losses(logits[row, :n], batch["labels"][row, :n])
        out[tuple(batch["input_ids"][row, :n].tolist())] = loss
    return out


_REFERENCES: dict[tuple[str, str], Losses] = {}


def reference_of(arch: str, attn: str, unpacked: Dataset) -> Losses:
    """`reference` of the freshly initialised `tiny_model(arch, attn)`, computed once."""
    if (arch, attn) not in _REFERENCES:
        _REFERENCES[arch, attn] = reference(tiny_model(arch, attn), unpacked)
    return _REFERENCES[arch, attn]


def reference(model: Any, unpacked: Dataset) -> Losses:
    """Each unpacked row alone."""
    out: Losses = {}
    for row in unpacked:
        ids = torch.tensor([row["input_ids"]])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0]
        loss = token_losses(logits, torch.tensor(row["labels"]))
        out[tuple(row["input_ids"])] = loss
    return out


def assert_same_losses(got: Losses, want: Losses) -> None:
    assert got.keys() == want.keys()  # every example, once
    for key, loss in got.items():
        assert torch.equal(loss > 0, want[key] > 0)  # the same labels trained
        assert torch.allclose(loss, want[key], rtol=1e-4, atol=1e-5), float((loss - want[key]).abs().max())


def collect(model: Any, batches: Iterable[dict[str, Any]], flat: bool) -> Losses:
    out: Losses = {}
    for batch in batches:
        batch = {k: v for k, v in batch.items()}
        part = losses_of_flat(model, batch) if flat else losses_of_padded(model, batch)
        assert not part.keys() & out.keys()
        out |= part
        if flat:  # the model's own loss is the mean over the batch's trained labels
            with torch.no_grad():
                mean = float(model(**batch).loss)
            count = int((batch["labels"] != -100).sum())
            assert mean == pytest.approx(float(sum(v.sum() for v in part.values())) / count, rel=1e-5)
    return out


def trainer_args(tmp_path: Path, **kwargs: Any) -> dict[str, Any]:
    return {
        "output_dir": str(tmp_path / "run"),
        "per_device_train_batch_size": 2,
        "report_to": "none",
        "use_cpu": True,
        "max_steps": 2,
        "save_strategy": "no",
        "logging_strategy": "no",
        **kwargs,
    }


ARCHS = [("llama", "sdpa"), ("llama", "eager"), ("qwen2", "sdpa"), ("qwen2", "eager")]


@pytest.mark.parametrize(("arch", "attn"), ARCHS)
def test_trl_padding_free_on_packed_rows_equals_unpacked(
    built: dict[str, Dataset], tmp_path: Path, arch: str, attn: str
) -> None:
    model = tiny_model(arch, attn)
    want = reference_of(arch, attn, built["unpacked"])
    args = trl.SFTConfig(**trainer_args(tmp_path, padding_free=True, max_length=None))
    trainer = trl.SFTTrainer(
        model=model, args=args, train_dataset=built["packed"], processing_class=AutoTokenizer.from_pretrained(TOKENIZER)
    )
    assert trainer.data_collator.padding_free
    assert_same_losses(collect(model, trainer.get_train_dataloader(), flat=True), want)
    trainer.train()  # and it trains


@pytest.mark.parametrize(("arch", "attn"), ARCHS)
def test_hf_trainer_with_packed_collator_equals_unpacked(
    built: dict[str, Dataset], tmp_path: Path, arch: str, attn: str
) -> None:
    model = tiny_model(arch, attn)
    want = reference_of(arch, attn, built["unpacked"])
    seen: set[str] = set()

    class Recording(PackedCollator):
        def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
            seen.update(features[0])
            return super().__call__(features)

    trainer = Trainer(
        model=model,
        args=TrainingArguments(**trainer_args(tmp_path)),
        train_dataset=built["packed"],
        data_collator=Recording(),
    )
    assert_same_losses(collect(model, trainer.get_train_dataloader(), flat=True), want)
    assert seen == {"input_ids", "labels", "position_ids"}  # remove_unused_columns dropped seq_lengths
    trainer.train()


def test_packed_rows_need_their_positions(built: dict[str, Dataset]) -> None:
    """The check above can fail: positions renumbered per packed row let examples attend to each other."""
    model = tiny_model("llama", "sdpa")
    want = reference_of("llama", "sdpa", built["unpacked"])
    rows = [r for r in built["packed"] if len(r["seq_lengths"]) > 1][:2]
    features = [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows]
    batch = DataCollatorWithFlattening()(features)
    with torch.no_grad():
        logits = model(**batch).logits[0]
    loss = token_losses(logits, batch["labels"][0])
    n = rows[0]["seq_lengths"][0]
    second = tuple(rows[0]["input_ids"][n : n + rows[0]["seq_lengths"][1]])
    assert float((loss[n : n + len(second) - 1] - want[second]).abs().max()) > 1e-2


@pytest.mark.parametrize("collator", ["seq2seq", "flattening"])
def test_unpacked_output_with_transformers_collators(built: dict[str, Dataset], tmp_path: Path, collator: str) -> None:
    model = tiny_model("llama", "sdpa")
    want = reference_of("llama", "sdpa", built["unpacked"])
    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER)
    data_collator = (
        DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
        if collator == "seq2seq"
        else DataCollatorWithFlattening()
    )
    trainer = Trainer(
        model=model,
        args=TrainingArguments(**trainer_args(tmp_path)),
        train_dataset=built["unpacked"],
        data_collator=data_collator,
    )
    assert_same_losses(collect(model, trainer.get_train_dataloader(), flat=collator == "flattening"), want)
    trainer.train()
