"""`python -m sftmask` runs the CLI."""

from sftmask.cli.startup import main

main()
