"""The tests mirror the package and share helpers only through support modules; the fast
lane (`make check`) holds no test that starts a process.

- Each subpackage of vats_etl (and the flows and the SQL, which the build maps into it) has
  a test folder of its name; the stages (the package's own modules) are in tests/stages/,
  the accounts in tests/accounts/. At the top of tests/ sit only the tests of the package
  as a whole: this one, the import graph and the packaging.
- A module under tests/ (or bench/) imports no test module and no conftest: helpers live in
  support modules (tests/support/ when several folders share them, a folder's support.py
  when only it needs them), fixtures in conftests, which pytest finds by itself.
- A test that starts a Python or Chromium process, or needs the session's Prefect server,
  is marked slow (or browser): tests/conftest.py refuses the process, and the collection,
  otherwise.

Read with `ast` (imports inside functions count), so an import that only runs in one test
is found too.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
# Tests of the package as a whole, not of one part of it: they stay at the top of tests/.
WHOLE_PACKAGE = ("test_import_graph.py", "test_layout.py", "test_packaging.py")
# Folders of the checkout the build installs as subpackages of vats_etl.
MAPPED_PACKAGES = ("flows", "sql")


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in `path`; `from a import b` gives `a` and `a.b`, as `b`
    may be a module."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    package = module_name(path, root).rsplit(".", 1)[0] if path.name != "__init__.py" else ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's own package upwards
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def is_test_module_or_conftest(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "tests" and any(p == "conftest" or p.startswith("test_") for p in parts)


def import_problems(files: Iterable[Path], root: Path) -> list[str]:
    """Each import of a test module or a conftest, as `file:line: imports module`."""
    problems: dict[tuple[Path, int], str] = {}
    for path in files:
        for line, module in imported(path, root):
            if is_test_module_or_conftest(module):
                problems.setdefault((path, line), module)
    return [f"{path.relative_to(root)}:{line}: imports {m}" for (path, line), m in problems.items()]


def layout_problems(tests: Path, packages: Iterable[str]) -> list[str]:
    """Test modules at the top of `tests` that are not about the whole package, packages
    without a test folder, and test folders that are not packages."""
    problems = [
        f"{path.relative_to(tests.parent)}: move it into the folder of what it tests"
        for path in sorted(tests.glob("test_*.py"))
        if path.name not in WHOLE_PACKAGE
    ]
    problems += [
        f"{name}: no test module in tests/{name}/"
        for name in sorted(packages)
        if not any((tests / name).glob("test_*.py"))
    ]
    problems += [
        f"{folder.relative_to(tests.parent)}: no __init__.py (test modules of one name in two "
        "folders would clash)"
        for folder in sorted({p.parent for p in tests.rglob("test_*.py")})
        if folder != tests and not (folder / "__init__.py").exists()
    ]
    return problems


def subpackages() -> list[str]:
    """The subpackages of vats_etl, as the wheel installs them."""
    own = [p.parent.name for p in (ROOT / "vats_etl").glob("*/__init__.py")]
    return sorted({*own, *MAPPED_PACKAGES})


def python_files() -> list[Path]:
    return sorted(p for folder in ("tests", "bench") for p in (ROOT / folder).rglob("*.py"))


# -- the checks, on this repository ------------------------------------------------------------


def test_no_module_imports_a_test_module_or_a_conftest() -> None:
    assert import_problems(python_files(), ROOT) == []


def test_test_folders_mirror_the_package() -> None:
    assert {"cli", "emulator", "flows", "reports", "sql", "warehouse", "webhook"} <= set(
        subpackages()
    )
    assert layout_problems(TESTS, subpackages()) == []


# -- the checks catch what they are for ----------------------------------------------------------


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), "utf-8")
    return path


def test_every_way_of_importing_a_test_module_or_a_conftest_is_found(tmp_path: Path) -> None:
    bad = write(
        tmp_path / "tests" / "webhook" / "test_a.py",
        """\
        from tests.webhook.test_b import helper
        from tests.integration.conftest import make_settings
        from tests.integration import conftest
        from tests import test_top
        import tests.webhook.test_b

        def test_lazy():
            from .test_b import other
            from . import conftest as here
        """,
    )
    good = write(
        tmp_path / "tests" / "webhook" / "test_c.py",
        """\
        from tests.support.processes import vats
        from tests.webhook.support import history
        from tests.support import small_warehouse
        from .support import config
        import pytest
        """,
    )
    problems = import_problems([bad, good], tmp_path)
    assert [p.split(":")[1] for p in problems] == ["1", "2", "3", "4", "5", "8", "9"]
    assert all(p.startswith("tests/webhook/test_a.py:") for p in problems)


def test_a_misplaced_test_module_and_a_package_without_tests_are_found(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    write(tests / "__init__.py")
    write(tests / "test_import_graph.py")
    write(tests / "test_webhook_spool.py")  # webhook has its folder
    write(tests / "webhook" / "__init__.py")
    write(tests / "webhook" / "test_spool.py")
    write(tests / "reports" / "test_pages.py")  # no __init__.py
    assert layout_problems(tests, ["webhook", "reports", "warehouse"]) == [
        "tests/test_webhook_spool.py: move it into the folder of what it tests",
        "warehouse: no test module in tests/warehouse/",
        "tests/reports: no __init__.py (test modules of one name in two folders would clash)",
    ]


# -- the fast lane holds no test that starts a process --------------------------------------------

CONFTEST = (TESTS / "conftest.py").read_text("utf-8")


def test_an_unmarked_test_that_starts_python_fails_and_a_small_tool_does_not(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_processes="""
        import subprocess, sys

        def test_python():
            subprocess.run([sys.executable, "-c", "pass"], check=False)

        def test_python_refused_and_swallowed():
            try:
                subprocess.run([sys.executable, "-c", "pass"])
            except AssertionError:
                pass

        def test_a_small_tool():
            assert subprocess.run(["true"]).returncode == 0
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1, errors=2)
    result.stdout.fnmatch_lines(["*mark test_processes.py::test_python slow: it starts*"])


def test_a_test_that_needs_the_prefect_server_must_be_marked(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_prefect="""
        import pytest

        @pytest.mark.slow
        def test_marked(prefect_api_url):
            pass

        def test_unmarked(prefect_harness):
            pass
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "test_prefect.py::test_unmarked" in result.stderr.str()
    assert "test_marked" not in result.stderr.str()
