"""Inputs and outputs on S3 (`s3://`), through s3fs against a real S3 API (moto's server on
loopback), and `file://` URLs: the same rows as a local build, the same replace rules, and a failed
build that leaves nothing complete-looking behind."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import zstandard

from tests.cli.test_build import run

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data"
TOKENIZER = str(SAMPLE / "tokenizer")


@pytest.fixture(scope="module")
def s3() -> Iterator[tuple[Any, dict[str, str]]]:
    """An S3 endpoint on loopback (moto's server), an s3fs filesystem on it, and the environment
    that points sftmask at it (the standard AWS variables), set for this module's tests."""
    server_module = pytest.importorskip("moto.server")
    s3fs = pytest.importorskip("s3fs")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL_S3": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": env["AWS_ENDPOINT_URL_S3"]}, key="testing", secret="testing")
    if not fs.exists("bucket"):  # moto's state is the process's: another module's server made it
        fs.mkdir("bucket")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        yield fs, env
    server.stop()


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def sftmask(env: dict[str, str], *args: str) -> Ran:
    """`sftmask ARGS` in this process (the CLI's exit code and output), with `env` set."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        result = run(*args)
    return Ran(result.exit_code, result.stdout, result.stderr)


def inputs(folder: Path) -> list[Path]:
    """The sample instructions in two files, the second zstd-compressed, with a broken line and a
    record without a response (rejects to be named by file and line)."""
    lines = (SAMPLE / "instructions.jsonl").read_text().splitlines()
    first, second = folder / "a.jsonl", folder / "b.jsonl.zst"
    first.write_text("\n".join([*lines[:120], '{"prompt": "broken', *lines[120:150]]) + "\n")
    tail = "\n".join([*lines[150:], json.dumps({"prompt": "no response"})]) + "\n"
    second.write_bytes(zstandard.ZstdCompressor().compress(tail.encode()))
    return [first, second]


def download(fs: Any, prefix: str, folder: Path) -> Path:
    fs.invalidate_cache()
    for key in fs.find(prefix):
        target = folder / Path(key).relative_to(prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(key, str(target))
    return folder


def test_s3_inputs_and_output_equal_the_local_build(tmp_path: Path, s3: tuple[Any, dict[str, str]]) -> None:
    fs, env = s3
    files = inputs(tmp_path)
    for f in files:
        fs.put_file(str(f), f"bucket/same/in/{f.name}")
    options = ["-t", TOKENIZER, "--on-error", "skip", "--batch-size", "32"]
    local = sftmask({}, "build", *map(str, files), "-o", str(tmp_path / "local"), *options)
    assert local.returncode == 0, local.stderr
    result = sftmask(env, "build", "s3://bucket/same/in/*", "-o", "s3://bucket/same/out", *options)
    assert result.returncode == 0, result.stderr
    assert "to s3://bucket/same/out" in result.stdout
    got = download(fs, "bucket/same/out", tmp_path / "got")

    local_dir = tmp_path / "local"
    assert sorted(p.name for p in got.iterdir()) == sorted(p.name for p in local_dir.iterdir())
    shard = "train-00000-of-00001.parquet"
    assert pq.read_table(got / shard).equals(pq.read_table(local_dir / shard))
    # Rejects name the object each record came from, with its line.
    rejects = [json.loads(line) for line in (got / "rejects.jsonl").read_text().splitlines()]
    assert [(r["file"], r["line"]) for r in rejects] == [
        ("s3://bucket/same/in/a.jsonl", 121),
        ("s3://bucket/same/in/b.jsonl.zst", 151),
    ]
    local_rejects = [json.loads(line) for line in (local_dir / "rejects.jsonl").read_text().splitlines()]
    for ours, theirs in zip(rejects, local_rejects, strict=True):
        assert {**ours, "file": Path(ours["file"]).name} == {**theirs, "file": Path(theirs["file"]).name}
    manifests = [json.loads((d / "manifest.json").read_text()) for d in (got, local_dir)]
    at = [m["counts"].pop("longest_row_at") for m in manifests]  # the record it came from, by its own name
    assert at[0].startswith("s3://bucket/same/in/") and at[0].rsplit("/", 1)[1] == Path(at[1]).name
    assert manifests[0]["counts"] == manifests[1]["counts"]
    assert manifests[0]["shards"] == manifests[1]["shards"]
    assert manifests[0]["config"]["inputs"] == ["s3://bucket/same/in/*"]


def test_s3_output_is_replaced_only_as_a_local_one_would_be(tmp_path: Path, s3: tuple[Any, dict[str, str]]) -> None:
    fs, env = s3
    fs.put_file(str(SAMPLE / "instructions.jsonl"), "bucket/replace/in.jsonl")
    args = ["build", "s3://bucket/replace/in.jsonl", "-t", TOKENIZER, "-o", "s3://bucket/replace/out"]
    assert sftmask(env, *args).returncode == 0

    again = sftmask(env, *args)
    assert again.returncode == 5
    assert again.stderr.strip() == (
        "Error: output directory s3://bucket/replace/out exists and is not empty; pass --overwrite to replace it"
    )
    fs.pipe_file("bucket/replace/out/train-00000-of-00001.parquet", b"stale")
    replaced = sftmask(env, *args, "--max-length", "64", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    got = download(fs, "bucket/replace/out", tmp_path / "got")
    assert json.loads((got / "manifest.json").read_text())["config"]["max_length"] == 64
    assert max(len(ids) for ids in pq.read_table(got / "train-00000-of-00001.parquet")["input_ids"].to_pylist()) <= 64

    fs.put_file(str(SAMPLE / "instructions.jsonl"), "bucket/replace/out/in.jsonl")
    inside = sftmask(env, "build", "s3://bucket/replace/out/in.jsonl", *args[2:], "--overwrite")
    assert (inside.returncode, inside.stderr.strip()) == (
        5,
        "Error: s3://bucket/replace/out/in.jsonl lies inside the output directory s3://bucket/replace/out, "
        "which the build replaces; choose another --output",
    )
    fs.invalidate_cache()
    assert fs.exists("bucket/replace/out/in.jsonl")

    fs.pipe_file("bucket/notours/keep.txt", b"user data")
    refused = sftmask(env, *args[:-1], "s3://bucket/notours", "--overwrite")
    assert refused.returncode == 5
    assert "is not a sftmask output" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    fs.invalidate_cache()
    assert fs.cat_file("bucket/notours/keep.txt") == b"user data"


def test_failed_build_leaves_no_remote_output(s3: tuple[Any, dict[str, str]]) -> None:
    fs, env = s3
    fs.pipe_file("bucket/fail/in.jsonl", b'{"prompt": "a", "response": "b"}\n{"prompt": "broken\n')
    result = sftmask(env, "build", "s3://bucket/fail/in.jsonl", "-t", TOKENIZER, "-o", "s3://bucket/fail/out")
    assert result.returncode == 3
    assert result.stderr.strip().startswith("Error: s3://bucket/fail/in.jsonl:2: ")
    fs.invalidate_cache()
    assert not fs.exists("bucket/fail/out")


def test_interrupted_upload_leaves_nothing_complete(
    tmp_path: Path, s3: tuple[Any, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload dies after the first file of a replacing build: the old output has lost its
    manifest and the new one has none, so nothing there passes for a complete output."""
    from sftmask.errors import OutputError
    from sftmask.io.output_dir import RemoteOutputDir, is_sftmask_output

    fs, env = s3
    fs.put_file(str(SAMPLE / "instructions.jsonl"), "bucket/cut/in.jsonl")
    assert (
        sftmask(env, "build", "s3://bucket/cut/in.jsonl", "-t", TOKENIZER, "-o", "s3://bucket/cut/out").returncode == 0
    )

    out = RemoteOutputDir("s3://bucket/cut/out", overwrite=True)
    with out:
        (out.tmp / "train-00000-of-00001.parquet").write_bytes(b"new shard")
        (out.tmp / "rejects.jsonl").write_bytes(b"{}\n")
        (out.tmp / "manifest.json").write_text('{"sftmask_version": "x", "shards": []}')
        real_put = out._fs.put_file
        calls = []

        def put_then_fail(source: str, target: str, **kw: Any) -> None:
            calls.append(target)
            if len(calls) == 2:
                raise ConnectionError("connection reset by peer")
            real_put(source, target, **kw)

        monkeypatch.setattr(out._fs, "put_file", put_then_fail)
        with pytest.raises(OutputError, match=r"^s3://bucket/cut/out: ConnectionError: connection reset by peer$"):
            out.commit()
    assert not any(c.endswith("manifest.json") for c in calls)
    got = download(fs, "bucket/cut/out", tmp_path / "got")
    assert not (got / "manifest.json").exists() and not is_sftmask_output(got)


