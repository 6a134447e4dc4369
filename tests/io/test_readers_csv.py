"""CSV/TSV reading: --delimiter, a header split at ';' or tab when it holds no comma, and malformed
records rejected with their raw text, without any text from inside a broken quoted field becoming rows."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.cli.test_build import rows_of, run

SAMPLE_TOKENIZER = Path(__file__).resolve().parents[2] / "sample_data" / "tokenizer"
RECORDS = [("What is 2+2?", "4"), ('Say "hi"', "hi; there"), ("Translate: good morning", "Bonjour")]


def delimited(path: Path, delimiter: str) -> Path:
    def field(text: str) -> str:
        if any(c in text for c in (delimiter, '"', "\n")):
            return '"' + text.replace('"', '""') + '"'
        return text

    lines = [delimiter.join(["prompt", "response"])] + [delimiter.join(map(field, r)) for r in RECORDS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def build(*args: str) -> list[dict[str, object]]:
    result = run("build", *args, "-t", str(SAMPLE_TOKENIZER))
    assert result.exit_code == 0, result.output
    out = Path(args[args.index("-o") + 1])
    return rows_of(out)


def test_delimiter_option_and_sniffed_headers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    comma = build(str(delimited(tmp_path / "c.csv", ",")), "-o", str(tmp_path / "c"))
    assert len(comma) == 3
    semicolon = delimited(tmp_path / "s.csv", ";")
    assert build(str(semicolon), "-o", str(tmp_path / "s1"), "--delimiter", ";") == comma
    tab = delimited(tmp_path / "t.csv", "\t")
    assert build(str(tab), "-o", str(tmp_path / "t1"), "--delimiter", "tab") == comma
    assert build(str(tab), "-o", str(tmp_path / "t2"), "--delimiter", "\\t") == comma
    pipe = delimited(tmp_path / "p.csv", "|")
    assert build(str(pipe), "-o", str(tmp_path / "p"), "--delimiter", "|") == comma
    # no --delimiter: a header without a comma is split at ';' (or tab), and the log says so once
    with caplog.at_level(logging.WARNING, logger="sftmask"):
        assert build(str(semicolon), "-o", str(tmp_path / "s2")) == comma
    assert [r.getMessage() for r in caplog.records] == [
        f"{semicolon}: the header has no ',' but ';': reading columns split at ';'; pass --delimiter to choose"
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sftmask"):
        assert build(str(tab), "-o", str(tmp_path / "t3")) == comma
    assert "but '\\t'" in caplog.text
    bad = run("build", str(pipe), "-t", str(SAMPLE_TOKENIZER), "-o", str(tmp_path / "x"), "--delimiter", "||")
    assert bad.exit_code == 2 and "delimiter: '||' is not one character" in bad.stderr


BROKEN = (
    "prompt,response,source\n"
    "a,b,web\n"  # line 2
    '"the ""right"" way",c,web\n'  # line 3: escaped quotes, fine
    '"He said "hi" then,ok,web\n'  # line 4: a stray quote; its field is never closed before...
    "inside the field,not a row,web\n"  # line 5: ...this text, which must not become a row
    '",x,y\n'  # line 6: closes it
    "e,f,web\n"  # line 7
    '"unclosed,quote,web\n'  # line 8: open to the end of the file
    "g,h,web\n"
)


def test_a_malformed_record_keeps_its_raw_text_and_no_row_comes_from_inside_it(tmp_path: Path) -> None:
    source = tmp_path / "broken.csv"
    source.write_text(BROKEN, encoding="utf-8")
    out = tmp_path / "o"
    result = run("build", str(source), "-t", str(SAMPLE_TOKENIZER), "-o", str(out), "--on-error", "skip", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    rows = rows_of(out)
    assert summary["rows_written"] == len(rows) == 3  # lines 2, 3 and 7
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [(4, "malformed-csv"), (8, "malformed-csv")]
    assert rejects[0]["record"] == '"He said "hi" then,ok,web\ninside the field,not a row,web\n",x,y'
    assert rejects[0]["message"].startswith("malformed CSV (lines 4-6): ',' expected after '\"'")
    assert rejects[1]["record"] == '"unclosed,quote,web\ng,h,web'
    assert rejects[1]["message"].endswith("unexpected end of data; its quoted field is never closed")
    from sftmask.tokenization.load import load_tokenizer

    tok = load_tokenizer(str(SAMPLE_TOKENIZER))
    texts = [tok.hf.decode(row["input_ids"]) for row in rows]  # type: ignore[arg-type]
    assert not any("inside the field" in text or "not a row" in text for text in texts)
    failed = run("build", str(source), "-t", str(SAMPLE_TOKENIZER), "-o", str(tmp_path / "f"))
    assert failed.exit_code == 3 and failed.stderr.startswith(f"Error: {source}:4: malformed CSV (lines 4-6)")
