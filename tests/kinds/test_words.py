"""`--strategy first-subtoken`: word-labelled (NER) records and prompt/response records.

Tables show each row as `token=LABEL` where the token is labelled and `token` where it is -100.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sftmask.cli.app import app
from sftmask.config.build import BuildConfig
from sftmask.errors import TokenizerError
from sftmask.kinds.words import MAX_TAG_ID, WordsSession, b_to_i, check_word_ids, resolve_labels
from sftmask.labels.assemble import assemble
from sftmask.labels.strategies import STRATEGIES
from sftmask.tokenization.load import LoadedTokenizer
from tests.helpers import build_rows, examples, transformers_tokenizer

REPO = Path(__file__).resolve().parents[2]
CONLL = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
runner = CliRunner()

RECORDS = [
    (["Peter", "Blackburn", "visited", "Zürich", "!"], ["B-PER", "I-PER", "O", "B-LOC", "O"]),
    (["東京", "😀", "naïve", "don't"], ["B-LOC", "O", "O", "O"]),
    (["Chocolate"], ["B-MISC"]),  # a single-word record
]


def config(**options: Any) -> BuildConfig:
    return BuildConfig(inputs=["-"], tokenizer="t", output="o", strategy="first-subtoken", **options)


def words_table(records: list[tuple[list[Any], list[Any]]]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {
            "tokens": [json.dumps(w, ensure_ascii=False) for w, _ in records],
            "ner_tags": [json.dumps(t, ensure_ascii=False) for _, t in records],
        }
    )


@dataclass(frozen=True)
class WordsRun:
    """A session and the counts its `encode` returned for one batch."""

    session: WordsSession
    counts: dict[str, int]

    @property
    def truncated_rows(self) -> int:
        return self.counts["truncated"]

    def manifest(self) -> dict[str, Any]:
        return self.session.manifest(self.counts)


def label_words(
    tok: LoadedTokenizer, records: list[tuple[list[Any], list[Any]]], **options: Any
) -> tuple[list[tuple[list[int], list[int]]], dict[int, tuple[str, str]], WordsRun]:
    """(input_ids, labels) per written row, the invalid rows, and the session with its counts."""
    cfg = config(**options)
    session = _session(tok, cfg)
    encoded, counts = session.encode(words_table(records))
    labels = STRATEGIES["first-subtoken"].build_labels(encoded)
    batch = assemble(encoded, labels, max_length=cfg.max_length, truncation=cfg.truncation)
    offsets = batch.input_ids.offsets
    rows = [
        (batch.input_ids.row(i), batch.labels[offsets[i] : offsets[i + 1]].tolist()) for i in range(len(offsets) - 1)
    ]
    return rows, encoded.invalid, WordsRun(session, counts)


_SESSIONS: dict[tuple[int, str], WordsSession] = {}


def _session(tok: LoadedTokenizer, cfg: BuildConfig) -> WordsSession:
    """A session for `cfg`. Making one copies the tokenizer (a 250k vocabulary for Qwen), and what it
    makes depends only on the tokenizer and the label names; the other options (max length,
    truncation, fields, label-all-subtokens) are read from the config at each batch. So sessions
    are made once per tokenizer and label names, and a copy gets `cfg` (keyed by the whole config,
    each max length of a property test made a new one). Sessions keep no per-batch state."""
    key = (id(tok), json.dumps(cfg.label_names))
    if key not in _SESSIONS:
        _SESSIONS[key] = WordsSession(cfg, tok, resolve_labels(cfg, None))
    session = copy.copy(_SESSIONS[key])
    session.config = cfg
    return session


def shown(tok: LoadedTokenizer, ids: list[int], labels: list[int], names: list[str] = CONLL) -> str:
    tokens = tok.hf.convert_ids_to_tokens(ids)
    return " ".join(f"{t}={names[lab]}" if lab != -100 else t for t, lab in zip(tokens, labels, strict=True))


EXPECTED = {
    ("wordpiece", False): [
        "[CLS] p=B-PER ##e ##t ##er b=I-PER ##l ##a ##c ##k ##b ##ur ##n v=O ##is ##ite ##d z=B-LOC ##ur ##ic ##h [UNK]=O [SEP]",
        "[CLS] 東=B-LOC 京 😀=O n=O ##a ##i ##v ##e do=O ##n [UNK] t [SEP]",
        "[CLS] chocolate=B-MISC [SEP]",
    ],
    ("wordpiece", True): [
        "[CLS] p=B-PER ##e=I-PER ##t=I-PER ##er=I-PER b=I-PER ##l=I-PER ##a=I-PER ##c=I-PER ##k=I-PER ##b=I-PER "
        "##ur=I-PER ##n=I-PER v=O ##is=O ##ite=O ##d=O z=B-LOC ##ur=I-LOC ##ic=I-LOC ##h=I-LOC [UNK]=O [SEP]",
        "[CLS] 東=B-LOC 京=I-LOC 😀=O n=O ##a=O ##i=O ##v=O ##e=O do=O ##n=O [UNK]=O t=O [SEP]",
        "[CLS] chocolate=B-MISC [SEP]",
    ],
    ("mistral", False): [
        "<s> ▁Peter=B-PER ▁Black=I-PER burn ▁visited=O ▁Z=B-LOC ür ich ▁!=O",
        "<s> ▁=B-LOC 東 京 ▁=O 😀 ▁na=O ï ve ▁don=O ' t",
        "<s> ▁Ch=B-MISC ocolate",
    ],
    ("mistral", True): [
        "<s> ▁Peter=B-PER ▁Black=I-PER burn=I-PER ▁visited=O ▁Z=B-LOC ür=I-LOC ich=I-LOC ▁!=O",
        "<s> ▁=B-LOC 東=I-LOC 京=I-LOC ▁=O 😀=O ▁na=O ï=O ve=O ▁don=O '=O t=O",
        "<s> ▁Ch=B-MISC ocolate=I-MISC",
    ],
    # Byte-level BPE: a space before every word, none inside it ("don't" is "Ġdon 't" as in running text).
    # A bare space token before a word's first piece (Qwen splits CJK from the space) holds no
    # character of the word: the tag sits on the piece after it.
    ("qwen", False): [
        "ĠPeter=B-PER ĠBlackburn=I-PER Ġvisited=O ĠZÃ¼rich=B-LOC Ġ!=O",
        "Ġ æĿ±äº¬=B-LOC ĠðŁĺĢ=O ĠnaÃ¯=O ve Ġdon=O 't",
        "ĠChocolate=B-MISC",
    ],
    ("qwen", True): [
        "ĠPeter=B-PER ĠBlackburn=I-PER Ġvisited=O ĠZÃ¼rich=B-LOC Ġ!=O",
        "Ġ æĿ±äº¬=B-LOC ĠðŁĺĢ=O ĠnaÃ¯=O ve=O Ġdon=O 't=O",
        "ĠChocolate=B-MISC",
    ],
}


@pytest.mark.parametrize("label_all", [False, True])
@pytest.mark.parametrize("name", ["wordpiece", "mistral", "qwen"])
def test_label_table(name: str, label_all: bool, request: pytest.FixtureRequest) -> None:
    tok = request.getfixturevalue(name)
    rows, invalid, _ = label_words(tok, RECORDS, label_names=CONLL, label_all_subtokens=label_all)
    assert not invalid
    assert [shown(tok, ids, labels) for ids, labels in rows] == EXPECTED[name, label_all]


@pytest.mark.parametrize(("name", "word"), [("wordpiece", "zx" * 50), ("mistral", "x7" * 60), ("qwen", "x7" * 60)])
def test_a_word_of_a_hundred_subtokens_counts_once(name: str, word: str, request: pytest.FixtureRequest) -> None:
    tok = request.getfixturevalue(name)
    records = [(["Long", word, "end"], ["O", "B-MISC", "O"])]
    (row,), _, _ = label_words(tok, records, label_names=CONLL)
    ids, labels = row
    expected = _hf_tokenizer(name, request)[1](records[0][0], is_split_into_words=True)
    assert ids == expected["input_ids"]
    word_ids = expected.word_ids()
    assert word_ids.count(1) >= 100
    assert [CONLL[x] for x in labels if x != -100] == ["O", "B-MISC", "O"]
    (row_all,), _, _ = label_words(tok, records, label_names=CONLL, label_all_subtokens=True)
    assert sum(1 for x in row_all[1] if x == CONLL.index("I-MISC")) == word_ids.count(1) - 1


def test_integer_tags_and_b_to_i() -> None:
    assert b_to_i(CONLL).tolist() == [0, 2, 2, 4, 4, 6, 6, 8, 8]
    assert b_to_i(["O", "B-X", "B-Y", "I-Y"]).tolist() == [0, 1, 3, 3]  # no I-X: B-X stays


def test_integer_tags_without_names(wordpiece: LoadedTokenizer) -> None:
    rows, invalid, session = label_words(wordpiece, [(["Berlin", "is", "big"], [5, 0, 0])])
    assert not invalid
    assert shown(wordpiece, *rows[0], names=[str(i) for i in range(9)]) == "[CLS] berlin=5 is=0 bi=0 ##g [SEP]"
    manifest = session.manifest()
    assert manifest["id2label"] == {str(i): f"LABEL_{i}" for i in range(6)}
    assert manifest["label2id"]["LABEL_5"] == 5


def test_integer_tags_past_a_label_id_are_rejected_not_fatal(wordpiece: LoadedTokenizer) -> None:
    """A tag id past MAX_TAG_ID (or past int64) is the record's `unknown-tag`, with or without
    names: before, 2**64 - 1 crashed the build in numpy, and 10**12 without names made the
    manifest name a trillion labels (the build was killed for memory)."""
    records: list[tuple[Any, Any]] = [
        (["a", "b"], [0, 1]),
        (["a", "b"], [0, 10**12]),
        (["a", "b"], [2**64 - 1, 1]),
        (["a", "b"], [-(2**70), 1]),
        (["a", "b"], [0, MAX_TAG_ID]),
    ]
    rows, invalid, session = label_words(wordpiece, records)
    reasons = {row: reason for row, (reason, _) in invalid.items()}
    # -(2**70) reaches the session as JSON, which orjson reads as a float: not an integer tag
    assert reasons == {1: "unknown-tag", 2: "unknown-tag", 3: "bad-tags"}
    assert invalid[1][1] == f"tag {10**12} is not a label id (0 to 1,048,575, or pass --label-names)"
    assert invalid[2][1].startswith(f"tag {2**64 - 1} is not a label id")
    assert len(rows) == 2 and len(session.manifest()["id2label"]) == MAX_TAG_ID + 1
    _, named, _ = label_words(wordpiece, records, label_names=CONLL)
    assert sorted(named) == [1, 2, 3, 4]  # MAX_TAG_ID too: there are 9 names
    assert named[2][1].startswith(f"tag {2**64 - 1} is out of range: there are 9 label names")


def test_bad_records_are_invalid_rows_with_reasons(qwen: LoadedTokenizer) -> None:
    records: list[tuple[Any, Any]] = [
        (["ok"], ["O"]),
        ([], []),
        (["a", "b"], ["O"]),
        (["a"], ["B-FOO"]),
        (["a", 3], ["O", "O"]),
        (["a"], [1.5]),
        (["a"], [None]),
        ("a b", ["O"]),
        (["a", "b"], ["O", 1]),
        (["a"], [9]),
        (["a"], [-1]),
    ]
    rows, invalid, _ = label_words(qwen, records, label_names=CONLL)
    assert len(rows) == 1
    assert {row: reason for row, (reason, _) in invalid.items()} == {
        1: "empty-words",
        2: "length-mismatch",
        3: "unknown-tag",
        4: "bad-words",
        5: "bad-tags",
        6: "bad-tags",
        7: "bad-words",
        8: "bad-tags",
        9: "unknown-tag",
        10: "unknown-tag",
    }
    assert invalid[2][1] == "2 words in 'tokens' but 1 tags in 'ner_tags'; they must be parallel"
    assert invalid[3][1].startswith("unknown tag 'B-FOO'; label names are O, B-PER")
    assert invalid[9][1].startswith("tag 9 is out of range: there are 9 label names")


TRUNCATED = {
    # max_length 4: "Peter" alone (4 WordPiece tokens) does not fit between [CLS] and [SEP]: cut inside.
    ("wordpiece", 4): "[CLS] p=B-PER ##e [SEP]",
    ("wordpiece", 9): "[CLS] p=B-PER ##e ##t ##er [SEP]",  # "Blackburn" (8 tokens) does not fit
    ("mistral", 4): "<s> ▁Peter=B-PER ▁Black=I-PER burn",
    ("mistral", 6): "<s> ▁Peter=B-PER ▁Black=I-PER burn ▁visited=O",  # not "▁Z" without "ür ich"
    ("qwen", 4): "ĠPeter=B-PER ĠBlackburn=I-PER Ġvisited=O ĠZÃ¼rich=B-LOC",
}


@pytest.mark.parametrize(("name", "max_length"), list(TRUNCATED))
def test_truncation_keeps_whole_words_and_special_tokens(
    name: str, max_length: int, request: pytest.FixtureRequest
) -> None:
    tok = request.getfixturevalue(name)
    words = ["Peter", "Blackburn", "visited", "Zürich", "yesterday"]
    tags = ["B-PER", "I-PER", "O", "B-LOC", "O"]
    rows, _, session = label_words(tok, [(words, tags)], label_names=CONLL, max_length=max_length)
    assert [shown(tok, *row) for row in rows] == [TRUNCATED[name, max_length]]
    assert session.truncated_rows == 1


# --- the transformers recipe, reproduced ---------------------------------------------------------


def recipe(tokenizer: Any, records: list[dict[str, Any]], label_list: list[str], label_all_tokens: bool) -> list[Any]:
    """`tokenize_and_align_labels` from transformers' examples/pytorch/token-classification/run_ner.py."""
    label_to_id = {label: i for i, label in enumerate(label_list)}
    b_to_i_label = []
    for idx, label in enumerate(label_list):
        if label.startswith("B-") and label.replace("B-", "I-") in label_list:
            b_to_i_label.append(label_list.index(label.replace("B-", "I-")))
        else:
            b_to_i_label.append(idx)
    tokenized_inputs = tokenizer(
        [r["tokens"] for r in records], padding=False, truncation=False, is_split_into_words=True
    )
    labels = []
    for i, label in enumerate(r["ner_tags"] for r in records):
        word_ids = tokenized_inputs.word_ids(batch_index=i)
        previous_word_idx = None
        label_ids = []
        for word_idx in word_ids:
            if word_idx is None:
                label_ids.append(-100)
            elif word_idx != previous_word_idx:
                label_ids.append(label_to_id[label[word_idx]])
            elif label_all_tokens:
                label_ids.append(b_to_i_label[label_to_id[label[word_idx]]])
            else:
                label_ids.append(-100)
            previous_word_idx = word_idx
        labels.append(label_ids)
    if isinstance(tokenizer, SpaceBeforeWords):
        labels = _off_bare_spaces(tokenizer, records, labels)
    elif getattr(tokenizer, "add_prefix_space", False):  # GPT-2's own: the same ids, no offsets (slow)
        from transformers import AutoTokenizer

        labels = _off_bare_spaces(
            SpaceBeforeWords(AutoTokenizer.from_pretrained(tokenizer.name_or_path)), records, labels
        )
    return list(zip(tokenized_inputs["input_ids"], labels, strict=True))


