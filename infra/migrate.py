"""Run the Alembic migrations: `python -m infra.migrate [upgrade|downgrade REV|current]`.

Uses DATABASE_URL (or the URL given to `upgrade()`); the layer must be importable
(PYTHONPATH=layers/common/python, as the Makefile sets).
"""
from __future__ import annotations

import os
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent


def alembic_config(url: str | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", (url or os.environ["DATABASE_URL"]).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def main(argv: list[str]) -> int:
    from alembic import command

    action = argv[0] if argv else "upgrade"
    cfg = alembic_config()
    if action == "upgrade":
        command.upgrade(cfg, argv[1] if len(argv) > 1 else "head")
    elif action == "downgrade":
        command.downgrade(cfg, argv[1])
    elif action == "current":
        command.current(cfg, verbose=True)
    elif action == "revision":  # developers: python -m infra.migrate revision "message"
        command.revision(cfg, message=argv[1], autogenerate=True)
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    from infra import dotenv

    sys.exit(main(sys.argv[1:]) if dotenv.load_for_command(HERE.parent) else 1)
