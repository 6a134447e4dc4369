"""sftmask/arrays.py: each constructor makes the array `pa.array` makes of the same values, down to
the bytes Arrow IPC writes of it (a shard of either is the same file)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sftmask.arrays import INT32_MAX, fill_null, from_numpy, from_offsets, from_strings, scalar, to_numpy

NUMBER_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
NUMBER_DTYPES += [np.float16, np.float32, np.float64]


def ipc_bytes(array: pa.Array) -> bytes:
    """What Arrow IPC writes of `array` (validity buffer or none, padding, offsets, values)."""
    sink = io.BytesIO()
    batch = pa.RecordBatch.from_arrays([array], ["x"])
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue()


def assert_same(mine: pa.Array, theirs: pa.Array) -> None:
    assert mine.type == theirs.type
    assert mine.equals(theirs)
    assert mine.null_count == theirs.null_count
    assert (mine.buffers()[0] is None) == (theirs.buffers()[0] is None)  # no validity buffer without nulls
    assert ipc_bytes(mine) == ipc_bytes(theirs)
    mine.validate(full=True)


# --- numbers and bools -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [*NUMBER_DTYPES, np.bool_])
@given(data=st.data())
def test_from_numpy_is_pa_array(dtype: Any, data: st.DataObject) -> None:
    kind = np.dtype(dtype)
    elements = st.floats(width=8 * kind.itemsize, allow_nan=False) if kind.kind == "f" else None  # NaN != NaN
    values = data.draw(hnp.arrays(dtype, st.integers(0, 70), elements=elements))
    assert_same(from_numpy(values), pa.array(values))


@pytest.mark.parametrize("dtype", [np.int32, np.uint64, np.float64, np.bool_])
def test_from_numpy_of_an_empty_array(dtype: Any) -> None:
    assert_same(from_numpy(np.zeros(0, dtype=dtype)), pa.array(np.zeros(0, dtype=dtype)))


def test_from_numpy_of_strided_and_big_endian_arrays() -> None:
    values = np.arange(20, dtype=np.int64)
    assert_same(from_numpy(values[::3]), pa.array(values[::3]))
    flags = np.arange(21) % 3 == 0
    assert_same(from_numpy(flags[1::2]), pa.array(flags[1::2]))
    swapped = values.astype(">i8")
    assert_same(from_numpy(swapped), pa.array(values))


def test_from_numpy_refuses_what_it_cannot_make() -> None:
    with pytest.raises(TypeError, match="1-d"):
        from_numpy(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(TypeError, match="numbers or bools"):
        from_numpy(np.array(["a"]))


# --- strings ------------------------------------------------------------------------------------

TEXTS = st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(exclude_categories=("Cs",)))), max_size=30)
"""Texts (any code point but lone surrogates: astral characters, NUL, combining marks) and nulls."""


@given(texts=TEXTS)
def test_from_strings_is_pa_array(texts: list[str | None]) -> None:
    assert_same(from_strings(texts), pa.array(texts, type=pa.large_string()))
    assert_same(from_strings(texts, large=False), pa.array(texts, type=pa.string()))


@pytest.mark.parametrize(
    "texts",
    [
        [],
        [""],
        ["", "", ""],
        [None],
        [None, None],
        ["a", None, ""],
        ["\U0001d518\U0001d52b\U0001d526 😀", "日本語", "e\u0301", "\x00nul"],  # astral, CJK, combining, NUL
        ["x" * 70_000, "y"],
    ],
)
def test_from_strings_edge_cases(texts: list[str | None]) -> None:
    assert_same(from_strings(texts), pa.array(texts, type=pa.large_string()))
    assert_same(from_strings(texts, large=False), pa.array(texts, type=pa.string()))


def test_large_strings_have_64_bit_offsets() -> None:
    array = from_strings(["ab", "ç"])
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)
    assert offsets.tolist() == [0, 2, 4]  # bytes, not characters: ç is two bytes of UTF-8


def test_from_strings_fails_as_pa_array_does() -> None:
    with pytest.raises(UnicodeEncodeError) as theirs:
        pa.array(["ok", "lone \ud800 surrogate"], type=pa.large_string())
    with pytest.raises(UnicodeEncodeError) as mine:
        from_strings(["ok", "lone \ud800 surrogate"])
    assert str(mine.value) == str(theirs.value)
    with pytest.raises(UnicodeEncodeError):
        from_strings([None, "lone \ud800"])
    with pytest.raises(TypeError, match="int"):
        from_strings(["a", None, 5])  # type: ignore[list-item]


# --- lists --------------------------------------------------------------------------------------


@given(lengths=st.lists(st.integers(0, 6), max_size=20), data=st.data())
def test_from_offsets_is_list_array_from_arrays(lengths: list[int], data: st.DataObject) -> None:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = data.draw(hnp.arrays(np.int32, int(offsets[-1])))
    theirs = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(values))
    assert_same(from_offsets(offsets, values), theirs)
    assert_same(from_offsets(offsets, pa.array(values)), theirs)
    flags = values % 2 == 0
    assert_same(
        from_offsets(offsets, flags), pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(flags))
    )


def test_from_offsets_refuses_offsets_past_32_bits() -> None:
    with pytest.raises(pa.ArrowCapacityError, match="2\\*\\*31"):
        from_offsets(np.array([0, INT32_MAX + 1], dtype=np.int64), np.zeros(0, dtype=np.int32))


# --- back to numpy; compute arguments ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint64, np.float32, np.bool_])
@given(data=st.data())
def test_to_numpy_is_to_numpy(dtype: Any, data: st.DataObject) -> None:
    values = data.draw(
        hnp.arrays(dtype, st.integers(0, 40), elements=st.floats(-1e6, 1e6) if dtype == np.float32 else None)
    )
    array = pa.array(values)
    start = data.draw(st.integers(0, len(values)))
    sliced = array.slice(start, data.draw(st.integers(0, len(values) - start)))  # an offset into the buffers
    assert to_numpy(sliced).dtype == sliced.to_numpy(zero_copy_only=False).dtype
    assert to_numpy(sliced).tolist() == sliced.to_numpy(zero_copy_only=False).tolist()
    chunks = [array.slice(0, start), sliced, array]
    for chunked in (pa.chunked_array(chunks), pa.chunked_array([sliced]), pa.chunked_array([], type=array.type)):
        assert to_numpy(chunked).tolist() == chunked.to_numpy().tolist()
        assert to_numpy(chunked).dtype == chunked.to_numpy().dtype


def test_to_numpy_refuses_nulls_and_strings() -> None:
    with pytest.raises(TypeError, match="1 nulls"):
        to_numpy(pa.array([1, None]))
    with pytest.raises(TypeError, match="string"):
        to_numpy(pa.array(["a"]))


def test_fill_null_and_scalar_are_what_compute_makes_of_python_numbers() -> None:
    for values in (
        pa.array([1, None, 3], pa.int32()),
        pa.array([None, 2.5]),
        pa.chunked_array([[None], [4]], pa.uint64()),
    ):
        assert fill_null(values, 0).equals(pc.fill_null(values, 0))
        assert fill_null(values, 7).type == values.type
    assert scalar(5, pa.int64()).equals(pa.scalar(5, pa.int64()))
    assert pc.add(pa.array([1, 2]), scalar(3, pa.int64())).equals(pc.add(pa.array([1, 2]), 3))


# --- the guard: no module calls the entry points that import pandas -----------------------------------

PANDAS_ENTRY_POINTS = {"array", "scalar", "chunked_array", "to_numpy", "to_pandas"}
"""`pa.array`, `pa.scalar`, `pa.chunked_array` (of Python values), `Array.to_numpy`, `to_pandas`."""
ALLOWED = {
    "arrays.py": "the constructors themselves",
    "io/readers/checks.py": "kept JSON values of mixed or nested types: pyarrow infers their type",
    "report/validate.py": "`sftmask validate`, not a build",
}


def test_no_module_calls_what_imports_pandas() -> None:
    """A fast stand-in for tests/cli/test_startup.py's watched builds (slow): outside `ALLOWED`, no
    module of the package calls `pa.array`, `pa.scalar`, `pa.chunked_array`, `.to_numpy()` or
    `.to_pandas()`, or imports `pyarrow.dataset` (what it cannot see, `np.asarray` of an Arrow
    array or a compute function given a Python number, the watched builds catch)."""
    import ast
    from pathlib import Path

    import sftmask

    package = Path(sftmask.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        name = path.relative_to(package).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                attr, owner = node.func.attr, node.func.value
                pyarrow_call = isinstance(owner, ast.Name) and owner.id == "pa" and attr in PANDAS_ENTRY_POINTS
                if (pyarrow_call or attr in {"to_numpy", "to_pandas"}) and name not in ALLOWED:
                    found.append(f"{name}:{node.lineno}: {ast.unparse(node.func)}")
            if isinstance(node, ast.Import | ast.ImportFrom):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                found += [f"{name}:{node.lineno}: import {m}" for m in modules if m.startswith("pyarrow.dataset")]
    assert found == [], "use sftmask.arrays instead (pyarrow imports pandas there):\n" + "\n".join(found)
