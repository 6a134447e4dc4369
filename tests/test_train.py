"""The "Train with it" snippets (docs/training.md), run as printed on the sample data with a tiny random model on CPU.

The tiny model is saved as `Qwen/Qwen2.5-0.5B` in the folder the snippets run in (a local folder of
that name is what `from_pretrained` loads, so nothing is downloaded and the snippets need no edit).
Each trainer's loss must equal a cross-entropy computed by hand over exactly the positions whose
label is not -100: the labels sftmask wrote are the ones trained. Needs torch (and trl): `.ci/run`
installs them; locally these tests skip without them, unless `CI` is set. Marked slow (training).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sftmask.cli.app import app

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "training.md"
DOC_MODEL = "Qwen/Qwen2.5-0.5B"
N_RECORDS = 24
BATCH_SIZE = 8  # the snippets' per_device_train_batch_size

if not os.environ.get("CI"):
    pytest.importorskip("torch")
    pytest.importorskip("trl")

import torch  # noqa: E402


def train_snippets() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, sample_tokenizer_path: Path) -> Path:
    """A tiny random Qwen2 model with the sample tokenizer (byte-level BPE with Qwen's ChatML
    special tokens and EOS, 6,000 tokens: with Qwen's own 151,646 every step computes 25 times as
    many logits and takes a minute on a CPU), saved as the snippets' model, and the sample built
    with it into the snippets' `out/train`."""
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    root = tmp_path_factory.mktemp("train")
    tokenizer = AutoTokenizer.from_pretrained(str(sample_tokenizer_path))
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
    )
    model_dir = root / DOC_MODEL
    Qwen2ForCausalLM(config).save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    lines = (REPO / "sample_data" / "instructions.jsonl").read_text(encoding="utf-8").splitlines()[:N_RECORDS]
    data = root / "train.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = root / "out" / "train"
    result = CliRunner().invoke(app, ["build", str(data), "-t", str(model_dir), "-o", str(out), "--keep-columns", "id"])
    assert result.exit_code == 0, result.output
    return root


