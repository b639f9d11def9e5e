"""`python -m infra.manage wechatpay ...`: the WeChat Pay merchants and their keys, kept in the
WeChatPaySecret (format in hospital/payments/merchants.py).

  wechatpay list                                   merchants, app ids, serials; keys masked
  wechatpay add-merchant --mchid ID --appid APP [--appid APP ...] [--api v3]
        --private-key FILE (--certificate FILE | --serial-no SERIAL) --apiv3-key-file FILE
  wechatpay add-merchant --mchid ID --appid APP --api v2 --api-key-file FILE
        [--sign-type MD5|HMAC-SHA256] [--client-cert FILE --client-key FILE]
  wechatpay import-platform-cert MCHID FILE        a platform certificate, filed under its own serial
  wechatpay import-platform-key MCHID FILE --key-id PUB_KEY_ID_...   a WeChat Pay public key
  wechatpay validate                               a line per problem; exit status 1 if any

Every command takes --secret-id (ARN or name; default WECHATPAY_SECRET_ARN) and goes through
Secrets Manager (AWS_ENDPOINT_URL and the usual AWS settings), so it works against the local
embedded endpoint and a real account alike. A change is checked before it is written (an entry
`validate` would flag is refused, nothing written) and replaces the merchant's entry; replacing
a v3 merchant keeps the platform keys it holds. Keys are read from files, never from the
command line, and never printed. Each write is a new version of the secret, which Secrets
Manager keeps (and CloudTrail records).
"""
from __future__ import annotations

import argparse
import hashlib
import pathlib
import sys


def add_parser(commands) -> None:
    wechatpay = commands.add_parser("wechatpay", help="WeChat Pay merchants and keys (the WeChatPaySecret)")
    sub = wechatpay.add_subparsers(dest="wechatpay_command", required=True)

    def command(name: str, help_text: str):
        parser = sub.add_parser(name, help=help_text)
        parser.add_argument("--secret-id", help="the secret's ARN or name (default: WECHATPAY_SECRET_ARN)")
        return parser

    command("list", help_text="merchants, app ids and serials; keys masked")
    add = command("add-merchant", help_text="add a merchant, or replace the entry of its mchid")
    add.add_argument("--mchid", required=True)
    add.add_argument("--api", choices=("v3", "v2"), default="v3")
    add.add_argument("--appid", action="append", required=True, help="repeat for each app id")
    add.add_argument("--private-key", type=pathlib.Path, help="v3: the merchant's API private key (PEM)")
    add.add_argument("--certificate", type=pathlib.Path,
                     help="v3: the merchant's API certificate (PEM); its serial is the merchant serial")
    add.add_argument("--serial-no", help="v3: the merchant certificate's serial, when the certificate is not given")
    add.add_argument("--apiv3-key-file", type=pathlib.Path, help="v3: file holding the 32-byte APIv3 key")
    add.add_argument("--api-key-file", type=pathlib.Path, help="v2: file holding the 32-character API key")
    add.add_argument("--sign-type", choices=("MD5", "HMAC-SHA256"), default="MD5", help="v2")
    add.add_argument("--client-cert", type=pathlib.Path, help="v2: API client certificate (PEM), for refunds")
    add.add_argument("--client-key", type=pathlib.Path, help="v2: API client key (PEM), for refunds")
    cert = command("import-platform-cert", help_text="add a platform certificate (its serial read from it)")
    cert.add_argument("mchid")
    cert.add_argument("file", type=pathlib.Path)
    key = command("import-platform-key", help_text="add a WeChat Pay public key by its id")
    key.add_argument("mchid")
    key.add_argument("file", type=pathlib.Path)
    key.add_argument("--key-id", required=True, help="PUB_KEY_ID_...")
    command("validate", help_text="check every entry; exit status 1 if anything is wrong")


def run(args: argparse.Namespace) -> int:
    from hospital.payments import merchant_secret

    secret = merchant_secret.secret_id(args.secret_id)
    document = merchant_secret.load(secret)
    try:
        return _COMMANDS[args.wechatpay_command](args, secret, document)
    except Refused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2


