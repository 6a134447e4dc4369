"""Prompt templates for prompt/response data, and the ones sftmask ships (`builtin/`)."""
