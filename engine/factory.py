"""Builds the process's one engine from its settings."""

from __future__ import annotations

from collections.abc import Callable

from engine.base import Engine
from engine.settings import EngineSettings


def build_engine(settings: EngineSettings, progress: Callable[[str], None] | None = None) -> Engine:
    """The engine the settings name; nothing is loaded until its start()."""
    if settings.backend == "vllm":
        # Imported here so commands that need no engine never import vLLM (seconds saved).
        from engine.vllm_local import VllmEngine

        return VllmEngine(settings, progress)
    if settings.backend == "remote":
        from engine.remote import RemoteEngine

        return RemoteEngine(settings, progress)
    raise ValueError(f"unknown engine backend {settings.backend!r}")
