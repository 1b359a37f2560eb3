"""The in-process vLLM engine on the bundled SmolLM2 model, for real (CPU, slow)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from engine.base import ChatMessage, Engine, GenerationParams, PromptTooLong
from engine.vllm_local import VllmEngine

pytestmark = pytest.mark.engine

QUIZ_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "questions": {
            "type": "array",
            "minItems": 3,
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "question": {"type": "string", "maxLength": 120},
                    "answer": {"type": "string", "maxLength": 60},
                },
                "required": ["question", "answer"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["questions"],
    "additionalProperties": False,
}


def ask(text: str) -> list[ChatMessage]:
    """A one-turn chat prompt."""
    return [ChatMessage("user", text)]


async def collect(
    engine: Engine, messages: list[ChatMessage], params: GenerationParams
) -> list[str]:
    """Every delta of one streamed reply."""
    return [delta async for delta in engine.stream(messages, params)]


def test_implements_the_engine_protocol(real_engine: VllmEngine) -> None:
    assert isinstance(real_engine, Engine)
    assert real_engine.is_ready()
    assert real_engine.max_context_tokens == 2048


async def test_streams_a_reply_in_several_deltas(real_engine: VllmEngine) -> None:
    params = GenerationParams(max_tokens=48, temperature=0.7, seed=7)
    deltas = await collect(real_engine, ask("Write two sentences about a lighthouse."), params)

    text = "".join(deltas)
    assert len(deltas) >= 3
    assert text.strip()
    assert "<|im_end|>" not in text and "<|im_start|>" not in text


async def test_reply_stops_at_end_of_turn(real_engine: VllmEngine) -> None:
    # A short answer ends well before max_tokens: the end-of-turn marker stopped it.
    params = GenerationParams(max_tokens=400, temperature=0.0)
    text = "".join(await collect(real_engine, ask("Say hello in one word."), params))

    assert text.strip()
    assert await real_engine.count_tokens([ChatMessage("assistant", text)]) < 200
    assert "<|im_end|>" not in text


async def test_closing_the_stream_early_aborts_the_request(real_engine: VllmEngine) -> None:
    stream = real_engine.stream(
        ask("Tell me a very long story about a dragon."), GenerationParams(max_tokens=400)
    )
    received = []
    async for delta in stream:
        received.append(delta)
        if len(received) == 2:
            break
    await stream.aclose()  # type: ignore[attr-defined]  # an async generator at runtime

    assert len(received) == 2
    assert real_engine.num_unfinished_requests() == 0
    # The engine still serves the next request.
    after = await collect(real_engine, ask("Name a colour."), GenerationParams(max_tokens=16))
    assert "".join(after).strip()
    assert real_engine.num_unfinished_requests() == 0


async def test_cancelling_the_consumer_aborts_the_request(real_engine: VllmEngine) -> None:
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in real_engine.stream(
            ask("Count slowly to one hundred."), GenerationParams(max_tokens=400)
        ):
            started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), timeout=60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert real_engine.num_unfinished_requests() == 0


async def test_json_schema_reply_parses_and_matches(real_engine: VllmEngine) -> None:
    params = GenerationParams(max_tokens=400, temperature=0.3, seed=1, json_schema=QUIZ_SCHEMA)
    messages = [
        ChatMessage("system", "You write short quizzes as JSON."),
        ChatMessage("user", "Write a quiz of 3 questions about the solar system."),
    ]
    text = "".join(await collect(real_engine, messages, params))

    quiz = json.loads(text)
    assert set(quiz) == {"questions"}
    assert len(quiz["questions"]) == 3
    for item in quiz["questions"]:
        assert set(item) == {"question", "answer"}
        assert isinstance(item["question"], str) and item["question"]
        assert isinstance(item["answer"], str)


async def test_prompt_too_long_is_refused_before_any_output(real_engine: VllmEngine) -> None:
    long_text = "The quick brown fox jumps over the lazy dog. " * 450  # about 20,000 characters
    stream = real_engine.stream(ask(long_text), GenerationParams(max_tokens=64))

    with pytest.raises(PromptTooLong) as caught:
        await anext(stream)
    assert caught.value.prompt_tokens > caught.value.limit
    assert caught.value.limit < real_engine.max_context_tokens
    assert real_engine.num_unfinished_requests() == 0


async def test_max_tokens_is_capped_to_what_fits(real_engine: VllmEngine) -> None:
    # A prompt that leaves ~100 tokens: asking for more is capped, not refused.
    text = "word " * 1800
    prompt = ask(text)
    room = real_engine.max_context_tokens - await real_engine.count_tokens(prompt)
    assert 64 <= room < 400
    deltas = await collect(real_engine, prompt, GenerationParams(max_tokens=1000, temperature=0.8))
    assert real_engine.num_unfinished_requests() == 0
    assert len(deltas) <= room


async def test_concurrent_streams_all_finish(real_engine: VllmEngine) -> None:
    topics = ["cats", "rain", "trains", "bread"]
    replies = await asyncio.wait_for(
        asyncio.gather(
            *(
                collect(
                    real_engine,
                    ask(f"One sentence about {topic}."),
                    GenerationParams(max_tokens=32),
                )
                for topic in topics
            )
        ),
        timeout=180,
    )

    assert len(replies) == 4
    assert all("".join(deltas).strip() for deltas in replies)
    assert real_engine.num_unfinished_requests() == 0


async def test_count_tokens_grows_with_text(real_engine: VllmEngine) -> None:
    short = await real_engine.count_tokens(ask("Hello."))
    longer = await real_engine.count_tokens(ask("Hello. " * 20))
    with_system = await real_engine.count_tokens(
        [ChatMessage("system", "Be brief."), *ask("Hello. " * 20)]
    )

    assert 0 < short < longer
    assert with_system != longer  # the system turn replaces the template's default one
