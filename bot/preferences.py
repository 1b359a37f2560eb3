"""Preference declarations, and a channel's validated view of them."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.errors import DeclarationError, OptionError, UserError
from bot.i18n import Text, _
from bot.options import Choice, OptionKind, OptionSpec


@dataclass(frozen=True, slots=True)
class Pref:
    """One preference key a plugin reads: its type, default, allowed values and meaning."""

    key: str
    type: type[str] | type[int] | type[float] | type[bool]
    default: Any
    description: str
    choices: tuple[str, ...] | tuple[int, ...] = ()
    min: float | None = None
    max: float | None = None
    max_length: int = 200

    def __post_init__(self) -> None:
        if not self.key or not all(part.isidentifier() for part in self.key.split(".")):
            raise DeclarationError(f"preference key {self.key!r} must be dotted identifiers")
        self.parse(self.default)  # a default that its own rules refuse is a declaration bug

    def _spec(self) -> OptionSpec:
        return _option_spec(self)

    def parse(self, raw: object) -> Any:
        """Validate a value given as text or typed; raises OptionError naming the key."""
        return self._spec().convert(raw)

    def allowed(self) -> Text:
        """A short phrase saying what values this key takes."""
        return self._spec().allowed()

    def to_json(self) -> dict[str, Any]:
        """The declaration as plain data."""
        data: dict[str, Any] = {
            "key": self.key,
            "type": self.type.__name__,
            "default": self.default,
            "description": self.description,
        }
        if self.choices:
            data["choices"] = list(self.choices)
        if self.min is not None:
            data["min"] = self.min
        if self.max is not None:
            data["max"] = self.max
        return data


# Every command reads preferences through these specs: build each one once, not per read.
@functools.lru_cache(maxsize=1024)
def _option_spec(pref: Pref) -> OptionSpec:
    """The option spec that validates a preference's values."""
    kinds: dict[type, OptionKind] = {str: "str", int: "int", float: "float", bool: "bool"}
    return OptionSpec(
        name=pref.key,
        kind=kinds[pref.type],
        description=pref.description,
        required=True,
        min_value=pref.min,
        max_value=pref.max,
        max_length=pref.max_length if pref.type is str else None,
        choices=tuple(Choice(str(c), c) for c in pref.choices),
    )


class PrefCatalog:
    """Every declared preference key of the loaded plugins (and the core)."""

    def __init__(self, prefs: Iterable[Pref] = ()) -> None:
        self._prefs: dict[str, Pref] = {}
        for pref in prefs:
            self.add(pref)

    def add(self, pref: Pref) -> None:
        """Declare one key; a key may be declared once."""
        if pref.key in self._prefs and self._prefs[pref.key] != pref:
            raise DeclarationError(f"preference {pref.key!r} is already declared differently")
        self._prefs[pref.key] = pref

    def remove(self, key: str) -> None:
        """Forget a key (its plugin was unloaded); stored values stay in the database."""
        self._prefs.pop(key, None)

    def get(self, key: str) -> Pref:
        """The declaration of a key, or a UserError with a suggestion."""
        try:
            return self._prefs[key]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(key, self._prefs, n=1)
            if close:
                raise UserError(
                    _(
                        "There is no preference `{key}`. Did you mean `{close}`?",
                        key=key,
                        close=close[0],
                    )
                ) from None
            raise UserError(
                _("There is no preference `{key}`. See `/prefs show`.", key=key)
            ) from None

    def __iter__(self) -> Any:
        return iter(sorted(self._prefs.values(), key=lambda p: p.key))

    def __contains__(self, key: object) -> bool:
        return key in self._prefs


class Preferences:
    """A channel's preferences: stored values where set, declared defaults elsewhere."""

    def __init__(self, catalog: PrefCatalog, stored: Mapping[str, Any]) -> None:
        self._catalog = catalog
        self._stored = dict(stored)

    def get(self, key: str) -> Any:
        """The value of a declared key for this channel."""
        pref = self._catalog.get(key)
        if key in self._stored:
            try:
                return pref.parse(self._stored[key])
            except OptionError:
                pass  # the declaration changed since it was stored: fall back to the default
        return pref.default

    def text(self, key: str) -> str:
        """A text preference's value."""
        return str(self.get(key))

    def is_set(self, key: str) -> bool:
        """True when the channel stored its own value for the key."""
        return key in self._stored

    def items(self) -> list[tuple[Pref, Any, bool]]:
        """(declaration, value, set here?) for every declared key."""
        return [(p, self.get(p.key), p.key in self._stored) for p in self._catalog]
