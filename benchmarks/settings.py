"""What one benchmark run does: which systems, how much load, which model and engine."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from engine.bundled import SMOLLM2
from engine.settings import EngineSettings

Part = Literal["core", "raw", "bot", "naive"]
PARTS: tuple[Part, ...] = ("core", "raw", "bot", "naive")


@dataclass(frozen=True, slots=True)
class BenchSettings:
    """Every knob of a run; the defaults are the full run on the bundled model."""

    # full, reduced or smoke: written into the results so nobody mistakes one for another.
    label: str = "full"
    parts: tuple[Part, ...] = PARTS
    concurrency: tuple[int, ...] = (1, 4, 16, 32)
    # Measured rounds per concurrency (each round: N requests started together); even, so
    # raw and bot each go first in half of them.
    rounds: int = 4
    # Unmeasured rounds per concurrency before those (vLLM's first batches of a size are slow).
    warmup_rounds: int = 1
    # 48, not more: the full run must fit in 20 minutes on a 2-core machine whose speed
    # drifts by 20% from one hour to the next (64 took 18.9 and then 20.5 minutes).
    new_tokens: int = 48
    naive_requests: int = 6
    # Fairness: the flood's size, and requests the quiet channel sends idle and during it.
    flood: int = 32
    quiet_requests: int = 8
    # Core overhead: commands kept in flight, and seconds measured per repetition.
    core_in_flight: int = 32
    core_seconds: float = 3.0
    core_repeats: int = 3
    # The engine: "scripted" (smoke: no model at all) or a backend of engine/settings.py.
    backend: str = "vllm"
    # The small bundled model: the benchmark measures what the bot adds to vLLM, and the
    # 135M model keeps a full run inside 20 minutes on two cores (--model changes it).
    model: str = SMOLLM2.model_id
    cache_dir: str = ".cache/skaldbot"
    # auto resolves as the bot's engine does (engine/settings.py); the run records which.
    dtype: str = "auto"
    max_model_len: int = 2048
    kv_cache_gib: float = 1.0
    # Above the largest concurrency, so a quiet channel never waits for a free sequence slot.
    max_num_seqs: int = 64
    enforce_eager: bool = True
    # The naive baseline's torch device: auto picks cuda when torch sees a GPU.
    naive_device: str = "auto"
    seed: int = 1234

    def engine_settings(self) -> EngineSettings:
        """The engine settings both vLLM systems run with."""
        return EngineSettings(
            backend="vllm",
            model=self.model,
            cache_dir=Path(os.environ.get("SKALD_CACHE_DIR") or self.cache_dir),
            dtype=self.dtype,
            max_model_len=self.max_model_len,
            kv_cache_gib=self.kv_cache_gib,
            max_num_seqs=self.max_num_seqs,
            enforce_eager=self.enforce_eager,
        )

    def to_json(self) -> str:
        """These settings as JSON (the worker processes read them back)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> BenchSettings:
        """Settings written by to_json."""
        data: dict[str, Any] = json.loads(text)
        for key in ("parts", "concurrency"):
            data[key] = tuple(data[key])
        return cls(**data)


SMOKE = BenchSettings(
    label="smoke",
    parts=("core", "bot"),
    concurrency=(1, 4),
    rounds=2,
    warmup_rounds=1,
    new_tokens=16,
    flood=8,
    quiet_requests=3,
    core_in_flight=8,
    core_seconds=0.5,
    core_repeats=2,
    backend="scripted",
)

REDUCED = BenchSettings(
    label="reduced",
    concurrency=(1, 4, 32),
    rounds=2,
    warmup_rounds=1,
    new_tokens=16,
    naive_requests=3,
    flood=32,
    quiet_requests=3,
    core_seconds=2.0,
    core_repeats=2,
)
