"""Skald's LLM engine: one protocol, the in-process vLLM backend, and model preparation."""

from engine.base import (
    ChatMessage,
    Engine,
    EngineError,
    EngineUnavailable,
    GenerationParams,
    PromptTooLong,
)

__all__ = [
    "ChatMessage",
    "Engine",
    "EngineError",
    "EngineUnavailable",
    "GenerationParams",
    "PromptTooLong",
]