class Refused(Exception):
    """Input we will not write; the message says why (never key material)."""


# ---- commands -------------------------------------------------------------------------------

def _list(args, secret: str, document: dict) -> int:
    entries = document.get("merchants") or []
    if not entries:
        print("no merchants")
    for entry in entries:
        for line in _describe(entry):
            print(line)
    return 0


def _add_merchant(args, secret: str, document: dict) -> int:
    from hospital.payments import merchant_secret

    if args.api == "v3":
        if not (args.private_key and args.apiv3_key_file and (args.certificate or args.serial_no)):
            raise Refused("v3 needs --private-key, --apiv3-key-file and --certificate (or --serial-no)")
        entry = {"mchid": args.mchid, "api": "v3", "appids": args.appid, "private_key": _read(args.private_key),
                 "apiv3_key": _read(args.apiv3_key_file).strip()}
        if args.certificate:
            from hospital.adapters import wechatpay_v3

            entry["certificate"] = _read(args.certificate)
            try:
                serial = wechatpay_v3.certificate_serial(wechatpay_v3.load_certificate(entry["certificate"]))
            except ValueError:
                raise Refused(f"{args.certificate} is not a PEM certificate") from None
            if args.serial_no and wechatpay_v3.normal_serial(args.serial_no) != wechatpay_v3.normal_serial(serial):
                raise Refused("--serial-no differs from the certificate's serial")
            entry["serial_no"] = args.serial_no.strip().upper() if args.serial_no else serial
        else:
            entry["serial_no"] = args.serial_no.upper()
        held = merchant_secret.entry_of(document, args.mchid) or {}
        if held.get("api", "v3") == "v3" and isinstance(held.get("platform_keys"), dict):
            entry["platform_keys"] = held["platform_keys"]  # imported separately: kept
    else:
        if not args.api_key_file:
            raise Refused("v2 needs --api-key-file")
        entry = {"mchid": args.mchid, "api": "v2", "appids": args.appid, "api_key": _read(args.api_key_file).strip(),
                 "sign_type": args.sign_type}
        if args.client_cert or args.client_key:
            if not (args.client_cert and args.client_key):
                raise Refused("--client-cert and --client-key go together")
            entry["client_cert"], entry["client_key"] = _read(args.client_cert), _read(args.client_key)
    problems = [p for p in merchant_secret.entry_problems(entry) if not p.startswith("no platform keys")]
    if problems:
        raise Refused(f"{args.mchid}: " + "; ".join(problems))
    replaced = merchant_secret.entry_of(document, args.mchid) is not None
    merchant_secret.save(secret, merchant_secret.with_merchant(document, entry))
    print(f"merchant {args.mchid} ({args.api}) {'replaced' if replaced else 'added'}")
    return 0


def _import_platform_cert(args, secret: str, document: dict) -> int:
    from hospital.adapters import wechatpay_v3

    pem = _read(args.file)
    try:
        certificate = wechatpay_v3.load_certificate(pem)
    except ValueError:
        raise Refused(f"{args.file} is not a PEM certificate") from None
    serial = wechatpay_v3.certificate_serial(certificate)
    _put_platform_key(secret, document, args.mchid, serial, pem)
    print(f"merchant {args.mchid}: platform certificate {serial} imported "
          f"(valid until {certificate.not_valid_after_utc:%Y-%m-%d})")
    return 0


def _import_platform_key(args, secret: str, document: dict) -> int:
    from hospital.adapters import wechatpay_v3
    from hospital.payments.merchants import PUBLIC_KEY_ID_PREFIX

    key_id = args.key_id.strip().upper()
    if not key_id.startswith(PUBLIC_KEY_ID_PREFIX) or key_id == PUBLIC_KEY_ID_PREFIX:
        raise Refused(f"--key-id must be the key's id, {PUBLIC_KEY_ID_PREFIX}...")
    pem = _read(args.file)
    if wechatpay_v3.is_certificate(pem):
        raise Refused(f"{args.file} is a certificate: use import-platform-cert")
    _put_platform_key(secret, document, args.mchid, key_id, pem)
    print(f"merchant {args.mchid}: platform public key {key_id} imported")
    return 0


