"""Engine settings, read from config.yaml's `engine:` section."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from engine.bundled import QWEN_CODER_05B

# The embedded default: the bundled model `make eval` chose (README, "Quality").
BUNDLED_MODEL = QWEN_CODER_05B.model_id


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
    # auto: bfloat16 where the hardware computes in it natively, else float32 (see
    # resolve_dtype); or any dtype vLLM takes.
    dtype: str = "auto"
    enforce_eager: bool = True
    enable_prefix_caching: bool = True
    # Where the converted bundled model lives (SKALD_CACHE_DIR overrides).
    cache_dir: Path = field(default_factory=lambda: Path(".cache/skaldbot"))
    # The remote backend: base URLs of `vllm serve` servers, e.g. http://10.0.0.5:8000 or
    # http://10.0.0.5:8000/v1 (the form OpenAI clients take); see server_root. Their API
    # key, if started with --api-key, comes from SKALD_ENGINE_API_KEY (see server_keys).
    urls: tuple[str, ...] = ()
    # Send each request's priority: only for servers started with
    # `--scheduling-policy priority` (others refuse a priority other than 0).
    remote_priority: bool = False
    # Seconds between /health probes of each server (a failed one is probed this often too).
    health_interval_s: float = 5.0
    # Seconds to wait for a server to answer before trying another one.
    connect_timeout_s: float = 10.0


# The environment variable holding the servers' API key (vllm serve --api-key), if any:
# one key for every server, or one per server, comma-separated, in the order of the URLs.
API_KEY_VARIABLE = "SKALD_ENGINE_API_KEY"


def server_root(url: str) -> str:
    """A server's root URL from either usual form: `http://h:8000`, `http://h:8000/v1/`."""
    root = url.strip().rstrip("/")
    return root.removesuffix("/v1").rstrip("/")


def server_keys(count: int, value: str | None) -> list[str | None]:
    """Each of `count` servers' API key from SKALD_ENGINE_API_KEY's value (None: no key)."""
    keys: list[str | None] = [k.strip() for k in (value or "").split(",")]
    if not any(keys):
        return [None] * count
    if len(keys) == 1:
        return keys * count
    if len(keys) != count or not all(keys):
        raise ValueError(
            f"{API_KEY_VARIABLE} holds {len(keys)} keys for {count} server(s): give one key "
            "for all of them, or one per server in the order of engine.urls"
        )
    return keys


# CPU features that compute bfloat16 natively (/proc/cpuinfo names: x86, then ARM).
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str] | None:
    """The CPU's feature flags, or None where the system does not list them."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def resolve_dtype(dtype: str, *, gpu: bool, flags: frozenset[str] | None) -> str:
    """The dtype to load the model in: `auto` becomes bfloat16 or float32.

    On a CPU without bfloat16 instructions (AVX2 only, say) vLLM falls back to slow
    emulated matrix products: measured on such a 2-core machine, 16 concurrent streams of
    the bundled model made 19 tokens/s in bfloat16 and 55 in float32. Where the flags are
    not known, the model's own bfloat16 is kept.
    """
    if dtype != "auto":
        return dtype
    if gpu or flags is None or flags & NATIVE_BF16_FLAGS:
        return "bfloat16"
    return "float32"
