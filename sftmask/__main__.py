"""`python -m sftmask` runs the CLI."""

from sftmask.cli.app import app

app()
