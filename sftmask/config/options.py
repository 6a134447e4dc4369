"""Every option of a build, one field each: each data kind's own options, packing, and `BuildOptions`, all of them.

A field is the whole definition of an option: its type, default, docstring and `Flag` become the
config key, the `sftmask build` flag (`sftmask.cli.options`), its `--help` and the docs' option
table (`scripts/cli_reference.py`). The models here import nothing but pydantic, so the command
line reads them without loading the library; `sftmask.config.build.BuildConfig` adds the checks
that need the registries. Each kind's module (`sftmask.kinds`) names its options model here as its
`options`.
"""

# No `from __future__ import annotations`: pydantic would compile every field's annotation from
# its string, a few milliseconds of every command's start (the command line reads these models).
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from sftmask.config.common import (
    CHAT_DATA,
    DATA_KIND,
    INPUT,
    LENGTH,
    OUTPUT,
    PERFORMANCE,
    STRATEGY,
    CommonOptions,
    Flag,
)

WORDS_DATA = "Words data (NER, POS)"
TEXT_DATA = "Text data"
SPLITS = "Splits, shuffling and mixing"
PANELS = (INPUT, DATA_KIND, CHAT_DATA, WORDS_DATA, TEXT_DATA, STRATEGY, LENGTH, OUTPUT, SPLITS, PERFORMANCE)
"""Help panels in the order `sftmask build --help` shows them; within a panel, options keep the
order of `BuildOptions`' fields."""

MessagesFormat = Literal["openai", "sharegpt"]
PackStrategy = Literal["bfd", "wrapped"]
Role = Literal["system", "user", "assistant", "tool"]
TrainOnEos = Literal["turn", "last", "none"]
StoppingStrategy = Literal["first_exhausted", "all_exhausted"]

ROLES: tuple[Role, ...] = ("system", "user", "assistant", "tool")
"""The roles of a conversation's messages (OpenAI's; other formats' roles map to them)."""
_ASSISTANT: list[Role] = ["assistant"]

CHAT = "chat"
"""`template` value that renders prompt and response as a user/assistant exchange."""
DEFAULT_WINDOW = 1000
"""Rows per best-fit-decreasing window unless `pack_window` says (see the docs' "Packed output"
for what it costs)."""


class PromptResponseOptions(CommonOptions):
    """Options of prompt/response data."""

    prompt_field: Annotated[str, Flag(DATA_KIND, "FIELD")] = "prompt"
    """Prompt/response data: field with the prompt (masked)."""
    response_field: Annotated[str, Flag(DATA_KIND, "FIELD")] = "response"
    """Prompt/response data: field with the response (trained)."""
    template: Annotated[
        str | None, Flag(DATA_KIND, "NAME_OR_FILE", choices=("sftmask.prompts.templates:available_templates", CHAT))
    ] = None
    """Prompt/response data: prompt template (alpaca, chatml, question-answer), a YAML file, or chat
    (render as a user/assistant exchange with the chat template)."""

    @property
    def prompt_template(self) -> str | None:
        """`template` when it names a prompt template (not `chat`)."""
        return None if self.template == CHAT else self.template


