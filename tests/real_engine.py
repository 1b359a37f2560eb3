"""A pytest plugin: one real vLLM engine on the bundled model, shared by the whole session.

Load it from tests/conftest.py with `pytest_plugins = ["tests.real_engine"]`. Starting vLLM
takes 20-40 s on a small CPU machine and two engines at once crawl, so every test that
needs the real engine shares this one.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from engine.bundled import SMOLLM2
from engine.settings import EngineSettings
from engine.vllm_local import VllmEngine

REPO_ROOT = Path(__file__).resolve().parent.parent


def real_engine_settings() -> EngineSettings:
    """Small settings for the test engine: SmolLM2-135M, 1 GiB KV cache, 8 sequences, 2,048
    tokens.

    The fast part of the suite runs the small model (about 3x the tokens/s of the default
    one on two cores); the default model has its own end-to-end test (test_end_to_end.py).
    """
    cache_dir = Path(os.environ.get("SKALD_CACHE_DIR") or REPO_ROOT / ".cache" / "skaldbot")
    return EngineSettings(
        model=SMOLLM2.model_id,
        cache_dir=cache_dir,
        kv_cache_gib=1,
        max_num_seqs=8,
        max_model_len=2048,
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def real_engine() -> AsyncIterator[VllmEngine]:
    """The session's one real engine, started once and closed at the end."""
    engine = VllmEngine(real_engine_settings())
    await engine.start()
    try:
        yield engine
    finally:
        await engine.close()