def test_missing_object_bucket_and_filesystem_package_are_one_line(s3: tuple[Any, dict[str, str]]) -> None:
    _, env = s3
    cases = {
        "s3://bucket/nothing/here.jsonl": "Error: s3://bucket/nothing/here.jsonl: no such file",
        "s3://bucket/nothing/*.jsonl": "Error: no file matches 's3://bucket/nothing/*.jsonl'",
        "s3://no-such-bucket/x.jsonl": "Error: s3://no-such-bucket/x.jsonl: no such file",
    }
    for url, message in cases.items():
        result = sftmask(env, "build", url, "-t", TOKENIZER, "-o", "s3://bucket/never")
        assert (result.returncode, result.stderr.strip()) == (3, message), url
    # A protocol whose package is not installed names the package (gcsfs is no dependency of ours).
    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here")
    result = sftmask(env, "build", "gs://b/x.jsonl", "-t", TOKENIZER, "-o", "out")
    assert result.returncode == 3
    assert result.stderr.strip() == (
        "Error: gs://b/x.jsonl: reading or writing gs:// paths needs gcsfs; install it with: pip install gcsfs"
    )


def test_file_urls_are_local_paths(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    files = inputs(tmp_path / "in")
    plain = sftmask({}, "build", *map(str, files), "-t", TOKENIZER, "--on-error", "skip", "-o", str(tmp_path / "p"))
    urls = sftmask(
        {}, "build", f"file://{tmp_path}/in/*", "-t", TOKENIZER, "--on-error", "skip", "-o", f"file://{tmp_path}/u"
    )
    assert plain.returncode == urls.returncode == 0, urls.stderr
    shard = "train-00000-of-00001.parquet"
    assert (tmp_path / "p" / shard).read_bytes() == (tmp_path / "u" / shard).read_bytes()
    assert (tmp_path / "p" / "rejects.jsonl").read_bytes() == (tmp_path / "u" / "rejects.jsonl").read_bytes()


def test_validate_and_stats_read_a_remote_output(s3: tuple[Any, dict[str, str]]) -> None:
    fs, env = s3
    fs.put_file(str(SAMPLE / "instructions.jsonl"), "bucket/check/in.jsonl")
    built = sftmask(env, "build", "s3://bucket/check/in.jsonl", "-t", TOKENIZER, "-o", "s3://bucket/check/out")
    assert built.returncode == 0, built.stderr
    ok = sftmask(env, "validate", "s3://bucket/check/out", "--json")
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert (report["ok"], report["output"], report["rows"]) == (True, "s3://bucket/check/out", 300)
    stats = sftmask(env, "stats", "s3://bucket/check/out", "--json")
    assert stats.returncode == 0 and json.loads(stats.stdout)["rows"] == 300

    # A shard changed after the build is caught, as locally.
    fs.pipe_file("bucket/check/out/train-00000-of-00001.parquet", b"not a shard")
    bad = sftmask(env, "validate", "s3://bucket/check/out")
    assert bad.returncode == 6 and "SHA-256 differs" in bad.stdout
    missing = sftmask(env, "validate", "s3://bucket/check/none")
    assert (missing.returncode, missing.stderr.strip()) == (3, "Error: s3://bucket/check/none: no such directory")


def test_a_remote_read_error_is_a_one_line_input_error(
    tmp_path: Path, s3: tuple[Any, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library error in the middle of reading an object (not an OSError) is one line, exit 3."""
    import s3fs.core

    fs, env = s3
    fs.put_file(str(SAMPLE / "instructions.jsonl"), "bucket/midread/in.jsonl")

    def fail(self: Any, *args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("stream closed by peer\nsecond line of a long library message")

    monkeypatch.setattr(s3fs.core.S3File, "_fetch_range", fail)
    result = sftmask(env, "build", "s3://bucket/midread/in.jsonl", "-t", TOKENIZER, "-o", str(tmp_path / "o"))
    assert result.returncode == 3
    assert result.stderr.strip() == (
        "Error: s3://bucket/midread/in.jsonl: cannot read input: RuntimeError: stream closed by peer"
    )
    assert not (tmp_path / "o").exists()


def _previous_output_holding_inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A previous sftmask output DIR into which the user has since put the next build's input
    and tokenizer folder: replacing DIR would delete them."""
    out = tmp_path / "out"
    first = sftmask({}, "build", str(SAMPLE / "instructions.jsonl"), "-t", TOKENIZER, "-o", str(out))
    assert first.returncode == 0, first.stderr
    data = out / "in.jsonl"
    data.write_bytes((SAMPLE / "instructions.jsonl").read_bytes())
    tok = out / "tok"
    tok.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (tok / name).write_bytes((SAMPLE / "tokenizer" / name).read_bytes())
    return out, data, tok


@pytest.mark.parametrize(
    "spelling",
    ["local://{out}", "local://{out}/../out", "file://{out}", "simplecache::file://{out}", "filecache::local://{out}"],
)
@pytest.mark.parametrize("held", ["input", "tokenizer"])
def test_a_url_output_on_this_machine_never_deletes_an_input_it_holds(tmp_path: Path, spelling: str, held: str) -> None:
    out, data, tok = _previous_output_holding_inputs(tmp_path)
    source, tokenizer = (data, TOKENIZER) if held == "input" else (SAMPLE / "instructions.jsonl", str(tok))
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    url = spelling.format(out=out)
    ran = sftmask({}, "build", str(source), "-t", tokenizer, "-o", url, "--overwrite")
    assert ran.returncode != 0
    inside = data if held == "input" else tok
    assert ran.stderr.startswith(f"Error: {inside} lies inside the output directory"), ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_an_input_given_as_a_local_url_is_read_as_its_path(tmp_path: Path) -> None:
    plain = sftmask({}, "build", str(SAMPLE / "instructions.jsonl"), "-t", TOKENIZER, "-o", str(tmp_path / "p"))
    url = sftmask({}, "build", f"local://{SAMPLE}/instructions.jsonl", "-t", TOKENIZER, "-o", f"local://{tmp_path}/u")
    assert plain.returncode == url.returncode == 0, url.stderr
    shard = "train-00000-of-00001.parquet"
    assert (tmp_path / "p" / shard).read_bytes() == (tmp_path / "u" / shard).read_bytes()


def test_an_output_that_would_vanish_with_the_process_is_refused(tmp_path: Path) -> None:
    ran = sftmask({}, "build", str(SAMPLE / "instructions.jsonl"), "-t", TOKENIZER, "-o", "memory://out")
    assert ran.returncode != 0
    assert ran.stderr.startswith("Error: output memory://out lives in this process's memory"), ran.stderr


# --- URLs that used to end in a traceback or a misleading message (issue 24) -------------------


def test_zip_archive_inputs_are_read_and_zip_outputs_refused(tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(SAMPLE / "instructions.jsonl", "instructions.jsonl")
    plain = sftmask({}, "build", str(SAMPLE / "instructions.jsonl"), "-t", TOKENIZER, "-o", str(tmp_path / "p"))
    assert plain.returncode == 0, plain.stderr
    shard = "train-00000-of-00001.parquet"
    for url in (f"zip://instructions.jsonl::file://{archive}", f"zip://*.jsonl::{archive}"):
        out = tmp_path / "z"
        ran = sftmask({}, "build", url, "-t", TOKENIZER, "-o", str(out), "--overwrite")
        assert ran.returncode == 0, (url, ran.stderr)
        assert (out / shard).read_bytes() == (tmp_path / "p" / shard).read_bytes()
    # An archive is not written in place.
    url = f"zip://out::file://{tmp_path}/out.zip"
    ran = sftmask({}, "build", str(SAMPLE / "instructions.jsonl"), "-t", TOKENIZER, "-o", url)
    assert (ran.returncode, ran.stderr) == (
        5,
        f"Error: output {url} is inside an archive, which sftmask reads but does not write; write to a directory "
        "or a URL of object storage (s3://, gs://, ...) and archive that\n",
    )
    # An archive read from inside the output directory is an input there: never deleted.
    (tmp_path / "z" / "data.zip").write_bytes(archive.read_bytes())
    inside = f"zip://instructions.jsonl::file://{tmp_path}/z/data.zip"
    ran = sftmask({}, "build", inside, "-t", TOKENIZER, "-o", str(tmp_path / "z"), "--overwrite")
    assert ran.returncode == 5 and ran.stderr.startswith(f"Error: {tmp_path}/z/data.zip lies inside the output")
    assert (tmp_path / "z" / "data.zip").read_bytes() == archive.read_bytes()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-o", "ftp://127.0.0.1:1/x"], 5, "ftp://127.0.0.1:1/x: cannot connect: ConnectionRefusedError: [Errno 111]"),
        (["-o", "dir://x"], 5, "dir://x: fsspec cannot open this URL (AttributeError: "),
        (["http://127.0.0.1:1/in.jsonl"], 3, "http://127.0.0.1:1/in.jsonl: cannot connect: ClientConnectorError: "),
    ],
)
def test_unreachable_and_malformed_urls_are_one_line(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    """A refused connection said "no such file" (HTTP) or was a traceback (FTP, dir://)."""
    inputs_given = [] if args[0] != "-o" else [str(SAMPLE / "instructions.jsonl")]
    output = [] if args[0] == "-o" else ["-o", str(tmp_path / "o")]
    ran = sftmask({}, "build", *inputs_given, *args, *output, "-t", TOKENIZER)
    assert ran.returncode == code, ran.stderr
    assert ran.stderr.startswith(f"Error: {message}") and ran.stderr.count("\n") == 1, ran.stderr


@contextlib.contextmanager
def endpoint_that_never_answers() -> Iterator[str]:
    """A TCP server on loopback that accepts connections and never answers (closing them after
    30 s, so that a client without a deadline gets an error, not a hang)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        started = time.monotonic()
        while not stop.is_set() and time.monotonic() - started < 30:
            with contextlib.suppress(TimeoutError):
                held.append(server.accept()[0])
        for conn in held:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        server.close()


@pytest.mark.slow
def test_an_endpoint_that_never_answers_fails_in_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It said "no such file" after minutes (HTTP: 5, S3: 7 of retries); now the first request of a
    command has `FIRST_ANSWER_SECONDS` (20, 2 here)."""
    s3fs = pytest.importorskip("s3fs")
    from sftmask.io import remote

    monkeypatch.setattr(remote, "FIRST_ANSWER_SECONDS", 2)
    no_answer = "no answer within 2 s; is the endpoint right (for S3: AWS_ENDPOINT_URL_S3) and reachable from here?"
    with endpoint_that_never_answers() as endpoint:
        env = {"AWS_ENDPOINT_URL_S3": endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
        for urls, code in (
            ([f"{endpoint}/in.jsonl", "-o", str(tmp_path / "o")], 3),
            (["s3://bucket/in/*.jsonl", "-o", str(tmp_path / "o")], 3),
            ([str(SAMPLE / "instructions.jsonl"), "-o", "s3://bucket/out"], 5),
        ):
            s3fs.S3FileSystem.clear_instance_cache()  # a cached client would keep another endpoint
            started = time.monotonic()
            ran = sftmask(env, "build", *urls, "-t", TOKENIZER)
            took = time.monotonic() - started
            s3fs.S3FileSystem.clear_instance_cache()
            url = urls[0] if code == 3 else urls[-1]
            assert (ran.returncode, ran.stderr) == (code, f"Error: {url}: {no_answer}\n"), ran.stderr
            assert took < 15, took


def test_s3_without_credentials_says_where_they_go(tmp_path: Path, s3: tuple[Any, dict[str, str]]) -> None:
    import s3fs

    _, env = s3
    bare = {
        "AWS_ENDPOINT_URL_S3": env["AWS_ENDPOINT_URL_S3"],
        "HOME": str(tmp_path),  # no ~/.aws
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance role to ask for
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
    }
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE"):
                patch.delenv(name, raising=False)
            bare = {k: v for k, v in bare.items() if v}
            started = time.monotonic()
            ran = sftmask(bare, "build", str(SAMPLE / "instructions.jsonl"), "-t", TOKENIZER, "-o", "s3://bucket/nc")
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
    assert (ran.returncode, ran.stderr) == (
        5,
        "Error: s3://bucket/nc: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
        "AWS_PROFILE), or write them in ~/.aws/credentials; a public bucket needs none: set FSSPEC_S3_ANON=true\n",
    )
    assert time.monotonic() - started < 30


def test_http_without_aiohttp_names_aiohttp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It said "pip install the fsspec package for http://"."""
    import sys

    registry = importlib.import_module("fsspec.registry")  # `fsspec.registry` is also a name in fsspec
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # import aiohttp fails
    monkeypatch.delitem(sys.modules, "fsspec.implementations.http", raising=False)
    monkeypatch.delitem(registry._registry, "http", raising=False)
    ran = sftmask({}, "build", "http://127.0.0.1:1/in.jsonl", "-t", TOKENIZER, "-o", str(tmp_path / "o"))
    assert (ran.returncode, ran.stderr) == (
        3,
        "Error: http://127.0.0.1:1/in.jsonl: reading or writing http:// paths needs aiohttp; "
        "install it with: pip install aiohttp\n",
    )


def test_a_simplecache_output_url_is_its_folder(tmp_path: Path) -> None:
    """It made a folder named `simplecache::file:` (fixed with the local URL rules; kept by this test)."""
    ran = sftmask(
        {}, "build", str(SAMPLE / "instructions.jsonl"), "-t", TOKENIZER, "-o", f"simplecache::file://{tmp_path}/o"
    )
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "o" / "manifest.json").is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_s3_output_with_splits_equals_the_local_one(tmp_path: Path, s3: tuple[Any, dict[str, str]]) -> None:
    fs, env = s3
    data = str(SAMPLE / "instructions.jsonl")
    options = ["-t", TOKENIZER, "--val-size", "0.2", "--shuffle", "--seed", "4"]
    assert sftmask({}, "build", data, "-o", str(tmp_path / "local"), *options).returncode == 0
    result = sftmask(env, "build", data, "-o", "s3://bucket/splits/out", *options)
    assert result.returncode == 0, result.stderr
    got = download(fs, "bucket/splits/out", tmp_path / "got")
    files = sorted(p.relative_to(got).as_posix() for p in got.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "data/train-00000-of-00001.parquet",
        "data/validation-00000-of-00001.parquet",
        "manifest.json",
    ]
    for name in files[1:3]:
        assert (got / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    validated = sftmask(env, "validate", "s3://bucket/splits/out")
    assert validated.returncode == 0 and validated.stdout.startswith("ok: 300 rows in 2 shards"), validated.stdout


def test_s3_inputs_read_in_parts_give_the_whole_files_records(tmp_path: Path, s3: tuple[Any, dict[str, str]]) -> None:
    """A big JSON lines object read in byte ranges (seeking in the object) and a Parquet object in
    runs of row groups, as the Ray engine's tasks read them: the records and lines of reading each
    whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sftmask.io.readers import RecordReader, resolve_inputs
    from sftmask.io.readers.parts import plan_parts

    fs, _ = s3
    lines = (SAMPLE / "instructions.jsonl").read_text().splitlines()
    fs.pipe_file("bucket/parts/big.jsonl", ("\n".join([*lines, '{"broken', *lines]) + "\n").encode())
    pq.write_table(
        pa.Table.from_pylist([json.loads(line) for line in lines]), tmp_path / "t.parquet", row_group_size=40
    )
    fs.put_file(str(tmp_path / "t.parquet"), "bucket/parts/big.parquet")
    files = resolve_inputs(["s3://bucket/parts/big.jsonl", "s3://bucket/parts/big.parquet"], None)

    def reader() -> RecordReader:
        return RecordReader(files, text_fields=["prompt", "response"], keep_fields=[], batch_size=16, skip_errors=True)

    def seen(batches: Any, lines_before: int = 0) -> list[tuple[int, int, str]]:
        found = []
        for batch in batches:
            columns = [batch.table.column(name).to_pylist() for name in ("_sftmask_file", "_sftmask_line", "prompt")]
            found += [(file, line + lines_before, prompt) for file, line, prompt in zip(*columns, strict=True)]
            found += [(-1, r.line + lines_before, r.reason) for r in batch.rejects]
        return found

    parts = plan_parts(files, batch_size=16)
    assert sum(p.file == 0 for p in parts) == 5 and sum(p.file == 1 for p in parts) == 2
    got, lines_before = [], 0
    for index, part in enumerate(parts):
        if index and parts[index - 1].file != part.file:
            lines_before = 0
        one = reader().for_part(part)
        got += seen(one, lines_before)
        lines_before += one.part_lines
    whole = seen(reader())
    assert [r for r in got if r[0] >= 0] == [r for r in whole if r[0] >= 0]  # the records, in order
    assert sorted(got) == sorted(whole) and (-1, 301, "invalid-json") in got  # and the rejects, with their lines


def test_s3_parquet_and_arrow_objects_read_whole_equal_the_local_build(
    tmp_path: Path, s3: tuple[Any, dict[str, str]]
) -> None:
    """Parquet and Arrow IPC objects read whole (the local engine: row group by row group and batch
    by batch through pyarrow's file readers over the fsspec filesystem, not `pyarrow.dataset`)
    give the local files' rows, kept ids and rejects, in several row groups and record batches."""
    import pyarrow as pa

    fs, env = s3
    records = [json.loads(line) for line in (SAMPLE / "instructions.jsonl").read_text().splitlines()]
    records[70]["response"] = None  # a reject, named by its row
    table = pa.Table.from_pylist(records)
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=45)
    with pa.ipc.RecordBatchFileWriter(str(tmp_path / "t.arrow"), table.schema) as writer:
        writer.write_table(table, max_chunksize=60)
    for name in ("t.parquet", "t.arrow"):
        fs.put_file(str(tmp_path / name), f"bucket/whole/{name}")
    options = ["-t", TOKENIZER, "--on-error", "skip", "--batch-size", "32", "--keep-columns", "id"]
    for name in ("t.parquet", "t.arrow"):
        local = sftmask({}, "build", str(tmp_path / name), "-o", str(tmp_path / f"local-{name}"), *options)
        assert local.returncode == 0, local.stderr
        remote = sftmask(env, "build", f"s3://bucket/whole/{name}", "-o", str(tmp_path / f"s3-{name}"), *options)
        assert remote.returncode == 0, remote.stderr
        shard = "train-00000-of-00001.parquet"
        got, want = (pq.read_table(tmp_path / f"{where}-{name}" / shard) for where in ("s3", "local"))
        assert got.equals(want) and got.num_rows == len(records) - 1
        assert got.column("id").to_pylist() == [r["id"] for i, r in enumerate(records) if i != 70]
        rejects = [json.loads(line) for line in (tmp_path / f"s3-{name}" / "rejects.jsonl").read_text().splitlines()]
        assert [(r["file"], r["row"], r["reason"]) for r in rejects] == [
            (f"s3://bucket/whole/{name}", 70, "not-a-string")
        ]


@contextlib.contextmanager
def http_files(files: dict[str, bytes]) -> Iterator[str]:
    """An HTTP server on loopback (the standard library's) serving `files` by path, whatever the
    query; ``/403``, ``/500`` answer those statuses, ``/stall`` sends a third of its body and then
    nothing (until the server stops)."""
    import http.server

    stop = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_HEAD(self) -> None:
            self.answer(body=False)

        def do_GET(self) -> None:
            self.answer(body=True)

        def answer(self, body: bool) -> None:
            path = self.path.split("?", 1)[0]
            status = {"/403": 403, "/500": 500}.get(path, 200 if path in files or path == "/stall" else 404)
            data = files.get(path, files.get("/stall.source", b"") if path == "/stall" else b"-")
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if not body:
                return
            if path == "/stall":
                self.wfile.write(data[: len(data) // 3])
                self.wfile.flush()
                stop.wait(60)
                return
            self.wfile.write(data)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def test_http_refusals_say_the_status_and_signed_urls_read_by_their_path(tmp_path: Path) -> None:
    """A 403 or a 500 said "no such file" (fsspec's HTTP filesystem raises FileNotFoundError for
    any refusal); a `.gz` URL with a query (a signed URL) was read as uncompressed text."""
    import gzip

    text = (SAMPLE / "instructions.jsonl").read_bytes()
    with http_files({"/train.jsonl.gz": gzip.compress(text)}) as base:
        for path, said in (("/403", "HTTP 403 Forbidden"), ("/500", "HTTP 500 Internal Server Error")):
            ran = sftmask(
                {}, "build", base + path, "-t", TOKENIZER, "-o", str(tmp_path / "o"), "--input-format", "jsonl"
            )
            assert (ran.returncode, ran.stderr) == (3, f"Error: {base}{path}: the server answered {said}\n")
        ran = sftmask({}, "build", f"{base}/nothing.jsonl", "-t", TOKENIZER, "-o", str(tmp_path / "o"))
        assert (ran.returncode, ran.stderr) == (3, f"Error: {base}/nothing.jsonl: no such file\n")
        signed = f"{base}/train.jsonl.gz?X-Amz-Signature=abc&X-Amz-Expires=60"
        assert sftmask({}, "build", signed, "-t", TOKENIZER, "-o", str(tmp_path / "url")).returncode == 0
    local = tmp_path / "train.jsonl"
    local.write_bytes(text)
    assert sftmask({}, "build", str(local), "-t", TOKENIZER, "-o", str(tmp_path / "local")).returncode == 0
    assert pq.read_table(tmp_path / "url" / "train-00000-of-00001.parquet").equals(
        pq.read_table(tmp_path / "local" / "train-00000-of-00001.parquet")
    )


@pytest.mark.slow
def test_a_download_that_stalls_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The error ended "cannot read input: " with nothing after it (fsspec's timeout says nothing)."""
    from sftmask.io import remote

    monkeypatch.setattr(remote, "READ_SECONDS", 2)
    with http_files({"/stall.source": (SAMPLE / "instructions.jsonl").read_bytes()}) as base:
        started = time.monotonic()
        ran = sftmask(
            {}, "build", f"{base}/stall", "-t", TOKENIZER, "-o", str(tmp_path / "o"), "--input-format", "jsonl"
        )
        took = time.monotonic() - started
    assert ran.returncode == 3 and not (tmp_path / "o").exists()
    assert ran.stderr.startswith(f"Error: {base}/stall: cannot read input: no data for 2 s: the connection stalled (")
    assert took < 20, took
