"""A scripted engine for tests: replies come from a script, streamed word by word.

No model, no GPU: a test sets what the "model" answers (`reply_with`, or a `script`
function of the messages) and reads back the prompts the plugin sent (`prompts`).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine import ChatMessage, EngineStatus, GenerationParams, PromptTooLong, Usage

Script = Callable[[Sequence[ChatMessage], GenerationParams], str]


def default_script(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
    """A plausible reply: a quiz that fits the schema, or a sentence naming the request."""
    last = messages[-1].content.splitlines()[0][:60]
    if params.json_schema is not None and "names" in params.json_schema["properties"]:
        # A story's cast: the capitalised words of its premise (the request's first line).
        premise = messages[-1].content.splitlines()[0].partition(": ")[2]
        return json.dumps({"names": re.findall(r"\b[A-Z][a-z]+\b", premise)})
    if params.json_schema is not None:
        # Questions that repeat the request's first line: on its topic, in its language.
        items = params.json_schema["properties"]["questions"]["minItems"]
        request = messages[-1].content.splitlines()[0]
        return json.dumps(
            {
                "questions": [
                    {
                        "question": f"Question number {i + 1}: {request}?",
                        "choices": ["one", "two", "three", "four"],
                        "answer": "ABCD"[i % 4],
                    }
                    for i in range(items)
                ]
            }
        )
    # A Chinese prompt gets a Chinese reply, as from a model that follows its prompt.
    reply = (
        "脚本回复："
        if re.search(r"[\u4e00-\u9fff]", messages[-1].content)
        else "Scripted reply to: "
    )
    turns = sum(m.role == "assistant" for m in messages)
    if turns:  # the next turn of a chat (a story's next part): new words, no echo
        # It names whom the request says to name, as a model following its prompt does.
        named = re.search(r"(?:naming |写到)([^.。，,]+)", messages[-1].content)
        if reply.startswith("S"):
            return f"Scripted part {turns + 1}" + (f", with {named[1]}." if named else ".")
        return f"脚本第 {turns + 1} 段" + (f"，写到{named[1]}。" if named else "。")
    lines = re.search(r"(?:exactly|正好) (\d+) (?:lines|行)", messages[-1].content)
    if lines:  # /lyrics asks for a section's lines: give that many, each its own
        # Each request's own lines (a song's sections differ), numbered.
        tag = zlib.crc32(messages[-1].content.encode()) % 10_000
        return "\n".join(f"{reply}{last} {tag}.{n}" for n in range(1, int(lines[1]) + 1))
    return f"{reply}{last}"


@dataclass
class ScriptedEngine:
    """The Engine protocol without a model; records every request it gets."""

    script: Script = default_script
    max_context_tokens: int = 2048
    delay_s: float = 0.0
    # After this many words the engine hangs: it never yields again (until cancelled).
    hang_after: int | None = None
    requests: list[tuple[list[ChatMessage], GenerationParams]] = field(default_factory=list)
    # Off for benchmarks: thousands of kept prompts would only make work for the collector.
    keep_requests: bool = True
    aborted: int = 0
    started: bool = False
    running: int = 0

    async def start(self) -> None:
        """Nothing to load."""
        self.started = True

    def is_ready(self) -> bool:
        """Ready once started."""
        return self.started

    def status(self) -> EngineStatus:
        """A scripted backend, always ready once started."""
        return EngineStatus("scripted", "script", self.started, self.running)

    def _count(self, messages: Sequence[ChatMessage]) -> int:
        return sum(len(m.content) // 4 + 4 for m in messages)

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """About four characters a token, plus a few per message for the template."""
        return self._count(messages)

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        usage: Usage | None = None,
    ) -> AsyncIterator[str]:
        """The scripted reply, a word (one token) at a time, cut off at max_tokens."""
        usage = usage or Usage()
        prompt = self._count(messages)
        if prompt + min(params.max_tokens, 64) > self.max_context_tokens:
            raise PromptTooLong(prompt, self.max_context_tokens)
        if self.keep_requests:
            self.requests.append((list(messages), params))
        words = self.script(messages, params).split(" ")[: params.max_tokens]
        usage.prompt_tokens = prompt
        started = time.monotonic()
        finished = False
        self.running += 1
        try:
            for i, word in enumerate(words):
                if i == self.hang_after:
                    await asyncio.Event().wait()  # never set
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                usage.completion_tokens = i + 1
                if usage.first_token_s is None:
                    usage.first_token_s = time.monotonic() - started
                yield word if i == 0 else " " + word
            finished = True
        finally:
            self.running -= 1
            if not finished:
                self.aborted += 1

    async def close(self) -> None:
        """Nothing to free."""

    def last_prompt(self) -> str:
        """The user message of the latest request."""
        return self.requests[-1][0][-1].content

    def last_chat(self) -> str:
        """Every message of the latest request but the system one, one after another."""
        return "\n".join(m.content for m in self.requests[-1][0] if m.role != "system")

    @property
    def prompts(self) -> list[str]:
        """The user message of every request so far, oldest first."""
        return [messages[-1].content for messages, _params in self.requests]

    def reply_with(self, *texts: str) -> None:
        """Answer the next requests with these texts, in order; the last one then repeats.

        `engine.reply_with("bad opening", "good reply")` lets a test see a plugin's gate
        refuse the first reply and show the second.
        """
        if not texts:
            raise ValueError("reply_with needs at least one text")
        queue = list(texts)

        def script(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
            return queue.pop(0) if len(queue) > 1 else queue[0]

        self.script = script

    @staticmethod
    def replying(text: str) -> Any:
        """A script that always answers `text`."""
        return lambda messages, params: text
