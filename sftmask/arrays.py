"""Arrow arrays made from numpy buffers and Python strings, and numbers read back, never through
`pa.array` or `to_numpy`.

pyarrow imports pandas (and `pyarrow.pandas_compat`) the first time `pa.array` or `pa.scalar`
is given anything but an Arrow array (numpy arrays included), `Array.to_numpy` or `np.asarray`
converts an Arrow array, or a compute function is given a Python list, number or numpy array:
about 0.25 CPU seconds, a sixth of a one-record build. A build makes every Arrow array it needs
here instead, from buffers (`pa.Array.from_buffers` over `pa.py_buffer`), reads numbers back from
the buffers, and gives compute functions Arrow arrays and scalars only. The arrays are the ones
`pa.array` makes of the same values: same type, values and validity (no validity buffer when
nothing is null), so shards are byte for byte the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

INT32_MAX = 2**31 - 1
"""The last offset a ``string`` or ``list`` array (32-bit offsets) can hold."""


def from_numpy(values: npt.NDArray[Any]) -> pa.Array:
    """`pa.array(values)` of a one-dimensional numpy array of numbers or bools (zero-copy for
    contiguous numbers in the machine's byte order).

    Raises:
        TypeError: `values` are not numbers or bools, or not one-dimensional.
    """
    if values.ndim != 1 or values.dtype.kind not in "biuf":
        raise TypeError(f"from_numpy takes a 1-d array of numbers or bools, not {values.ndim}-d {values.dtype}")
    if values.dtype.kind == "b":
        bits = np.packbits(values, bitorder="little")  # Arrow's bit order; the last byte's spare bits 0
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])
    native = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("="))
    return pa.Array.from_buffers(pa.from_numpy_dtype(native.dtype), len(native), [None, pa.py_buffer(native)])


def from_strings(texts: Sequence[str | None], *, large: bool = True) -> pa.Array:
    """`pa.array(texts, pa.large_string())` (or ``pa.string()`` when not `large`); None is null.

    Raises:
        UnicodeEncodeError: a text holds a lone surrogate (as `pa.array` raises).
        TypeError: a value is neither a string nor None.
        pa.ArrowCapacityError: a ``string`` array would pass 2 GiB.
    """
    validity: pa.Buffer | None = None
    null_count = 0
    try:
        encoded = list(map(str.encode, texts))  # type: ignore[arg-type]  # a None: TypeError, below
    except TypeError:  # None among them (anything else fails here again, naming it)
        present = np.fromiter((text is not None for text in texts), dtype=np.bool_, count=len(texts))
        encoded = [b"" if text is None else _utf8(text) for text in texts]
        null_count = len(texts) - int(present.sum())
        validity = pa.py_buffer(np.packbits(present, bitorder="little")) if null_count else None
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    if not large:
        if offsets[-1] > INT32_MAX:
            raise pa.ArrowCapacityError(f"{offsets[-1]:,} bytes of text do not fit a string array (2 GiB at most)")
        offsets = offsets.astype(np.int32)
    kind = pa.large_string() if large else pa.string()
    buffers = [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(kind, len(encoded), buffers, null_count=null_count)


def from_offsets(offsets: npt.NDArray[np.integer[Any]], values: pa.Array | npt.NDArray[Any]) -> pa.ListArray:
    """`pa.ListArray.from_arrays` (32-bit offsets): row ``i`` is ``values[offsets[i]:offsets[i + 1]]``.

    Raises:
        pa.ArrowCapacityError: an offset passes the 32-bit range.
    """
    if len(offsets) and int(offsets[-1]) > INT32_MAX:
        raise pa.ArrowCapacityError(f"{int(offsets[-1]):,} list values do not fit a list array (2**31 at most)")
    flat = values if isinstance(values, pa.Array) else from_numpy(values)
    return pa.ListArray.from_arrays(from_numpy(offsets.astype(np.int32)), flat)


def to_numpy(values: pa.Array | pa.ChunkedArray) -> npt.NDArray[Any]:
    """`values.to_numpy()` of numbers or bools without nulls; zero-copy (and so read-only) for
    numbers in one chunk.

    Raises:
        TypeError: `values` are not numbers or bools, or hold a null.
    """
    dtype = np.dtype(values.type.to_pandas_dtype()) if _is_number_or_bool(values.type) else None
    if dtype is None or values.null_count:
        raise TypeError(f"to_numpy takes numbers or bools without nulls, not {values.type} ({values.null_count} nulls)")
    if isinstance(values, pa.ChunkedArray):
        if values.num_chunks != 1:
            return (
                np.concatenate([to_numpy(chunk) for chunk in values.chunks])
                if values.num_chunks
                else np.empty(0, dtype)
            )
        values = values.chunk(0)
    if not len(values):
        return np.empty(0, dtype)
    data = values.buffers()[1]
    if dtype.kind == "b":
        bits = np.frombuffer(data, dtype=np.uint8)
        flags = np.unpackbits(bits, count=values.offset + len(values), bitorder="little")[values.offset :]
        return flags.view(np.bool_)
    return np.frombuffer(data, dtype=dtype, count=len(values), offset=values.offset * dtype.itemsize)


def scalar(value: float, kind: pa.DataType) -> pa.Scalar:
    """`pa.scalar(value, kind)` of a number, for compute functions (a Python number given to one
    goes through `pa.scalar`)."""
    return from_numpy(np.array([value])).cast(kind)[0]


def fill_null(values: pa.Array | pa.ChunkedArray, value: float) -> pa.Array | pa.ChunkedArray:
    """`pc.fill_null(values, value)`, with `value` a scalar of the type of `values`."""
    return pc.fill_null(values, scalar(value, values.type))


def _is_number_or_bool(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind))


def _utf8(text: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError(f"expected a string or None, got {type(text).__name__}")
    return text.encode()
