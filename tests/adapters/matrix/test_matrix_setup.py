"""`samen run` picks Matrix from the documented variables, and says which one is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.matrix import MatrixAdapter, MatrixNotConfigured
from bot.config import Settings
from bot.store.sealed import Keyring
from bot.wiring import SealedFile, matrix_adapter, platform_adapters, platforms_configured

HOME = "https://matrix.zorg.example"


def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name in ("SLACK_BOT_TOKEN", "TELEGRAM_BOT_TOKEN", "SAMEN_DATA_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(data_dir=tmp_path / "data")


def test_matrix_runs_when_its_homeserver_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = settings(
        tmp_path,
        monkeypatch,
        MATRIX_HOMESERVER=HOME,
        MATRIX_USER_ID="@samen:zorg.example",
        MATRIX_ACCESS_TOKEN="syt_secret",
        SAMEN_MATRIX_ALLOWED_SERVERS="zorg.example, Buren.example",
    )
    assert platforms_configured(chosen) == ["matrix"]
    [adapter] = platform_adapters(chosen)
    assert isinstance(adapter, MatrixAdapter)
    assert adapter.allowed_servers == {"zorg.example", "buren.example"}
    assert "syt_secret" not in repr(chosen)


def test_the_allowlist_defaults_to_the_bots_own_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = settings(
        tmp_path,
        monkeypatch,
        MATRIX_HOMESERVER=HOME,
        MATRIX_USER_ID="@samen:zorg.example",
        MATRIX_PASSWORD="first-login",
    )
    adapter = matrix_adapter(chosen)
    assert isinstance(adapter, MatrixAdapter)
    assert adapter.allowed_servers == {"zorg.example"}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MATRIX_HOMESERVER": "matrix.zorg.example"}, "MATRIX_HOMESERVER must be"),
        ({"MATRIX_HOMESERVER": HOME, "MATRIX_USER_ID": "samen"}, "MATRIX_USER_ID must be"),
        (
            {"MATRIX_HOMESERVER": HOME, "MATRIX_USER_ID": "@samen:zorg.example"},
            "MATRIX_ACCESS_TOKEN or MATRIX_PASSWORD",
        ),
    ],
)
def test_a_missing_or_malformed_variable_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    chosen = settings(tmp_path, monkeypatch, **env)
    with pytest.raises(MatrixNotConfigured, match=named):
        platform_adapters(chosen)


def test_the_login_is_kept_sealed(tmp_path: Path) -> None:
    keyring = Keyring.generate()
    kept = SealedFile(tmp_path / "matrix" / "session.sealed", lambda: keyring, "matrix_session")
    assert kept.load() is None
    kept.save({"access_token": "syt_secret", "device_id": "ABCDEFGHIJ"})
    assert "syt_secret" not in (tmp_path / "matrix" / "session.sealed").read_text()
    assert (tmp_path / "matrix" / "session.sealed").stat().st_mode & 0o077 == 0
    assert (tmp_path / "matrix").stat().st_mode & 0o077 == 0
    assert kept.load() == {"access_token": "syt_secret", "device_id": "ABCDEFGHIJ"}
