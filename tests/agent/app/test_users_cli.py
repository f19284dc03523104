"""``bedside users ...``: the password comes from stdin (never argv), accounts sign in with it, every
change is an audit row under ``--by`` or the OS user, and refusals are one line with exit 1."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.app.cli import main
from agent.services.records import queries
from agent.services.records.config import KEYS_ENV
from agent.services.records.staff import StaffDirectory
from tests.agent.app.test_records_cli import data, open_store, where  # noqa: F401 - data: a migrated records dir

PASSWORD = "correct horse battery"


def users(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, data: Path, *args: str,  # noqa: F811 - the imported fixture
          stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["users", *args, *where(data)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and PASSWORD not in out + err
    return code, out, err


def test_add_list_passwd_disable(data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811 - the imported fixture
    code, out, _ = users(capsys, monkeypatch, data, "add", "dana", "--role", "admin", stdin=PASSWORD + "\n")
    assert code == 0 and "dana added (admin)" in out
    code, out, _ = users(capsys, monkeypatch, data, "add", "lee", "--role", "qa", "--by", "dana", stdin=PASSWORD + "!\n")
    assert code == 0
    code, out, _ = users(capsys, monkeypatch, data, "list", "--json")
    listed = json.loads(out)
    assert [(a["name"], a["role"], a["disabled_at"]) for a in listed] == [("dana", "admin", None), ("lee", "qa", None)]
    assert "password" not in json.dumps(listed).replace("password_changed_at", "")
    store = open_store(data)
    try:
        staff = StaffDirectory(store)
        assert staff.authenticate("lee", PASSWORD + "!") is not None
        assert users(capsys, monkeypatch, data, "passwd", "lee", stdin="another good passphrase\n")[0] == 0
        assert staff.authenticate("lee", PASSWORD + "!") is None
        assert staff.authenticate("lee", "another good passphrase") is not None
        assert users(capsys, monkeypatch, data, "disable", "lee", "--by", "dana")[0] == 0
        code, out, _ = users(capsys, monkeypatch, data, "list")
        assert "lee" in out and "disabled" in out
        assert staff.authenticate("lee", "another good passphrase") is None
        rows = [(e.actor, e.what, e.detail) for e in reversed(queries.audit_entries(store))]
    finally:
        store.dispose()
    assert ("os-user", "staff_add", "dana (admin)") in rows and ("dana", "staff_add", "lee (qa)") in rows
    assert ("dana", "staff_disable", "lee") in rows and ("os-user", "staff_password", "lee") in rows


def test_refusals_are_one_line_and_exit_1(data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811 - the imported fixture
    code, _, err = users(capsys, monkeypatch, data, "add", "dana", "--role", "qa", stdin="short\n")
    assert code == 1 and err.strip() == "bedside users: the password for dana is too short: at least 12 characters"
    code, _, err = users(capsys, monkeypatch, data, "add", "dana", "--role", "qa", stdin="")
    assert code == 1 and "no password on stdin" in err
    code, _, err = users(capsys, monkeypatch, data, "add", "Dana Smith", "--role", "qa", stdin=PASSWORD + "\n")
    assert code == 1 and "staff name" in err and err.count("\n") == 1
    assert users(capsys, monkeypatch, data, "add", "dana", "--role", "qa", stdin=PASSWORD + "\n")[0] == 0
    code, _, err = users(capsys, monkeypatch, data, "add", "dana", "--role", "qa", stdin=PASSWORD + "\n")
    assert code == 1 and "already exists" in err
    code, _, err = users(capsys, monkeypatch, data, "passwd", "ghost", stdin=PASSWORD + "\n")
    assert code == 1 and "no staff account ghost" in err


def test_the_installed_command_reads_the_password_from_a_pipe(data: Path) -> None:  # noqa: F811 - the imported fixture
    bedside = Path(sys.executable).with_name("bedside")
    env = {k: v for k, v in os.environ.items() if k not in (KEYS_ENV, "BEDSIDE_CONFIG")}
    done = subprocess.run([str(bedside), "users", "add", "sam", "--role", "qa", *where(data)], input=PASSWORD + "\n",
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    store = open_store(data)
    try:
        assert StaffDirectory(store).authenticate("sam", PASSWORD) is not None
    finally:
        store.dispose()


def test_the_role_choices_are_the_staff_roles() -> None:
    from agent.app.users_cli import ROLES
    from agent.services.records.staff import StaffRole

    assert ROLES == tuple(StaffRole)