def _off_bare_spaces(
    tokenizer: SpaceBeforeWords, records: list[dict[str, Any]], labels: list[list[int]]
) -> list[list[int]]:
    """The recipe's labels with each word's tag moved off a first token that holds only the space
    put before the word (offsets end at 1) onto the word's next token, which holds its first character."""
    encoded = tokenizer([r["tokens"] for r in records], is_split_into_words=True, return_offsets_mapping=True)
    moved = []
    for i, row in enumerate(labels):
        row = list(row)
        word_ids = encoded.word_ids(batch_index=i)
        offsets = encoded["offset_mapping"][i]
        for p, word in enumerate(word_ids):
            starts = word is not None and (p == 0 or word_ids[p - 1] != word)
            nxt = p + 1 < len(word_ids) and word_ids[p + 1] == word
            if starts and nxt and offsets[p][1] <= 1:
                row[p + 1], row[p] = row[p], -100
        moved.append(row)
    return moved


class SpaceBeforeWords:
    """The recipe's tokenizer call for byte-level BPE after a regex split (Qwen, Llama 3, Tekken,
    DeepSeek): each word gets one space before it, as in running text. (`add_prefix_space=True`
    would put a space before regex pieces inside the word instead: `U.S.` -> `ĠU Ġ. S Ġ.`.)"""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def __call__(self, words: list[str] | list[list[str]], **kwargs: Any) -> Any:
        if words and isinstance(words[0], str):  # one example
            return self.tokenizer([" " + w if w else w for w in words], **kwargs)
        return self.tokenizer([[" " + w if w else w for w in row] for row in words], **kwargs)


