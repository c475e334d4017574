"""The socket guard of tests/conftest.py: nothing reaches past 127.0.0.1, and what stays
on this machine (the fakes, PostgreSQL on 127.0.0.1, unix sockets) still works.

192.0.2.1 is TEST-NET-1 (RFC 5737), never routed: and the guard refuses before any packet
is sent, so these tests never wait on a network."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from bot.store.db import open_engine
from tests.harness import sockets
from tests.harness.sockets import PastLoopback
from tests.postgres import postgres_url

OUTSIDE = ("192.0.2.1", 80)


@pytest.fixture
def refusals() -> Iterator[list[str]]:
    """What the guard refused during the test, taken out of its record: these tests
    are meant to be refused (the check after each test would fail them otherwise)."""
    before = len(sockets.refused)
    seen: list[str] = []
    yield seen
    seen.extend(sockets.refused[before:])
    del sockets.refused[before:]


def _plain_connect() -> None:
    with socket.socket() as s:
        s.connect(OUTSIDE)


def _connect_ex() -> None:
    with socket.socket() as s:
        s.connect_ex(OUTSIDE)


def _ipv6_connect() -> None:
    with socket.socket(socket.AF_INET6) as s:
        s.connect(("2001:db8::1", 80, 0, 0))


@pytest.mark.parametrize(
    "reach",
    [
        _plain_connect,
        _connect_ex,
        _ipv6_connect,
        lambda: socket.create_connection(OUTSIDE, timeout=0.1),
        lambda: socket.getaddrinfo("example.org", 443),
        lambda: socket.getaddrinfo("192.0.2.1", 80),
    ],
    ids=["connect", "connect_ex", "connect-ipv6", "create_connection", "lookup", "numeric"],
)
def test_a_connection_past_loopback_is_refused_before_it_leaves(
    reach: Callable[[], object], refusals: list[str]
) -> None:
    with pytest.raises(PastLoopback, match=r"tests stay on 127\.0\.0\.1"):
        reach()


async def test_an_http_client_past_loopback_is_refused(refusals: list[str]) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(PastLoopback):
            await session.get("http://192.0.2.1/", timeout=aiohttp.ClientTimeout(total=1))


async def test_a_refusal_the_code_swallows_is_still_recorded(refusals: list[str]) -> None:
    with contextlib.suppress(Exception):  # as a client that retries might
        await asyncio.open_connection(*OUTSIDE)
    assert sockets.refused[-1:] == ["('192.0.2.1', 80)"]


async def test_loopback_and_unix_sockets_still_connect(tmp_path: Path) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    for host in ("127.0.0.1", "localhost"):
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"hallo\n")
            assert await reader.readline() == b"hallo\n"
            writer.close()
    path = str(tmp_path / "s")
    async with await asyncio.start_unix_server(echo, path):
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"hoi\n")
        assert await reader.readline() == b"hoi\n"
        writer.close()


async def test_postgresql_on_127_0_0_1_still_connects() -> None:
    engine = await open_engine(await postgres_url())
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("select 1"))).scalar_one() == 1
    finally:
        await engine.dispose()


def test_the_guard_knows_loopback_when_it_sees_it() -> None:
    for host in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "::ffff:127.0.0.1", "localhost"):
        assert sockets.is_loopback(host), host
    for host in ("192.0.2.1", "10.0.0.1", "2001:db8::1", "example.org", "0.0.0.0", None):
        assert not sockets.is_loopback(host), host
