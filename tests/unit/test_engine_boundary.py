"""One home for SpiffWorkflow (issue 10, item 1): only engine/bpmn/ imports it.

Services, the API, the workers and the command line speak to a running process through
:class:`engine.bpmn.running_process.RunningProcess`, in the pathway's terms and with plain values; the
library's objects never leave engine/bpmn/. The benchmarks (bench/) compare oospath with the library alone
and the model tests (tests/) drive it directly, so they may import it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "api", "workers", "oospath")
ADAPTER = ROOT / "engine" / "bpmn"


def _imported_modules(source: str) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.append(node.module)
    return modules


def _outside_the_adapter() -> list[Path]:
    files = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    return [path for path in files if ADAPTER not in path.parents]


def test_only_engine_bpmn_imports_spiffworkflow() -> None:
    """Issue 10 item 1: a module outside engine/bpmn/ (and bench/, tests/) importing SpiffWorkflow fails here."""
    files = _outside_the_adapter()
    assert any(path.name == "runtime.py" for path in files)  # the services are among the modules checked
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in files
        for module in _imported_modules(path.read_text(encoding="utf-8"))
        if module == "SpiffWorkflow" or module.startswith("SpiffWorkflow.")
    ]
    assert offenders == [], "only engine/bpmn/ may import SpiffWorkflow (issue 10, item 1): " + "; ".join(offenders)


def test_the_check_sees_an_import_inside_a_function() -> None:
    """A deferred import counts as much as one at the top of the module."""
    source = "def later():\n    from SpiffWorkflow.util.task import TaskState\n    import SpiffWorkflow.bpmn\n"
    assert _imported_modules(source) == ["SpiffWorkflow.util.task", "SpiffWorkflow.bpmn"]
