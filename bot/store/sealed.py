"""Encryption at rest: answer text, run state and message payloads sealed with AES-GCM.

Reflections about clients are health data (R-PRV-2). The columns that may hold what a
professional typed are declared with `SealedText` or `SealedJSON` in `tables.py`; they
encrypt on the way into the database and decrypt on the way out, so every caller (the
service, the scheduler, the outbox, adapters added later) gets encryption without
having to remember it.

A sealed value carries the id of the key that sealed it: `sealed:v1:<key id>:<base64 of
nonce + ciphertext>`. JSON columns keep valid JSON: `{"sealed": "v1:<key id>:..."}`. The
column's name (table.column) is bound in as associated data, so a value copied into
another column does not open. A plain value in a sealed column is refused on reading;
values written before sealing existed are sealed when the store opens
(`rekey.seal_plain`), and by `samen keys rotate`.

Keys, kept apart from the data (a copy of the data folder must not open the answers):
`SAMEN_DATA_KEY` (base64 of 32 bytes) with older keys for reading in
`SAMEN_DATA_KEYS_OLD` (comma-separated); or the key file `SAMEN_DATA_KEY_FILE` names
(systemd credentials, container secrets); or, for the embedded default, a key file of
its own per data folder under the user's configuration directory (`default_key_file`),
made on first use with 0600 permissions. A key file inside the data folder is refused.
The key file holds every key still needed for reading; the first is the one that seals.
A new key is written only once the store has checked that no sealed value needs another
one (`Store.open`): Samen never makes a new key while sealed data exists.

Each engine carries its keyring on its dialect (`attach`), because a TypeDecorator sees
only the value and the dialect.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import JSON, Text, TypeDecorator
from sqlalchemy.engine import Dialect

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_FILE_NAME = "data.key"
TEXT_PREFIX = "sealed:"
VERSION = "v1"
ENV_KEY = "SAMEN_DATA_KEY"
ENV_OLD_KEYS = "SAMEN_DATA_KEYS_OLD"
ENV_KEY_FILE = "SAMEN_DATA_KEY_FILE"
ENV_AUDIT_KEY = "SAMEN_AUDIT_KEY"
PSEUDONYM_PREFIX = "p-"
ENV_CONFIG_DIR = "SAMEN_CONFIG_DIR"  # default: $XDG_CONFIG_HOME/samen or ~/.config/samen
_DIALECT_ATTRIBUTE = "samen_keyring"
_AUDIT_ATTRIBUTE = "samen_audit_key"


class DataKeyError(Exception):
    """A key is missing, malformed or cannot be stored. The message says which (never the
    key itself) and what to do."""


class SealBroken(Exception):
    """A sealed value cannot be opened: its key is not in the keyring, or the value was
    altered. The message names the column and the key id, never content."""


@dataclass
class Keyring:
    """The keys Samen may read with; `current` seals. `path` is the key file, if any."""

    keys: dict[str, bytes]
    current: str
    path: Path | None = None
    new: bool = False  # made just now for `path`, not yet written (see `Store.open`)
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise DataKeyError("the sealing key is not among the keys")
        for key in self.keys.values():
            if len(key) != KEY_BYTES:
                raise DataKeyError(f"a data key must be {KEY_BYTES} bytes")

    def __repr__(self) -> str:  # never the key material
        return f"Keyring(current={self.current!r}, ids={sorted(self.keys)!r})"

    # ------------------------------------------------------------------ building

    @classmethod
    def generate(cls, path: Path | None = None) -> Keyring:
        key = secrets.token_bytes(KEY_BYTES)
        return cls({key_id(key): key}, key_id(key), path)

    @classmethod
    def from_environment(
        cls, data_dir: Path | None, env: Mapping[str, str] | None = None
    ) -> Keyring:
        """`SAMEN_DATA_KEY` (+ `SAMEN_DATA_KEYS_OLD`) if set; else the key file
        `SAMEN_DATA_KEY_FILE` names (it must exist); else the data folder's own key file
        under the configuration directory (a new key, not yet written, when it has none);
        with no data folder, a key that lives in memory only (throw-away databases).
        A key file inside the data folder is refused."""
        env = os.environ if env is None else env
        given = (env.get(ENV_KEY) or "").strip()
        if given:
            current = decode_key(given, ENV_KEY)
            keys = {key_id(current): current}
            for i, old in enumerate((env.get(ENV_OLD_KEYS) or "").split(",")):
                if old.strip():
                    raw = decode_key(old.strip(), f"{ENV_OLD_KEYS} (entry {i + 1})")
                    keys.setdefault(key_id(raw), raw)
            return cls(keys, key_id(current))
        named = (env.get(ENV_KEY_FILE) or "").strip()
        if named:
            path = Path(named).expanduser()
            _refuse_inside(path, data_dir, ENV_KEY_FILE)
            if not path.is_file():
                raise DataKeyError(
                    f"{ENV_KEY_FILE} names {path}, which does not exist; restore the key "
                    "file there (Samen makes no new key in a file you named)"
                )
            return cls.from_file(path)
        if data_dir is None:
            return cls.generate()
        legacy = data_dir / KEY_FILE_NAME
        home = default_key_file(data_dir, env)
        if legacy.exists():
            raise DataKeyError(
                f"the data key {legacy} is inside the data folder, so a copy of the folder "
                f"opens every answer; move it out: mkdir -p {home.parent} && mv {legacy} "
                f"{home} (or name its place in {ENV_KEY_FILE}), and back it up apart "
                "from the data"
            )
        if home.exists():
            return cls.from_file(home)
        ring = cls.generate(home)
        ring.new = True
        return ring

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        """Read the key file, or create it (0600) with one new key when it is missing."""
        if not path.exists():
            ring = cls.generate(path)
            ring.save()
            return ring
        if not path.is_file():
            raise DataKeyError(f"the key file {path} is not a file")
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise DataKeyError(
                f"the key file {path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            keys = {str(k["id"]): base64.b64decode(k["key"], validate=True) for k in data["keys"]}
            current = str(data["keys"][0]["id"])
        except (ValueError, KeyError, TypeError, IndexError, binascii.Error):
            raise DataKeyError(
                f"the key file {path} is damaged; restore it from your backup "
                "(without it, sealed answers cannot be read)"
            ) from None
        for kid, key in keys.items():
            if key_id(key) != kid:
                raise DataKeyError(f"the key file {path} is damaged (key {kid} does not match)")
        return cls(keys, current, path)

    def save(self) -> None:
        """Write the key file atomically with 0600 permissions; the sealing key first."""
        if self.path is None:
            return
        order = [self.current, *(k for k in self.keys if k != self.current)]
        body = json.dumps(
            {
                "keys": [
                    {"id": k, "key": base64.b64encode(self.keys[k]).decode("ascii")} for k in order
                ]
            },
            indent=1,
        )
        _write_private(self.path, body)
        self.new = False

    def with_new_key(self) -> Keyring:
        """A keyring that seals with a new key and still reads with the old ones."""
        key = secrets.token_bytes(KEY_BYTES)
        return Keyring({**self.keys, key_id(key): key}, key_id(key), self.path)

    def only_current(self) -> Keyring:
        return Keyring({self.current: self.keys[self.current]}, self.current, self.path)

    # ------------------------------------------------------------------ sealing

    def seal(self, plain: bytes, column: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._cipher(self.current).encrypt(nonce, plain, column.encode("utf-8"))
        body = base64.b64encode(nonce + sealed).decode("ascii")
        return f"{VERSION}:{self.current}:{body}"

    def open(self, envelope: str, column: str) -> bytes:
        _version, kid, body = _split(envelope, column)
        if kid not in self.keys:
            raise SealBroken(
                f"{column}: sealed with key {kid}, which is not in the keyring; "
                f"set {ENV_OLD_KEYS} or restore the key file"
            )
        try:
            raw = base64.b64decode(body, validate=True)
            return self._cipher(kid).decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], column.encode("utf-8")
            )
        except (InvalidTag, binascii.Error, ValueError):
            raise SealBroken(f"{column}: a value sealed with key {kid} was altered") from None

    def _cipher(self, kid: str) -> AESGCM:
        cipher = self._ciphers.get(kid)
        if cipher is None:
            cipher = self._ciphers[kid] = AESGCM(self.keys[kid])
        return cipher


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """Samen's configuration directory: `SAMEN_CONFIG_DIR`, else `$XDG_CONFIG_HOME/samen`,
    else `~/.config/samen`."""
    env = os.environ if env is None else env
    if (env.get(ENV_CONFIG_DIR) or "").strip():
        return Path(env[ENV_CONFIG_DIR].strip()).expanduser()
    base = (env.get("XDG_CONFIG_HOME") or "").strip()
    return (Path(base).expanduser() if base else Path.home() / ".config") / "samen"


def default_key_file(data_dir: Path, env: Mapping[str, str] | None = None) -> Path:
    """The key file of one data folder, outside it: `<config dir>/keys/<folder name>-<a
    hash of its absolute path>.key`. One file per data folder, so that rotating one
    database's key never drops a key another database needs."""
    where = data_dir.expanduser().resolve()
    digest = hashlib.sha256(str(where).encode("utf-8")).hexdigest()[:12]
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in where.name) or "data"
    return config_dir(env) / "keys" / f"{name.lstrip('-_') or 'data'}-{digest}.key"


