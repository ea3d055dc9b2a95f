"""How jobs_app's modules depend on each other: the services never import the retrain triggers (triggers
submit jobs through the services and follow their ends through the services' hook)."""

import ast
from pathlib import Path

import jobs_app

ROOT = Path(jobs_app.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every module name an `import` or `from … import` in the file names (lazy imports in functions too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_services_do_not_import_the_triggers():
    modules = sorted((ROOT / "services").glob("*.py"))
    assert {p.stem for p in modules} >= {"__init__", "submission", "lifecycle", "reaper", "dispatch"}
    for path in modules:
        assert not any(name.startswith("jobs_app.triggers") for name in _imports(path)), path


def test_a_finished_step_of_a_retrain_run_reaches_the_triggers_through_the_hook():
    from jobs_app import triggers
    from jobs_app.services import lifecycle

    assert triggers.job_ended in lifecycle._end_hooks
    assert any(name.startswith("jobs_app.services") for name in _imports(ROOT / "triggers.py"))
