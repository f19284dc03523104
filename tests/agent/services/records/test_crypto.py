"""PHI encryption (crypto.py): AES-256-GCM values bound to their row, a key ring that rotates, a
key file created 0600 once and reused, malformed keys named by where they came from."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from agent.services.records.config import KEYS_ENV
from agent.services.records.crypto import KeyRing, RecordsKeyError, key_id, new_key

SECRET = "Maria Lopez, 1985-03-03, 5550104477"


def raw(key: str) -> bytes:
    return base64.urlsafe_b64decode(key)


def test_a_value_round_trips_and_its_token_names_the_key() -> None:
    key = new_key()
    ring = KeyRing.of([key], "test")
    token = ring.encrypt(SECRET, "calls:c1")
    prefix, kid, _body = token.split(".", 2)
    assert (prefix, kid) == ("v1", key_id(raw(key))) and ring.current == kid
    assert KeyRing.kid_of(token) == kid
    for part in ("Maria", "Lopez", "1985", "5550104477"):
        assert part not in token
    assert ring.decrypt(token, "calls:c1") == SECRET
    again = ring.encrypt(SECRET, "calls:c1")
    assert again != token and ring.decrypt(again, "calls:c1") == SECRET  # a fresh nonce per value
    assert ring.decrypt(ring.encrypt("", "calls:c1"), "calls:c1") == ""


def test_the_associated_data_binds_a_value_to_its_row() -> None:
    ring = KeyRing.of([new_key()], "test")
    token = ring.encrypt(SECRET, "actions:c1:3")
    for elsewhere in ("actions:c1:4", "actions:c2:3", "transcripts:c1:3", ""):
        with pytest.raises(RecordsKeyError, match=f"under key {ring.current} does not decrypt"):
            ring.decrypt(token, elsewhere)
    prefix, kid, body = token.split(".", 2)
    sealed = bytearray(base64.urlsafe_b64decode(body))
    sealed[-1] ^= 1  # one bit of the tag
    tampered = f"{prefix}.{kid}.{base64.urlsafe_b64encode(bytes(sealed)).decode()}"
    with pytest.raises(RecordsKeyError, match="tampered or moved"):
        ring.decrypt(tampered, "actions:c1:3")
    assert ring.decrypt(token, "actions:c1:3") == SECRET


def test_a_value_under_a_key_the_ring_lacks_names_that_key_and_the_rings_source() -> None:
    theirs = KeyRing.of([new_key()], "/etc/other.key")
    ours = KeyRing.of([new_key()], "/srv/bedside/records.key")
    token = theirs.encrypt(SECRET, "calls:c1")
    with pytest.raises(RecordsKeyError) as caught:
        ours.decrypt(token, "calls:c1")
    message = str(caught.value)
    assert theirs.current in message and "/srv/bedside/records.key" in message and ours.current in message
    with pytest.raises(RecordsKeyError, match="not an encrypted value"):
        ours.decrypt(SECRET, "calls:c1")
    with pytest.raises(RecordsKeyError, match="unknown encryption format 'v9'"):
        ours.decrypt("v9" + token[2:], "calls:c1")


def test_rotation_reads_old_values_and_writes_under_the_new_key() -> None:
    old, new = new_key(), new_key()
    before = KeyRing.of([old], "test")
    old_token = before.encrypt(SECRET, "calls:c1")
    rotated = KeyRing.of([new, old], "test")
    assert rotated.current == key_id(raw(new)) != before.current
    assert set(rotated.keys) == {key_id(raw(new)), key_id(raw(old))}
    assert rotated.decrypt(old_token, "calls:c1") == SECRET
    new_token = rotated.encrypt(SECRET, "calls:c1")
    assert KeyRing.kid_of(new_token) == rotated.current
    with pytest.raises(RecordsKeyError, match=rotated.current):
        before.decrypt(new_token, "calls:c1")  # the old ring alone cannot read what the new key wrote


def test_the_key_file_is_created_0600_on_first_start_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "var" / "records.key"
    with pytest.raises(RecordsKeyError, match=f"{path}: no records key file .*\\${KEYS_ENV}"):
        KeyRing.load(path, environ={})
    assert not path.exists()  # without create, nothing is made
    first = KeyRing.load(path, environ={}, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.source == str(path)
    body = path.read_text()
    keys = [line for line in body.splitlines() if line and not line.startswith("#")]
    assert len(keys) == 1 and key_id(raw(keys[0])) == first.current
    second = KeyRing.load(path, environ={}, create=True)
    assert second.keys == first.keys and second.current == first.current and path.read_text() == body
    token = first.encrypt(SECRET, "calls:c1")
    assert KeyRing.load(path, environ={}).decrypt(token, "calls:c1") == SECRET


def test_the_key_file_holds_the_current_key_first_and_comments(tmp_path: Path) -> None:
    new, old = new_key(), new_key()
    path = tmp_path / "records.key"
    path.write_text(f"# rotated today\n\n  {new}  \n# the old one, until rekey\n{old}\n")
    ring = KeyRing.load(path, environ={})
    assert ring.current == key_id(raw(new)) and set(ring.keys) == {key_id(raw(new)), key_id(raw(old))}


_KEY = new_key()
WRONG_LENGTH = "a records key is 32 bytes \\(base64\\), this one is"


@pytest.mark.parametrize(("bad", "why"), [
    ("not base64 at all!", "not a base64 key"),
    ("ÿÿÿÿ", "not a base64 key"),
    (_KEY[:20] + " " + _KEY[20:], "not a base64 key"),  # a stray character is not dropped into another key
    (_KEY[:20] + "." + _KEY[21:], "not a base64 key"),
    (base64.urlsafe_b64encode(os.urandom(16)).decode(), f"{WRONG_LENGTH} 16$"),
    (base64.b64encode(os.urandom(48)).decode(), f"{WRONG_LENGTH} 48$"),
], ids=["words", "latin1", "space", "dot", "16-bytes", "48-bytes"])
def test_a_malformed_key_is_refused_naming_its_source(tmp_path: Path, bad: str, why: str) -> None:
    good = new_key()
    with pytest.raises(RecordsKeyError, match=f"^\\${KEYS_ENV}: key 2: {why}") as caught:
        KeyRing.load(tmp_path / "records.key", environ={KEYS_ENV: f"{good},{bad}"})
    assert bad not in str(caught.value) and good not in str(caught.value)  # messages never carry key material
    path = tmp_path / "records.key"
    path.write_text(f"# keys\n{bad}\n")
    with pytest.raises(RecordsKeyError, match=f"^{path}: key 1: {why}"):
        KeyRing.load(path, environ={})


def test_a_key_file_without_keys_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "records.key"
    path.write_text("# nothing here\n\n")
    with pytest.raises(RecordsKeyError, match=f"^{path}: no key$"):
        KeyRing.load(path, environ={}, create=True)
    with pytest.raises(RecordsKeyError, match=f"^\\${KEYS_ENV}: no key$"):
        KeyRing.of([], f"${KEYS_ENV}")


def test_the_environment_takes_precedence_over_the_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "records.key"
    from_file = KeyRing.load(path, environ={}, create=True)
    env_new, env_old = new_key(), new_key()
    ring = KeyRing.load(path, environ={KEYS_ENV: f" {env_new} , {env_old},"})
    assert ring.source == f"${KEYS_ENV}"
    assert ring.current == key_id(raw(env_new)) and set(ring.keys) == {key_id(raw(env_new)), key_id(raw(env_old))}
    assert from_file.current not in ring.keys
    missing = tmp_path / "none" / "records.key"
    assert KeyRing.load(missing, environ={KEYS_ENV: env_new}, create=True).current == key_id(raw(env_new))
    assert not missing.exists()  # the environment's keys: no file is created
    assert KeyRing.load(path, environ={KEYS_ENV: ""}).current == from_file.current  # empty: the file
    monkeypatch.setenv(KEYS_ENV, env_old)
    assert KeyRing.load(path).current == key_id(raw(env_old))  # the process environment by default