class ChatOptions(CommonOptions):
    """Options of chat data."""

    messages_field: Annotated[str | None, Flag(CHAT_DATA, "FIELD", default="messages; conversations for sharegpt")] = (
        None
    )
    """Field with the list of messages."""
    messages_format: Annotated[MessagesFormat, Flag(CHAT_DATA)] = "openai"
    """openai (role/content) or sharegpt (from/value, human/gpt).

    sharegpt roles: human, gpt, system, tool (and user, assistant, function_call, observation)."""
    role_key: Annotated[str | None, Flag(CHAT_DATA, "KEY", default="from the format")] = None
    """Key of a message's role, overriding the format's."""
    content_key: Annotated[str | None, Flag(CHAT_DATA, "KEY", default="from the format")] = None
    """Key of a message's text, overriding the format's."""
    tools_field: Annotated[str, Flag(CHAT_DATA, "FIELD")] = "tools"
    """Field with tool schemas passed to the chat template.

    Read when a record has it."""
    completion_field: Annotated[str | None, Flag(CHAT_DATA, "FIELD", default="none; completion when detected")] = None
    """Field with completion messages (TRL's conversational prompt/completion): rendered after the
    --messages-field ones; assistant-only trains only them.

    The messages of `messages_field` are then the prompt: masked, as TRL's completion-only loss
    masks them, unless a message's own weight or train field says otherwise."""
    roles_to_train: Annotated[list[Role], Flag(CHAT_DATA, "ROLES", default="assistant")] = Field(
        default_factory=lambda: _ASSISTANT.copy(), min_length=1
    )
    """assistant-only: comma-separated roles whose turns are trained, e.g. assistant,tool.

    axolotl's `roles_to_train`. A trained turn of a role other than the assistant's is trained from
    the first character of its text to its turn's end."""
    message_train_field: Annotated[str | None, Flag(CHAT_DATA, "FIELD")] = None
    """assistant-only: a message's boolean field; false masks the message, true trains it whatever
    its role.

    axolotl's per-message `train`; a value that is not a boolean rejects the record (`bad-train-field`)."""
    train_on_eos: Annotated[TrainOnEos, Flag(CHAT_DATA)] = "turn"
    """Train each trained turn's end-of-turn token(s) (turn), only the last one (last), or none.

    axolotl's `train_on_eos`. The end of a turn is the text the template writes after an
    assistant's reply (`<|im_end|>`, `<|eot_id|>`...); a template that writes none is refused."""
    require_user_first: Annotated[bool, Flag(CHAT_DATA)] = False
    """Reject a conversation whose first message after the system prompt is the assistant's
    (starts-with-assistant) instead of only counting it.

    Such conversations are counted in the manifest's `chat.starts_with_assistant` either way."""

    @field_validator("roles_to_train", mode="before")
    @classmethod
    def _split_roles(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for role in value if isinstance(value, list) else []:
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        return value

    @property
    def resolved_messages_field(self) -> str:
        """`messages_field`, or the messages format's usual field name."""
        return self.messages_field or ("conversations" if self.messages_format == "sharegpt" else "messages")


class WordsOptions(CommonOptions):
    """Options of word-labelled data."""

    tokens_field: Annotated[str | None, Flag(WORDS_DATA, "FIELD", default="tokens")] = None
    """Field with the list of words."""
    tags_field: Annotated[str | None, Flag(WORDS_DATA, "FIELD", default="ner_tags")] = None
    """Field with the parallel list of tags (ints or strings)."""
    label_names: Annotated[str | list[str] | None, Flag(WORDS_DATA, "FILE_OR_LIST")] = None
    """Label names in id order: a file with one per line, or B-PER,I-PER,...

    In a config file also a list. Without it, integer tags are ids as they are and string tags get
    ids in sorted order."""
    label_all_subtokens: Annotated[bool | None, Flag(WORDS_DATA)] = None
    """Label continuation sub-tokens too (B-X becomes I-X).

    `B-X` becomes `I-X` when the names are BIO."""

    @property
    def resolved_tokens_field(self) -> str:
        return self.tokens_field or "tokens"

    @property
    def resolved_tags_field(self) -> str:
        return self.tags_field or "ner_tags"


class TextOptions(CommonOptions):
    """Options of text data."""

    text_field: Annotated[str | None, Flag(TEXT_DATA, "FIELD", default="text")] = None
    """Field with the pre-formatted text."""
    response_marker: Annotated[str | None, Flag(TEXT_DATA, "TEXT", default="train every token")] = Field(
        default=None, min_length=1
    )
    """Train only what follows this marker's first occurrence (e.g. '### Response:'); a record
    without it is rejected.

    The text through the marker is masked (-100); without a marker every token is trained."""

    @property
    def resolved_text_field(self) -> str:
        return self.text_field or "text"


class BuildOptions(TextOptions, WordsOptions, ChatOptions, PromptResponseOptions):
    """Every option of `sftmask build`: the common options, every data kind's own, and packing.

    Each kind's options model is once among the bases, the last kind first, so that the options
    keep the registry's order (`sftmask.kinds.DATA_KINDS`). `sftmask.config.build.BuildConfig` is
    this model with the checks across options.
    """

    pack_length: Annotated[int | None, Flag(OUTPUT, default="no packing")] = Field(default=None, ge=2)
    """Pack examples into rows of at most N tokens for padding-free training (position_ids,
    seq_lengths).

    Rows get `position_ids` and `seq_lengths`, no `attention_mask` (see `sftmask.packing.packer`).
    With `bfd`, `max_length` defaults to it and may not exceed it: a longer row follows
    `truncation`."""
    pack_strategy: Annotated[PackStrategy, Flag(OUTPUT)] = "bfd"
    """bfd: best-fit-decreasing, attention per example; wrapped: concatenate and cut (--strategy all
    only).

    `bfd` packs whole examples, attention kept per example; `wrapped` concatenates and cuts every
    `pack_length` tokens, examples attend to those before them in their row."""
    pack_window: Annotated[int, Flag(OUTPUT)] = Field(default=DEFAULT_WINDOW, gt=0)
    """bfd: rows packed together (more: fuller rows, more memory).

    On the benchmark data 250 rows reach 98.3% of the tokens a row holds, 1000 rows 99.5%, the
    whole set 99.9%."""

    val_size: Annotated[int | float | None, Flag(SPLITS, "N_OR_FRACTION", default="none", changes_rows=False)] = None
    """Hold out rows as a validation split: a fraction (0.05) or a count (500), chosen by a hash of
    each source record, so adding data keeps the held-out rows held out.

    A fraction holds out exactly the rows whose record hash falls in its range (independent of
    every other record); a count holds out the rows with the smallest hashes (kept in memory
    until the end: use a fraction for large held-out sets). Written as `data/validation-*`."""
    test_size: Annotated[int | float | None, Flag(SPLITS, "N_OR_FRACTION", default="none", changes_rows=False)] = None
    """Hold out rows as a test split, as --val-size does (its own range of the hash)."""
    shuffle: Annotated[bool, Flag(SPLITS, changes_rows=False)] = False
    """Shuffle the rows of each split (before packing) by --seed: the same seed gives the same
    bytes on any engine; data larger than memory is shuffled on disk.

    A uniform random permutation: rows are sorted by a keyed 64-bit hash of (seed, record, position),
    through 64 bucket files in the output's temporary folder (a bucket larger than
    `mixing.shuffle.BUCKET_BYTES` is split again)."""
    seed: Annotated[int, Flag(SPLITS, changes_rows=False)] = Field(default=0, ge=0, le=2**63 - 1)
    """Seed of --shuffle and of a recipe's weighted mixing."""
    dedup: Annotated[bool, Flag(SPLITS, changes_rows=False)] = False
    """Write rows whose source records are identical once (the first one, in input order, across
    all sources); counted in the manifest (`duplicates`).

    Identical means the same values in the fields the source reads (and keeps): a 64-bit hash
    of them, held in memory (about 8 bytes a row written)."""
    stopping_strategy: Annotated[StoppingStrategy, Flag(SPLITS, changes_rows=False)] = "first_exhausted"
    """Recipes with weights: stop mixing when the first source runs out (first_exhausted), or
    repeat sources until every one has been used whole (all_exhausted), as
    datasets.interleave_datasets does."""

    @model_validator(mode="after")
    def _train_left(self) -> Self:
        fractions = [size for size in (self.val_size, self.test_size) if isinstance(size, float)]
        if sum(fractions) >= 1:  # as datasets' train_test_split refuses it
            raise ValueError(
                f"--val-size {self.val_size} and --test-size {self.test_size} hold out every row: "
                "together they must be less than 1"
            )
        return self

    @field_validator("val_size", "test_size")
    @classmethod
    def _size(cls, value: int | float | None) -> int | float | None:
        if value is None:
            return None
        if isinstance(value, float) and not 0 < value < 1:
            if value >= 1 and value == int(value):
                return int(value)
            raise ValueError(f"{value} is neither a fraction between 0 and 1 nor a count of rows")
        if isinstance(value, int) and value < 1:
            raise ValueError(f"{value} is not a count of rows (1 or more) nor a fraction between 0 and 1")
        return value
