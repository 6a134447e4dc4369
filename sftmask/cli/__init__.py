"""The `sftmask` command line: the Typer app, its options and what it prints."""
