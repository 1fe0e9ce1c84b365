"""fastnet/_core.pyi names exactly the public API of the built extension (no mypy here, so
the stub is checked against the module itself: a method added or removed without its stub
fails)."""
import ast
import pathlib

import pytest

core = pytest.importorskip("fastnet._core")
STUB = pathlib.Path(core.__file__).with_name("_core.pyi")


def public(names):
    return {n for n in names if not n.startswith("_")}


def test_stub_matches_the_extension():
    tree = ast.parse(STUB.read_text())
    funcs = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    assigned = {t.target.id for t in tree.body if isinstance(t, ast.AnnAssign)}
    real_funcs = {n for n in public(dir(core)) if callable(getattr(core, n))
                  and not isinstance(getattr(core, n), type)}
    assert public(funcs) == real_funcs
    assert public(classes) == {n for n in public(dir(core)) if isinstance(getattr(core, n), type)}
    assert "BACKENDS" in assigned
    for name, node in classes.items():
        members = {m.name for m in node.body if isinstance(m, ast.FunctionDef)}
        members |= {m.target.id for m in node.body if isinstance(m, ast.AnnAssign)}
        assert public(members) == public(dir(getattr(core, name))), name
