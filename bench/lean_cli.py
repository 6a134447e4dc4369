"""The lean script (`bench/lean.py`) behind the thinnest command line of sftmask's design: a Typer
command with `sftmask build`'s flags as the benchmark gives them, validated into a pydantic model.
What such a command line costs by itself (Typer 0.26+ imports pydantic to convert any value),
for `bench/startup.py`.

Usage: python bench/lean_cli.py build INPUT -t TOKENIZER_DIR -o OUT_DIR --max-length N --quiet --overwrite
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ConfigDict, Field

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import lean

app = typer.Typer(add_completion=False)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: list[str] = Field(min_length=1)
    tokenizer: str
    output: str
    max_length: int | None = Field(default=None, gt=0)
    overwrite: bool = False


@app.callback()
def main() -> None:
    """The lean script as a command."""


@app.command()
def build(
    inputs: Annotated[list[str], typer.Argument()],
    tokenizer: Annotated[str, typer.Option("--tokenizer", "-t")],
    output: Annotated[str, typer.Option("--output", "-o")],
    max_length: Annotated[int | None, typer.Option("--max-length")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite")] = False,
) -> None:
    config = Config(inputs=inputs, tokenizer=tokenizer, output=output, max_length=max_length, overwrite=overwrite)
    Path(config.output).mkdir(parents=True, exist_ok=True)
    lean.main(config.inputs[0], config.tokenizer, f"{config.output}/data.parquet", config.max_length or 2**31 - 1)


if __name__ == "__main__":
    app()