def _validate(args, secret: str, document: dict) -> int:
    from hospital.payments import merchant_secret

    problems = merchant_secret.problems(document)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"{len(document.get('merchants') or [])} merchants, no problems")
    return 0


_COMMANDS = {"list": _list, "add-merchant": _add_merchant, "import-platform-cert": _import_platform_cert,
             "import-platform-key": _import_platform_key, "validate": _validate}


# ---- helpers --------------------------------------------------------------------------------

def _read(path: pathlib.Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Refused(f"cannot read {path}: {type(exc).__name__}") from None


def _put_platform_key(secret: str, document: dict, mchid: str, serial: str, pem: str) -> None:
    from hospital.payments import merchant_secret, merchants

    entry = merchant_secret.entry_of(document, mchid)
    if entry is None or entry.get("api", "v3") != "v3":
        raise Refused(f"{mchid} is not a v3 merchant of this secret")
    try:
        merchants.platform_key(serial, pem)
    except merchants.BadEntry as exc:
        raise Refused(str(exc)) from None
    merchant_secret.save(secret, merchant_secret.with_platform_keys(document, mchid, {serial: pem}))


def _describe(entry) -> list[str]:
    """An entry for the operator's eyes: ids, serials, validity; of keys only their length or
    a fingerprint of a public key."""
    from hospital.adapters import wechatpay_v3
    from hospital.payments import merchant_secret

    if not isinstance(entry, dict):
        return ["(an entry that is not an object)"]
    api = entry.get("api", "v3")
    lines = [f"{entry.get('mchid')}  api {api}  appids {', '.join(map(str, entry.get('appids') or [])) or '-'}"]
    if api == "v2":
        lines.append(f"  api_key {_masked(entry.get('api_key'))}  sign_type {entry.get('sign_type', 'MD5')}  "
                     f"client certificate {'set' if entry.get('client_cert') else 'not set'}")
    else:
        origin = "from its certificate" if entry.get("certificate") else "as given"
        lines.append(f"  merchant serial {entry.get('serial_no') or '-'} ({origin})  "
                     f"private key {_public_fingerprint(entry.get('private_key'), private=True)}  "
                     f"apiv3_key {_masked(entry.get('apiv3_key'))}")
        keys = entry.get("platform_keys") if isinstance(entry.get("platform_keys"), dict) else {}
        for name, pem in sorted(keys.items()):
            if isinstance(pem, str) and wechatpay_v3.is_certificate(pem):
                try:
                    certificate = wechatpay_v3.load_certificate(pem)
                except ValueError:
                    lines.append(f"  platform {name}: certificate that does not parse")
                    continue
                until = certificate.not_valid_after_utc
                lines.append(f"  platform {wechatpay_v3.certificate_serial(certificate)}: certificate, valid until "
                             f"{until:%Y-%m-%d}{' (expired)' if until <= _now() else ''}")
            else:
                lines.append(f"  platform {name}: public key {_public_fingerprint(pem)}")
    for problem in merchant_secret.entry_problems(entry):
        lines.append(f"  problem: {problem}")
    return lines


def _masked(value) -> str:
    return f"*** ({len(value.encode())} bytes)" if isinstance(value, str) and value else "missing"


def _public_fingerprint(pem, private: bool = False) -> str:
    """SHA-256 of the public key (never of the private one): enough to tell keys apart."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from hospital.adapters import wechatpay_v3

    if not isinstance(pem, str) or not pem.strip():
        return "missing"
    try:
        key = wechatpay_v3.load_private_key(pem).public_key() if private else wechatpay_v3.load_public_key(pem)
    except (ValueError, TypeError):
        return "that does not parse"
    digest = hashlib.sha256(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()
    return f"sha256:{digest[:16]}"


def _now():
    import datetime as dt

    return dt.datetime.now(dt.UTC)
