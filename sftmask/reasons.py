"""Reject reasons: the `reason` of a record in rejects.jsonl and in the manifest's counts.

One name per way a record can fail, defined here once; the module that detects it imports it.
A data kind added later may define its own in its module (`sftmask.kinds.text.NO_MARKER`).
"""

from __future__ import annotations

# Reading (sftmask.io.readers)
NOT_AN_OBJECT = "not-an-object"
MISSING_FIELD = "missing-field"
NOT_A_STRING = "not-a-string"
INVALID_JSON = "invalid-json"
INVALID_UTF8 = "invalid-utf8"
MALFORMED_CSV = "malformed-csv"
RAGGED_ROW = "ragged-row"

# Assembling rows (sftmask.labels.assemble)
TOO_LONG = "too-long"
NO_TRAINABLE = "no-trainable-tokens"

# Chat data (sftmask.kinds.chat, sftmask.chat.render)
INVALID_CONVERSATION = "invalid-conversation"
UNKNOWN_ROLE = "unknown-role"
NO_FINAL_ASSISTANT = "no-final-assistant-turn"
CHAT_TEMPLATE = "chat-template"
INVALID_TOOLS = "invalid-tools"
NO_ASSISTANT = "no-assistant-turn"
NON_TEXT_CONTENT = "non-text-content"
BAD_WEIGHT = "bad-weight"
BAD_TRAIN_FIELD = "bad-train-field"
STARTS_WITH_ASSISTANT = "starts-with-assistant"

# Prompt templates (sftmask.prompts.templates)
INVALID_HISTORY = "invalid-history"

# Word-labelled data (sftmask.kinds.words)
BAD_WORDS = "bad-words"
BAD_TAGS = "bad-tags"
LENGTH_MISMATCH = "length-mismatch"
UNKNOWN_TAG = "unknown-tag"
EMPTY_WORDS = "empty-words"