REGEX_BYTE_LEVEL = ("qwen", "llama3", "tekken", "deepseek")


def _hf_tokenizer(name: str, request: pytest.FixtureRequest) -> tuple[str, Any]:
    """The folder sftmask loads, and the tokenizer a user of the recipe loads for it."""
    from transformers import GPT2Tokenizer

    if name == "sample":  # byte-level BPE (GPT-2 style ByteLevel pre-tokenizer)
        path = str(REPO / "sample_data" / "tokenizer")
        return path, GPT2Tokenizer.from_pretrained(path, add_prefix_space=True)
    path = str(request.getfixturevalue(f"{name}_path"))
    if name in REGEX_BYTE_LEVEL:
        return path, SpaceBeforeWords(transformers_tokenizer(path))
    return path, transformers_tokenizer(path)


@pytest.mark.parametrize("label_all", [False, True])
@pytest.mark.parametrize("name", ["wordpiece", "mistral", pytest.param("qwen", marks=pytest.mark.slow), "sample"])
def test_cli_equals_the_transformers_recipe_row_for_row(
    name: str, label_all: bool, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    path, hf = _hf_tokenizer(name, request)
    data = REPO / "sample_data" / "ner.jsonl"
    records = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    out = tmp_path / "out"
    args = ["build", str(data), "-t", path, "-o", str(out), "--strategy", "first-subtoken"]
    args += ["--label-names", str(REPO / "sample_data" / "ner_labels.txt"), "--keep-columns", "id", "--batch-size", "7"]
    result = runner.invoke(app, args + (["--label-all-subtokens"] if label_all else []))
    assert result.exit_code == 0, result.output
    rows = pq.read_table(next(out.glob("*.parquet"))).to_pylist()
    expected = recipe(hf, records, CONLL, label_all)
    assert [r["id"] for r in rows] == [r["id"] for r in records]
    for row, (ids, labels) in zip(rows, expected, strict=True):
        assert (row["input_ids"], row["labels"]) == (ids, labels), row["id"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data_kind"] == "words"
    assert manifest["label2id"] == {name: i for i, name in enumerate(CONLL)}
    assert manifest["id2label"] == {str(i): name for i, name in enumerate(CONLL)}
    byte_level = name in {"qwen", "sample"}
    assert (
        manifest["words"]["words_encoding"]
        == ["a space before each pre-split word (byte-level BPE), as in running text"]
    ) == byte_level


@pytest.mark.parametrize("name", REGEX_BYTE_LEVEL)
def test_regex_split_byte_level_words_are_encoded_as_running_text(name: str, request: pytest.FixtureRequest) -> None:
    """sample_data/ner.jsonl: each row's ids are those of its words joined by spaces (one space
    before each word), so no space lands inside a word; first sub-tokens start each word."""
    tok = request.getfixturevalue(name)
    records = [json.loads(line) for line in (REPO / "sample_data" / "ner.jsonl").read_text().splitlines()]
    rows, invalid, _ = label_words(tok, [(r["tokens"], r["ner_tags"]) for r in records], label_names=CONLL)
    assert not invalid and len(rows) == len(records) == 50
    for record, (ids, labels) in zip(records, rows, strict=True):
        assert ids == tok.hf(" " + " ".join(record["tokens"]))["input_ids"], record["id"]
        assert [CONLL[x] for x in labels if x != -100] == record["ner_tags"], record["id"]
    (row,), _, _ = label_words(tok, [(["U.S.", "1996-08-22"], ["B-LOC", "O"])], label_names=CONLL)
    pieces = [t for t in tok.hf.convert_ids_to_tokens(row[0]) if t not in tok.hf.all_special_tokens]
    assert pieces == tok.hf.tokenize(" U.S. 1996-08-22") and sum(p.startswith("Ġ") for p in pieces) == 2


def test_recipe_with_add_prefix_space_puts_spaces_inside_words(qwen_path: Path) -> None:
    """Why sftmask departs from `add_prefix_space=True` on Qwen: transformers spaces every regex piece."""
    from transformers import Qwen2Tokenizer

    recipe_tok = Qwen2Tokenizer.from_pretrained(str(qwen_path), add_prefix_space=True)
    assert recipe_tok.convert_ids_to_tokens(recipe_tok(["U.S."], is_split_into_words=True)["input_ids"]) == [
        "ĠU",
        "Ġ.",
        "S",
        "Ġ.",
    ]


# --- properties -----------------------------------------------------------------------------------

# No combining marks: Qwen2Tokenizer (the recipe's byte-level reference) splits words with \p{L}+
# where the Qwen 3.5 tokenizer.json uses [\p{L}\p{M}]+.
ALPHABET = "abcdefghXYZéüßñø東京日本😀🎉-'.,!?0123 _/"
words_st = st.lists(st.text(ALPHABET, min_size=0, max_size=14), min_size=1, max_size=8)
records_st = st.lists(
    words_st.flatmap(
        lambda ws: st.tuples(st.just(ws), st.lists(st.sampled_from(CONLL), min_size=len(ws), max_size=len(ws)))
    ),
    min_size=1,
    max_size=5,
)
SETTINGS = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["wordpiece", "mistral", "qwen"])
def test_property_equals_recipe(name: str, request: pytest.FixtureRequest) -> None:
    tok = request.getfixturevalue(name)
    _, hf = _hf_tokenizer(name, request)

    @SETTINGS
    @given(records=records_st, label_all=st.booleans())
    def check(records: list[tuple[list[str], list[str]]], label_all: bool) -> None:
        rows, invalid, _ = label_words(tok, records, label_names=CONLL, label_all_subtokens=label_all)
        expected = recipe(hf, [{"tokens": w, "ner_tags": t} for w, t in records], CONLL, label_all)
        # a record whose words all vanish (e.g. only empty strings) has nothing to train: rejected
        kept = [pair for pair in expected if any(x != -100 for x in pair[1])]
        assert not invalid
        assert rows == [(list(ids), labels) for ids, labels in kept]

    check()


def truncate_row(ids: list[int], labels: list[int], word_ids: list[int | None], max_length: int) -> tuple[Any, Any]:
    """Per-row oracle: keep leading/trailing specials and the most whole words that fit."""
    if len(ids) <= max_length:
        return ids, labels
    inside = [i for i, w in enumerate(word_ids) if w is not None]
    head, end = (inside[0], inside[-1] + 1) if inside else (len(ids), len(ids))
    tail = len(ids) - end
    budget = max(max_length - head - tail, 0)
    content = word_ids[head:end]
    boundaries = [k for k in range(1, len(content)) if content[k] != content[k - 1]] + [len(content)]
    fitting = [k for k in boundaries if k <= budget]
    keep = fitting[-1] if fitting else budget
    index = list(range(head)) + list(range(head, head + keep)) + list(range(end, len(ids)))
    return [ids[i] for i in index], [labels[i] for i in index]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["wordpiece", "mistral", "qwen"])
