"""Packed output in the trainers that read it: each example's loss equals its loss unpacked.

A tiny random Llama / Qwen2 model (sdpa and eager attention) scores every example of sftmask's
packed output in each setup the docs name (the manifest's ``packing.trainer_settings``): the
Hugging Face `Trainer` with `sftmask.packing.PackedCollator` (also with
``TrainingArguments(use_cache=True)``), TRL's `SFTTrainer(padding_free=True, max_length=None)`, and
a loop of one's own, ``model(**PackedCollator()(rows))`` on a freshly loaded model. Each setup runs
its own forward passes (training steps at learning rate 0, so the weights stay those of the
reference, and evaluation); a hook on the decoder keeps what the model computed, and each example's
per-token losses must equal those of its unpacked row run alone. The setups the docs warn against
(TRL's default `padding_free=False`, a model run with its cache on, `DataCollatorWithFlattening`)
are shown to mix the examples, so the warnings stay true. The packed docs' commands and snippets
run as printed. Needs torch and trl (`.ci/run` installs torch==2.13.0 and trl; with CI set the
tests must run). Training tests are marked slow.
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import re
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from sftmask.packing.packer import TRAINER_SETTINGS

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "packing.md"
TOKENIZER = REPO / "sample_data" / "tokenizer"
PACK_LENGTH = 512
RECORDS = 24

Key = tuple[int, ...]
Losses = dict[Key, Any]
"""Per example (its token ids): the loss of each of its labels but the first (0 where -100)."""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The first records of the sample data, built unpacked and packed (same max length)."""
    root = tmp_path_factory.mktemp("train")
    lines = (REPO / "sample_data" / "instructions.jsonl").read_text(encoding="utf-8").splitlines()[:RECORDS]
    data = root / "data.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    common = ["build", str(data), "-t", str(TOKENIZER), "--max-length", str(PACK_LENGTH)]
    out: dict[str, Any] = {}
    for name, extra in (("unpacked", []), ("packed", ["--pack-length", str(PACK_LENGTH)])):
        result = CliRunner().invoke(app, [*common, "-o", str(root / name), *extra])
        assert result.exit_code == 0, result.output
        out[name] = load_dataset("parquet", data_dir=str(root / name))["train"]
    out["manifest"] = json.loads((root / "packed" / "manifest.json").read_text())
    assert out["manifest"]["packing"]["examples_per_row"]["max"] > 1  # rows really hold several examples
    return out


def tiny_model(arch: str, attn: str, vocab_size: int = 6000) -> Any:
    """A fresh tiny model (seed 0), as `from_pretrained` returns one: its config has use_cache=True."""
    torch.manual_seed(0)
    size = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
    size |= {"num_key_value_heads": 2, "max_position_embeddings": 8 * PACK_LENGTH, "vocab_size": vocab_size}
    size["initializer_range"] = 0.2  # sharper attention than the default 0.02: leaks between examples show
    config = LlamaConfig(**size) if arch == "llama" else Qwen2Config(**size)
    model = AutoModelForCausalLM.from_config(config, attn_implementation=attn)
    assert model.config.use_cache
    return model.eval()


def token_losses(logits: Any, labels: Any) -> Any:
    """Loss of each label predicted from the position before it (0 where -100): the causal shift."""
    logp = torch.log_softmax(logits[:-1].float(), dim=-1)
    target = labels[1:]
    trained = target != -100
    picked = logp.gather(-1, target.clamp(min=0)[:, None])[:, 0]
    return torch.where(trained, -picked, 0.0)


def reference(model: Any, unpacked: Dataset) -> Losses:
    """Each unpacked row alone."""
    out: Losses = {}
    for row in unpacked:
        ids = torch.tensor([row["input_ids"]])
        with torch.no_grad():
            logits = model(input_ids=ids, use_cache=False).logits[0]
        out[tuple(row["input_ids"])] = token_losses(logits, torch.tensor(row["labels"]))
    return out


_REFERENCES: dict[tuple[str, str], Losses] = {}


def reference_of(arch: str, attn: str, unpacked: Dataset) -> Losses:
    """`reference` of the freshly initialised `tiny_model(arch, attn)`, computed once."""
    if (arch, attn) not in _REFERENCES:
        _REFERENCES[arch, attn] = reference(tiny_model(arch, attn), unpacked)
    return _REFERENCES[arch, attn]


