"""sftmask: tokenize prompt/response data and build token-exact training labels."""

__version__ = "0.1.0"
