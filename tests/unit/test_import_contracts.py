"""The import contracts of pyproject.toml ([tool.importlinter], run by `make lint`) hold on the
tree, and each one breaks on the violation it is there for: a copy of the layer and infra gets
one rogue import at a time and `lint-imports` must name exactly the contracts it breaks. The
layers contract lists the platform modules by name, so a new module of hospital must be placed:
in a domain, in the adapters, or in that list."""
import pathlib
import shutil
import subprocess
import sys
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers/common/python"
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
CONTRACTS = {contract["id"]: contract for contract in CONFIG["contracts"]}
DOMAINS = {"hospital.outpatient", "hospital.reconciliation", "hospital.rescue", "hospital.payments",
           "hospital.content", "hospital.helpdesk", "hospital.links"}
LINT_IMPORTS = pathlib.Path(sys.executable).with_name("lint-imports")

# (what the rogue code is, file -> text appended or written, the contracts it must break)
VIOLATIONS = [
    ("a cycle inside hospital.payments",
     {"hospital/payments/rogue_a.py": "from hospital.payments import rogue_b\n",
      "hospital/payments/rogue_b.py": "def f():\n    from hospital.payments import rogue_a\n"},
     {"hospital-acyclic"}),
    ("a cycle inside hospital.rescue",
     {"hospital/rescue/rogue_a.py": "from hospital.rescue import rogue_b\n",
      "hospital/rescue/rogue_b.py": "from hospital.rescue import rogue_a\n"},
     {"hospital-acyclic"}),
    ("a cycle inside hospital.payments.channels",
     {"hospital/payments/channels/rogue_a.py": "from hospital.payments.channels import rogue_b\n",
      "hospital/payments/channels/rogue_b.py": "from hospital.payments.channels import rogue_a\n"},
     {"hospital-acyclic"}),
    ("an adapter reading a domain (the domain imports the adapters: a cycle as well)",
     {"hospital/adapters/rogue.py": "from hospital.rescue import timeline\n"},
     {"adapters-no-domain", "hospital-acyclic"}),
    ("payments reading outpatient (registrations are paid by orders, not the other way round)",
     {"hospital/payments/orders.py": "\n\ndef rogue():\n    from hospital.outpatient import booking\n"},
     {"platform-below-domains", "hospital-acyclic"}),
    ("a platform module reading a domain, inside a function",
     {"hospital/chalice_app.py": "\n\ndef rogue():\n    from hospital.payments import orders\n"},
     {"platform-below-domains"}),
    ("a simulator reading the dev environment (which reads the template through the local runtime)",
     {"infra/simulators/rogue.py": "from infra import devenv\n"},
     {"simulators-not-devenv", "simulators-not-local-runtime"}),
    ("a simulator reading the local runtime",
     {"infra/simulators/rogue.py": "from infra.local import template\n"},
     {"simulators-not-local-runtime"}),
    ("the shared HTTP server reading the local runtime (the simulators import it)",
     {"infra/httpserver.py": "\n\ndef rogue():\n    from infra.local import tls\n"},
     {"simulators-not-local-runtime"}),
    ("the layer reading infra",
     {"hospital/rogue.py": "import infra.devenv\n"},
     {"layer-alone"}),
]


def lint_imports(tree: pathlib.Path) -> tuple[int, str]:
    """lint-imports with the repository's contracts over the copy at `tree`, and only it."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{tree / 'layers/common/python'}:{tree}",
           "COLUMNS": "500"}  # one line per contract
    done = subprocess.run([str(LINT_IMPORTS), "--no-cache", str(ROOT / "pyproject.toml")], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, done.stdout + done.stderr


def broken(output: str) -> set[str]:
    lines = set(output.splitlines())
    return {cid for cid, contract in CONTRACTS.items() if f"{contract['name']} BROKEN" in lines}


@pytest.fixture
def copy(tmp_path) -> pathlib.Path:
    shutil.copytree(LAYER / "hospital", tmp_path / "layers/common/python/hospital",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "infra", tmp_path / "infra", ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    return tmp_path


def test_every_contract_is_kept_on_the_tree(copy):
    status, output = lint_imports(copy)
    assert status == 0, output
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in output, output


@pytest.mark.parametrize("rogue,files,expected", VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_each_contract_breaks_on_its_violation(copy, rogue, files, expected):
    for name, text in files.items():
        path = copy / ("layers/common/python" if name.startswith("hospital/") else "") / name
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    status, output = lint_imports(copy)
    assert status == 1, output
    assert broken(output) == expected, output


def test_every_contract_is_proven():
    assert set().union(*(expected for *_, expected in VIOLATIONS)) == set(CONTRACTS)


def test_every_module_of_hospital_is_placed_by_a_contract():
    """A domain, the adapters, or a platform module the layers contract holds below the domains."""
    layers = CONTRACTS["platform-below-domains"]["layers"]
    above = {name.strip() for layer in layers[:-1] for name in layer.split(":")}
    below = {name.strip() for name in layers[-1].split(":")}
    assert above == DOMAINS
    children = {f"hospital.{path.stem if path.is_file() else path.name}"
                for path in (LAYER / "hospital").iterdir()
                if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()}
    assert children - DOMAINS - below == {"hospital.adapters"}
    assert below <= children, "the layers contract names a module that does not exist"
