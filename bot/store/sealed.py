"""Encryption at rest: answer text, run state and message payloads sealed with AES-GCM.

Reflections about clients are health data (R-PRV-2). The columns that may hold what a
professional typed are declared with `SealedText` or `SealedJSON` in `tables.py`; they
encrypt on the way into the database and decrypt on the way out, so every caller (the
service, the scheduler, the outbox, adapters added later) gets encryption without
having to remember it.

A sealed value carries the id of the key that sealed it: `sealed:v2:<key id>:<base64 of
nonce + ciphertext>`. JSON columns keep valid JSON: `{"sealed": "v2:<key id>:..."}`.

What is bound: the associated data of a value is its table, column and row,
"table.column:<row identity>". Each sealed column names the columns that identify its
row (`Sealed.row`): the primary key where it is known before the insert (runs, members,
evaluations: `id`), else a unique key (answers: run, step, question, member; inbox:
platform, event key; outbox: idempotency key); the identity is their values joined by
`ROW_SEPARATOR`. So a value copied to another row of its column, or to another column,
does not open (`SealBroken`), rather than being read as that row's.

- Writing: a sealed column takes a `Bound` (the value and its row's identity) and
  refuses a bare value (`Unbound`), so a write site that forgets its row fails at once.
  Core inserts and updates bind with `bind_row`; the ORM's own inserts and updates are
  bound by mapper events (`bind_on_flush`), which also seal a value again when its row's
  identity changes.
- Reading: `Sealed.column_expression` makes every SELECT and RETURNING of the column
  return "<stored value><ROW_SEPARATOR><row identity>", the identity computed by the
  database from the row's own columns (ORM loads, Core selects, RETURNING; SQLite and
  PostgreSQL alike), and `_Opened` opens the value with it.

A plain value in a sealed column is refused on reading; values written before sealing
existed are sealed when the store opens (`rekey.seal_plain`), and by `samen keys rotate`.
Values sealed before the binding (v1: bound to their column only) are refused on
reading too; the store seals them again, bound, whenever it opens and finds one
(`rekey.bind_unbound`, migration 0009_bound_ciphertext), and so does `samen keys
rotate`. Sealed files (`bot.wiring.SealedFile`) are v1: a file's name is all it is.

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
from sqlalchemy import JSON, Label, Text, TypeDecorator, event, inspect, literal, type_coerce
from sqlalchemy import cast as sql_cast
from sqlalchemy.engine import Dialect
from sqlalchemy.orm.attributes import set_committed_value

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_FILE_NAME = "data.key"
TEXT_PREFIX = "sealed:"
VERSION = "v2"  # bound to its table, column and row
UNBOUND = "v1"  # bound to a name only: sealed files, and database values from before v2
VERSIONS = (UNBOUND, VERSION)
ROW_SEPARATOR = "\x1f"  # between the parts of a row identity, and after the envelope
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

    def seal(self, plain: bytes, column: str, row: str | None = None) -> str:
        """Seal `plain` for `column` ("table.column") and, for a database value, the
        identity of its `row` (`Bound.row`): a v2 envelope. Without a row (a sealed file,
        whose name is all it is) a v1 envelope bound to `column` alone."""
        version = UNBOUND if row is None else VERSION
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._cipher(self.current).encrypt(nonce, plain, _ad(column, row))
        body = base64.b64encode(nonce + sealed).decode("ascii")
        return f"{version}:{self.current}:{body}"

    def open(self, envelope: str, column: str, row: str | None = None) -> bytes:
        """Open an envelope sealed for `column` and (v2) `row`. A v1 envelope opens with
        `column` alone, whatever `row` says: only rotation and files open those (a sealed
        column refuses them, see `SealedText`)."""
        version, kid, body = _split(envelope, column)
        if version == VERSION and row is None:
            raise SealBroken(f"{column}: a value bound to its row was read without its row")
        if kid not in self.keys:
            raise SealBroken(
                f"{column}: sealed with key {kid}, which is not in the keyring; "
                f"set {ENV_OLD_KEYS} or restore the key file"
            )
        ad = _ad(column, row if version == VERSION else None)
        try:
            raw = base64.b64decode(body, validate=True)
            return self._cipher(kid).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], ad)
        except (InvalidTag, binascii.Error, ValueError):
            raise SealBroken(
                f"{column}: a value sealed with key {kid} was altered, or moved from "
                "another row or column"
            ) from None

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
    if len(parts) != 3 or parts[0] not in VERSIONS:
        raise SealBroken(f"{column}: not a sealed value of a known version")
    return parts[0], parts[1], parts[2]


def _ad(column: str, row: str | None) -> bytes:
    """The associated data: "table.column" (v1), or "table.column:<row identity>" (v2)."""
    return (column if row is None else f"{column}:{row}").encode("utf-8")


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
    """The key ids named by the starts of stored values (`sealed:v2:<id>:` or
    `{"sealed": "v2:<id>:`, v1 alike), and how many of them are not sealed at all."""
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


_SEALED_START = re.compile(
    r'sealed:v[12]:([0-9a-f]{12}):|\{\s*"sealed"\s*:\s*"v[12]:([0-9a-f]{12}):'
)
PREFIX_CHARS = 40  # enough of a stored value to read its key id


def is_sealed_text(value: object) -> bool:
    """A stored text value is a sealed envelope (of either version)."""
    return isinstance(value, str) and value.startswith(
        tuple(f"{TEXT_PREFIX}{v}:" for v in VERSIONS)
    )


def is_sealed_json(value: object) -> bool:
    """A stored JSON value is a sealed envelope (of either version)."""
    return (
        isinstance(value, dict)
        and len(value) == 1
        and isinstance(value.get("sealed"), str)
        and value["sealed"].startswith(tuple(f"{v}:" for v in VERSIONS))
    )


def sealed_version(value: object) -> str | None:
    """ "v2" (bound to its row) or "v1" (to its column only) of a stored (raw) sealed
    value; None when it is not sealed."""
    if is_sealed_text(value):
        return str(value).split(":", 2)[1]
    if is_sealed_json(value):
        return str(value["sealed"]).split(":", 1)[0]  # type: ignore[index]
    return None


def sealed_key_id(value: object) -> str | None:
    """The key id of a stored (raw) sealed value, None when it is not sealed."""
    if is_sealed_text(value):
        return str(value).split(":", 3)[2]
    if is_sealed_json(value):
        return str(value["sealed"]).split(":", 2)[1]  # type: ignore[index]
    return None


@dataclass(frozen=True)
class Bound:
    """A value on its way into a sealed column, with the identity of its row (`row`, see
    `row_identity`). Sealed columns take nothing else: build it with `bind_row` (a row
    as a dict) or `Sealed.bound`; the ORM's own inserts and updates are bound for their
    callers (`bind_on_flush`)."""

    row: str
    value: Any

    def __repr__(self) -> str:  # never the value
        return f"Bound(row={self.row!r})"


class Unbound(ValueError):
    """A value for a sealed column was given without its row (a bug: a write site that
    does not bind, see `Bound`)."""


def row_identity(column: str, parts: Sequence[object]) -> str:
    """The identity of a row as bound into its sealed values: its identity columns'
    values joined by `ROW_SEPARATOR` (which none may contain, so that no two rows
    share one)."""
    for part in parts:
        if not isinstance(part, str):
            raise Unbound(f"{column}: a part of the row identity is not text ({type(part)})")
        if ROW_SEPARATOR in part:
            raise Unbound(f"{column}: a part of the row identity holds a control character")
    return ROW_SEPARATOR.join(str(p) for p in parts)


class Sealed(TypeDecorator[Any]):
    """A column sealed at rest, bound to its table, column and row.

    `column` is "table.column"; `row` names the columns whose values identify the row
    (a primary key, or a unique key known before the row is inserted; none may change
    without the value being sealed again, which the ORM's updates do by themselves).

    Writing: `process_bind_param` takes a `Bound` and refuses a bare value (`Unbound`).
    Reading: `column_expression` makes every SELECT and RETURNING give the stored value
    followed by `ROW_SEPARATOR` and the row's identity, computed by the database from the
    row's own columns, and `_Opened` opens it with both: a value moved to another row or
    column does not open (`SealBroken`)."""

    impl: Any = Text
    cache_ok = True
    json = False

    def __init__(self, column: str, row: Sequence[str]) -> None:
        super().__init__()
        self.column = column
        self.row = tuple(row)

    def bound(self, row: Mapping[str, Any], value: Any) -> Bound:
        """`value` bound to the row whose identity columns `row` holds."""
        missing = [name for name in self.row if name not in row]
        if missing:
            raise Unbound(f"{self.column}: sealing needs the row's {', '.join(missing)}")
        return Bound(row_identity(self.column, [row[name] for name in self.row]), value)

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Bound):
            raise Unbound(
                f"{self.column}: a value was written without its row; bind it "
                "(bot.store.sealed.bind_row / Bound)"
            )
        if value.value is None:
            return None
        ring = keyring_of(dialect)
        if self.json:
            plain = json.dumps(value.value, ensure_ascii=False, separators=(",", ":"))
            return {"sealed": ring.seal(plain.encode("utf-8"), self.column, value.row)}
        return TEXT_PREFIX + ring.seal(str(value.value).encode("utf-8"), self.column, value.row)

    def column_expression(self, column: Any) -> Any:
        table = getattr(column, "table", None)
        if table is None and isinstance(column, Label):
            table = getattr(column.element, "table", None)
        parts = []
        for name in self.row:
            if table is None or name not in table.c:
                raise Unbound(
                    f"{self.column} is read without its row's {name}: select it from its "
                    "table (or from a subquery that has the identity columns too)"
                )
            parts.append(table.c[name])
        expression: Any = sql_cast(column, Text) if self.json else type_coerce(column, Text)
        for part in parts:
            expression = expression.op("||")(literal(ROW_SEPARATOR, Text)).op("||")(part)
        return type_coerce(expression, _Opened(self.column, self.json))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        # Reached only when a query bypassed `column_expression` (a textual one).
        if value is None:
            return None
        raise SealBroken(f"{self.column}: read without its row, so it cannot be opened")


class SealedText(Sealed):
    """Text encrypted at rest: `sealed:v2:<key id>:<base64>`."""

    impl = Text
    cache_ok = True


class SealedJSON(Sealed):
    """JSON encrypted at rest, stored as `{"sealed": "v2:..."}` so the column stays JSON."""

    impl = JSON
    cache_ok = True
    json = True


class _Opened(TypeDecorator[Any]):
    """The result type of a sealed column as `Sealed.column_expression` selects it:
    "<stored value><ROW_SEPARATOR><row identity>", opened here."""

    impl = Text
    cache_ok = True

    def __init__(self, column: str, json: bool) -> None:
        super().__init__()
        self.column = column
        self.json = json

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        raise Unbound(f"{self.column}: the reading form of a sealed column takes no values")

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        stored, separator, row = str(value).partition(ROW_SEPARATOR)
        if not separator:
            raise SealBroken(f"{self.column}: read without its row, so it cannot be opened")
        ring = keyring_of(dialect)
        if self.json:
            try:
                found = json.loads(stored)
            except ValueError:
                raise _plain(self.column) from None
            if found is None:
                return None
            if not is_sealed_json(found):
                raise _plain(self.column)
            envelope = str(found["sealed"])
        else:
            if not is_sealed_text(stored):
                raise _plain(self.column)
            envelope = stored[len(TEXT_PREFIX) :]
        if envelope.startswith(UNBOUND + ":"):
            raise SealBroken(
                f"{self.column}: sealed before values were bound to their rows (v1); "
                "opening the store with Samen seals it again (as does `samen keys rotate`)"
            )
        opened = ring.open(envelope, self.column, row)
        return json.loads(opened) if self.json else opened.decode("utf-8")


def sealed_type(column: Any) -> Sealed | None:
    """The `Sealed` type of a table column (or an ORM attribute), None if it is not one."""
    found = getattr(column, "type", None)
    return found if isinstance(found, Sealed) else None


def bind_row(
    model: Any,
    row: Mapping[str, Any],
    *,
    insert: bool = False,
    identity: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`row` (a dict of column values for `model`, an ORM class or a Table) with each
    sealed value bound to the row's identity, taken from `identity` or else from `row`
    itself. `insert`: a sealed column left out gets its default (e.g. "") bound too."""
    table = getattr(model, "__table__", model)
    out = dict(row)
    for column in table.columns:
        sealed = sealed_type(column)
        if sealed is None:
            continue
        if column.key in out:
            value = out[column.key]
        elif insert and column.default is not None and column.default.is_scalar:
            value = column.default.arg
        else:
            continue
        if value is not None and not isinstance(value, Bound):
            out[column.key] = sealed.bound(out if identity is None else identity, value)
    return out


def bind_on_flush(base: Any) -> None:
    """Bind the sealed values of every ORM insert and update of `base`'s classes to
    their rows: before the flush writes a row, each sealed attribute that changed (all
    of them when an identity column changed: moved to a new identity, a value is sealed
    again) becomes a `Bound`; after it, the attribute holds its plain value again.
    (Mapper events: documented to let column attributes be changed before the write.)"""
    event.listen(base, "before_insert", _bind_inserted, propagate=True)
    event.listen(base, "before_update", _bind_updated, propagate=True)
    event.listen(base, "after_insert", _unbind, propagate=True)
    event.listen(base, "after_update", _unbind, propagate=True)


def _sealed_attributes(mapper: Any) -> list[tuple[str, Sealed, Any]]:
    return [
        (attribute.key, sealed, column)
        for attribute in mapper.column_attrs
        for column in attribute.columns
        if (sealed := sealed_type(column)) is not None
    ]


def _bind_inserted(mapper: Any, _connection: Any, target: Any) -> None:
    for key, sealed, column in _sealed_attributes(mapper):
        value = getattr(target, key)
        if isinstance(value, Bound):
            continue
        if value is None and column.default is not None and column.default.is_scalar:
            value = column.default.arg
        if value is not None:
            setattr(target, key, sealed.bound(_identity_of(target, sealed), value))


def _bind_updated(mapper: Any, _connection: Any, target: Any) -> None:
    state = inspect(target)
    for key, sealed, _column in _sealed_attributes(mapper):
        moved = any(state.attrs[name].history.has_changes() for name in sealed.row)
        if not (moved or state.attrs[key].history.has_changes()):
            continue
        value = getattr(target, key)
        if value is not None and not isinstance(value, Bound):
            setattr(target, key, sealed.bound(_identity_of(target, sealed), value))


def _unbind(mapper: Any, _connection: Any, target: Any) -> None:
    for key, _sealed, _column in _sealed_attributes(mapper):
        value = inspect(target).dict.get(key)
        if isinstance(value, Bound):
            set_committed_value(target, key, value.value)


def _identity_of(target: Any, sealed: Sealed) -> dict[str, Any]:
    return {name: getattr(target, name) for name in sealed.row}


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
