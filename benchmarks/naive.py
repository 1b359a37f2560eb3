"""Row 3, the naive baseline: what a tutorial bot does, transformers `generate` one at a time.

No batching and no streaming: each request waits for the one before it, and the user sees
the reply only when generate() returns, so its time to first token is its whole latency.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from benchmarks.settings import BenchSettings
from benchmarks.stats import RequestTiming, RoundResult
from benchmarks.workload import Prompt
from engine.model_prep import resolve_model_path


class NaiveBot:
    """One transformers model, one request at a time."""

    def __init__(self, settings: BenchSettings) -> None:
        self._settings = settings
        self._model: Any = None
        self._tokenizer: Any = None
        self.device = "cpu"

    def start(self) -> None:
        """Load the model folder the vLLM systems use, in the same dtype."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = str(resolve_model_path(self._settings.engine_settings()))
        wanted = self._settings.naive_device
        self.device = (
            ("cuda" if torch.cuda.is_available() else "cpu") if wanted == "auto" else wanted
        )
        self._tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=getattr(torch, self._settings.dtype)
        )
        self._model = model.to(self.device).eval()

    def one(self, prompt: Prompt) -> RequestTiming:
        """Generate one reply of exactly `new_tokens` tokens with the plugin's sampling."""
        import torch

        new_tokens = self._settings.new_tokens
        params = prompt.params
        started = time.perf_counter()
        conversation = [{"role": m.role, "content": m.content} for m in prompt.messages]
        inputs = self._tokenizer.apply_chat_template(
            conversation, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.device)
        with torch.inference_mode():
            output = self._model.generate(
                **inputs,
                max_new_tokens=new_tokens,
                # Masks end-of-sequence until then, as min_tokens does in vLLM.
                min_new_tokens=new_tokens,
                do_sample=True,
                temperature=params.temperature,
                top_p=params.top_p,
                repetition_penalty=params.repetition_penalty,
                pad_token_id=self._tokenizer.eos_token_id,
            )
        tokens = int(output.shape[-1] - inputs["input_ids"].shape[-1])
        self._tokenizer.decode(output[0, inputs["input_ids"].shape[-1] :], skip_special_tokens=True)
        elapsed = time.perf_counter() - started
        return RequestTiming(elapsed, elapsed, tokens)

    def serial(self, prompts: Sequence[Prompt], count: int) -> list[RoundResult]:
        """`count` requests one after another; each is a round of concurrency 1."""
        rounds = []
        for number in range(count):
            timing = self.one(prompts[number % len(prompts)])
            rounds.append(RoundResult(1, timing.e2e_s, [timing]))
        return rounds
