"""Telling when a reply repeats its own prompt's instructions instead of answering them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from engine import ChatMessage

# Runs this long shared with the instructions make an echo: Chinese characters, or words.
HAN_RUN = 8
WORD_RUN = 6
_QUOTED = re.compile(r"<quote>.*?</quote>", re.DOTALL)
_HAN = re.compile(r"[\u3400-\u9fff]+")
_WORD = re.compile(r"[^\W_]+")


def runs_of(text: str) -> set[str]:
    """Every run of HAN_RUN Chinese characters and of WORD_RUN words in the text: what
    echoes and copies are measured in."""
    runs: set[str] = set()
    for line in text.splitlines():
        # Punctuation between Chinese characters does not break a run: a model repeating
        # an instruction drops or changes it.
        han = "".join(_HAN.findall(line))
        runs.update(han[i : i + HAN_RUN] for i in range(len(han) - HAN_RUN + 1))
    words = [w.casefold() for w in _WORD.findall(text) if not _HAN.fullmatch(w)]
    runs.update(" ".join(words[i : i + WORD_RUN]) for i in range(len(words) - WORD_RUN + 1))
    return runs


class EchoDetector:
    """The instructions of a prompt, less everything people wrote into it.

    People's text (quoted material, the options they typed: a premise, a topic) may come
    back in a good reply; the prompt's own sentences never should.
    """

    def __init__(self, messages: Sequence[ChatMessage], people_text: Iterable[str]) -> None:
        text = "\n".join(m.content for m in messages if m.role in ("system", "user"))
        text = _QUOTED.sub("\n", text)
        for value in sorted((v for v in people_text if len(v) >= 2), key=len, reverse=True):
            text = text.replace(value, "\n")
        self._runs = runs_of(text)

    def echoes(self, reply: str) -> bool:
        """True when the reply repeats a run of the instructions, or the tags that quote
        material in prompts."""
        return "quote>" in reply or bool(self._runs & runs_of(reply))


def copied_share(text: str, source: set[str]) -> float:
    """The share of the text's runs found among `source` runs (0 for a text with none)."""
    runs = runs_of(text)
    return len(runs & source) / len(runs) if runs else 0.0
