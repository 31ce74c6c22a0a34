"""The import contracts in pyproject.toml hold, and they catch a module that breaks one.

import-linter reads the source, so an import on a path no test runs fails here too;
tests/test_layers.py checks what importing actually loads.
"""

from __future__ import annotations

import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import warroom

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
IMPORTLINTER = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
CONTRACTS: dict[str, dict[str, Any]] = {c["id"]: c for c in IMPORTLINTER["contracts"]}


def lint_imports(contract: str, src: Path) -> subprocess.CompletedProcess[str]:
    """Check one contract against the `warroom` package found in the folder `src`."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "--contract", contract, str(PYPROJECT)],
        cwd=src,
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def reported_imports(report: str) -> set[frozenset[str]]:
    """Each `importer -> imported` line of a report, unordered: a cycle may be cut either way."""
    return {frozenset(pair) for pair in re.findall(r"(\S+) -> (\S+)", report)}


@pytest.mark.parametrize("contract", sorted(CONTRACTS))
def test_contract_is_kept(contract: str) -> None:
    result = lint_imports(contract, ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr


# What a layer may use of warroom; its contract forbids every other top-level package.
MAY_USE = {
    "tui-reads-through-facade": {
        "warroom.clock",
        "warroom.collector",
        "warroom.commands",
        "warroom.domain",
        "warroom.reporting",
        "warroom.resources",
        "warroom.tui",
    },
    "widgets-render-domain": {"warroom.domain", "warroom.tui"},
    "reporting-renders-domain": {"warroom.domain", "warroom.reporting"},
}


@pytest.mark.parametrize(("contract", "may_use"), MAY_USE.items())
def test_a_new_package_is_placed_on_purpose(contract: str, may_use: set[str]) -> None:
    """A forbidden list lets through whatever it does not name: it must name everything else."""
    packages = {f"warroom.{module.name}" for module in pkgutil.iter_modules(warroom.__path__)}
    forbidden = {name for name in CONTRACTS[contract]["forbidden_modules"] if name.count(".") == 1}
    assert may_use.isdisjoint(forbidden)
    assert packages == may_use | forbidden


@pytest.mark.parametrize(
    ("contract", "modules", "reported"),
    [
        pytest.param(
            "domain-pure",
            {"domain/_bad.py": "from warroom.clock import SystemClock"},
            {"warroom.domain._bad", "warroom.clock"},
            id="domain-imports-warroom",
        ),
        pytest.param(
            "domain-pure",
            {"domain/_bad.py": "from textual.widget import Widget"},
            {"warroom.domain._bad", "textual"},
            id="domain-imports-textual",
        ),
        pytest.param(
            "tui-reads-through-facade",
            {"tui/_bad.py": "from warroom.store.queries import load_snapshot"},
            {"warroom.tui._bad", "warroom.store.queries"},
            id="tui-imports-a-store-module",
        ),
        pytest.param(
            "widgets-render-domain",
            {"tui/widgets/_bad.py": "from warroom.tui.screens.live import LiveScreen"},
            {"warroom.tui.widgets._bad", "warroom.tui.screens.live"},
            id="widget-imports-a-screen",
        ),
        pytest.param(
            "no-cycles",
            {"_bad_a.py": "import warroom._bad_b", "_bad_b.py": "import warroom._bad_a"},
            {"._bad_a", "._bad_b"},
            id="packages-import-each-other",
        ),
        pytest.param(
            "no-cycles",
            {
                "tui/_bad_a.py": "import warroom.tui._bad_b",
                "tui/_bad_b.py": "import warroom.tui._bad_a",
            },
            {"._bad_a", "._bad_b"},
            id="tui-parts-import-each-other",
        ),
    ],
)
def test_contract_reports_a_break(
    tmp_path: Path, contract: str, modules: dict[str, str], reported: set[str]
) -> None:
    """A copy of the package with modules that break the contract on purpose."""
    package = tmp_path / "warroom"
    shutil.copytree(
        Path(warroom.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__")
    )
    for name, source in modules.items():
        (package / name).write_text(source + "\n", encoding="utf-8")
    result = lint_imports(contract, tmp_path)
    assert frozenset(reported) in reported_imports(result.stdout), result.stdout + result.stderr