def test_property_truncation(name: str, request: pytest.FixtureRequest) -> None:
    tok = request.getfixturevalue(name)
    _, hf = _hf_tokenizer(name, request)

    @SETTINGS
    @given(records=records_st, max_length=st.integers(1, 30))
    def check(records: list[tuple[list[str], list[str]]], max_length: int) -> None:
        cut, invalid, session = label_words(tok, records, label_names=CONLL, max_length=max_length)
        assert not invalid
        expected = recipe(hf, [{"tokens": w, "ner_tags": t} for w, t in records], CONLL, False)
        word_ids = hf([w for w, _ in records], is_split_into_words=True)
        oracle = [
            truncate_row(list(ids), labels, word_ids.word_ids(batch_index=i), max_length)
            for i, (ids, labels) in enumerate(expected)
        ]
        assert session.truncated_rows == sum(1 for ids, _ in expected if len(ids) > max_length)
        assert cut == [row for row in oracle if any(x != -100 for x in row[1])]
        assert all(len(ids) <= max_length for ids, _ in cut)

    check()


# --- prompt/response records ----------------------------------------------------------------------


def test_response_table_qwen(qwen: LoadedTokenizer) -> None:
    rows, _ = build_rows(qwen, ["Say it:"], [" Chocolate cakes, in Zürich!"], strategy="first-subtoken")
    ids, labels = rows[0]
    marked = [f"[{t}]" if x != -100 else t for t, x in zip(qwen.hf.convert_ids_to_tokens(ids), labels, strict=True)]
    # Words are what whitespace delimits (as for pre-split words): "," and "!" continue theirs.
    assert marked == [
        "Say",
        "Ġit",
        ":",
        "[ĠChocolate]",
        "[Ġcakes]",
        ",",
        "[Ġin]",
        "[ĠZÃ¼rich]",
        "!",
        "[<|im_end|>]",
    ]


