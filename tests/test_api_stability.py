"""The public API changes only with a note: docs/api.txt and CHANGELOG.md keep step with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import api_surface
from tests.api_surface import (
    BASELINE,
    changelog_sections,
    changes,
    project_version,
    read_snapshot,
    surface,
    unnoted,
)

HOW_TO_UPDATE = (
    "If the change is meant: 1) in CHANGELOG.md, under `## {version}` (the version in "
    "pyproject.toml; raise it there first if {version} is already released), say what "
    "changed, naming each entry above in backticks, e.g. `Context.generate`; 2) run "
    "`PYTHONPATH=. python -m tests.api_surface --write` to record it in docs/api.txt."
)


def test_the_public_api_is_what_docs_api_txt_records() -> None:
    differ = changes(read_snapshot(), surface())
    report = "\n".join(f"{name}\n  was: {old}\n  now: {new}" for name, (old, new) in differ.items())
    assert not differ, (
        "The public API (bot.__all__, bot.testing.__all__) changed:\n"
        + report
        + "\n"
        + HOW_TO_UPDATE.format(version=project_version())
    )


def test_every_recorded_change_is_noted_in_the_changelog() -> None:
    missing = unnoted(read_snapshot(), changelog_sections())
    assert not missing, (
        "docs/api.txt records changes CHANGELOG.md does not name: "
        + ", ".join(missing)
        + "\n"
        + HOW_TO_UPDATE.format(version=project_version())
    )


def test_the_changelog_has_the_project_s_version() -> None:
    # A version whose changes are recorded has its section (the newest comes first).
    versions = {version for version, _text in read_snapshot().values()} - {BASELINE}
    assert versions <= set(changelog_sections())


# -- the mechanism itself, on a copy --


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A small API of two entries, the first API, with a changelog to edit."""
    live = {"bot.Haiku": "class()", "bot.Haiku.write": "async def(self, lines: 'int')"}
    monkeypatch.setattr(api_surface, "surface", lambda: live)
    monkeypatch.setattr(api_surface, "SNAPSHOT", tmp_path / "api.txt")
    monkeypatch.setattr(api_surface, "CHANGELOG", tmp_path / "CHANGELOG.md")
    (tmp_path / "CHANGELOG.md").write_text("# Changes\n\n## 0.1.0\n\nThe first API.\n")
    assert api_surface.write(BASELINE) == []
    return live


def test_a_changed_signature_is_found_and_needs_a_note(api: dict[str, str]) -> None:
    api["bot.Haiku.write"] = "async def(self, lines: 'int', season: 'str')"
    api["bot.Tanka"] = "class()"
    del api["bot.Haiku"]
    recorded = read_snapshot(api_surface.SNAPSHOT)
    assert set(changes(recorded, api)) == {"bot.Haiku", "bot.Haiku.write", "bot.Tanka"}
    # Without a note nothing is recorded, and each entry lacking one is named.
    assert api_surface.write("0.2.0") == [
        "bot.Haiku (0.2.0)",
        "bot.Haiku.write (0.2.0)",
        "bot.Tanka (0.2.0)",
    ]
    assert read_snapshot(api_surface.SNAPSHOT) == recorded
    # A note naming only some of them is not enough (a change made at the first version
    # needs its note as much as one made later).
    log = api_surface.CHANGELOG
    log.write_text(
        log.read_text().replace("## 0.1.0", "## 0.2.0\n\n`Haiku.write` takes a season.\n\n## 0.1.0")
    )
    assert api_surface.write("0.2.0") == ["bot.Haiku (0.2.0)", "bot.Tanka (0.2.0)"]
    log.write_text(
        log.read_text().replace(
            "takes a season.", "takes a season; `Tanka` is new; `Haiku` is gone."
        )
    )
    assert api_surface.write("0.2.0") == []
    recorded = read_snapshot(api_surface.SNAPSHOT)
    assert changes(recorded, api) == {}
    assert recorded["bot.Haiku"] == ("0.2.0", "removed")
    assert recorded["bot.Haiku.write"][0] == "0.2.0"
    # Removing the note later is caught too.
    log.write_text(log.read_text().replace("`Tanka` is new; ", ""))
    assert unnoted(recorded, changelog_sections(log)) == ["bot.Tanka (0.2.0)"]
