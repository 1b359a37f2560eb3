"""Bad input gets one clear line, never a traceback, and the next command is served."""

from __future__ import annotations

import pytest

from tests.conftest import Console


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/stroy start premise:x", "⚠ Unknown command /stroy. Did you mean /story?"),
        ("/story strat", "⚠ /story has no subcommand 'strat'. Did you mean /story start?"),
        ("/story", "⚠ /story needs a subcommand: continue, end, recap, and start."),
        ("/story start", "⚠ `premise`: is required (What the story is about)."),
        (
            "/summarize messages:500",
            "⚠ `messages`: must be a whole number from 1 to 200 (got '500').",
        ),
        (
            "/summarize messages:lots",
            "⚠ `messages`: must be a whole number from 1 to 200 (got 'lots').",
        ),
        (
            "/prefs set key:story.genre value:western",
            "⚠ `story.genre`: must be one of fantasy, "
            "mystery, sci-fi, horror, romance, adventure, fairy-tale, or comedy (got 'western').",
        ),
        (
            "/story start premise:" + "x" * 20_000,
            "⚠ `premise`: is 20,000 characters; the limit is 500.",
        ),
        ('/story start premise:"a lighthouse', '⚠ Unbalanced quote: every " needs a closing ".'),
        (
            "/story start premise:x genre:western",
            "⚠ `genre`: must be one of fantasy, mystery, "
            "sci-fi, horror, romance, adventure, fairy-tale, or comedy (got 'western').",
        ),
        (
            "/summarize colour:blue",
            "⚠ /summarize has no option `colour`. Usage: /summarize "
            "[messages:<whole number>] [length:<short|medium|long>]",
        ),
        (
            "/summarize please",
            "⚠ I don't know where 'please' goes. Usage: /summarize "
            "[messages:<whole number>] [length:<short|medium|long>]",
        ),
        (
            "/rewrite text:hi styel:noir",
            "⚠ /rewrite has no option `styel`. Did you mean `style`? "
            "Usage: /rewrite text:<text> style:<text>",
        ),
    ],
)
async def test_bad_input_is_one_line_and_the_next_command_works(
    console: Console, line: str, message: str
) -> None:
    out = await console.type(line)
    assert out.splitlines() == [f"> {line}", message]
    out = await console.type("/story start premise:a quiet harbour")
    assert "Scripted reply to: Begin a fantasy story about: a quiet harbour" in out