@pytest.mark.parametrize("name", REGEX_BYTE_LEVEL)
def test_response_words_are_whitespace_delimited_with_regex_split_byte_level(
    name: str, request: pytest.FixtureRequest
) -> None:
    """One trained token per whitespace-delimited word: the one holding the word's first character
    (never a bare space token), whatever the regex pieces; EOS trained."""
    tok = request.getfixturevalue(name)
    response = "The U.S. grew on 1996-08-22.\nYes, (really)  twice"
    rows, _ = build_rows(tok, ["Where?\n"], [response], strategy="first-subtoken")
    ids, labels = rows[0]
    trained = [i for i, x in zip(ids, labels, strict=True) if x != -100]
    assert trained[-1] == tok.eos_id
    words = response.split()
    assert len(trained) - 1 == len(words)
    for token_id, word in zip(trained, words, strict=False):
        assert tok.hf.decode([token_id]).strip() and word.startswith(tok.hf.decode([token_id]).strip())


def test_response_table_wordpiece(wordpiece: LoadedTokenizer) -> None:
    rows, _ = build_rows(
        wordpiece, ["Say it:"], ["Chocolate cakes in Zurich!"], strategy="first-subtoken", add_eos=False
    )
    ids, labels = rows[0]
    marked = [
        f"[{t}]" if x != -100 else t for t, x in zip(wordpiece.hf.convert_ids_to_tokens(ids), labels, strict=True)
    ]
    prompt = ["[CLS]", "s", "##a", "##y", "i", "##t", ":", "[SEP]"]
    assert marked == [*prompt, "[chocolate]", "[cake]", "##s", "[in]", "[z]", "##ur", "##ic", "##h", "[[UNK]]"]


