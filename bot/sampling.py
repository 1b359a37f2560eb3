"""How each plugin samples from the model: plugins/prompts/sampling.yaml, chosen by `make eval`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bot.prompts import PROMPTS_DIR
from engine import GenerationParams

SAMPLING_FILE = PROMPTS_DIR / "sampling.yaml"
# GenerationParams fields a settings entry may set; the other vLLM sampling fields go
# through GenerationParams.extra (the backends pass on what they know).
_FIELDS = frozenset({"temperature", "top_p", "repetition_penalty", "max_tokens"})
_EXTRA = frozenset({"min_p", "top_k", "presence_penalty", "frequency_penalty"})


class SamplingError(Exception):
    """The sampling file is unreadable or names a setting no backend knows."""


def _entries(section: object, where: str) -> dict[str, dict[str, dict[str, float]]]:
    """`{plugin: {request: {setting: value}}}`, every name checked."""
    if not isinstance(section, Mapping):
        raise SamplingError(f"{where} must map plugins to their requests")
    table: dict[str, dict[str, dict[str, float]]] = {}
    for plugin, requests in section.items():
        if not isinstance(requests, Mapping):
            raise SamplingError(f"{where}.{plugin} must map request names to settings")
        table[str(plugin)] = {}
        for request, settings in requests.items():
            if not isinstance(settings, Mapping):
                raise SamplingError(f"{where}.{plugin}.{request} must map settings to values")
            unknown = set(settings) - _FIELDS - _EXTRA
            if unknown:
                raise SamplingError(
                    f"{where}.{plugin}.{request}: unknown setting {', '.join(sorted(unknown))}"
                )
            table[str(plugin)][str(request)] = {str(k): float(v) for k, v in settings.items()}
    return table


class SamplingTable:
    """Sampling settings per plugin and request, with per-model sections over the defaults."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._default = _entries(data.get("default", {}), "default")
        models = data.get("models", {}) or {}
        if not isinstance(models, Mapping):
            raise SamplingError("models must map model names to their settings")
        self._models = {str(m): _entries(s, f"models.{m}") for m, s in models.items()}

    @classmethod
    def load(cls, path: Path = SAMPLING_FILE) -> SamplingTable:
        """The table in a YAML file."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SamplingError(f"cannot read sampling settings {path}: {exc}") from exc
        if not isinstance(data, Mapping):
            raise SamplingError(f"{path} must hold a mapping")
        return cls(data)

    def settings(self, model: str, plugin: str, request: str) -> dict[str, float]:
        """The settings of one request: its plugin's `default`, then the request's own,
        first from the defaults, then from the model's section (later ones win)."""
        merged: dict[str, float] = {}
        for table in (self._default, self._models.get(model, {})):
            entries = table.get(plugin, {})
            merged.update(entries.get("default", {}))
            merged.update(entries.get(request, {}))
        return merged

    def params(self, model: str, plugin: str, request: str, **overrides: Any) -> GenerationParams:
        """GenerationParams for one request; `overrides` (max_tokens, stop, ...) win."""
        fields: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in self.settings(model, plugin, request).items():
            if key in _FIELDS:
                fields[key] = int(value) if key == "max_tokens" else value
            else:
                extra[key] = int(value) if key == "top_k" else value
        extra.update(overrides.pop("extra", {}))
        fields.update(overrides)
        return GenerationParams(**fields, extra=extra)
