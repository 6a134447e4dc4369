"""Bounded encoding (`sftmask.tokenization.bounded`): a long response is encoded only as far as
`--max-length` can keep, and the rows are exactly those of encoding it whole, on real tokenizers."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import sftmask
from sftmask.chat import encode as chat_encode
from sftmask.cli.app import app
from sftmask.io.output import open_output, read_rows
from sftmask.tokenization import bounded as text_cuts
from sftmask.tokenization import encode as encoding
from sftmask.tokenization.load import LoadedTokenizer
from sftmask.tokenization.normalform import Encoder
from tests.families import FAMILY_NAMES
from tests.helpers import examples, rows_of

BOUNDED_FAMILIES = ("qwen", "mistral", "wordpiece", "llama3", "gpt2", "phi3", "gemma4", "tekken", "deepseek")
"""Tokenizers whose responses get cut. `xlmr` is encoded whole: its Precompiled normalizer (a
SentencePiece charsmap) is not known to change characters one at a time."""

WORDS = [
    "hello", "World", "东京", "日本語", "😀", "café", "e\u0301", "naïve", "x1", "12345678", "3.14",
    "it's", "I'm", "U.S.", "Привет", "Καλημέρα", "مرحبا", "!!", "...", "—", "def", "f(x):",
    "aaaaaaaaaaaaaaaaaaaa", "zzzzzzzz", "ab" * 30, "1" * 40, "\n", "\n\n", "\t", "\r\n",
    " " * 7, " " * 40, "<|im_end|>", "</s>", "<s>", "[SEP]", "▁", "▁▁▁", "\u00a0", "\u3000",
]  # fmt: skip
SEPARATORS = [" ", " ", " ", "", "  ", "\n", " \n ", "   "]


def random_text(rng: random.Random, n_words: int) -> str:
    return "".join(rng.choice(WORDS) + rng.choice(SEPARATORS) for _ in range(n_words))


@pytest.fixture
def small_budgets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Budgets of a few characters, so that short texts are cut (and often re-cut)."""
    monkeypatch.setattr(text_cuts, "MIN_CHARS", 3)
    monkeypatch.setattr(text_cuts, "CHARS_PER_TOKEN", 1)


def unbounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoding, "response_cut", lambda tok: None)


class EncodedChars:
    """Spy on `Encoder.encode_batch`: the characters of every text it encodes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lengths: list[int] = []
        original = Encoder.encode_batch

        def spy(encoder: Encoder, texts: Any, **kwargs: Any) -> Any:
            texts = list(texts)
            self.lengths.extend(map(len, texts))
            return original(encoder, texts, **kwargs)

        monkeypatch.setattr(Encoder, "encode_batch", spy)


def test_a_vocabulary_token_across_a_gap_forbids_cuts() -> None:
    """A SentencePiece-style BPE that sees whole texts and has a token "b▁c": cutting "ab cd"
    before the space would give "▁ab" where the whole text has "▁a" "b▁c"; no cut is allowed."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    chars = ["▁", "a", "b", "c", "d"]
    merged = ["▁a", "b▁", "b▁c", "▁ab"]
    vocab = {t: i for i, t in enumerate(chars + merged)}
    merges = [("▁", "a"), ("b", "▁"), ("b▁", "c"), ("▁a", "b")]
    tokenizer = Tokenizer(models.BPE(vocab, merges))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first", split=False)
    whole = tokenizer.encode("ab cd").tokens
    head = tokenizer.encode("ab").tokens
    assert whole[: len(head)] != head  # the cut is wrong for this vocabulary ...
    assert text_cuts.gap_cut(tokenizer) is None  # ... and refused
    plain = Tokenizer(models.BPE({t: i for i, t in enumerate([*chars, "▁a", "▁ab"])}, [("▁", "a"), ("▁a", "b")]))
    plain.pre_tokenizer = tokenizer.pre_tokenizer
    assert text_cuts.gap_cut(plain) == 0  # without "b▁" tokens it is allowed


@pytest.mark.parametrize("name", (*FAMILY_NAMES, "qwen", "mistral", "wordpiece", "llama_legacy"))
def test_which_tokenizers_are_cut(name: str, request: pytest.FixtureRequest) -> None:
    tok = request.getfixturevalue(name)
    cut = encoding.response_cut(tok)
    if name in BOUNDED_FAMILIES or name == "llama_legacy":
        assert cut is not None
    else:
        assert cut is None