class Recorder:
    """A collator wrapped to keep every batch it makes: the batches the setup itself feeds the model."""

    def __init__(self, collator: Callable[[list[dict[str, Any]]], dict[str, Any]]) -> None:
        self.collator = collator
        self.batches: list[dict[str, Any]] = []

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.collator(features)
        self.batches.append(dict(batch))
        return batch


@contextmanager
def decoder_outputs(model: Any) -> Iterator[list[Any]]:
    """The decoder's last hidden states of every forward pass inside the block, in order: what the
    model computed from what the setup passed it (its mask, positions, cache flag), whatever it then
    does with the logits (TRL's fused head computes none)."""
    seen: list[Any] = []
    handle = model.model.register_forward_hook(lambda _m, _a, out: seen.append(out.last_hidden_state.detach()))
    try:
        yield seen
    finally:
        handle.remove()


def examples_of(batch: dict[str, Any], seq_lengths: dict[Key, list[int]]) -> Iterator[tuple[int, int, int]]:
    """(row, start, end) of each example of a batch: where positions restart in a flattened batch
    (no attention_mask), else each padded row's examples by its `seq_lengths`."""
    if "attention_mask" not in batch:
        positions = batch["position_ids"][0]
        starts = [*torch.nonzero(positions == 0).flatten().tolist(), len(positions)]
        for s, e in itertools.pairwise(starts):
            yield 0, s, e
        return
    for row in range(len(batch["input_ids"])):
        n = int(batch["attention_mask"][row].sum())
        lengths = seq_lengths[tuple(batch["input_ids"][row, :n].tolist())]
        ends = list(itertools.accumulate(lengths, initial=0))
        for s, e in itertools.pairwise(ends):
            yield row, s, e


def losses_seen(
    model: Any, batches: list[dict[str, Any]], hidden: list[Any], seq_lengths: dict[Key, list[int]]
) -> list[Losses]:
    """Per batch, each example's per-token losses from the hidden states its forward pass produced."""
    assert len(hidden) == len(batches)
    out = []
    for batch, states in zip(batches, hidden, strict=True):
        with torch.no_grad():
            logits = model.lm_head(states)
        part: Losses = {}
        for row, s, e in examples_of(batch, seq_lengths):
            ids, labels = batch["input_ids"][row], batch["labels"][row]
            assert s == 0 or labels[s] == -100  # an example's first label is never predicted from the one before
            part[tuple(ids[s:e].tolist())] = token_losses(logits[row, s:e], labels[s:e])
        out.append(part)
    return out


def chunks(rows: list[dict[str, Any]], n: int) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), n):
        yield rows[i : i + n]


def max_differences(got: list[Losses], want: Losses) -> list[list[float]]:
    """Per batch, per example in batch order: the largest difference from the example alone."""
    return [[float((loss - want[key]).abs().max()) for key, loss in part.items()] for part in got]


def assert_same_losses(got: list[Losses], want: Losses, *, every_example: bool) -> None:
    seen: Losses = {}
    for part in got:
        for key, loss in part.items():
            assert torch.equal(loss > 0, want[key] > 0)  # the same labels trained
            assert torch.allclose(loss, want[key], rtol=0, atol=1e-5), float((loss - want[key]).abs().max())
            seen[key] = loss
    if every_example:
        assert seen.keys() == want.keys()


def assert_losses_are_their_mean(losses: list[Any], got: list[Losses]) -> None:
    """The setup's own loss of each batch is the mean over its trained labels (as the docs say)."""
    assert len(losses) == len(got)
    for loss, part in zip(losses, got, strict=True):
        total = float(sum(v.sum() for v in part.values()))
        count = sum(int((v > 0).sum()) for v in part.values())
        assert float(loss) == pytest.approx(total / count, rel=1e-5)


def recording_losses(trainer: Any) -> list[Any]:
    """The losses `trainer.compute_loss` returns from now on (training and evaluation)."""
    losses: list[Any] = []
    compute_loss = trainer.compute_loss

    def recording(model: Any, inputs: dict[str, Any], return_outputs: bool = False, **kwargs: Any) -> Any:
        out = compute_loss(model, inputs, return_outputs=return_outputs, **kwargs)
        losses.append((out[0] if return_outputs else out).detach())
        return out

    trainer.compute_loss = recording
    return losses


