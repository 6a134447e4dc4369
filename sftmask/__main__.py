"""`python -m sftmask` runs the CLI."""

from sftmask.cli.app import run

run()
