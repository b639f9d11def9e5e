"""Functions import the layer's public modules only. Each functions/<name>/app.py is a Lambda
handler module, not a package, so import-linter cannot see it; this scan (every import, those
inside functions included) allows exactly:

- the standard library;
- chalice (the framework; also what the layer's web conventions wrap);
- hospital.* through public paths only: no module and no imported name starting with `_`, and
  no `<imported hospital name>._<name>` attribute either.

Anything else (requests, sqlalchemy, boto3, pydantic, infra, relative imports) belongs in the
layer: handlers stay thin and cold starts light."""
import ast
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
FRAMEWORKS = {"chalice"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def problems(where: str, source: str) -> list[str]:
    found, hospital_names = [], set()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        at = f"{where}:{node.lineno}"
        if isinstance(node, ast.ImportFrom) and node.level:
            found.append(f"{at}: relative import (a function folder is not a package)")
            continue
        modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        for module in modules:
            root = module.split(".")[0]
            if root == "hospital":
                if any(_private(part) for part in module.split(".")):
                    found.append(f"{at}: imports the private module {module}")
            elif root not in FRAMEWORKS and root not in sys.stdlib_module_names:
                found.append(f"{at}: imports {module}, which is neither the layer, chalice nor the standard library")
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "hospital":
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{at}: imports the private name {node.module}.{alias.name}")
                hospital_names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            hospital_names.update((alias.asname or alias.name).split(".")[0] for alias in node.names
                                  if alias.name.split(".")[0] == "hospital")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name)
                and node.value.id in hospital_names):
            found.append(f"{where}:{node.lineno}: reaches into {node.value.id}.{node.attr}")
    return found


def function_sources() -> dict[str, str]:
    return {str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
            for path in sorted((ROOT / "functions").glob("*/*.py"))}


def test_functions_import_only_the_layers_public_modules_chalice_and_the_standard_library():
    sources = function_sources()
    assert len(sources) >= 15  # the scan found the functions
    assert [problem for where, source in sources.items() for problem in problems(where, source)] == []


def test_the_scan_catches_what_it_is_for():
    rogue = ("import json\n"
             "from chalice import Response\n"
             "from hospital import web\n"
             "from hospital.rescue._store import load\n"
             "from hospital.rescue import _context\n"
             "import hospital._internal.x\n"
             "import requests\n"
             "from . import helpers\n"
             "def f():\n"
             "    import sqlalchemy\n"
             "    from infra import devenv\n"
             "    return web._principal.get()\n")
    assert [problem.split(": ", 1) for problem in problems("rogue.py", rogue)] == [
        ["rogue.py:4", "imports the private module hospital.rescue._store"],
        ["rogue.py:5", "imports the private name hospital.rescue._context"],
        ["rogue.py:6", "imports the private module hospital._internal.x"],
        ["rogue.py:7", "imports requests, which is neither the layer, chalice nor the standard library"],
        ["rogue.py:8", "relative import (a function folder is not a package)"],
        ["rogue.py:10", "imports sqlalchemy, which is neither the layer, chalice nor the standard library"],
        ["rogue.py:11", "imports infra, which is neither the layer, chalice nor the standard library"],
        ["rogue.py:12", "reaches into web._principal"],
    ]


def test_loading_every_function_loads_no_pydantic_model():
    """Routes name their models lazily (hospital.api_contract.lazy): a cold GET pays for none."""
    import subprocess

    script = (
        "import pathlib, runpy, sys\n"
        "from hospital import settings\n"
        "settings.check = lambda function, groups: None\n"
        "for app in sorted(pathlib.Path('functions').glob('*/app.py')):\n"
        "    runpy.run_path(str(app))\n"
        "    loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'sqlalchemy', 'boto3'))\n"
        "    assert not loaded, (str(app), loaded[:3])\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