def trainer_args(tmp_path: Path, **kwargs: Any) -> dict[str, Any]:
    return {
        "output_dir": str(tmp_path / "run"),
        "per_device_train_batch_size": 2,
        "per_device_eval_batch_size": 2,
        "report_to": "none",
        "use_cpu": True,
        "max_steps": 2,
        "save_strategy": "no",
        "logging_strategy": "no",
        **kwargs,
    }


def packed_trainer(setup: str, model: Any, built: dict[str, Any], tmp_path: Path) -> Any:
    """The trainer of `setup` on the packed rows, learning rate 0 (the weights stay the reference's)."""
    args = trainer_args(tmp_path, learning_rate=0.0)
    if setup.startswith("trl"):
        # bf16=False: SFTConfig's default bf16=True trains under bf16 autocast on this CPU (with use_cpu).
        config = trl.SFTConfig(
            **args, bf16=False, max_length=None, **({"padding_free": True} if setup == "trl" else {})
        )
        tokenizer = AutoTokenizer.from_pretrained(TOKENIZER)
        trainer = trl.SFTTrainer(model=model, args=config, train_dataset=built["packed"], processing_class=tokenizer)
        assert trainer.data_collator.padding_free == (setup == "trl")
        return trainer
    use_cache = setup == "trainer-use-cache"
    return Trainer(
        model=model,
        args=TrainingArguments(**args, use_cache=use_cache),
        train_dataset=built["packed"],
        data_collator=PackedCollator(),
    )


def run_trainer(trainer: Any, built: dict[str, Any]) -> tuple[list[Losses], list[Losses]]:
    """Per-example losses of the trainer's own forward passes: two training steps, then evaluation
    on every packed row; each step's and each evaluation batch's loss is checked to be their mean."""
    model = trainer.model
    seq_lengths = {tuple(r["input_ids"]): r["seq_lengths"] for r in built["packed"]}
    results = []
    for run in (trainer.train, lambda: trainer.evaluate(built["packed"])):
        recorder = Recorder(trainer.data_collator)
        trainer.data_collator = recorder
        losses = recording_losses(trainer)
        with decoder_outputs(model) as hidden:
            run()
        got = losses_seen(model, recorder.batches[: len(hidden)], hidden, seq_lengths)
        assert_losses_are_their_mean(losses, got)
        trainer.data_collator = recorder.collator
        del trainer.compute_loss
        results.append(got)
    assert trainer.state.global_step == 2
    return results[0], results[1]


ARCHS = [("llama", "sdpa"), ("llama", "eager"), ("qwen2", "sdpa"), ("qwen2", "eager")]


@pytest.mark.slow
@pytest.mark.parametrize(("arch", "attn"), ARCHS)
@pytest.mark.parametrize("setup", ["trainer", "trainer-use-cache", "trl"])
def test_documented_trainers_keep_packed_examples_apart(
    built: dict[str, Any], tmp_path: Path, setup: str, arch: str, attn: str
) -> None:
    """`Trainer` + `PackedCollator` (with the model's cache off or on) and `SFTTrainer(padding_free=True)`:
    in training and in evaluation every example's loss is its loss alone."""
    model = tiny_model(arch, attn)
    want = reference_of(arch, attn, built["unpacked"])
    trained, evaluated = run_trainer(packed_trainer(setup, model, built, tmp_path), built)
    assert_same_losses(trained, want, every_example=False)
    assert_same_losses(evaluated, want, every_example=True)
    assert model.config.use_cache == (setup == "trainer-use-cache")  # the Trainer sets it from its arguments


@pytest.mark.slow
@pytest.mark.parametrize(("arch", "attn"), ARCHS)
def test_own_loop_with_packed_collator_keeps_packed_examples_apart(built: dict[str, Any], arch: str, attn: str) -> None:
    """``model(**PackedCollator()(rows))`` on a model as loaded (use_cache=True in its config):
    training mode with gradients, and evaluation."""
    model = tiny_model(arch, attn)
    want = reference_of(arch, attn, built["unpacked"])
    rows = built["packed"].to_list()
    collator = PackedCollator()
    for training in (True, False):
        model.train(training)
        got = []
        for batch_rows in chunks(rows, 3):
            batch = collator(batch_rows)
            with torch.set_grad_enabled(training), decoder_outputs(model) as hidden:
                loss = model(**batch).loss
            if training:
                loss.backward()
            part = losses_seen(model, [batch], hidden, {})
            assert_losses_are_their_mean([loss.detach()], part)
            got += part
        assert_same_losses(got, want, every_example=True)


