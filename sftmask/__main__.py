"""`python -m sftmask` runs the CLI."""

from sftmask.cli import app

app()
