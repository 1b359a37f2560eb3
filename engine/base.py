"""The engine protocol every backend implements and every plugin calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One turn of a chat prompt."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """How to sample one reply; backends map these onto their own settings."""

    max_tokens: int = 256
    temperature: float = 0.8
    top_p: float = 0.95
    # Above 1 discourages repeating tokens: small models otherwise loop on a phrase.
    repetition_penalty: float = 1.15
    # A JSON schema the output must follow (structured output); None for free text.
    json_schema: dict[str, Any] | None = None
    stop: tuple[str, ...] = ()
    # Lower runs first where the backend schedules by priority.
    priority: int = 0
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Usage:
    """What one request cost, filled in by the engine while it streams."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Seconds from the request to its first text; None until text arrives.
    first_token_s: float | None = None


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """What an engine is and how busy it is, for /skald status and metrics."""

    backend: str
    model: str
    ready: bool
    # Requests the engine is working on now (running or queued inside it).
    running: int
    restarts: int = 0
    # One line per server for a fleet: "http://a:8000 up, 2 running".
    servers: tuple[str, ...] = ()


class EngineError(Exception):
    """The engine could not produce a reply."""


class EngineUnavailable(EngineError):
    """The engine is not running (failed to start, or died) and cannot take requests."""


class EngineRestarting(EngineUnavailable):
    """The engine died and is being rebuilt; requests will be served again shortly."""


class StreamInterrupted(EngineError):
    """The reply broke off part-way (a server died mid-stream); what came is incomplete."""


class EngineStalled(EngineError):
    """The engine wrote nothing for too long mid-request; the request was aborted."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no text from the engine for {seconds:g} s")
        self.seconds = seconds


class PromptTooLong(EngineError):
    """The prompt does not fit the model's context with room left for the reply."""

    def __init__(self, prompt_tokens: int, limit: int) -> None:
        super().__init__(f"prompt is {prompt_tokens} tokens; the model takes {limit}")
        self.prompt_tokens = prompt_tokens
        self.limit = limit


@runtime_checkable
class Engine(Protocol):
    """A language model that streams chat replies; one per process, shared by all plugins."""

    @property
    def max_context_tokens(self) -> int:
        """The model's context length in tokens (prompt plus reply)."""
        ...

    async def start(self) -> None:
        """Load the model; safe to call more than once."""
        ...

    def is_ready(self) -> bool:
        """True once start() has finished and requests are served."""
        ...

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens the prompt takes once the chat template is applied."""
        ...

    def stream(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        usage: Usage | None = None,
    ) -> AsyncIterator[str]:
        """Yield the reply as text deltas; closing the iterator early aborts the request.

        Raises PromptTooLong before any output when the prompt leaves no room for the reply.
        The engine fills `usage`, when given, as the reply streams.
        """
        ...

    def status(self) -> EngineStatus:
        """The backend, model and load, read without waiting."""
        ...

    async def close(self) -> None:
        """Stop the engine and free its resources."""
        ...
