"""Operator commands until the back office has screens for them.

  python -m infra.manage grant-role USER_ID ROLE     # e.g. staff, dispatcher, ed_nurse, super_admin
  python -m infra.manage add-vehicle CALL_SIGN PLATE  # an ambulance that can be dispatched

Needs DATABASE_URL (and, for anything touching secrets, the AWS settings of the stage).
Every change is written to the audit log, marked as done through this command.
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.manage", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    grant = commands.add_parser("grant-role", help="give an existing user a role")
    grant.add_argument("user_id", type=int)
    grant.add_argument("role")
    vehicle = commands.add_parser("add-vehicle", help="register an ambulance")
    vehicle.add_argument("call_sign")
    vehicle.add_argument("plate")
    args = parser.parse_args(argv)

    if args.command == "add-vehicle":
        from hospital.rescue import dispatch

        dispatch.register_vehicle(args.call_sign, args.plate)
        print(f"vehicle {args.call_sign} ({args.plate}) registered, available")
        return 0

    from hospital.auth import sessions
    from hospital.errors import ValidationFailed

    try:
        changed = sessions.grant_role(args.user_id, args.role)
    except ValidationFailed as exc:
        print(exc.message, file=sys.stderr)
        return 2
    print(f"user {args.user_id}: role {args.role} {'granted' if changed else 'already held'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