def _refuse_inside(path: Path, data_dir: Path | None, where: str) -> None:
    if data_dir is None:
        return
    if path.expanduser().resolve().is_relative_to(data_dir.expanduser().resolve()):
        raise DataKeyError(
            f"{where} names {path}, inside the data folder {data_dir}: a copy of the folder "
            "would open every answer; keep the key file elsewhere and back it up apart"
        )


@dataclass
class AuditKey:
    """The key of the access log's HMAC chain (R-PRV-7), kept apart from the database like
    the data key but never rotated with it: `SAMEN_AUDIT_KEY` (base64 of 32 bytes), or a
    file beside the data folder's key file (`<...>.audit.key`), made on first use.
    `legacy_rows`: how many rows the log had when the key was made; those were chained
    with plain SHA-256 and are verified as such, every later row only with the key."""

    key: bytes
    legacy_rows: int = 0
    path: Path | None = None
    new: bool = False

    def __repr__(self) -> str:  # never the key material
        return f"AuditKey(path={self.path!s}, legacy_rows={self.legacy_rows})"

    @classmethod
    def from_environment(
        cls, data_dir: Path | None, env: Mapping[str, str] | None = None
    ) -> AuditKey:
        env = os.environ if env is None else env
        given = (env.get(ENV_AUDIT_KEY) or "").strip()
        if given:
            return cls(decode_key(given, ENV_AUDIT_KEY))
        if data_dir is None:
            return cls(secrets.token_bytes(KEY_BYTES))
        path = default_key_file(data_dir, env).with_suffix(".audit.key")
        if not path.exists():
            return cls(secrets.token_bytes(KEY_BYTES), 0, path, new=True)
        if path.stat().st_mode & 0o077:
            raise DataKeyError(
                f"the audit key file {path} is readable by others; run: chmod 600 {path}"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            key = base64.b64decode(data["key"], validate=True)
            legacy = int(data.get("legacy_rows", 0))
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise DataKeyError(
                f"the audit key file {path} is damaged; restore it from your backup"
            ) from None
        if len(key) != KEY_BYTES:
            raise DataKeyError(f"the audit key file {path} is damaged")
        return cls(key, legacy, path)

    def pseudonym(self, user: str) -> str:
        """A keyed pseudonym of a platform user id ("p-" + 16 hex): the same person gets
        the same one, and without the key nobody can tell whose it is, nor test a guess."""
        mac = hmac.new(self.key, b"samen-pseudonym:" + user.encode("utf-8"), hashlib.sha256)
        return PSEUDONYM_PREFIX + mac.hexdigest()[:16]

    def save(self) -> None:
        if self.path is None:
            return
        body = {"key": base64.b64encode(self.key).decode("ascii"), "legacy_rows": self.legacy_rows}
        _write_private(self.path, json.dumps(body, indent=1))
        self.new = False


def _write_private(path: Path, body: str) -> None:
    """Write `path` atomically, 0600, in a 0700 folder."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, body.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def key_id(key: bytes) -> str:
    """A short public id for a key (a hash prefix; reveals nothing usable about it)."""
    return hashlib.sha256(b"samen-key-id:" + key).hexdigest()[:12]


def decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise DataKeyError(
            f"{where} must be {KEY_BYTES} random bytes in base64; make one with: "
            "python -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())'"
        )
    return key


def new_key_text() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def _split(envelope: str, column: str) -> tuple[str, str, str]:
    parts = envelope.split(":", 2)
    if len(parts) != 3 or parts[0] != VERSION:
        raise SealBroken(f"{column}: not a sealed value of a known version")
    return parts[0], parts[1], parts[2]


# ---------------------------------------------------------------------- engines


def attach(dialect: Dialect, keyring: Keyring) -> None:
    """Let the sealed columns of every connection of this engine use `keyring`."""
    setattr(dialect, _DIALECT_ATTRIBUTE, keyring)


def attach_audit(dialect: Dialect, audit: AuditKey) -> None:
    setattr(dialect, _AUDIT_ATTRIBUTE, audit)


def audit_key_of(dialect: Dialect) -> AuditKey:
    audit = getattr(dialect, _AUDIT_ATTRIBUTE, None)
    if audit is None:
        raise DataKeyError("this database engine has no audit key; open it through Store.open")
    return audit  # type: ignore[no-any-return]


def keyring_of(dialect: Dialect) -> Keyring:
    ring = getattr(dialect, _DIALECT_ATTRIBUTE, None)
    if ring is None:
        raise DataKeyError(
            "this database engine has no data key attached; open it through Store.open"
        )
    return ring  # type: ignore[no-any-return]


def key_ids_in(prefixes: Sequence[object]) -> tuple[set[str], int]:
    """The key ids named by the starts of stored values (`sealed:v1:<id>:` or
    `{"sealed": "v1:<id>:`), and how many of them are not sealed at all."""
    found: set[str] = set()
    plain = 0
    for prefix in prefixes:
        if prefix is None:
            continue
        match = _SEALED_START.match(str(prefix))
        if match:
            found.add(match.group(1) or match.group(2))
        else:
            plain += 1
    return found, plain


_SEALED_START = re.compile(r'sealed:v1:([0-9a-f]{12}):|\{\s*"sealed"\s*:\s*"v1:([0-9a-f]{12}):')
PREFIX_CHARS = 40  # enough of a stored value to read its key id


def is_sealed_text(value: object) -> bool:
    return isinstance(value, str) and value.startswith(TEXT_PREFIX + VERSION + ":")


def is_sealed_json(value: object) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 1
        and isinstance(value.get("sealed"), str)
        and value["sealed"].startswith(VERSION + ":")
    )


def sealed_key_id(value: object) -> str | None:
    """The key id of a stored (raw) sealed value, None when it is not sealed."""
    if is_sealed_text(value):
        return str(value).split(":", 3)[2]
    if is_sealed_json(value):
        return str(value["sealed"]).split(":", 2)[1]  # type: ignore[index]
    return None


class SealedText(TypeDecorator[str]):
    """Text encrypted at rest. A plain value in the column is refused (`SealBroken`)."""

    impl = Text
    cache_ok = True

    def __init__(self, column: str) -> None:
        super().__init__()
        self.column = column

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return TEXT_PREFIX + keyring_of(dialect).seal(value.encode("utf-8"), self.column)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not is_sealed_text(value):
            raise _plain(self.column)
        return keyring_of(dialect).open(value[len(TEXT_PREFIX) :], self.column).decode("utf-8")


class SealedJSON(TypeDecorator[Any]):
    """JSON encrypted at rest, stored as `{"sealed": ...}` so the column stays JSON."""

    impl = JSON
    cache_ok = True

    def __init__(self, column: str) -> None:
        super().__init__()
        self.column = column

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        plain = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return {"sealed": keyring_of(dialect).seal(plain, self.column)}

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not is_sealed_json(value):
            raise _plain(self.column)
        return json.loads(keyring_of(dialect).open(value["sealed"], self.column))


def _plain(column: str) -> SealBroken:
    """A plain value where a sealed one belongs: written around the store (by hand, or by
    one who cannot seal) and refused, never read as if it were Samen's."""
    return SealBroken(
        f"{column}: holds a plain value where only sealed ones belong; it was not written "
        "by Samen (values from before sealing are sealed when the store opens)"
    )


SEALED_COLUMNS: Sequence[tuple[str, str]] = (
    ("answers", "value"),
    ("runs", "state"),
    ("inbox", "payload"),
    ("outbox", "message"),
    ("evaluations", "course"),
    ("evaluations", "snooze_reason"),
    ("members", "name"),
    ("teams", "name"),
)


def default_data_dir(url: Any) -> Path | None:
    """Where the key file lives when no key is given: next to a SQLite database file;
    for other databases `SAMEN_DATA_DIR` (default .samen); None for in-memory SQLite."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database or ""
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database).expanduser().parent
    return Path(os.environ.get("SAMEN_DATA_DIR") or ".samen")