def test_response_table_mistral_uses_word_markers(mistral: LoadedTokenizer) -> None:
    # Mistral's Metaspace pre-tokenizer does not split (split=false): the whole text is one
    # pre-token, so words start at tokens carrying the ▁ marker.
    rows, _ = build_rows(mistral, ["Say it:"], [" Chocolate cakes, in Zürich!"], strategy="first-subtoken")
    ids, labels = rows[0]
    marked = [f"[{t}]" if x != -100 else t for t, x in zip(mistral.hf.convert_ids_to_tokens(ids), labels, strict=True)]
    assert marked == [
        "<s>",
        "▁Say",
        "▁it",
        ":",
        "[▁Ch]",
        "ocolate",
        "[▁c]",
        "akes",
        ",",
        "[▁in]",
        "[▁Z]",
        "ür",
        "ich",
        "!",
        "[</s>]",
    ]


texts = st.text(ALPHABET + "\n", max_size=40)


@SETTINGS
@given(pairs=st.lists(st.tuples(texts.filter(bool), texts), min_size=1, max_size=6))
def test_property_response_first_subtoken(qwen: LoadedTokenizer, pairs: list[tuple[str, str]]) -> None:
    """Prompt -100; in the response one token per whitespace-delimited word is trained, the one
    holding the word's first character (byte-level BPE); EOS trained."""
    import re

    prompts, responses = [p for p, _ in pairs], [r for _, r in pairs]
    rows, _ = build_rows(qwen, prompts, responses, strategy="first-subtoken")
    full, _ = build_rows(qwen, prompts, responses, strategy="response-only")
    assert [ids for ids, _ in rows] == [ids for ids, _ in full]
    added = [t for t in qwen.hf.get_added_vocab() if t]
    for (ids, labels), (_, full_labels), response in zip(rows, full, responses, strict=True):
        p_len = full_labels.index(next(x for x in full_labels if x != -100))
        assert all(x == -100 for x in labels[:p_len])
        assert labels[-1] == qwen.eos_id
        if any(t in response for t in added):
            continue  # an added token is a word of its own: covered by the table tests
        encoding = qwen.hf(response, add_special_tokens=False, return_offsets_mapping=True)
        assert encoding["input_ids"] == ids[p_len:-1]
        trained = [encoding["offset_mapping"][k] for k, x in enumerate(labels[p_len:-1]) if x != -100]
        word_starts = [m.start() for m in re.finditer(r"\S+", response)]
        assert len(trained) == len(word_starts)
        assert all(start <= w < end for (start, end), w in zip(trained, word_starts, strict=True))
        assert all(x in (-100, i) for x, i in zip(labels, ids, strict=True))


# --- CLI: options, errors, manifest ---------------------------------------------------------------


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_cli_errors_name_file_and_line(tmp_path: Path, wordpiece_path: Path) -> None:
    data = write_jsonl(
        tmp_path / "ner.jsonl",
        [{"tokens": ["a", "b"], "ner_tags": ["O", "O"]}, {"tokens": ["a", "b"], "ner_tags": ["O"]}],
    )
    args = ["build", str(data), "-t", str(wordpiece_path), "-o", str(tmp_path / "o"), "--strategy", "first-subtoken"]
    result = runner.invoke(app, [*args, "--label-names", "O,B-PER"])
    assert result.exit_code == 3
    assert f"Error: {data}:2: 2 words in 'tokens' but 1 tags in 'ner_tags'" in result.output
    assert "pass --on-error skip" in result.output


