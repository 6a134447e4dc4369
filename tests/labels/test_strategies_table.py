"""Exact labels per strategy and tokenizer family: `[tok]` marks a trained token, bare tokens are -100."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import build_rows, load_once, marked_tokens, record_encoded_texts

CASES = [
    # (tokenizer, prompt, response, expected tokens with trained ones in brackets)
    ("qwen", "What is 2+2?\n", "4", ["What", "Ġis", "Ġ", "2", "+", "2", "?", "Ċ", "[4]", "[<|im_end|>]"]),
    (
        "qwen",
        "Translate to French: Good morning",
        "\nBonjour",
        ["Translate", "Ġto", "ĠFrench", ":", "ĠGood", "Ġmorning", "[Ċ]", "[Bonjour]", "[<|im_end|>]"],
    ),
    ("qwen", "", "Hi there", ["[Hi]", "[Ġthere]", "[<|im_end|>]"]),
    # A joint encoding would merge "\n\n"; the prompt keeps the ids the model sees at inference.
    ("qwen", "Hello\n", "\nWorld", ["Hello", "Ċ", "[Ċ]", "[World]", "[<|im_end|>]"]),
    (
        "qwen",
        "Use <|im_end|> literally:",
        " ok",
        ["Use", "Ġ", "<|im_end|>", "Ġliterally", ":", "[Ġok]", "[<|im_end|>]"],
    ),
    # SentencePiece: BOS once, masked; no dummy "▁" injected before "Bon" or "World".
    ("mistral", "What is 2+2?\n", "4", ["<s>", "▁What", "▁is", "▁", "2", "+", "2", "?", "<0x0A>", "[4]", "[</s>]"]),
    (
        "mistral",
        "Translate to French: Good morning",
        "\nBonjour",
        ["<s>", "▁Trans", "late", "▁to", "▁French", ":", "▁Good", "▁morning", "[<0x0A>]", "[Bon]", "[jour]", "[</s>]"],
    ),
    # With no prompt the response starts the text, so it gets the start-of-text "▁" as in tokenizer(response).
    ("mistral", "", "Hi there", ["<s>", "[▁Hi]", "[▁there]", "[</s>]"]),
    ("mistral", "Say:", " 東京 😀", ["<s>", "▁Say", ":", "[▁]", "[東]", "[京]", "[▁]", "[😀]", "[</s>]"]),
    # Legacy Llama-style SentencePiece prefixes every segment, also after a special token:
    # the response after "[/INST]" is "▁Hello" in prompt+response, so here too.
    ("llama_legacy", "[INST] Hi [/INST]", "Hello", ["<s>", "[INST]", "▁▁", "Hi", "▁", "[/INST]", "[▁Hello]", "[</s>]"]),
    ("llama_legacy", "Q:", " yes", ["<s>", "▁Q", ":", "[▁yes]", "[</s>]"]),
    # XLM-R/T5-style Unigram (WhitespaceSplit + Metaspace "always": every word gets "▁"; the prompt
    # is tokenizer(prompt), <s> ... </s>). Every response word keeps its "▁" ...
    (
        "xlmr",
        "Translate: Bonjour\n",
        "Good morning, how are you",
        [
            "<s>",
            "▁Trans",
            "late",
            ":",
            "▁Bonjour",
            "</s>",
            "[▁Good]",
            "[▁morning]",
            "[,]",
            "[▁how]",
            "[▁are]",
            "[▁you]",
            "[</s>]",
        ],
    ),
    ("xlmr", "Q:", " yes indeed", ["<s>", "▁Q", ":", "</s>", "[▁yes]", "[▁indeed]", "[</s>]"]),
    # ... but a first word that continues the prompt's last word, which only it loses.
    ("xlmr", "Hell", "o world", ["<s>", "▁Hell", "</s>", "[o]", "[▁world]", "[</s>]"]),
    ("xlmr", "", "Hi there", ["<s>", "</s>", "[▁Hi]", "[▁there]", "[</s>]"]),
    ("xlmr", "Hello<s>", "Good day", ["<s>", "▁Hello", "<s>", "</s>", "[▁Good]", "[▁day]", "[</s>]"]),
    # WordPiece (no EOS): the prompt is tokenizer(prompt), i.e. [CLS] ... [SEP].
    (
        "wordpiece",
        "Translate to French: Good morning",
        "\nBonjour",
        ["[CLS]", "translate", "to", "french", ":", "good", "morning", "[SEP]", "[bonjour]"],
    ),
]


@pytest.mark.parametrize(("family", "prompt", "response", "expected"), CASES)
def test_response_only_labels(
    request: pytest.FixtureRequest, family: str, prompt: str, response: str, expected: list[str]
) -> None:
    tok: Any = request.getfixturevalue(family)
    rows, _ = build_rows(tok, [prompt], [response], add_eos=tok.eos_id is not None)
    ids, labels = rows[0]
    assert marked_tokens(tok, ids, labels) == expected
    assert all(lab in (-100, i) for i, lab in zip(ids, labels, strict=True))


def test_all_strategy_trains_every_token(mistral: Any) -> None:
    rows, _ = build_rows(mistral, ["Q: hi\n"], ["A: yo"], strategy="all")
    ids, labels = rows[0]
    assert labels == ids
    assert marked_tokens(mistral, ids, labels)[:2] == ["[<s>]", "[▁Q]"]


def test_eos_is_trained_when_pad_equals_eos(qwen_pad_eos_path: Any) -> None:
    tok = load_once(str(qwen_pad_eos_path))
    assert tok.hf.pad_token_id == tok.eos_id
    rows, _ = build_rows(tok, ["Q?"], [" A."])
    ids, labels = rows[0]
    assert ids[-1] == tok.eos_id and labels[-1] == tok.eos_id


def test_no_add_eos(qwen: Any) -> None:
    rows, _ = build_rows(qwen, ["Q?"], [" A."], add_eos=False)
    assert marked_tokens(qwen, *rows[0]) == ["Q", "?", "[ĠA]", "[.]"]


# --- truncation -------------------------------------------------------------------------------

PROMPT = "one two three four five six\n"  # mistral: <s> ▁one ▁two ▁three ▁four ▁five ▁six <0x0A>  (8)
RESPONSE = "alpha beta gamma"  # mistral: alpha ▁beta ▁g amma + </s>  (5)


def test_truncation_prompt_keeps_bos_and_drops_prompt_from_the_left(mistral: Any) -> None:
    (full,), _ = build_rows(mistral, [PROMPT], [RESPONSE])
    rows, _ = build_rows(mistral, [PROMPT], [RESPONSE], max_length=8)
    assert len(full[0]) == 13
    assert marked_tokens(mistral, *rows[0]) == [
        "<s>",
        "▁six",
        "<0x0A>",
        "[alpha]",
        "[▁beta]",
        "[▁g]",
        "[amma]",
        "[</s>]",
    ]


def test_truncation_prompt_then_cuts_the_response_end(mistral: Any) -> None:
    rows, _ = build_rows(mistral, [PROMPT], [RESPONSE], max_length=4)
    assert marked_tokens(mistral, *rows[0]) == ["<s>", "[alpha]", "[▁beta]", "[▁g]"]


def test_truncation_response_cuts_the_end(mistral: Any) -> None:
    rows, _ = build_rows(mistral, [PROMPT], [RESPONSE], max_length=10, truncation="response")
    assert marked_tokens(mistral, *rows[0]) == [
        "<s>",
        "▁one",
        "▁two",
        "▁three",
        "▁four",
        "▁five",
        "▁six",
        "<0x0A>",
        "[alpha]",
        "[▁beta]",
    ]


def test_truncation_response_with_no_room_rejects(mistral: Any) -> None:
    rows, rejected = build_rows(mistral, [PROMPT, "x"], [RESPONSE, "y"], max_length=8, truncation="response")
    assert len(rows) == 1 and rejected == {0: "no-trainable-tokens"}


def test_truncation_drop_rejects_too_long(mistral: Any) -> None:
    rows, rejected = build_rows(mistral, ["x", PROMPT], ["y", RESPONSE], max_length=12, truncation="drop")
    assert rejected == {1: "too-long"}
    assert rows == build_rows(mistral, ["x"], ["y"])[0]


def test_fitting_rows_are_not_truncated(mistral: Any) -> None:
    rows, _ = build_rows(mistral, [PROMPT], [RESPONSE], max_length=13)
    assert rows == build_rows(mistral, [PROMPT], [RESPONSE])[0] and len(rows[0][0]) == 13


def test_empty_response_without_eos_is_rejected(qwen: Any) -> None:
    rows, rejected = build_rows(qwen, ["Q", "Q"], ["", "A"], add_eos=False)
    assert rejected == {0: "no-trainable-tokens"} and len(rows) == 1


def test_empty_response_with_eos_trains_eos(qwen: Any) -> None:
    rows, _ = build_rows(qwen, ["Q"], [""])
    assert marked_tokens(qwen, *rows[0]) == ["Q", "[<|im_end|>]"]


def test_boundary_merges_are_counted(qwen: Any, mistral: Any) -> None:
    from sftmask.tokenization.encode import count_boundary_merges

    prompts = ["Hello\n", "Answer:", "abc", ""]
    responses = ["\nWorld", " yes", "def", "x"]
    # "\n"+"\n" -> "\n\n" and "abc"+"def" -> "abcdef" merge for byte-level BPE; " yes" does not.
    assert count_boundary_merges(qwen, prompts, responses) == 2
    # SentencePiece: "Hell" + "o world" would be "▁Hello ▁world" jointly; "abc" + "def" splits the same.
    assert count_boundary_merges(mistral, ["Hell", "abc"], ["o world", "def"]) == 1
    assert count_boundary_merges(mistral, ["Answer:"], [" yes"]) == 0


def test_boundary_merges_encode_each_distinct_window_once(qwen: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records that end and start alike (a prompt template's ending) are encoded once, and still
    each counted."""
    from sftmask.tokenization import encode

    texts = record_encoded_texts(monkeypatch)
    monkeypatch.setattr(encode, "seam_rule", lambda tok: None)  # "\n" | "S" would not be encoded at all
    suffix = "\n\n### End of the instruction.\n\n### Response:\n"  # longer than the window
    prompts = ["Question one" + suffix, "Question two" + suffix, "Q" + suffix]
    responses = ["\nYes", "\nYes", "Sure"]
    width = encode.boundary_window(qwen)
    assert encode.count_boundary_merges(qwen, prompts, responses) == 2  # "\n" + "\n" merges, twice
    left = suffix[-width:]
    joint_and_left = [left + "\nYes", left + "Sure", left]
    assert texts[: len(joint_and_left)] == joint_and_left
    assert sorted(texts[len(joint_and_left) :]) == ["\nYes", "Sure"]  # the right windows, once each


