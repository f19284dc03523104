"""PHI at rest: AES-256-GCM per value, with a key ring for rotation.

A value is stored as ``v1.<kid>.<base64url(nonce | ciphertext | tag)>``: ``kid`` names the key
(the first 8 hex digits of its SHA-256), so old rows stay readable after a new key becomes
current, and ``bedside records rekey`` moves them to it. The row's identity (table, key) is the
associated data: a ciphertext copied to another row does not decrypt. Keys come from
``$BEDSIDE_RECORDS_KEYS`` (comma-separated, current first) or the key file (one per line, current
first, ``#`` comments); on first start with neither, a key file is created with mode 0600 — keep
it (and its backups) apart from the database's."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "v1"
NONCE_BYTES = 12


class RecordsKeyError(Exception):
    """No usable key, a malformed one, or data under a key the ring does not hold."""


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def _decode_key(text: str, where: str) -> bytes:
    text = text.strip()
    try:  # validate: a stray character is an error, not silently dropped; either alphabet (-_ or +/)
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except ValueError as exc:
        raise RecordsKeyError(f"{where}: not a base64 key") from exc
    if len(raw) != 32:
        raise RecordsKeyError(f"{where}: a records key is 32 bytes (base64), this one is {len(raw)}")
    return raw


@dataclass(frozen=True)
class KeyRing:
    current: str  # kid of the key new values are written with
    keys: dict[str, bytes]
    source: str  # where the keys came from (for error messages; never the keys)

    @classmethod
    def of(cls, keys: list[str], source: str) -> KeyRing:
        if not keys:
            raise RecordsKeyError(f"{source}: no key")
        decoded = [_decode_key(k, f"{source}: key {i + 1}") for i, k in enumerate(keys)]
        return cls(key_id(decoded[0]), {key_id(k): k for k in decoded}, source)

    @classmethod
    def load(cls, key_file: Path, environ: dict[str, str] | None = None, create: bool = False) -> KeyRing:
        """From ``$BEDSIDE_RECORDS_KEYS`` or ``key_file``; ``create`` makes the file when neither exists."""
        from agent.services.records.config import KEYS_ENV

        env = os.environ if environ is None else environ
        if env.get(KEYS_ENV):
            return cls.of([k for k in env[KEYS_ENV].split(",") if k.strip()], f"${KEYS_ENV}")
        if not key_file.exists():
            if not create:
                raise RecordsKeyError(f"{key_file}: no records key file (and ${KEYS_ENV} is not set)")
            key_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write("# Bedside records key (PHI encryption). Current key first; keep old keys below it\n"
                          "# until `bedside records rekey` has run. Back this file up apart from the database.\n")
                out.write(new_key() + "\n")
        try:
            lines = key_file.read_text().splitlines()
        except OSError as exc:
            raise RecordsKeyError(f"{key_file}: cannot read the records key file: {exc.strerror}") from exc
        return cls.of([line for line in lines if line.strip() and not line.lstrip().startswith("#")], str(key_file))

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.current]).encrypt(nonce, plaintext.encode(), context.encode())
        return f"{PREFIX}.{self.current}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, context: str) -> str:
        try:
            prefix, kid, body = token.split(".", 2)
        except ValueError as exc:
            raise RecordsKeyError("not an encrypted value") from exc
        if prefix != PREFIX:
            raise RecordsKeyError(f"unknown encryption format {prefix!r}")
        key = self.keys.get(kid)
        if key is None:
            raise RecordsKeyError(
                f"a value is encrypted under key {kid}, which {self.source} does not hold (keys: {', '.join(self.keys)})"
            )
        raw = base64.urlsafe_b64decode(body)
        try:
            return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
        except InvalidTag as exc:
            raise RecordsKeyError(f"a value under key {kid} does not decrypt (tampered or moved)") from exc

    @staticmethod
    def kid_of(token: str) -> str:
        return token.split(".", 2)[1]


__all__ = ["KeyRing", "RecordsKeyError", "key_id", "new_key"]