def test_cli_skip_writes_rejects_and_counts(tmp_path: Path, wordpiece_path: Path) -> None:
    records = [
        {"tokens": ["Berlin"], "ner_tags": ["B-LOC"]},
        {"tokens": [], "ner_tags": []},
        {"tokens": ["x"], "ner_tags": ["B-FOO"]},
        {"tokens": ["x", "y"], "ner_tags": ["O"]},
        {"words": ["x"], "ner_tags": ["O"]},
    ]
    data = write_jsonl(tmp_path / "ner.jsonl", records)
    out = tmp_path / "o"
    args = ["build", str(data), "-t", str(wordpiece_path), "-o", str(out), "--strategy", "first-subtoken"]
    result = runner.invoke(app, [*args, "--label-names", "O,B-LOC,I-LOC", "--on-error", "skip", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows_written"] == 1 and summary["rejected"] == 4
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    # the reader's rejects (a missing field) and the encoder's, merged in line order
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (2, "empty-words"),
        (3, "unknown-tag"),
        (4, "length-mismatch"),
        (5, "missing-field"),
    ]
    assert rejects[1]["record"] == {"tokens": ["x"], "ner_tags": ["B-FOO"]}
    assert rejects[1]["message"] == "unknown tag 'B-FOO'; label names are O, B-LOC, I-LOC"


def test_cli_string_tags_without_names_get_sorted_ids_and_a_warning(
    tmp_path: Path, wordpiece_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = write_jsonl(
        tmp_path / "ner.jsonl",
        [{"words": ["Anna", "lives", "in", "Rome"], "tags": ["B-PER", "O", "O", "B-LOC"]}],
    )
    out = tmp_path / "o"
    args = ["build", str(data), "-t", str(wordpiece_path), "-o", str(out), "--strategy", "first-subtoken"]
    result = runner.invoke(app, [*args, "--tokens-field", "words", "--tags-field", "tags"])
    assert result.exit_code == 0, result.output
    assert "string tags without --label-names: ids follow sorted order (0=B-LOC, 1=B-PER, 2=O)" in caplog.text
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["id2label"] == {"0": "B-LOC", "1": "B-PER", "2": "O"}
    assert manifest["words"]["label_source"] == "sorted-string-tags"
    row = pq.read_table(next(out.glob("*.parquet"))).to_pylist()[0]
    assert [x for x in row["labels"] if x != -100] == [1, 2, 2, 0]


def test_cli_tags_mixing_strings_and_ids_show_one_of_each(tmp_path: Path, wordpiece_path: Path) -> None:
    """Without --label-names such tags have no one id space; the error said "mix strings and other
    values" and nothing of which, over a file of thousands of records."""
    records = [
        {"tokens": ["Anna"], "ner_tags": ["B-PER"]},
        {"tokens": ["Rome"], "ner_tags": [7]},
        {"tokens": ["x"], "ner_tags": [3]},
    ]
    data = write_jsonl(tmp_path / "ner.jsonl", records)
    result = runner.invoke(
        app, ["build", str(data), "-t", str(wordpiece_path), "-o", str(tmp_path / "o"), "--data-kind", "words"]
    )
    assert result.exit_code == 2 and not (tmp_path / "o").exists()
    assert result.stderr == (
        "Error: tags in --tags-field 'ner_tags' mix strings ('B-PER', ...) and other values (3); "
        "pass --label-names so integer tags and names share one id space\n"
    )


def test_cli_stdin_with_string_tags_needs_label_names(tmp_path: Path, wordpiece_path: Path) -> None:
    line = json.dumps({"tokens": ["Rome"], "ner_tags": ["B-LOC"]}) + "\n"
    args = ["build", "-", "-t", str(wordpiece_path), "-o", str(tmp_path / "o"), "--strategy", "first-subtoken"]
    result = runner.invoke(app, [*args, "--data-kind", "words"], input=line)
    assert result.exit_code == 3
    assert "Error: -:1: field 'ner_tags' holds string tags; reading stdin they need --label-names" in result.output
    ok = runner.invoke(app, [*args, "--label-names", "O,B-LOC", "-o", str(tmp_path / "o2")], input=line)
    assert ok.exit_code == 0, ok.output


def test_cli_config_errors(tmp_path: Path, wordpiece_path: Path) -> None:
    data = write_jsonl(tmp_path / "ner.jsonl", [{"tokens": ["Rome"], "ner_tags": [0]}])
    base = ["build", str(data), "-t", str(wordpiece_path), "-o", str(tmp_path / "o")]
    wrong_strategy = runner.invoke(app, [*base, "--tags-field", "tags"])
    assert wrong_strategy.exit_code == 2
    assert "tags-field only apply to word-labelled data" in wrong_strategy.output
    names = tmp_path / "labels.txt"
    names.write_text("O\nB-LOC\nO\n")
    duplicate = runner.invoke(app, [*base, "--strategy", "first-subtoken", "--label-names", str(names)])
    assert duplicate.exit_code == 2 and "'O' appears twice" in duplicate.output
    names.write_text("O\n\nB-LOC\n")
    blank = runner.invoke(app, [*base, "--strategy", "first-subtoken", "--label-names", str(names)])
    assert blank.exit_code == 2 and f"{names}:2: blank line" in blank.output


def test_words_data_needs_no_eos_and_keeps_kept_columns(tmp_path: Path, wordpiece_path: Path) -> None:
    # WordPiece has no EOS: --add-eos (the default) does not apply to words data.
    data = write_jsonl(tmp_path / "ner.jsonl", [{"id": 7, "tokens": ["Rome"], "ner_tags": [1]}])
    out = tmp_path / "o"
    args = ["build", str(data), "-t", str(wordpiece_path), "-o", str(out), "--strategy", "first-subtoken"]
    result = runner.invoke(app, [*args, "--data-kind", "words", "--keep-columns", "id,tokens"])
    assert result.exit_code == 0, result.output
    row = pq.read_table(next(out.glob("*.parquet"))).to_pylist()[0]
    assert row["id"] == 7 and row["tokens"] == ["Rome"]  # kept as a list, not JSON text
    assert [x for x in row["labels"] if x != -100] == [1] and row["labels"][0] == row["labels"][-1] == -100


def test_check_word_ids_fails_clearly_at_start_up() -> None:
    class NoWords:
        def encode(self, *args: Any, **kwargs: Any) -> Any:
            raise TypeError("pre-tokenized input is not supported")

    with pytest.raises(TokenizerError, match="cannot encode pre-split words with word_ids"):
        check_word_ids(NoWords(), "slow")  # type: ignore[arg-type]


def test_cli_prompt_response_trains_word_starts_of_the_response(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoTokenizer

    monkeypatch.chdir(REPO)
    base = ["build", "sample_data/instructions.jsonl", "-t", "sample_data/tokenizer", "--keep-columns", "id"]
    first = runner.invoke(app, [*base, "-o", str(tmp_path / "first"), "--strategy", "first-subtoken"])
    plain = runner.invoke(app, [*base, "-o", str(tmp_path / "plain")])
    assert first.exit_code == 0 and plain.exit_code == 0, first.output + plain.output
    manifest = json.loads((tmp_path / "first" / "manifest.json").read_text())
    assert manifest["data_kind"] == "prompt-response" and "label2id" not in manifest
    tok = AutoTokenizer.from_pretrained("sample_data/tokenizer")
    records = {r["id"]: r for r in map(json.loads, (REPO / "sample_data/instructions.jsonl").read_text().splitlines())}
    rows = pq.read_table(next((tmp_path / "first").glob("*.parquet"))).to_pylist()
    plain_rows = pq.read_table(next((tmp_path / "plain").glob("*.parquet"))).to_pylist()
    assert len(rows) == len(plain_rows) == 300
    fewer = 0
    for row, ref in zip(rows, plain_rows, strict=True):
        assert row["input_ids"] == ref["input_ids"]
        p_len = next(i for i, x in enumerate(ref["labels"]) if x != -100)
        assert all(x == -100 for x in row["labels"][:p_len])
        # Byte-level BPE: words are what whitespace delimits (README, first-subtoken); from the
        # response text itself: a token starts a word when it is the first to cover a character
        # that is not whitespace and follows whitespace or the response's start.
        response = records[row["id"]]["response"]
        spans = tok(response, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        starts, seen = [], set()
        for start, end in spans:
            text = response[start:end]
            lead = len(text) - len(text.lstrip())
            first = start + lead
            starts.append(bool(text.strip()) and first not in seen and (first == 0 or response[first - 1].isspace()))
            seen.update(range(start, end))
        assert [x != -100 for x in row["labels"][p_len:-1]] == starts, row["id"]
        assert row["labels"][-1] == tok.convert_tokens_to_ids(tok.eos_token)
        fewer += sum(starts) < len(starts)
    assert fewer > 100  # the sample tokenizer splits many words into several tokens


def test_words_manifest_is_the_same_with_worker_processes(
    tmp_path: Path, wordpiece_path: Path, worker_processes: None
) -> None:
    """Counts and labels that the manifest derives from the data come back from the workers."""
    from typer.testing import CliRunner

    from sftmask.cli.app import app

    data = tmp_path / "ner.jsonl"
    rows = [
        {"tokens": ["Berlin", "is", "big"] * (1 + i % 3), "ner_tags": [i % 7, 0, 0] * (1 + i % 3)} for i in range(40)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    manifests = []
    for n in (1, 2):
        out = tmp_path / f"o{n}"
        args = ["build", str(data), "-t", str(wordpiece_path), "-o", str(out), "--strategy", "first-subtoken"]
        args += ["--data-kind", "words", "--max-length", "8", "--batch-size", "7", "--num-proc", str(n)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        manifests.append(json.loads((out / "manifest.json").read_text()))
    one, two = manifests
    assert one["id2label"] == {str(i): f"LABEL_{i}" for i in range(7)}
    assert two["id2label"] == one["id2label"] and two["words"] == one["words"]
    assert one["words"]["truncated_rows"] > 0


@pytest.mark.parametrize("name", ["llama3", "qwen", "deepseek", "tekken"])
def test_a_tag_never_sits_on_a_bare_space_token(name: str, request: pytest.FixtureRequest) -> None:
    # Llama 3 writes " 1996" as "Ġ" "199" "6"; Qwen and DeepSeek split " 東京" after the space too.
    tok = request.getfixturevalue(name)
    words = ["EU", "1996-08-22", "", "東京", "x"]
    (row,), invalid, session = label_words(tok, [(words, ["B-ORG", "O", "B-MISC", "B-LOC", "O"])], label_names=CONLL)
    assert not invalid
    tokens = tok.hf.convert_ids_to_tokens(row[0])
    labelled = [(t, CONLL[lab]) for t, lab in zip(tokens, row[1], strict=True) if lab != -100]
    assert [t for t, _ in labelled if t == "Ġ"] == []
    assert [lab for _, lab in labelled] == ["B-ORG", "O", "B-LOC", "O"]  # the empty word has no token to tag
    assert labelled[1][0] in ("199", "1")  # the token holding the first digit
    assert tok.hf.decode(row[0], skip_special_tokens=True) == " EU 1996-08-22 東京 x"  # no space for ""
    assert session.manifest()["words"]["words_without_tokens"] == 1
    (all_row,), _, _ = label_words(
        tok, [(words, ["B-ORG", "O", "B-MISC", "B-LOC", "O"])], label_names=CONLL, label_all_subtokens=True
    )
    bare = [i for i, t in enumerate(tokens) if t == "Ġ"]
    assert bare and all(all_row[1][i] == -100 for i in bare)
