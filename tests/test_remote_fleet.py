"""The remote backend as self-hosters configure it: either URL form, an API key, clear
reasons when a server refuses, and no /tokenize round trip for a prompt that plainly fits.

Against tests/fake_openai.py, which answers like `vllm serve` (and `--api-key`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine import ChatMessage, EngineUnavailable, GenerationParams, PromptTooLong, Usage
from engine.remote import RemoteEngine
from engine.settings import EngineSettings, server_keys, server_root
from tests.fake_openai import REPLY, FakeOpenAI

KEY = "sk-skald-test-4f1c"


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def keyed_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


def remote(*urls: str) -> RemoteEngine:
    return RemoteEngine(EngineSettings(backend="remote", urls=urls))


async def reply(
    engine: RemoteEngine, text: str = "Tell me a story.", usage: Usage | None = None
) -> str:
    deltas = engine.stream([ChatMessage("user", text)], GenerationParams(max_tokens=200), usage)
    return "".join([d async for d in deltas])


async def problem(engine: RemoteEngine) -> str:
    """What start() says when no server comes up."""
    try:
        with pytest.raises(EngineUnavailable) as caught:
            await engine.start()
        return str(caught.value)
    finally:
        await engine.close()


def test_both_usual_url_forms_name_the_same_server() -> None:
    for url in ("http://h:8000", "http://h:8000/", "http://h:8000/v1", "http://h:8000/v1/"):
        assert server_root(url) == "http://h:8000"


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
async def test_a_fleet_url_with_or_without_v1_answers(server: FakeOpenAI, suffix: str) -> None:
    engine = remote(server.url + suffix)
    try:
        assert await reply(engine) == REPLY
        assert engine.status().servers == (f"{server.url} up, 0 running, 1 served",)
    finally:
        await engine.close()


async def test_the_api_key_goes_with_every_probe_and_request(
    keyed_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKALD_ENGINE_API_KEY", KEY)
    engine = remote(keyed_server.url + "/v1")
    try:
        assert await reply(engine) == REPLY
    finally:
        await engine.close()
    paths = [path for path, _ in keyed_server.bearers]
    assert {"/health", "/v1/models", "/v1/chat/completions"} <= set(paths)
    assert {bearer for _, bearer in keyed_server.bearers} == {KEY}


async def test_a_missing_key_is_named_with_the_fix(
    keyed_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SKALD_ENGINE_API_KEY", raising=False)
    said = await problem(remote(keyed_server.url))
    assert said == (
        f"no language model server is answering: {keyed_server.url} down (HTTP 401: the "
        "server wants an API key; set SKALD_ENGINE_API_KEY to the key it was started with "
        "(vllm serve --api-key))"
    )


async def test_a_wrong_key_is_named_and_never_shown(
    keyed_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKALD_ENGINE_API_KEY", "sk-wrong-9d2e")
    said = await problem(remote(keyed_server.url))
    assert "HTTP 401: the server refused the API key; set SKALD_ENGINE_API_KEY" in said
    assert "sk-wrong-9d2e" not in said


async def test_a_url_with_another_path_is_named_as_the_wrong_form(server: FakeOpenAI) -> None:
    said = await problem(remote(server.url + "/api"))
    assert said == (
        f"no language model server is answering: {server.url}/api down (HTTP 404 on /health: "
        "the URL is not a vllm serve base URL; give it as http://HOST:PORT or "
        "http://HOST:PORT/v1, without any further path)"
    )


async def test_one_key_per_server(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAI(api_key="key-a") as a, FakeOpenAI(api_key="key-b") as b:
        monkeypatch.setenv("SKALD_ENGINE_API_KEY", "key-a, key-b")
        engine = remote(a.url, b.url)
        try:
            await engine.start()
            assert engine.is_ready() and all(s.healthy for s in engine.servers)
        finally:
            await engine.close()


def test_keys_and_servers_must_pair_up() -> None:
    assert server_keys(2, None) == [None, None]
    assert server_keys(2, "k") == ["k", "k"]
    assert server_keys(2, "k1,k2") == ["k1", "k2"]
    with pytest.raises(ValueError, match="holds 3 keys for 2 server"):
        server_keys(2, "k1,k2,k3")


async def test_a_short_prompt_costs_no_tokenize_round_trip(server: FakeOpenAI) -> None:
    engine = remote(server.url)
    usage = Usage()
    try:
        assert await reply(engine, "Tell me a story about a lighthouse.", usage) == REPLY
    finally:
        await engine.close()
    assert server.tokenize_requests == []
    # The counts are the server's own usage report (the fake counts one token a word).
    assert (usage.prompt_tokens, usage.completion_tokens) == (7, len(REPLY.split()))


async def test_a_prompt_that_might_not_fit_is_still_measured_first() -> None:
    with FakeOpenAI(max_model_len=256) as server:
        engine = remote(server.url)
        try:
            with pytest.raises(PromptTooLong):
                await reply(engine, "word " * 300)
        finally:
            await engine.close()
        assert len(server.tokenize_requests) == 1
        assert server.requests == []  # nothing was sent to generate