@pytest.mark.parametrize("name", (*BOUNDED_FAMILIES, "llama_legacy"))
def test_response_prefix_is_exact_on_random_texts(
    name: str, request: pytest.FixtureRequest, small_budgets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For each tokenizer: 300 random texts, cut at many budgets; the bounded encoding holds at
    least the tokens asked for and they (and their word starts) are the whole encoding's."""
    tok = request.getfixturevalue(name)
    rng = random.Random(name)
    prompts = [random_text(rng, rng.randint(0, 4)) for _ in range(300)]
    responses = [random_text(rng, rng.randint(1, 60)) for _ in range(300)]
    spy = EncodedChars(monkeypatch)
    for max_tokens in (1, 2, 5, 17, 64):
        bounded, b_starts = encoding.encode_responses_with_word_starts(
            tok, prompts, responses, add_eos=False, word_starts=True, max_tokens=max_tokens
        )
        whole, w_starts = encoding.encode_responses_with_word_starts(
            tok, prompts, responses, add_eos=False, word_starts=True
        )
        assert b_starts is not None and w_starts is not None
        for i in range(len(responses)):
            b = bounded.values[bounded.offsets[i] : bounded.offsets[i + 1]]
            w = whole.values[whole.offsets[i] : whole.offsets[i + 1]]
            assert len(b) >= min(max_tokens, len(w)), (i, responses[i])
            assert b.tolist() == w[: len(b)].tolist(), (max_tokens, prompts[i], responses[i])
            bs = b_starts[bounded.offsets[i] : bounded.offsets[i + 1]]
            ws = w_starts[whole.offsets[i] : whole.offsets[i + 1]][: len(b)]
            assert bs.tolist() == ws.tolist(), (max_tokens, responses[i])
        assert len(bounded.values) < len(whole.values)  # texts were cut
    assert spy.lengths


texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=40).flatmap(
    lambda words: st.lists(st.sampled_from(SEPARATORS), min_size=len(words), max_size=len(words)).map(
        lambda seps: "".join(w + s for w, s in zip(words, seps, strict=True))
    )
)
records = st.lists(st.tuples(texts, texts), min_size=1, max_size=8)


@pytest.mark.parametrize("name", ["qwen", "mistral", "wordpiece", "llama3", "tekken", "phi3"])
@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    pairs=records,
    max_length=st.integers(1, 40),
    truncation=st.sampled_from(["prompt", "response", "drop"]),
    strategy=st.sampled_from(["response-only", "first-subtoken", "all"]),
    add_eos=st.booleans(),
)
def test_bounded_rows_equal_unbounded_rows(
    name: str,
    request: pytest.FixtureRequest,
    small_budgets: None,
    pairs: list[tuple[str, str]],
    max_length: int,
    truncation: str,
    strategy: str,
    add_eos: bool,
) -> None:
    """`sftmask.label` with cuts (tiny budgets) gives the same rows, rejects and counts as without."""
    tok = request.getfixturevalue(name)
    data = [{"prompt": p, "response": r} for p, r in pairs]
    add_eos = add_eos and tok.eos_id is not None
    options = dict(max_length=max_length, truncation=truncation, strategy=strategy, add_eos=add_eos)
    bounded = sftmask.label(data, tok, with_rejects=True, **options)
    with pytest.MonkeyPatch.context() as patch:
        unbounded(patch)
        whole = sftmask.label(data, tok, with_rejects=True, **options)
    assert bounded[0].equals(whole[0])
    assert bounded[1].equals(whole[1])


def _write_big_record(path: Path, n_words: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "délta", "東京", "x1", "42", "the", "of", "code()", "\n"]
    response = " ".join(rng.choice(words) for _ in range(n_words))
    path.write_text(json.dumps({"prompt": "Summarise:", "response": response}) + "\n")
    return response


def _rows(folder: Path) -> list[dict[str, Any]]:
    return [row for _, _, row in read_rows(open_output(folder), 0, 1000)]


@pytest.mark.parametrize("truncation", ["prompt", "response"])
def test_cli_big_response_is_encoded_bounded_and_gives_the_whole_row(
    qwen_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, truncation: str
) -> None:
    """A 1.3 MB response with --max-length 2048: `build` encodes a few thousand characters of it
    and writes the row that encoding all of it gives."""
    response = _write_big_record(tmp_path / "in.jsonl", 300_000)
    assert len(response) > 1_000_000
    args = ["build", str(tmp_path / "in.jsonl"), "--tokenizer", str(qwen_path), "--max-length", "2048"]
    args += ["--truncation", truncation]
    spy = EncodedChars(monkeypatch)
    result = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "bounded")])
    assert result.exit_code == 0, result.output
    assert max(spy.lengths) < 40_000
    with pytest.MonkeyPatch.context() as patch:
        unbounded(patch)
        result = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "whole")])
    assert result.exit_code == 0, result.output
    assert max(spy.lengths) == len(response)
    (row,) = _rows(tmp_path / "bounded")
    assert _rows(tmp_path / "whole") == [row]
    assert len(row["input_ids"]) == 2048
    manifests = [json.loads((tmp_path / d / "manifest.json").read_text()) for d in ("bounded", "whole")]
    assert manifests[0]["counts"] == manifests[1]["counts"]
    assert manifests[0]["counts"]["truncated"] == 1