def run_snippet(snippet: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Exec a docs snippet, unchanged, in `root` (its out/train, out/model paths and its model)."""
    assert f'"{DOC_MODEL}"' in snippet and f"per_device_train_batch_size={BATCH_SIZE}" in snippet
    monkeypatch.chdir(root)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    namespace: dict[str, Any] = {}
    exec(compile(snippet, "docs/training.md", "exec"), namespace)
    return namespace


def steps_of_one_epoch() -> int:
    return -(-N_RECORDS // BATCH_SIZE)


def hand_computed_loss(model: Any, rows: list[dict[str, Any]]) -> torch.Tensor:
    """Mean cross-entropy of the next-token predictions at every position whose label is not -100,
    each row run alone (no padding), over the batch's trained positions."""
    total, count = torch.tensor(0.0, dtype=torch.float64), 0
    with torch.no_grad():
        for row in rows:
            ids = torch.tensor([row["input_ids"]])
            logits = model(input_ids=ids).logits[0].double()
            for position, label in enumerate(row["labels"]):
                if position == 0 or label == -100:
                    continue
                assert label == row["input_ids"][position]
                log_probs = torch.log_softmax(logits[position - 1], dim=-1)
                total -= log_probs[label]
                count += 1
    assert count > 0
    return total / count


def trainer_loss(trainer: Any, rows: list[dict[str, Any]]) -> torch.Tensor:
    """The loss the trainer computes on these rows, through its own collator."""
    features = [{k: v for k, v in row.items() if k in trainer._signature_columns or k == "labels"} for row in rows]
    batch = trainer.data_collator(features)
    assert batch["labels"].shape == batch["input_ids"].shape
    trainer.model.eval()
    with torch.no_grad():
        return trainer.compute_loss(trainer.model, batch).double()


def check_trained_positions(trainer: Any, rows: list[dict[str, Any]]) -> None:
    batch = trainer.data_collator([{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows])
    for i, row in enumerate(rows):
        n = len(row["labels"])
        assert batch["labels"][i, :n].tolist() == row["labels"]  # sftmask's labels, unchanged
        assert set(batch["labels"][i, n:].tolist()) <= {-100}  # padding is never trained


def test_readme_has_the_two_training_snippets() -> None:
    snippets = train_snippets()
    assert len(snippets) == 2
    assert "DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)" in snippets[0]
    assert "SFTTrainer(" in snippets[1] and "max_length=None" in snippets[1]


@pytest.mark.slow
def test_hf_trainer_snippet_trains_exactly_the_unmasked_tokens(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datasets import load_dataset

    namespace = run_snippet(train_snippets()[0], workspace, monkeypatch)
    trainer = namespace["trainer"]
    assert trainer.state.global_step == steps_of_one_epoch() and trainer.state.log_history[-1]["train_loss"] > 0
    rows = load_dataset("parquet", data_dir=str(workspace / "out" / "train"))["train"].to_list()[:6]
    assert any(-100 in r["labels"] for r in rows) and any(label != -100 for r in rows for label in r["labels"])
    check_trained_positions(trainer, rows)
    expected = hand_computed_loss(trainer.model, rows)
    torch.testing.assert_close(trainer_loss(trainer, rows), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_trl_sft_trainer_snippet_trains_exactly_the_unmasked_tokens(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datasets import load_dataset

    namespace = run_snippet(train_snippets()[1], workspace, monkeypatch)
    trainer = namespace["trainer"]
    assert trainer.state.global_step == steps_of_one_epoch()
    assert not trainer.args.bf16  # TRL's default bf16=True fails on a CPU; the snippet turns it off there
    rows = load_dataset("parquet", data_dir=str(workspace / "out" / "train"))["train"].to_list()[:6]
    # max_length=None: no row was cut, so every trained token reaches the trainer.
    longest = json.loads((workspace / "out" / "train" / "manifest.json").read_text())["counts"]["longest_row"]
    assert longest == max(len(r["input_ids"]) for r in load_dataset("parquet", data_dir=str(workspace / "out" / "train"))["train"])  # fmt: skip
    prepared = trainer.train_dataset
    assert [len(x) for x in prepared["input_ids"]][: len(rows)] == [len(r["input_ids"]) for r in rows]
    assert prepared["labels"][: len(rows)] == [r["labels"] for r in rows]
    check_trained_positions(trainer, rows)
    expected = hand_computed_loss(trainer.model, rows)
    torch.testing.assert_close(trainer_loss(trainer, rows), expected, rtol=1e-5, atol=1e-6)


def test_the_collators_the_readme_warns_against_do_lose_the_labels(workspace: Path) -> None:
    from datasets import load_dataset
    from transformers import AutoTokenizer, DataCollatorForLanguageModeling, DataCollatorWithPadding

    tokenizer = AutoTokenizer.from_pretrained(str(workspace / DOC_MODEL))
    rows = load_dataset("parquet", data_dir=str(workspace / "out" / "train"))["train"].to_list()[:4]
    features = [{k: r[k] for k in ("input_ids", "attention_mask", "labels")} for r in rows]
    assert len({len(r["labels"]) for r in rows}) > 1
    with pytest.raises(ValueError):
        DataCollatorWithPadding(tokenizer)(features)
    with pytest.raises(ValueError):
        DataCollatorForLanguageModeling(tokenizer, mlm=False)(features)
    # Without the labels column it pads, but its labels are a copy of input_ids: the prompt is trained.
    batch = DataCollatorForLanguageModeling(tokenizer, mlm=False)([{"input_ids": r["input_ids"]} for r in rows])
    first = batch["labels"][0, : len(rows[0]["labels"])].tolist()
    assert first == rows[0]["input_ids"] != rows[0]["labels"]