def test_boundary_merges_with_a_prefix_on_every_word(xlmr: Any) -> None:
    from sftmask.tokenization.encode import count_boundary_merges

    # Only "Hell" + "o world" merges ("▁Hello" jointly); a response after whitespace merges nothing.
    prompts = ["Hell", "Q:", "Translate: Bonjour\n", "Say"]
    responses = ["o world", " yes", "Good morning, how are you", " Good morning, how are you"]
    assert count_boundary_merges(xlmr, prompts, responses) == 1


@pytest.mark.parametrize(
    ("prompt", "response"),
    [
        ("<|start_header_id|>user<|end_header_id|>", "\n\nHello"),
        ("Hello.", "<|start_header_id|>assistant<|end_header_id|>\n\nFine."),
    ],
)
def test_boundary_window_never_cuts_a_special_token(llama3: Any, prompt: str, response: str) -> None:
    """A 16-character window would cut <|start_header_id|> (19) into plain text that merges."""
    from sftmask.tokenization.encode import boundary_window, count_boundary_merges

    assert boundary_window(llama3) >= len("<|reserved_special_token_100|>") + 16
    joint = llama3.hf(prompt + response)["input_ids"]
    assert joint == llama3.hf(prompt)["input_ids"] + llama3.hf(response, add_special_tokens=False)["input_ids"]
    assert count_boundary_merges(llama3, [prompt], [response]) == 0