def _peak_rss_mb(args: list[str]) -> float:
    """Run ``python -m sftmask ARGS`` in a child process that reports its own peak RSS (the largest
    reported, should a process of the build fork)."""
    report = (
        "import atexit, resource, runpy, sys\n"
        "sys.argv = ['sftmask', *sys.argv[1:]]\n"
        # at exit: the command ends the process without unwinding this script (`sftmask.cli.startup`)
        "atexit.register(lambda: print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))\n"
        "runpy.run_module('sftmask', run_name='__main__')\n"
    )
    # One process: under its supervisor `sftmask` forks, and both processes would report.
    env = {**os.environ, "SFTMASK_NO_SUPERVISOR": "1"}
    done = subprocess.run([sys.executable, "-c", report, *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    peaks = [int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("maxrss ")]
    assert peaks, done.stderr
    return max(peaks) / 1024


def test_cli_40mb_response_builds_in_bounded_memory(sample_tokenizer_path: Path, tmp_path: Path) -> None:
    """A 40 MB single-record response with --max-length 2048 builds with the memory of a tiny
    build (encoded whole it takes ~0.5 GB more), in a child process whose peak RSS is measured."""
    big = tmp_path / "big.jsonl"
    _write_big_record(big, 7_000_000)
    assert big.stat().st_size > 40_000_000
    small = tmp_path / "small.jsonl"
    small.write_text(json.dumps({"prompt": "Summarise:", "response": "alpha beta"}) + "\n")
    build = ["build", "--tokenizer", str(sample_tokenizer_path), "--max-length", "2048", "--max-chars", "100000000"]
    small_mb = _peak_rss_mb([*build, str(small), "-o", str(tmp_path / "small")])
    big_mb = _peak_rss_mb([*build, str(big), "-o", str(tmp_path / "big")])
    # Reading the record holds it a few times over (line, JSON, Arrow, Python str): ~4 x 40 MB.
    assert big_mb < small_mb + 300, (small_mb, big_mb)
    (row,) = _rows(tmp_path / "big")
    assert len(row["input_ids"]) == 2048
    assert np.count_nonzero(np.array(row["labels"]) != -100) > 2000


# --- chat: rendered conversations are cut the same way ------------------------------------

REPO = Path(__file__).resolve().parents[2]
CHAT_TEMPLATES = {
    "chatml.jinja": REPO / "tests" / "data" / "chat_templates" / "chatml.jinja",  # no markers
    "mistral-inst.jinja": REPO / "tests" / "data" / "chat_templates" / "mistral-inst.jinja",
    "chatml-generation.jinja": REPO / "sftmask" / "chat" / "templates" / "chatml.jinja",  # with markers
}
message_texts = st.lists(st.sampled_from(WORDS + SEPARATORS), min_size=0, max_size=30).map("".join)


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(message_texts)})
    for _ in range(draw(st.integers(1, 3))):
        messages.append({"role": "user", "content": draw(message_texts)})
        messages.append({"role": "assistant", "content": draw(message_texts)})
    return messages


@pytest.mark.parametrize(
    ("name", "template"),
    [("qwen", "chatml.jinja"), ("mistral", "mistral-inst.jinja"), ("qwen", "chatml-generation.jinja")],
)
@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batch=st.lists(conversations(), min_size=1, max_size=5),
    max_length=st.integers(1, 60),
    truncation=st.sampled_from(["prompt", "response", "drop"]),
    strategy=st.sampled_from(["assistant-only", "last-turn", "all"]),
)
def test_bounded_chat_rows_equal_unbounded_rows(
    name: str,
    template: str,
    request: pytest.FixtureRequest,
    small_budgets: None,
    batch: list[list[dict[str, Any]]],
    max_length: int,
    truncation: str,
    strategy: str,
) -> None:
    tok = request.getfixturevalue(name)
    data = [{"messages": messages} for messages in batch]
    options = dict(
        data_kind="chat",
        chat_template=str(CHAT_TEMPLATES[template]),
        max_length=max_length,
        truncation=truncation,
        strategy=strategy,
        on_error="skip",
    )
    bounded = sftmask.label(data, tok, with_rejects=True, **options)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chat_encode, "gap_cut", lambda tokenizer: None)
        whole = sftmask.label(data, tok, with_rejects=True, **options)
    assert bounded[0].equals(whole[0])
    assert bounded[1].equals(whole[1])


def test_chat_long_answer_is_encoded_bounded(qwen: LoadedTokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1 MB assistant answer after a 20 kB question, --max-length 512 (prompt truncation):
    the question is encoded whole (its tail is kept), the answer only as far as the row keeps."""
    rng = random.Random(3)
    question = " ".join(rng.choice(["why", "is", "the", "sky", "blue", "42"]) for _ in range(4000))
    answer = " ".join(rng.choice(["because", "light", "scatters", "Rayleigh", "x1"]) for _ in range(150_000))
    data = [{"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}]
    options = dict(data_kind="chat", strategy="assistant-only", max_length=512, max_chars=10**8)
    spy = EncodedChars(monkeypatch)
    bounded = sftmask.label(data, qwen, **options)
    assert len(question) < max(spy.lengths) < len(question) + 20_000
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chat_encode, "gap_cut", lambda tokenizer: None)
        whole = sftmask.label(data, qwen, **options)
    assert max(spy.lengths) > len(answer)
    assert bounded.equals(whole)
    (row,) = rows_of(bounded)
    assert len(row[0]) == 512
