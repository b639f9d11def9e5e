"""Every `noqa` says which rule it silences and why: `# noqa: BLE001 - <why>`, the rules named
being ones ruff runs here (read from `ruff check --show-settings`, so pyproject.toml stays the
one place they are chosen). A bare `noqa`, a file-wide `ruff: noqa`, one without a reason or
for a rule that is not enabled fails, and so does one that silences nothing (ruff's RUF100).
The functions above the complexity ceiling (`noqa: C901`) are named in the README."""
import io
import json
import pathlib
import re
import subprocess
import sys
import tokenize

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCANNED = ("layers", "functions", "infra", "tests")
SKIPPED = {"__pycache__", ".venv", "build", ".local"}
# What ruff reads as a suppression, anywhere in a comment; with the ruff or flake8 prefix, a file-wide one.
NOQA = re.compile(r"(?P<file>(?:ruff|flake8)\s*:\s*)?\bnoqa\b(?P<rest>.*)", re.IGNORECASE)
WELL_FORMED = re.compile(r"^:\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)\s+-\s+(?P<why>\S.*)$")


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)


def enabled_rules() -> set[str]:
    """The codes ruff runs with the repository's configuration."""
    settings = ruff("check", "--show-settings", "layers/common/python/hospital/__init__.py").stdout
    assert "linter.rules.enabled = [" in settings, "ruff's settings no longer list the enabled rules"
    block = settings.split("linter.rules.enabled = [", 1)[1].split("]", 1)[0]
    return set(re.findall(r"\(([A-Z]+[0-9]+)\)", block))


def python_files() -> list[pathlib.Path]:
    return sorted(path for top in SCANNED for path in (ROOT / top).rglob("*.py")
                  if not SKIPPED & set(path.relative_to(ROOT).parts))


def suppressions(source: str):
    """(line, the comment's noqa part, file-wide?) for every noqa comment in the source."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and (found := NOQA.search(token.string)):
            yield token.start[0], found.group("rest").strip(), bool(found.group("file"))


def problems(where: str, source: str, enabled: set[str]) -> list[str]:
    found = []
    for line, rest, file_wide in suppressions(source):
        at = f"{where}:{line}"
        well_formed = WELL_FORMED.match(rest)
        if file_wide:
            found.append(f"{at}: file-wide noqa (name the rule on its line, with a reason)")
        elif not rest.startswith(":"):
            found.append(f"{at}: bare noqa (name the rule and say why: `# noqa: RULE - why`)")
        elif well_formed is None:
            found.append(f"{at}: noqa without a reason (`# noqa: RULE - why`): {rest!r}")
        else:
            codes = {code.strip() for code in well_formed.group("codes").split(",")}
            found.extend(f"{at}: noqa for {code}, which is not enabled" for code in sorted(codes - enabled))
    return found


def test_ruff_runs_a_rule_set_with_the_noqa_checks():
    enabled = enabled_rules()
    assert len(enabled) > 100  # the settings were read
    assert {"RUF100", "PGH004", "C901", "E501", "BLE001"} <= enabled


def test_every_noqa_names_enabled_rules_and_says_why():
    enabled = enabled_rules()
    files = python_files()
    assert len(files) > 150  # the scan found the repository
    found = [problem for path in files
             for problem in problems(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"), enabled)]
    assert found == []


def test_no_noqa_is_unused():
    answer = ruff("check", "--output-format", "json", "--exit-zero", ".")
    assert answer.returncode == 0, answer.stderr
    unused = [f"{d['filename']}:{d['location']['row']}: {d['message']}" for d in json.loads(answer.stdout)
              if d["code"] == "RUF100"]
    assert unused == []


def test_ruff_flags_a_noqa_that_silences_nothing(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("value = 1  # noqa: E501 - a short line needs no exemption\n", encoding="utf-8")
    answer = ruff("check", "--config", str(ROOT / "pyproject.toml"), "--output-format", "json", "--exit-zero",
                  str(probe))
    assert [d["code"] for d in json.loads(answer.stdout)] == ["RUF100"]


def test_the_scan_catches_what_it_is_for():
    rogue = ("# ruff: noqa\n"
             "a = 1  # noqa\n"
             "b = 2  # NOQA: E501\n"
             "c = 3  # noqa: ANN001 - an annotation rule this repository does not run\n"
             "d = 4  # noqa: E501, XYZ123 - one known, one not\n"
             "e = 5  # see why  # noqa: E501 - a fine one, after another comment\n"
             "f = '# noqa'  # a string is not a comment\n")
    assert [problem.split(": ", 1) for problem in problems("rogue.py", rogue, {"E501"})] == [
        ["rogue.py:1", "file-wide noqa (name the rule on its line, with a reason)"],
        ["rogue.py:2", "bare noqa (name the rule and say why: `# noqa: RULE - why`)"],
        ["rogue.py:3", "noqa without a reason (`# noqa: RULE - why`): ': E501'"],
        ["rogue.py:4", "noqa for ANN001, which is not enabled"],
        ["rogue.py:5", "noqa for XYZ123, which is not enabled"],
    ]


def test_every_complexity_exception_is_named_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    exceptions = []
    for path in python_files():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for line, rest, _ in suppressions(source):
            if "C901" in rest:
                name = re.search(r"def (\w+)", lines[line - 1])
                assert name, f"{path}:{line}: a C901 exception belongs on its def line"
                exceptions.append(f"{path.relative_to(ROOT).with_suffix('').as_posix()}.{name.group(1)}")
    assert exceptions  # the scan found them
    assert [name for name in exceptions if f"`{name.split('/')[-1]}`" not in readme] == []
