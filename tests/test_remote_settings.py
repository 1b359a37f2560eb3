"""Choosing the remote backend, and what it says when no server answers (no servers needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from engine import EngineUnavailable
from engine.factory import build_engine
from engine.remote import RemoteEngine
from engine.settings import EngineSettings


def test_skald_engine_urls_selects_the_remote_backend() -> None:
    config = load_config(env={"SKALD_ENGINE_URLS": "http://a:8000/, http://b:8000"})
    assert config.engine.backend == "remote"
    assert config.engine.urls == ("http://a:8000", "http://b:8000")
    assert isinstance(build_engine(config.engine), RemoteEngine)


def test_the_remote_backend_needs_urls(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"needs engine\.urls"):
        load_config(env={"SKALD_CONFIG": _write(tmp_path, "engine:\n  backend: remote\n")})


async def test_no_server_answering_is_a_clear_error() -> None:
    engine = build_engine(EngineSettings(backend="remote", urls=("http://127.0.0.1:9",)))
    try:
        with pytest.raises(EngineUnavailable) as caught:
            await engine.start()
        assert str(caught.value) == (
            "no language model server is answering: http://127.0.0.1:9 down (connection failed)"
        )
        assert not engine.is_ready()
        assert engine.status().servers == ("http://127.0.0.1:9 down (connection failed)",)
    finally:
        await engine.close()


def _write(folder: Path, text: str) -> str:
    path = folder / "config.yaml"
    path.write_text(text)
    return str(path)
