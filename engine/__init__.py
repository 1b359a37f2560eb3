"""Skald's LLM engine: one protocol, the in-process vLLM and remote backends, model preparation."""

from engine.base import (
    ChatMessage,
    Engine,
    EngineError,
    EngineRestarting,
    EngineStalled,
    EngineStatus,
    EngineUnavailable,
    GenerationParams,
    PromptTooLong,
    StreamInterrupted,
    Usage,
)

__all__ = [
    "ChatMessage",
    "Engine",
    "EngineError",
    "EngineRestarting",
    "EngineStalled",
    "EngineStatus",
    "EngineUnavailable",
    "GenerationParams",
    "PromptTooLong",
    "StreamInterrupted",
    "Usage",
]
