"""``bedside users ...``: the staff accounts that sign in to the QA console.

``add NAME --role qa|admin`` and ``passwd NAME`` read the password from standard input: typed
twice, unechoed, at a terminal; else its first line (``printf '%s\\n' "$PW" | bedside users add
dana --role qa``), so it never sits in the shell history or the process list. Accounts live in the
records store (agent/services/records/staff.py); every change is an audit row under ``--by``
(default: the OS user). Refusals print one line and exit 1."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.app.records_cli import EXIT_OK, RecordsCliError, _actor, _fail, _local, _table, expected_errors, open_store

if TYPE_CHECKING:
    from agent.services.records.config import RecordsConfig
    from agent.services.records.staff import StaffDirectory

ROLES = ("qa", "admin")  # StaffRole's values, spelled out: importing it here would load argon2 and SQLAlchemy for --help


def add_parser(sub: Any, config_args: Callable[[argparse.ArgumentParser], None]) -> None:
    users = sub.add_parser("users", help="staff accounts for the QA console: add, list, passwd, role, disable, enable")
    usub = users.add_subparsers(dest="users_command", required=True)

    def command(name: str, help: str, account: bool = True) -> argparse.ArgumentParser:
        parser = usub.add_parser(name, help=help, description=help)
        if account:
            parser.add_argument("name", metavar="NAME", help="login name: lowercase letters, digits, '.', '_', '-'")
        parser.add_argument("--by", metavar="NAME", default=None,
                            help="who makes the change, written to the audit log (default: the OS user)")
        config_args(parser)
        return parser

    command("add", "create an account (password from stdin)").add_argument("--role", choices=ROLES, required=True)
    command("list", "every account, its role and state", account=False).add_argument(
        "--json", action="store_true", help="machine-readable JSON")
    command("passwd", "set a new password (from stdin); also unlocks the account")
    command("role", "change an account's role").add_argument("role", choices=ROLES)
    command("disable", "stop an account from signing in (kept for the audit trail)")
    command("enable", "let a disabled account sign in again")


def read_password(prompt: str = "password: ") -> str:
    """Twice, unechoed, at a terminal; else the first line of stdin (its newline removed)."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass(prompt)
        if getpass.getpass("again: ") != first:
            raise RecordsCliError("the two passwords differ; nothing changed")
        return first
    line = sys.stdin.readline()
    if not line:
        raise RecordsCliError("no password on stdin; nothing changed")
    return line.rstrip("\r\n")


def run(args: argparse.Namespace, load_config: Callable[[argparse.Namespace], Any],
        configure_logging: Callable[[Any], None]) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from agent.services.records.staff import StaffDirectory, StaffError

    config = load_config(args)
    configure_logging(config)
    records: RecordsConfig = config.records
    try:
        store = open_store(records)
        try:
            return HANDLERS[args.users_command](args, StaffDirectory(store))
        finally:
            store.dispose()
    except (*expected_errors(), StaffError) as exc:
        return _fail(str(exc), "users")
    except SQLAlchemyError as exc:
        return _fail(str(exc).strip().splitlines()[0], "users")


def _add(args: argparse.Namespace, staff: StaffDirectory) -> int:
    from agent.services.records.staff import check_name

    check_name(args.name)  # before asking for a password
    account = staff.add(args.name, args.role, read_password(), by=_actor(args))
    print(f"staff account {account.name} added ({account.role})")
    return EXIT_OK


def _list(args: argparse.Namespace, staff: StaffDirectory) -> int:
    accounts = staff.list()
    if args.json:
        print(json.dumps([a.as_dict() for a in accounts], indent=2))
        return EXIT_OK
    if not accounts:
        print("no staff accounts: `bedside users add NAME --role qa|admin` creates one")
        return EXIT_OK
    _table(("NAME", "ROLE", "STATE", "CREATED", "PASSWORD SET"),
           [(a.name, str(a.role), "disabled" if not a.active else "locked" if a.locked_until else "active",
             _local(a.created_at), _local(a.password_changed_at)) for a in accounts])
    return EXIT_OK


def _passwd(args: argparse.Namespace, staff: StaffDirectory) -> int:
    if staff.get(args.name) is None:
        raise RecordsCliError(f"no staff account {args.name}")
    staff.set_password(args.name, read_password(f"new password for {args.name}: "), by=_actor(args))
    print(f"password of {args.name} changed")
    return EXIT_OK


def _role(args: argparse.Namespace, staff: StaffDirectory) -> int:
    staff.set_role(args.name, args.role, by=_actor(args))
    print(f"{args.name} is now {args.role}")
    return EXIT_OK


def _disable(args: argparse.Namespace, staff: StaffDirectory) -> int:
    staff.disable(args.name, by=_actor(args))
    print(f"{args.name} disabled")
    return EXIT_OK


def _enable(args: argparse.Namespace, staff: StaffDirectory) -> int:
    staff.enable(args.name, by=_actor(args))
    print(f"{args.name} enabled")
    return EXIT_OK


HANDLERS: dict[str, Callable[[argparse.Namespace, StaffDirectory], int]] = {
    "add": _add, "list": _list, "passwd": _passwd, "role": _role, "disable": _disable, "enable": _enable,
}
