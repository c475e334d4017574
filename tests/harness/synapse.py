"""A real Matrix homeserver for the tests: Synapse on 127.0.0.1, SQLite, started once.

`Synapse.start(folder)` generates a configuration in `folder` with Synapse's own
`--generate-config` (a signing key, secrets), then narrows it for the tests: one
client listener on a free port of 127.0.0.1 (no federation, no key servers, nothing
leaves the machine), SQLite, registration only by the shared secret, presence off.

Rate limits: the message limit is kept tight (`MESSAGES_PER_SECOND`, `BURST`) so that one
test can meet Synapse's real `M_LIMIT_EXCEEDED`; every account registered with
`unlimited=True` (the bot of the story tests and the people) gets Synapse's per-user
override through the admin API, which lifts it for them. The other limits (logins,
joins, invites, room creation) are relaxed for everyone.

Accounts are registered through `/_synapse/admin/v1/register` with the shared secret's
HMAC (Synapse's documented algorithm), as `register_new_matrix_user` does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVER_NAME = "samen.test"
MESSAGES_PER_SECOND = 5.0
BURST = 3
STARTUP_SECONDS = 90.0
RELAXED = {"per_second": 1000, "burst_count": 1000}


@dataclass(frozen=True)
class Account:
    """A registered account: its user id, password, access token and device."""

    user_id: str
    password: str
    access_token: str
    device_id: str

    @property
    def localpart(self) -> str:
        return self.user_id[1:].split(":", 1)[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Synapse:
    """One Synapse process; `url` is its client API base."""

    def __init__(self, folder: Path, port: int, secret: str, process: subprocess.Popen[bytes]):
        self.folder, self.port, self.secret, self.process = folder, port, secret, process
        self.url = f"http://127.0.0.1:{port}"
        self.server_name = SERVER_NAME
        self._admin: Account | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def start(cls, folder: Path) -> Synapse:
        folder.mkdir(parents=True, exist_ok=True)
        config_path = folder / "homeserver.yaml"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "synapse.app.homeserver",
                "--server-name",
                SERVER_NAME,
                "--config-path",
                str(config_path),
                "--data-directory",
                str(folder),
                "--generate-config",
                "--report-stats=no",
            ],
            check=True,
            capture_output=True,
        )
        config = yaml.safe_load(config_path.read_text())
        port = free_port()
        config.update(
            {
                "listeners": [
                    {
                        "port": port,
                        "bind_addresses": ["127.0.0.1"],
                        "type": "http",
                        "tls": False,
                        "x_forwarded": False,
                        "resources": [{"names": ["client"], "compress": False}],
                    }
                ],
                "trusted_key_servers": [],
                "suppress_key_server_warning": True,
                "enable_registration": False,
                "presence": {"enabled": False},
                "url_preview_enabled": False,
                "rc_message": {"per_second": MESSAGES_PER_SECOND, "burst_count": BURST},
                "rc_registration": RELAXED,
                "rc_login": {"address": RELAXED, "account": RELAXED, "failed_attempts": RELAXED},
                "rc_joins": {"local": RELAXED, "remote": RELAXED},
                "rc_joins_per_room": RELAXED,
                "rc_invites": {
                    "per_room": RELAXED,
                    "per_user": RELAXED,
                    "per_issuer": RELAXED,
                },
                "rc_room_creation": RELAXED,
                "rc_admin_redaction": RELAXED,
                "rc_key_requests": RELAXED,
                "rc_3pid_validation": RELAXED,
            }
        )
        log_config = folder / "log.yaml"
        log_config.write_text(
            yaml.safe_dump(
                {
                    "version": 1,
                    "formatters": {"plain": {"format": "%(asctime)s %(name)s %(message)s"}},
                    "handlers": {
                        "file": {
                            "class": "logging.FileHandler",
                            "formatter": "plain",
                            "filename": str(folder / "homeserver.log"),
                        }
                    },
                    "root": {"level": "WARNING", "handlers": ["file"]},
                    "disable_existing_loggers": False,
                }
            )
        )
        config["log_config"] = str(log_config)
        config_path.write_text(yaml.safe_dump(config))
        out = (folder / "stdout.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "--config-path", str(config_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=folder,
            env={**os.environ, "SYNAPSE_ASYNC_IO_REACTOR": "0"},
        )
        server = cls(folder, port, str(config["registration_shared_secret"]), process)
        server._wait_until_up()
        return server

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.folder / "stdout.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"Synapse exited at start:\n{log}")
            try:
                self._call("GET", "/_matrix/client/versions")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Synapse did not answer within {STARTUP_SECONDS} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # ------------------------------------------------------------------ HTTP

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = response.read()
        return json.loads(answer) if answer else {}

    # ------------------------------------------------------------------ accounts

    def register(self, localpart: str, *, admin: bool = False, unlimited: bool = True) -> Account:
        """A new account by the shared secret; `unlimited` lifts its message rate limit."""
        password = f"pw-{localpart}-{os.urandom(4).hex()}"
        nonce = self._call("GET", "/_synapse/admin/v1/register")["nonce"]
        mac = hmac.new(self.secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), localpart.encode(), password.encode()]))
        mac.update(b"\x00admin" if admin else b"\x00notadmin")
        made = self._call(
            "POST",
            "/_synapse/admin/v1/register",
            {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )
        account = Account(made["user_id"], password, made["access_token"], made["device_id"])
        if unlimited:
            self.lift_rate_limit(account.user_id)
        return account

    def lift_rate_limit(self, user_id: str) -> None:
        """Synapse's per-user override: 0 and 0 mean no limit for this account."""
        admin = self.admin()
        self._call(
            "POST",
            f"/_synapse/admin/v1/users/{urllib.request.quote(user_id)}/override_ratelimit",
            {"messages_per_second": 0, "burst_count": 0},
            token=admin.access_token,
        )

    def admin(self) -> Account:
        if self._admin is None:
            self._admin = self.register("operator", admin=True, unlimited=False)
            self._call(
                "POST",
                f"/_synapse/admin/v1/users/{urllib.request.quote(self._admin.user_id)}"
                "/override_ratelimit",
                {"messages_per_second": 0, "burst_count": 0},
                token=self._admin.access_token,
            )
        return self._admin
