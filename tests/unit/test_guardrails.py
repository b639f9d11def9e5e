"""`make lint` runs the guardrails in order and CI runs it before the tests; the complexity
ceiling and mypy's reading of untyped functions are what pyproject.toml says. Probes run the
tools on small files outside the tree, with the repository's configuration."""
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_make_lint_runs_every_guardrail_in_order_and_ci_runs_it_before_the_tests():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^lint: venv\n((?:\t.*\n)+)", makefile, re.MULTILINE).group(1)
    assert [line.split()[0].rsplit("/", 1)[-1] for line in recipe.splitlines()] == [
        "ruff", "mypy", "lint-imports", "cfn-lint", "python"]
    assert recipe.splitlines()[-1].endswith("-m infra.deploy.check_template")
    steps = [line.strip() for line in (ROOT / ".ci/run").read_text(encoding="utf-8").splitlines()]
    assert steps.index("make lint") < steps.index("make test || tests=$?")


def test_ci_runs_the_compat_tier_on_python313_beside_the_suite_and_fails_when_either_fails():
    steps = [line.strip() for line in (ROOT / ".ci/run").read_text(encoding="utf-8").splitlines()]
    assert steps.index("make lint") < steps.index('make compat >"$compat_log" 2>&1 &') < steps.index(
        "make test || tests=$?") < steps.index('wait "$compat" || compat_status=$?')
    assert steps[-1] == '[ "$tests" -eq 0 ] && [ "$compat_status" -eq 0 ]'
    assert steps[0] == "#!/usr/bin/env bash" and "set -euo pipefail" in steps
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^COMPAT_TESTS := tests/unit tests/e2e/test_rescue_slice_e2e\.py$", makefile, re.MULTILINE)
    assert re.search(r"^COMPAT_VENV \?= \.venv-3\.13$", makefile, re.MULTILINE)


def test_the_complexity_ceiling_is_15(tmp_path):
    def function(branches: int) -> str:  # complexity: one, plus one per `if`
        return "def f(x):\n" + "".join(f"    if x == {n}:\n        return {n}\n" for n in range(branches))

    (tmp_path / "at_15.py").write_text(function(14), encoding="utf-8")
    (tmp_path / "at_16.py").write_text(function(15), encoding="utf-8")
    answer = run(str(BIN / "ruff"), "check", "--config", str(ROOT / "pyproject.toml"), "--no-cache",
                 "--output-format", "concise", str(tmp_path))
    assert [line.split(": ", 1)[1] for line in answer.stdout.splitlines() if "C901" in line] == [
        "C901 `f` is too complex (16 > 15)"]
    assert "at_16.py" in answer.stdout and "at_15.py" not in answer.stdout


def test_mypy_reads_untyped_functions_too(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def untyped(x):\n    return len(3)\n", encoding="utf-8")
    answer = run(str(BIN / "mypy"), "--config-file", str(ROOT / "pyproject.toml"), "--no-incremental",
                 str(probe))
    assert answer.returncode == 1 and 'Argument 1 to "len" has incompatible type "int"' in answer.stdout, answer.stdout
