"""The .env reader of the developer commands (infra/dotenv.py): format and precedence."""
from __future__ import annotations

import pathlib
import re

import pytest

from infra import dotenv

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_lines_comments_quotes_and_export():
    text = """
# a comment
DATABASE_URL=mysql+pymysql://root:p#ss@127.0.0.1:3306/hospital
  LOCAL_API_PORT = 3100   # trailing comment
export LOCAL_WS_PORT=3102
QUOTED="two words # not a comment"
SINGLE='$HOME stays ${AS_IS}'
EMPTY=
EQUALS=a=b
"""
    assert dotenv.parse(text) == {
        "DATABASE_URL": "mysql+pymysql://root:p#ss@127.0.0.1:3306/hospital",
        "LOCAL_API_PORT": "3100",
        "LOCAL_WS_PORT": "3102",
        "QUOTED": "two words # not a comment",
        "SINGLE": "$HOME stays ${AS_IS}",
        "EMPTY": "",
        "EQUALS": "a=b",
    }


@pytest.mark.parametrize("line", ["JUST_A_NAME", "1BAD=x", "BAD KEY=x", 'OPEN="no end', "Q='a' b"])
def test_a_line_it_cannot_read_is_named_with_its_number(line):
    with pytest.raises(dotenv.DotenvError, match=r"^\.env:3: "):
        dotenv.parse(f"# first\nOK=1\n{line}\n")


def test_the_environment_wins_and_only_missing_variables_are_set(tmp_path):
    (tmp_path / ".env").write_text("DATABASE_URL=sqlite:///from-file.db\nLOCAL_API_PORT=3100\n", encoding="utf-8")
    environ = {"DATABASE_URL": "sqlite:///from-shell.db"}
    assert dotenv.load(tmp_path, environ) == {"LOCAL_API_PORT": "3100"}
    assert environ == {"DATABASE_URL": "sqlite:///from-shell.db", "LOCAL_API_PORT": "3100"}


def test_no_file_changes_nothing(tmp_path):
    environ: dict[str, str] = {}
    assert dotenv.load(tmp_path, environ) == {}
    assert environ == {}


def test_the_committed_example_parses_and_sets_nothing_as_it_stands():
    # Every line of .env.example is a comment: copying it changes nothing until one is uncommented.
    assert dotenv.parse((ROOT / ".env.example").read_text(encoding="utf-8")) == {}
    assert ".env" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_the_example_names_variables_the_code_reads():
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    names = set(re.findall(r"^# ([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    sources = "\n".join(p.read_text(encoding="utf-8") for p in [*ROOT.glob("infra/**/*.py"), ROOT / "template.yaml",
                                                                 *ROOT.glob("layers/common/python/hospital/**/*.py")])
    assert names
    for name in names:
        assert name in sources, f".env.example names {name}, which nothing reads"


@pytest.mark.parametrize("command", [["infra.local.runtime"], ["infra.local.invoke", "--trigger", "SomeFunction"]])
def test_a_bad_env_file_stops_the_command_before_it_starts_anything(tmp_path, capsys, command):
    import importlib

    (tmp_path / ".env").write_text("LOCAL_API_PORT=3100\nnot a setting\n", encoding="utf-8")
    main = importlib.import_module(command[0]).main
    assert main(["--repo", str(tmp_path), *command[1:]]) == 1
    expected = f"cannot read .env: {tmp_path / '.env'}:2: expected KEY=VALUE, got 'not a setting'\n"
    assert capsys.readouterr().err == expected
