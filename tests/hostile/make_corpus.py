"""Writes the hostile-input corpus beside this file (run it to regenerate; the output is committed).

Each file gets an entry in expected.json: the exit code `sftmask build --on-error skip` must give
and, for a build that completes, how many records the file holds (non-blank lines, or CSV rows),
so that the test can check that no record is lost.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import zstandard

HERE = Path(__file__).resolve().parent


def jl(*records: object) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)


def ok(prompt: str, response: str) -> dict[str, str]:
    return {"prompt": prompt, "response": response}


def main() -> None:
    files: dict[str, tuple[bytes, int, int | None]] = {}  # name: (content, exit code, records)
    files["invalid_utf8.jsonl"] = (
        jl(ok("a", "b")) + b'{"prompt": "caf\xe9", "response": "x"}\n\xff\xfe\n' + jl(ok("c", "d")),
        0,
        4,
    )
    files["not_objects.jsonl"] = (b'[1, 2]\n42\n"text"\nnull\ntrue\n' + jl(ok("a", "b")), 0, 6)
    files["wrong_types.jsonl"] = (
        jl({"prompt": 1, "response": "x"}, {"prompt": ["a"], "response": "x"}, {"prompt": None, "response": "x"})
        + jl({"prompt": {"nested": "x"}, "response": "y"}, {"response": "no prompt"}, ok("fine", "yes")),
        0,
        6,
    )
    files["deep_nesting.jsonl"] = (
        b"[" * 5000
        + b"]" * 5000
        + b"\n"
        + b'{"prompt": '
        + b"[" * 3000
        + b"]" * 3000
        + b', "response": "x"}\n'
        + jl(ok("a", "b")),
        0,
        3,
    )
    files["surrogates_and_escapes.jsonl"] = (
        b'{"prompt": "\\ud800 lone", "response": "x"}\n{"prompt": "\\u0000 nul \\u001b[31m", "response": "\\r\\n\\t"}\n'
        + jl(ok("a", "b")),
        0,
        3,
    )
    files["bom_crlf_controls.jsonl"] = (
        b"\xef\xbb\xbf" + jl(ok("bom", "first")).replace(b"\n", b"\r\n") + jl(ok("bell \x07 nul \x00", "tab\there")),
        0,
        2,
    )
    files["special_token_text.jsonl"] = (
        jl(ok("<|im_end|><|im_start|>system\n", "<|endoftext|>"), ok("</s><s>[INST]", "<unk>")),
        0,
        2,
    )
    files["empty_and_whitespace.jsonl"] = (jl(ok("", ""), ok(" ", "\n"), ok("\n\n\n", " \t ")), 0, 3)
    files["unicode_zoo.jsonl"] = (
        jl(
            ok("e\u0301 \u1100\u1161 \u200d\U0001f468\u200d\U0001f469\u200d\U0001f467", "\u202eRTL override\u202c"),
            ok("\U000e0001 tag, \ufffd, \U0010ffff", "\u0378 unassigned \u00a0 nbsp"),
            ok("Z\u0351\u0352\u0353\u0354\u0355" * 50, "combining " * 20),
        ),
        0,
        3,
    )
    files["odd_keys.jsonl"] = (
        b'{"": 1, "prompt": "a", "prompt": "b", "response": "c"}\n'
        + jl({"k" * 10000: 1, "prompt": "p", "response": "r"}),
        0,
        2,
    )
    files["blank_lines_only.jsonl"] = (b"\n   \n\t\n\n", 3, None)
    files["all_rejected.jsonl"] = (jl({"q": 1}, {"q": 2}), 3, None)
    packed = zstandard.ZstdCompressor().compress(jl(*[ok(f"p{i}", f"r{i}") for i in range(200)]))
    files["truncated.jsonl.zst"] = (packed[: len(packed) // 2], 3, None)
    files["corrupt.jsonl.gz"] = (gzip.compress(jl(ok("a", "b")))[:-12] + b"\x00" * 12, 3, None)
    files["not_zstd.jsonl.zst"] = (b"this is not zstd at all\n", 3, None)
    files["duplicate_header.csv"] = (b"prompt,response,prompt\na,b,c\n", 3, None)
    files["ragged_and_quotes.csv"] = (
        b'prompt,response\na,b\nonly one\nx,y,z\n"multi\nline",ok\n"unclosed,quote\n',
        0,
        None,  # the CSV parser decides how many records an unclosed quote swallows
    )
    files["tabs.tsv"] = (b'prompt\tresponse\n"quoted\ttab"\tx\nplain\t"q"\n\xff\tbad\n', 0, 3)
    multi = io.BytesIO()
    for chunk in (jl(ok("a", "b")), jl(ok("c", "d"))):
        multi.write(zstandard.ZstdCompressor().compress(chunk))
    files["two_frames.jsonl.zst"] = (multi.getvalue(), 0, 2)
    expected = {}
    for name, (content, code, records) in sorted(files.items()):
        (HERE / name).write_bytes(content)
        expected[name] = {"exit": code, "records": records}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")


if __name__ == "__main__":
    main()
