"""The evaluation's items: data in items.yaml, one command conversation each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ITEMS_FILE = Path(__file__).resolve().parent / "items.yaml"
KINDS = ("story", "lyrics", "quiz", "summary", "rewrite", "explain", "feedback")


@dataclass(frozen=True, slots=True)
class Item:
    """One evaluation item: command lines typed in a fresh channel, and what to check."""

    id: str
    language: str
    kind: str
    steps: tuple[str, ...]
    # Chat messages (author, text) in the channel before the steps: what /summarize reads.
    history: tuple[tuple[str, str], ...] = ()
    # Names that every reply must keep (story: the premise's people).
    names: tuple[str, ...] = ()
    # Words of the topic's field; one of them shows a reply (a quiz question) is on topic.
    topic_words: tuple[str, ...] = ()
    # Facts a summary must keep: each a list of ways to write it ("Friday", "周五").
    facts: tuple[tuple[str, ...], ...] = ()
    # The people of the conversation, as the input names them.
    people: tuple[str, ...] = ()
    # Meaning words a rewrite keeps: each a list of acceptable forms.
    keep: tuple[tuple[str, ...], ...] = ()
    # The text a rewrite starts from (it must differ from it).
    source: str = ""


def _alternatives(values: list[Any]) -> tuple[tuple[str, ...], ...]:
    return tuple(
        tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)
        for value in values
    )


def load_items(path: Path = ITEMS_FILE) -> list[Item]:
    """Every item of the file, checked for the fields its kind needs."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    items: list[Item] = []
    for raw in data["items"]:
        kind = raw["kind"]
        if kind not in KINDS:
            raise ValueError(f"item {raw['id']}: unknown kind {kind!r}")
        if raw["language"] not in ("en", "zh"):
            raise ValueError(f"item {raw['id']}: language must be en or zh")
        items.append(
            Item(
                id=raw["id"],
                language=raw["language"],
                kind=kind,
                steps=tuple(raw["steps"]),
                history=tuple((str(a), str(t)) for a, t in raw.get("history", [])),
                names=tuple(raw.get("names", [])),
                topic_words=tuple(str(w) for w in raw.get("topic_words", [])),
                facts=_alternatives(raw.get("facts", [])),
                people=tuple(raw.get("people", [])),
                keep=_alternatives(raw.get("keep", [])),
                source=raw.get("source", ""),
            )
        )
    ids = [item.id for item in items]
    if len(ids) != len(set(ids)):
        raise ValueError("item ids must be unique")
    return items
