"""Declaring options with annotations, and what each declaration accepts."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Literal

import pytest

from bot import Param, Range
from bot.errors import DeclarationError, OptionError
from bot.options import build_options, option_specs


class Tone(enum.Enum):
    WARM = "warm"
    DRY_WIT = "dry-wit"


@dataclass(frozen=True)
class Everything:
    text: Annotated[str, Param("Some text", max_length=10)]
    count: Annotated[Range[int, 1, 5], Param("How many")] = 3
    ratio: Annotated[Range[float, 0.0, 1.0], Param("A share")] = 0.5
    loud: Annotated[bool, Param("Shout?")] = False
    size: Annotated[Literal["s", "m", "l"], Param("A size")] = "m"
    tone: Annotated[Tone | None, Param("A tone")] = None


def build(**raw: object) -> Everything:
    result: Everything = build_options(Everything, option_specs(Everything), raw)
    return result


def test_values_from_text_become_typed() -> None:
    opts = build(text="hi", count="2", ratio="0.25", loud="yes", size="L", tone="dry-wit")
    assert opts == Everything("hi", 2, 0.25, True, "l", Tone.DRY_WIT)
    assert build(text="hi") == Everything("hi")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"text": "x" * 11}, "`text`: is 11 characters; the limit is 10."),
        ({"text": "   "}, "`text`: cannot be empty."),
        ({"text": "a", "count": "9"}, "`count`: must be a whole number from 1 to 5 (got '9')."),
        ({"text": "a", "count": "2.5"}, "`count`: must be a whole number from 1 to 5 (got '2.5')."),
        ({"text": "a", "ratio": "2"}, "`ratio`: must be a number from 0 to 1 (got '2')."),
        ({"text": "a", "ratio": "nan"}, "`ratio`: must be a number from 0 to 1 (got 'nan')."),
        (
            {"text": "a", "ratio": float("nan")},
            "`ratio`: must be a number from 0 to 1 (got 'nan').",
        ),
        ({"text": "a", "ratio": "-inf"}, "`ratio`: must be a number from 0 to 1 (got '-inf')."),
        ({"text": "a", "loud": "maybe"}, "`loud`: must be true or false (got 'maybe')."),
        ({"text": "a", "size": "xl"}, "`size`: must be one of s, m, or l (got 'xl')."),
        ({"text": "a", "tone": "cold"}, "`tone`: must be one of warm or dry-wit (got 'cold')."),
        ({}, "`text`: is required (Some text)."),
        (
            {"text": "a", "colour": "red"},
            "`colour`: is not an option of this command (options: "
            "count, loud, ratio, size, text, and tone).",
        ),
    ],
)
def test_a_wrong_value_names_the_option_and_what_is_allowed(
    raw: dict[str, object], message: str
) -> None:
    with pytest.raises(OptionError) as caught:
        build(**raw)
    assert str(caught.value.message) == message


def test_declarations_become_plain_data_for_the_adapters() -> None:
    data = {spec.name: spec.to_json() for spec in option_specs(Everything)}
    assert data["count"] == {
        "name": "count",
        "type": "int",
        "description": "How many",
        "required": False,
        "default": 3,
        "min_value": 1,
        "max_value": 5,
        "autocomplete": False,
    }
    assert data["tone"]["choices"] == [
        {"name": "warm", "value": "warm"},
        {"name": "dry-wit", "value": "dry-wit"},
    ]
    assert data["text"]["required"] and data["text"]["max_length"] == 10


def test_an_option_without_a_description_is_refused_at_declaration() -> None:
    @dataclass
    class Bare:
        topic: str

    with pytest.raises(DeclarationError, match="needs a description"):
        option_specs(Bare)


def test_text_with_undecodable_bytes_is_kept_with_replacement_characters() -> None:
    # "caf\xe9" read as UTF-8 with surrogateescape, as Python reads a terminal's bad byte.
    assert build(text="caf\udce9").text == "caf\ufffd"
