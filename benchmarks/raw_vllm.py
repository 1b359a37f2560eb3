"""Row 1, raw vLLM: the engine's AsyncLLM called directly, N concurrent streams of the prompts.

It drives the very AsyncLLM the bot's engine built (same arguments, same process), so raw
and bot rounds can alternate on one engine: a machine whose speed drifts during the run
then moves both rows alike.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any

from benchmarks.stats import RequestTiming, RoundResult
from benchmarks.workload import Prompt

# The chat-format markers the bot's engine stops at (engine/vllm_local.py); passed here
# too so both systems sample with the same stop ids masked until min_tokens.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>")


class RawVllm:
    """Requests straight into an AsyncLLM: no router, no database, no reply stream."""

    def __init__(self, llm: Any, model_path: str, new_tokens: int) -> None:
        from transformers import AutoTokenizer

        self._llm = llm
        self._new_tokens = new_tokens
        self._tokenizer = AutoTokenizer.from_pretrained(model_path)
        vocab = self._tokenizer.get_vocab()
        eos = self._tokenizer.eos_token_id
        self._stop_ids = [eos] if isinstance(eos, int) else []
        self._stop_ids += [
            vocab[t] for t in END_OF_TURN_TOKENS if t in vocab and vocab[t] not in self._stop_ids
        ]

    def prompt_ids(self, prompt: Prompt) -> list[int]:
        """Token ids of the prompt with the chat template, as the bot's engine makes them."""
        conversation = [{"role": m.role, "content": m.content} for m in prompt.messages]
        text = self._tokenizer.apply_chat_template(
            conversation, tokenize=False, add_generation_prompt=True
        )
        ids: list[int] = self._tokenizer.encode(text, add_special_tokens=False)
        return ids

    def sampling(self, prompt: Prompt) -> Any:
        """SamplingParams with the plugin's settings and a fixed reply length."""
        from vllm.sampling_params import RequestOutputKind, SamplingParams

        params = prompt.params
        return SamplingParams(
            max_tokens=self._new_tokens,
            min_tokens=self._new_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            repetition_penalty=params.repetition_penalty,
            seed=params.seed,
            stop_token_ids=list(self._stop_ids) or None,
            output_kind=RequestOutputKind.DELTA,
        )

    async def one(self, prompt: Prompt) -> RequestTiming:
        """Stream one request to its end; its time to first token, latency and tokens."""
        from vllm.inputs import tokens_input

        # Tokenizing is part of serving a request (the bot's engine does it too): it is timed.
        started = time.perf_counter()
        ids = self.prompt_ids(prompt)
        first = 0.0
        tokens = 0
        request_id = f"raw-{uuid.uuid4().hex}"
        async for output in self._llm.generate(
            tokens_input(ids), self.sampling(prompt), request_id
        ):
            if output.outputs:
                new = len(output.outputs[0].token_ids)
                if new and not first:
                    first = time.perf_counter()
                tokens += new
        end = time.perf_counter()
        return RequestTiming(first - started if first else end - started, end - started, tokens)

    async def round(self, prompts: Sequence[Prompt], concurrency: int) -> RoundResult:
        """N requests started together, cycling through the prompts."""
        work = [prompts[i % len(prompts)] for i in range(concurrency)]
        started = time.perf_counter()
        timings = await asyncio.gather(*(self.one(p) for p in work))
        return RoundResult(concurrency, time.perf_counter() - started, list(timings))
