"""Sampling settings are data: per plugin and request, with per-model sections."""

from __future__ import annotations

import pytest

from bot.sampling import SamplingError, SamplingTable
from engine.bundled import SMOLLM2

TABLE = SamplingTable(
    {
        "default": {
            "story": {
                "default": {"temperature": 0.7, "min_p": 0.05, "repetition_penalty": 1.05},
                "recap": {"temperature": 0.3},
            }
        },
        "models": {SMOLLM2.model_id: {"story": {"default": {"min_p": 0.1}}}},
    }
)


def test_a_request_takes_its_plugin_default_then_its_own_settings() -> None:
    params = TABLE.params("some/model", "story", "recap", max_tokens=200)
    assert (params.temperature, params.repetition_penalty, params.max_tokens) == (0.3, 1.05, 200)
    assert params.extra == {"min_p": 0.05}


def test_a_model_section_overrides_the_defaults_for_that_model_only() -> None:
    assert TABLE.params(SMOLLM2.model_id, "story", "start").extra == {"min_p": 0.1}
    assert TABLE.params("other", "story", "start").extra == {"min_p": 0.05}


def test_a_plugin_without_settings_gets_the_engine_defaults() -> None:
    params = TABLE.params("other", "haiku", "default", max_tokens=60)
    assert params.max_tokens == 60 and params.extra == {}


def test_the_shipped_table_loads_and_unknown_settings_are_refused() -> None:
    SamplingTable.load()
    with pytest.raises(SamplingError, match="temprature"):
        SamplingTable({"default": {"story": {"default": {"temprature": 0.7}}}})
