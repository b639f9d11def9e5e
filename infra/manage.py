"""Operator commands until the back office has screens for them.

  python -m infra.manage create-admin --username U [--password-stdin]
                                                     # the first super admin: a user with the super_admin
                                                     # role and a back-office account (password from a
                                                     # prompt, or stdin); TOTP is enrolled at first sign-in
  python -m infra.manage grant-role USER_ID ROLE     # e.g. staff, dispatcher, ed_nurse, front_desk, super_admin
  python -m infra.manage revoke-role USER_ID ROLE    # ends at once: calls, live connections, duty
  python -m infra.manage disable-user USER_ID        # every session ends; enable-user USER_ID undoes it
  python -m infra.manage revoke-sessions USER_ID     # sign the user out everywhere
  python -m infra.manage add-vehicle CALL_SIGN PLATE  # an ambulance that can be dispatched
  python -m infra.manage reconcile --date YYYY-MM-DD [--bill-file PATH ...]
                                                     # reconcile a day now (AD1); with bill files, the
                                                     # WeChat Pay part from them instead of downloading
  python -m infra.manage audit-verify                # walk the audit log's hash chain (NF1): exit 0 when
                                                     # whole, 1 at the first broken link (printed)
  python -m infra.manage wechatpay list|add-merchant|import-platform-cert|import-platform-key|validate
                                                     # WeChat Pay merchants and keys (infra/manage_wechatpay.py)

Needs DATABASE_URL (and, for anything touching secrets, the AWS settings of the stage). With
LIVE_API_ENDPOINT set (the WebSocket API's management URL) the commands that end a right also
close the user's open sockets; without it their connections only stop receiving pushes.
Every change is written to the audit log, marked as done through this command; the wechatpay
commands write only the WeChat Pay secret, whose every version Secrets Manager keeps.
"""
from __future__ import annotations

import argparse
import sys

from infra import manage_wechatpay


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.manage", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("grant-role", "give an existing user a role"), ("revoke-role", "take a role away")):
        command = commands.add_parser(name, help=text)
        command.add_argument("user_id", type=int)
        command.add_argument("role")
        if name == "grant-role":
            command.add_argument("--department", help="limit the role to one department (department-reach roles)")
    for name, text in (("disable-user", "disable an account (its sessions end)"),
                       ("enable-user", "enable a disabled account again"),
                       ("revoke-sessions", "sign a user out everywhere")):
        commands.add_parser(name, help=text).add_argument("user_id", type=int)
    vehicle = commands.add_parser("add-vehicle", help="register an ambulance")
    vehicle.add_argument("call_sign")
    vehicle.add_argument("plate")
    reconcile = commands.add_parser("reconcile", help="reconcile one day now")
    reconcile.add_argument("--date", required=True, help="the day, YYYY-MM-DD (Beijing)")
    reconcile.add_argument("--bill-file", action="append", dest="bill_files", metavar="PATH",
                           help="a WeChat Pay bill file of the day (repeat for several merchants)")
    commands.add_parser("audit-verify", help="check the audit log's hash chain, entry by entry")
    admin = commands.add_parser("create-admin", help="create a super admin with a back-office account")
    admin.add_argument("--username", required=True)
    admin.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    manage_wechatpay.add_parser(commands)
    args = parser.parse_args(argv)

    if args.command == "audit-verify":
        return _audit_verify()

    if args.command == "create-admin":
        return _create_admin(args)

    if args.command == "reconcile":
        return _reconcile(args)

    if args.command == "wechatpay":
        return manage_wechatpay.run(args)

    if args.command == "add-vehicle":
        from hospital.rescue import dispatch

        dispatch.register_vehicle(args.call_sign, args.plate)
        print(f"vehicle {args.call_sign} ({args.plate}) registered, available")
        return 0

    return _user_command(args)


def _reconcile(args) -> int:
    import datetime as dt
    import json

    from hospital.errors import AppError
    from hospital.reconciliation import findings

    try:
        day = dt.date.fromisoformat(args.date)
    except ValueError:
        print("--date must be a date like 2026-11-30", file=sys.stderr)
        return 2
    try:
        result = findings.start(None, day, bill_files=args.bill_files, trigger="command")
    except AppError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0 if result["status"] == "done" else 1


def _create_admin(args) -> int:
    import getpass

    from hospital.auth import admin_accounts
    from hospital.auth import roles as R
    from hospital.errors import AppError

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return 2
    try:
        created = admin_accounts.create_account(None, None, args.username, password, temporary=False,
                                                roles=(R.SUPER_ADMIN,))
    except AppError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    print(f"user {created['user_id']}: super admin {created['username']!r} created.\n"
          "Sign in to the back office with this username and password (POST /auth/admin/login): the first\n"
          "sign-in enrols the TOTP second factor (scan the otpauth:// QR code with an authenticator app,\n"
          "confirm a code) and shows 10 recovery codes once: keep them somewhere safe.")
    return 0


def _audit_verify() -> int:
    import json

    from hospital import audit_trail

    result = audit_trail.verify(None)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0 if result["ok"] else 1


def _user_command(args) -> int:
    from hospital.auth import sessions
    from hospital.errors import AppError

    try:
        if args.command == "grant-role":
            done = sessions.grant_role(args.user_id, args.role, department=args.department)
            print(f"user {args.user_id}: role {args.role} {'granted' if done else 'already held'}")
        elif args.command == "revoke-role":
            done = sessions.revoke_role(args.user_id, args.role)
            print(f"user {args.user_id}: role {args.role} {'revoked' if done else 'was not held'}")
        elif args.command in ("disable-user", "enable-user"):
            disabled = args.command == "disable-user"
            done = sessions.set_disabled(args.user_id, disabled)
            state = "disabled" if disabled else "enabled"
            print(f"user {args.user_id}: {state if done else 'already ' + state + ' (or no such active user)'}")
        else:
            print(f"user {args.user_id}: {sessions.revoke_sessions(args.user_id)} session(s) revoked")
    except AppError as exc:  # no such user or role, the last super admin, ...
        print(exc.message, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