@pytest.mark.slow
@pytest.mark.parametrize(("arch", "attn"), ARCHS)
@pytest.mark.parametrize("setup", ["use-cache", "trl-default"])
def test_undocumented_setups_mix_packed_examples(
    built: dict[str, Any], tmp_path: Path, setup: str, arch: str, attn: str
) -> None:
    """What the docs warn against does mix the examples (so the warnings stay true): the collator's
    batches run with the model's cache on (the collator without its use_cache=False), and TRL's
    `SFTTrainer` left at padding_free=False, which gives each packed row an all-ones attention_mask.
    The first example of each sequence is unaffected; some later one is far off."""
    model = tiny_model(arch, attn)
    want = reference_of(arch, attn, built["unpacked"])
    if setup == "use-cache":
        got = []
        for batch_rows in chunks(built["packed"].to_list(), 2):
            batch = PackedCollator()(batch_rows)
            assert batch.pop("use_cache") is False
            with torch.no_grad(), decoder_outputs(model) as hidden:
                model(**batch)
            got += losses_seen(model, [batch], hidden, {})
    else:
        trainer = packed_trainer(setup, model, built, tmp_path)
        _, got = run_trainer(trainer, built)
    differences = max_differences(got, want)
    assert all(d[0] < 1e-5 for d in differences)  # a sequence's first example sees only itself
    assert max(d for part in differences for d in part[1:]) > 0.5


@pytest.mark.slow
def test_packed_rows_need_their_positions(built: dict[str, Any]) -> None:
    """Positions renumbered per packed row (`DataCollatorWithFlattening`) let examples attend to each other."""
    model = tiny_model("llama", "sdpa")
    want = reference_of("llama", "sdpa", built["unpacked"])
    rows = [r for r in built["packed"] if len(r["seq_lengths"]) > 1][:2]
    features = [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows]
    batch = DataCollatorWithFlattening()(features)
    with torch.no_grad():
        logits = model(**batch, use_cache=False).logits[0]
    loss = token_losses(logits, batch["labels"][0])
    n = rows[0]["seq_lengths"][0]
    second = tuple(rows[0]["input_ids"][n : n + rows[0]["seq_lengths"][1]])
    assert float((loss[n : n + len(second) - 1] - want[second]).abs().max()) > 1e-2


@pytest.mark.slow
@pytest.mark.parametrize("collator", ["seq2seq", "flattening"])
def test_unpacked_output_with_transformers_collators(built: dict[str, Any], tmp_path: Path, collator: str) -> None:
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
        args=TrainingArguments(**trainer_args(tmp_path, learning_rate=0.0)),
        train_dataset=built["unpacked"],
        eval_dataset=built["unpacked"],
        data_collator=data_collator,
    )
    recorder = Recorder(data_collator)
    trainer.data_collator = recorder
    with decoder_outputs(model) as hidden:
        trainer.evaluate()
    one_each = {tuple(r["input_ids"]): [len(r["input_ids"])] for r in built["unpacked"]}
    assert_same_losses(losses_seen(model, recorder.batches, hidden, one_each), want, every_example=True)
    trainer.train()


# --- the packed docs (docs/packing.md), as printed ------------------------------------------


def packed_section() -> str:
    return DOC.read_text(encoding="utf-8")


def fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def calls(code: str) -> dict[str, ast.Call]:
    """The calls of a snippet by the name called (`SFTConfig`, `Trainer`, `model`, ...)."""
    out = {}
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else ast.unparse(node.func)
            out.setdefault(name, node)
    return out


