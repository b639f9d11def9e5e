"""The lock files agree with their human-edited inputs, without network.

requirements-dev.txt and layers/common/requirements.txt are edited by hand; `make lock`
turns them into requirements-dev.lock and layers/common/requirements.lock (every transitive
dependency pinned, every file hash-checked) and layers/common/chalice.lock (the wheel the
layer takes Chalice's runtime files from). make installs .venv from the dev lock and the
layer build installs from the runtime lock, so a pin edited in a .txt without `make lock`
would silently not apply: these tests fail instead.
"""
from __future__ import annotations

import dataclasses
import pathlib
import re

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEV_TXT = ROOT / "requirements-dev.txt"
RUNTIME_TXT = ROOT / "layers/common/requirements.txt"
DEV_LOCK = ROOT / "requirements-dev.lock"
RUNTIME_LOCK = ROOT / "layers/common/requirements.lock"
CHALICE_LOCK = ROOT / "layers/common/chalice.lock"

HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
VIA_FILE = re.compile(r"-r (\S+)")


@dataclasses.dataclass
class Locked:
    version: str
    hashes: set[str]
    via_files: set[str]  # the input files that name this package (uv's "# via -r ..." notes)


def read_inputs(path: pathlib.Path) -> dict[str, Requirement]:
    """The requirements of a hand-edited file, following `-r` includes."""
    found: dict[str, Requirement] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ")):
            found.update(read_inputs(path.parent / line.split(None, 1)[1]))
        elif not line.startswith("-"):
            req = Requirement(line)
            found[canonicalize_name(req.name)] = req
    return found


def read_lock(path: pathlib.Path) -> dict[str, Locked]:
    """name -> Locked. Fails on any entry that is not `name==version` with a sha256 hash."""
    entries: dict[str, Locked] = {}
    current: Locked | None = None
    logical = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("#"):
            if current is not None:
                current.via_files.update(VIA_FILE.findall(stripped))
            continue
        logical += " " + stripped.rstrip("\\")
        if stripped.endswith("\\"):
            continue
        logical, line = "", logical.strip()
        if not line:
            continue
        spec, *_ = line.split(" --hash=", 1)
        req = Requirement(spec)
        pins = [s.version for s in req.specifier if s.operator == "=="]
        assert len(pins) == 1, f"{path.name}: {spec!r} is not pinned with =="
        assert len(req.specifier) == 1, f"{path.name}: {spec!r} is not pinned with =="
        hashes = set(HASH.findall(line))
        assert hashes, f"{path.name}: {spec!r} has no --hash (pip --require-hashes would refuse it)"
        name = canonicalize_name(req.name)
        assert name not in entries, f"{path.name}: {name} appears twice"
        current = entries[name] = Locked(pins[0], hashes, set())
    return entries


def stale_pins(inputs: dict[str, Requirement], lock: dict[str, Locked]) -> list[str]:
    """Every input requirement the lock does not satisfy: missing, or at another version."""
    problems = []
    for name, req in sorted(inputs.items()):
        if name not in lock:
            problems.append(f"{req} is not in the lock")
        elif not req.specifier.contains(lock[name].version, prereleases=True):
            problems.append(f"{req} but the lock has {name}=={lock[name].version}")
    return problems


def direct_names(lock: dict[str, Locked], inputs: list[pathlib.Path]) -> set[str]:
    """The packages the lock says were named by one of `inputs` (paths as uv wrote them: from ROOT)."""
    wanted = {str(p.relative_to(ROOT)) for p in inputs}
    return {name for name, entry in lock.items() if entry.via_files & wanted}


RELOCK = "edit the .txt files only, then run `make lock` and commit the .lock files"


@pytest.mark.parametrize("lock_path", [DEV_LOCK, RUNTIME_LOCK, CHALICE_LOCK], ids=lambda p: p.name)
def test_every_lock_entry_is_pinned_with_hashes(lock_path):
    lock = read_lock(lock_path)
    assert lock, f"{lock_path} pins nothing"
    for name, entry in lock.items():
        assert entry.hashes, name


@pytest.mark.parametrize(
    "txt, lock_path",
    [(DEV_TXT, DEV_LOCK), (RUNTIME_TXT, RUNTIME_LOCK)],
    ids=["requirements-dev", "layers/common/requirements"],
)
def test_every_input_is_locked_at_its_pin(txt, lock_path):
    assert stale_pins(read_inputs(txt), read_lock(lock_path)) == [], RELOCK


def test_locks_name_no_direct_dependency_the_inputs_dropped():
    """A package removed from a .txt must leave the lock too (uv notes `# via -r <file>`)."""
    dev_lock, runtime_lock = read_lock(DEV_LOCK), read_lock(RUNTIME_LOCK)
    assert direct_names(dev_lock, [DEV_TXT, RUNTIME_TXT]) == set(read_inputs(DEV_TXT)), RELOCK
    assert direct_names(runtime_lock, [RUNTIME_TXT]) == set(read_inputs(RUNTIME_TXT)), RELOCK


def test_the_layer_ships_exactly_the_versions_the_tests_run_with():
    """Every package of the runtime lock is in the dev lock (what .venv has) at the same
    version with the same files, so the layer's sub-dependencies are the tested ones."""
    dev_lock, runtime_lock = read_lock(DEV_LOCK), read_lock(RUNTIME_LOCK)
    differ = {
        name: (entry.version, dev_lock[name].version if name in dev_lock else None)
        for name, entry in runtime_lock.items()
        if name not in dev_lock or dev_lock[name].version != entry.version
        or dev_lock[name].hashes != entry.hashes
    }
    assert differ == {}, RELOCK


def test_the_layers_chalice_wheel_is_the_dev_locks_chalice():
    chalice = read_lock(CHALICE_LOCK)
    dev_chalice = read_lock(DEV_LOCK)["chalice"]
    assert list(chalice) == ["chalice"]
    assert chalice["chalice"].version == dev_chalice.version, RELOCK
    assert chalice["chalice"].hashes <= dev_chalice.hashes, RELOCK


def test_venv_and_layer_install_from_the_locks_with_hashes_required():
    root = (ROOT / "Makefile").read_text()
    layer = (ROOT / "layers/common/Makefile").read_text()
    assert re.search(r"pip install .*--require-hashes -r requirements-dev\.lock", root)
    assert re.search(r"^\$\(STAMP\): .*\$\(LOCKS\)", root, re.M)
    assert re.search(r"pip install .*--require-hashes -r requirements\.lock", layer)
    assert re.search(r"pip download .*--require-hashes .*-r chalice\.lock", layer)
    assert not re.search(r"-r requirements(-dev)?\.txt", root + layer)


def test_a_pin_edited_without_relocking_is_caught(tmp_path):
    """The check above on a copy of the inputs where one pin moved and one package was added."""
    (tmp_path / "layers/common").mkdir(parents=True)
    runtime = RUNTIME_TXT.read_text()
    pin = re.search(r"^(SQLAlchemy)==(\S+)$", runtime, re.M)
    (tmp_path / "layers/common/requirements.txt").write_text(
        runtime.replace(pin.group(0), f"{pin.group(1)}==1.0.0") + "left-pad==1.0\n"
    )
    (tmp_path / "requirements-dev.txt").write_text(DEV_TXT.read_text())
    problems = stale_pins(read_inputs(tmp_path / "requirements-dev.txt"), read_lock(DEV_LOCK))
    assert problems == [
        "left-pad==1.0 is not in the lock",
        "SQLAlchemy==1.0.0 but the lock has sqlalchemy==" + read_lock(DEV_LOCK)["sqlalchemy"].version,
    ]
