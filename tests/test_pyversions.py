"""fastnet on the Pythons besides the one running this suite (issue 5: Python 3.11 to 3.13).

For each of Python 3.12 and 3.13 (found by tests/helpers/pyversions.py) the extension is built
with that interpreter into a private copy of the sources (setup.py, README.md, pyproject.toml,
fastnet/, stack/, apps/, tests/; no build output), `build_ext --inplace` there, so the 3.11
in-place build of this tree and its build/ directory are never touched.  Then, with PYTHONPATH
the copy only, that interpreter runs the copy's test_loop_basic.py, test_core_stubs.py and
test_http_echo.py's asyncio cells (the app's stock-loop path on that Python); 3.13 also runs
the loop parity tests of Server.close_clients/abort_clients, which are new in 3.13 (CI's 3.11
skips them), on every parity target.  Both builds
start together on first use (one per core) and the test runs follow one after the other (they
share namespace names).  A version with no interpreter skips with a reason naming it; an
interpreter named by $PYTHON3XX that is not that version fails.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import pyversions

ROOT = Path(__file__).resolve().parents[1]
COPIED_FILES = ("setup.py", "pyproject.toml", "README.md")
COPIED_DIRS = ("fastnet", "stack", "apps", "tests")
# Build output and caches of this tree stay behind: the copy builds from sources alone.
IGNORED = shutil.ignore_patterns("build", "build-*", "__pycache__", ".pytest_cache", "*.so",
                                 "*.o", "*.a", "*.html")
TESTS = ["tests/test_loop_basic.py", "tests/test_core_stubs.py", "tests/test_http_echo.py"]
# Every test of the first two files; of the HTTP echo app, the stock asyncio loop.
SELECT = "not test_http_echo or asyncio"
# Tests of what only a newer Python has, run on that version besides the above.
NEWER = {"3.13": ("tests/test_loop_parity.py", "close_clients")}
BUILD_TIMEOUT = 900
RUN_TIMEOUT = 600


def _copy_tree(dest: Path) -> None:
    dest.mkdir(parents=True)
    for f in COPIED_FILES:
        shutil.copy2(ROOT / f, dest / f)
    for d in COPIED_DIRS:
        shutil.copytree(ROOT / d, dest / d, ignore=IGNORED)


def _env(tree: Path) -> dict[str, str]:
    # Only the copy: an inherited PYTHONPATH (this tree, holding the 3.11 extension) would
    # shadow it.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(tree)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class Build:
    """One interpreter's build of the copy, started at once and awaited by its test."""

    def __init__(self, version: str, python: str, tree: Path):
        self.version, self.python, self.tree = version, python, tree
        _copy_tree(tree)
        self.log = tree.parent / f"build-{version}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [python, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree,
                env=_env(tree), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)

    def wait(self) -> None:
        try:
            rc = self.proc.wait(timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        assert rc == 0, (f"build with Python {self.version} ({self.python}) failed:\n"
                         + self.log.read_text(errors="replace")[-6000:])


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """{version: Build} for every version that has an interpreter, {version: reason} else."""
    found = {}
    base = tmp_path_factory.mktemp("pyversions")
    for v in pyversions.EXTRA_VERSIONS:
        py = pyversions.find(v)
        found[v] = (Build(v, py, base / f"py{v}") if py else
                    f"Python {v} not found ($PYTHON{v.replace('.', '')}, python{v} on PATH, "
                    f"{pyversions.PYENV_ROOT}/{v}*)")
    yield found
    for b in found.values():
        if isinstance(b, Build) and b.proc.poll() is None:
            b.proc.kill()
            b.proc.wait()


@pytest.mark.parametrize("version", pyversions.EXTRA_VERSIONS)
def test_loop_tests_pass_on_python(builds, version):
    build = builds[version]
    if not isinstance(build, Build):
        pytest.skip(build)
    build.wait()
    env = _env(build.tree)
    # The extension imported is the copy's, built for this interpreter.
    r = subprocess.run([build.python, "-c", "import fastnet._core as c; print(c.__file__)"],
                       cwd=build.tree, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    so = Path(r.stdout.strip())
    assert so.parent == build.tree / "fastnet", so
    assert f"cpython-{version.replace('.', '')}" in so.name, so
    r = subprocess.run([build.python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-k", SELECT, *TESTS], cwd=build.tree, env=env,
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert r.returncode == 0, (f"Python {version}: tests failed:\n"
                               f"{r.stdout[-8000:]}\n{r.stderr[-2000:]}")
    assert " passed" in r.stdout.splitlines()[-1], r.stdout[-2000:]
    if version in NEWER:
        path, select = NEWER[version]
        r = subprocess.run([build.python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "-k", select, path], cwd=build.tree, env=env,
                           capture_output=True, text=True, timeout=RUN_TIMEOUT)
        last = r.stdout.splitlines()[-1] if r.stdout else ""
        assert r.returncode == 0, (f"Python {version}: {path} -k {select} failed:\n"
                                   f"{r.stdout[-8000:]}\n{r.stderr[-2000:]}")
        # Each parity target ran them: nothing skipped, nothing deselected by accident.
        assert " passed" in last and "skipped" not in last, r.stdout[-2000:]
