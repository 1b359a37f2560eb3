"""Row 1, raw vLLM: AsyncLLM called directly, N concurrent streams of the same prompts."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import os
import time
import uuid
from collections.abc import Sequence
from typing import Any

from benchmarks.settings import BenchSettings
from benchmarks.stats import RequestTiming, RoundResult
from benchmarks.workload import Prompt
from engine.model_prep import resolve_model_path

log = logging.getLogger(__name__)

# The chat-format markers the bot's engine stops at (engine/vllm_local.py); passed here
# too so both systems sample with the same stop ids masked until min_tokens.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>")


class RawVllm:
    """An AsyncLLM built with the very arguments the bot's engine uses, and nothing else."""

    def __init__(self, settings: BenchSettings) -> None:
        self._settings = settings
        self._llm: Any = None
        self._tokenizer: Any = None
        self._stop_ids: list[int] = []

    def start(self) -> None:
        """Build the tokenizer and the AsyncLLM (blocking; tens of seconds on a CPU)."""
        engine = self._settings.engine_settings()
        model_path = resolve_model_path(engine)
        kv_gib = max(1, math.ceil(engine.kv_cache_gib))
        # The same environment engine/vllm_local.py sets before building its AsyncLLM.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["VLLM_NO_USAGE_STATS"] = "1"
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(kv_gib)
        os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
        from transformers import AutoTokenizer
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        self._tokenizer = AutoTokenizer.from_pretrained(str(model_path))
        vocab = self._tokenizer.get_vocab()
        eos = self._tokenizer.eos_token_id
        self._stop_ids = [eos] if isinstance(eos, int) else []
        self._stop_ids += [
            vocab[t] for t in END_OF_TURN_TOKENS if t in vocab and vocab[t] not in self._stop_ids
        ]
        args = AsyncEngineArgs(
            model=str(model_path),
            dtype=engine.dtype,
            max_model_len=engine.max_model_len,
            max_num_seqs=engine.max_num_seqs,
            enforce_eager=engine.enforce_eager,
            enable_prefix_caching=engine.enable_prefix_caching,
            kv_cache_memory_bytes=kv_gib << 30,
            scheduling_policy="priority",
            disable_log_stats=True,
        )
        self._llm = AsyncLLM.from_engine_args(args)

    def prompt_ids(self, prompt: Prompt) -> list[int]:
        """Token ids of the prompt with the chat template, as the bot's engine makes them."""
        conversation = [{"role": m.role, "content": m.content} for m in prompt.messages]
        text = self._tokenizer.apply_chat_template(
            conversation, tokenize=False, add_generation_prompt=True
        )
        ids: list[int] = self._tokenizer.encode(text, add_special_tokens=False)
        return ids

    def sampling(self, prompt: Prompt, new_tokens: int) -> Any:
        """SamplingParams with the plugin's settings and a fixed reply length."""
        from vllm.sampling_params import RequestOutputKind, SamplingParams

        params = prompt.params
        return SamplingParams(
            max_tokens=new_tokens,
            min_tokens=new_tokens,
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
        sampling = self.sampling(prompt, self._settings.new_tokens)
        first = 0.0
        tokens = 0
        request_id = f"raw-{uuid.uuid4().hex}"
        async for output in self._llm.generate(tokens_input(ids), sampling, request_id):
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

    async def close(self) -> None:
        """Shut the engine core down."""
        llm, self._llm = self._llm, None
        if llm is not None:
            engine_log = logging.getLogger("vllm.v1.engine.async_llm")
            level = engine_log.level
            # Its output handler reports the engine core's planned exit as an error.
            engine_log.setLevel(logging.CRITICAL)
            try:
                await asyncio.to_thread(llm.shutdown)
            finally:
                engine_log.setLevel(level)
            with contextlib.suppress(Exception):
                await asyncio.sleep(0)
            del llm
            gc.collect()
