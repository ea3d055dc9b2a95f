"""`eco` installs as a light client: its own distribution (eco/pyproject.toml) holds only the `eco` package and
asks for httpx and rich, and every module of it imports (and the CLI answers --help) with Django, Celery and
torch made unimportable."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from django.conf import settings

ECO = Path(settings.BASE_DIR) / "eco"
HEAVY = ("django", "celery", "torch", "rest_framework", "numpy", "onnxruntime", "sklearn")


def test_the_client_wheel_holds_only_eco_and_asks_for_no_server_packages(tmp_path):
    source = tmp_path / "eco"
    shutil.copytree(ECO, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("eco_client-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"eco", "eco_client-0.1.0.dist-info"}
    assert "eco/tracking.py" in names and "eco/cli.py" in names
    metadata = zipfile.ZipFile(wheel).read("eco_client-0.1.0.dist-info/METADATA").decode()
    required = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    plain = [r for r in required if "extra ==" not in r]
    assert sorted(r.split(">")[0] for r in plain) == ["httpx", "rich"]
    assert not any(r.lower().startswith(heavy) for r in required for heavy in ("django", "celery", "torch"))


BLOCKER = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HEAVY!r}:
            raise ImportError(f"{{name}} is not installed in the light client")
sys.meta_path.insert(0, Block())
import eco, eco.tracking, eco.cli, eco.byo, eco.formats, eco.system_metrics, eco.client
import pkgutil, importlib
for module in pkgutil.iter_modules(eco.__path__):
    importlib.import_module(f"eco.{{module.name}}")
print(eco.start_run.__name__, sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r}))
sys.argv = ["eco", "--help"]
eco.cli.main()
"""


def test_every_client_module_imports_without_django_celery_or_torch(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", BLOCKER], capture_output=True, text=True, cwd=ECO.parent, env={"PATH": "/usr/bin"}
    )
    assert "start_run []" in done.stdout, done.stderr
    assert "usage: eco" in done.stdout
