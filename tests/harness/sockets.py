"""The socket guard: no test reaches past 127.0.0.1.

`loopback_only()` makes `socket.getaddrinfo`, `socket.create_connection` and
`socket.socket.connect`/`connect_ex` refuse, with `PastLoopback`, any address that is not
loopback (127.0.0.0/8, ::1, the name localhost) and not a unix socket, before a packet or
a DNS query leaves. Every library here connects through these (asyncio, aiohttp, httpx,
asyncpg, slack-sdk), so the guard sees every attempt of the test process; processes the
tests start (`samen run`) are told their URLs by the tests and are not guarded.

`PastLoopback` is not an `OSError`, so that no client mistakes it for a network failure
to retry; and each refusal is kept in `refused`, so that a test whose code swallowed the
error still fails (tests/conftest.py checks after every test).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Names that are loopback by definition, and the wildcards a server binds to (binding
# sends nothing; only getaddrinfo sees them).
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})

refused: list[str] = []  # every address refused, in order


class PastLoopback(RuntimeError):
    """A test tried to reach an address that is not on this machine."""


def is_loopback(host: object) -> bool:
    """True for 127.0.0.0/8, ::1 (also IPv4-mapped) and the loopback names."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%")[0].lower()  # "[::1]", "fe80::1%eth0"
    if name in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # a name other than localhost: resolving it is a DNS query
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _refuse(what: str) -> PastLoopback:
    refused.append(what)
    return PastLoopback(f"a test tried to reach {what}: tests stay on 127.0.0.1")


def _check_address(address: Any) -> None:
    if isinstance(address, (str, bytes)):
        return  # a unix socket path (or an abstract one): on this machine
    if isinstance(address, tuple) and address and is_loopback(address[0]):
        return
    raise _refuse(repr(address))


@contextmanager
def loopback_only() -> Iterator[None]:
    """Install the guard for as long as the block runs."""
    real_getaddrinfo = socket.getaddrinfo
    real_create_connection = socket.create_connection
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and host not in WILDCARDS and not is_loopback(host):
            raise _refuse(f"{host!r} (name lookup)")
        return real_getaddrinfo(host, *args, **kwargs)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        _check_address(address)
        return real_create_connection(address, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        if self.family != socket.AF_UNIX:
            _check_address(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family != socket.AF_UNIX:
            _check_address(address)
        return real_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo
    socket.create_connection = create_connection
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.getaddrinfo = real_getaddrinfo
        socket.create_connection = real_create_connection
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