def test_packed_docs_say_how_to_train_and_what_not_to_do() -> None:
    section = packed_section()
    trl_snippet, trainer_snippet = fenced(section, "python")
    # The warning, in bold where packing is documented.
    assert "**TRL's `SFTTrainer` needs `padding_free=True`" in section
    assert "**In a loop of your own, pass the collator's batch whole" in section
    # The manifest names the same settings the snippets run (and the tests above check).
    for name, code in (("trl", trl_snippet), ("transformers", trainer_snippet)):
        setting = ast.parse(TRAINER_SETTINGS[name], mode="eval").body
        assert isinstance(setting, ast.Call)
        used = calls(code)[ast.unparse(setting.func)]
        given = {k.arg: ast.unparse(k.value) for k in used.keywords}
        assert {k.arg: ast.unparse(k.value) for k in setting.keywords}.items() <= given.items()
    for setting in TRAINER_SETTINGS.values():  # the page's table of settings
        assert f"| `{setting}` |" in section


@pytest.fixture(scope="module")
def docs_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where the packed docs run as printed: a tiny random Qwen2 model with sftmask's sample
    tokenizer saved as `Qwen/Qwen2.5-0.5B` (a local folder of that name is what `from_pretrained`
    and `sftmask build -t` load, so nothing is downloaded), and `train.jsonl`, the sample data."""
    root = tmp_path_factory.mktemp("docs")
    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER)
    model = tiny_model("qwen2", "sdpa", vocab_size=len(tokenizer))
    model.save_pretrained(root / "Qwen" / "Qwen2.5-0.5B")
    tokenizer.save_pretrained(root / "Qwen" / "Qwen2.5-0.5B")
    lines = (REPO / "sample_data" / "instructions.jsonl").read_text(encoding="utf-8").splitlines()[:RECORDS]
    (root / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def run_docs(root: Path, monkeypatch: pytest.MonkeyPatch, snippet: str) -> dict[str, Any]:
    """Build the packed data with the docs' command, then exec `snippet` unchanged, in `root`."""
    monkeypatch.chdir(root)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # The page's first command builds what its training snippets load (later ones: other engines).
    command = next(c for c in fenced(packed_section(), "bash") if "--pack-length" in c)
    argv = shlex.split(command)
    assert argv[0] == "sftmask"
    if not (root / "data" / "packed").exists():
        result = CliRunner().invoke(app, argv[1:])
        assert result.exit_code == 0, result.output
    namespace: dict[str, Any] = {}
    exec(compile(snippet, "docs/packing.md", "exec"), namespace)
    return namespace


def check_trained_on_packed_rows(trainer: Any, root: Path, tmp_path: Path) -> None:
    """The snippet's trainer trained an epoch, and its own forward passes over the packed rows give
    every example the loss the trained model gives it alone."""
    packed = load_dataset("parquet", data_dir=str(root / "data" / "packed"))["train"]
    assert trainer.state.global_step == len(packed) and trainer.state.epoch == 1  # batch size 1, one epoch
    assert trainer.state.log_history[-1]["train_loss"] > 0
    plain = tmp_path / "plain"
    build = ["build", "train.jsonl", "-t", "Qwen/Qwen2.5-0.5B", "-o", str(plain), "--max-length", "4096"]
    assert CliRunner().invoke(app, build).exit_code == 0
    model = trainer.model.eval()
    want = reference(model, load_dataset("parquet", data_dir=str(plain))["train"])
    recorder = Recorder(trainer.data_collator)
    trainer.data_collator = recorder
    with decoder_outputs(model) as hidden:
        trainer.evaluate(packed)
    seq_lengths = {tuple(r["input_ids"]): r["seq_lengths"] for r in packed}
    assert_same_losses(losses_seen(model, recorder.batches, hidden, seq_lengths), want, every_example=True)


@pytest.mark.slow
def test_packed_trl_snippet_runs_as_printed(
    docs_workspace: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    trl_snippet = fenced(packed_section(), "python")[0]
    trainer = run_docs(docs_workspace, monkeypatch, trl_snippet)["trainer"]
    assert trainer.data_collator.padding_free and not trainer.args.bf16  # float32 on this CPU
    check_trained_on_packed_rows(trainer, docs_workspace, tmp_path)


@pytest.mark.slow
def test_packed_trainer_snippet_runs_as_printed(
    docs_workspace: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    trainer_snippet = fenced(packed_section(), "python")[1]
    trainer = run_docs(docs_workspace, monkeypatch, trainer_snippet)["trainer"]
    assert isinstance(trainer.data_collator, PackedCollator)
    check_trained_on_packed_rows(trainer, docs_workspace, tmp_path)
