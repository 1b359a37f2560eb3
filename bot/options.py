"""Command options declared once as annotations, then parsed and validated in one place.

A command's options are a dataclass. Each field's annotation gives the type, `Range[...]`
gives bounds, `Literal[...]` or an `Enum` gives choices, and `Param(...)` adds the
description, length limits and autocomplete. Every adapter builds its native form from
the `OptionSpec`s derived here, and every raw value goes through `OptionSpec.convert`.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    Literal,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from bot.errors import DeclarationError, OptionError
from bot.i18n import LOCALES, Join, Text, _, choice
from bot.invocation import ChannelRef
from bot.readable import readable

if TYPE_CHECKING:
    from bot.core import Core

__all__ = [
    "AutocompleteFn",
    "AutocompleteRequest",
    "Bounds",
    "Choice",
    "NoOptions",
    "OptionKind",
    "OptionSpec",
    "Param",
    "Range",
    "UserId",
    "build_options",
    "option_specs",
    "resolve_users",
]

_V = TypeVar("_V")
OptionKind = Literal["str", "int", "float", "bool", "user"]
Scalar = str | int | float | bool

# Strings longer than this are refused unless a declaration allows more (Discord's own cap is 6000).
DEFAULT_MAX_LENGTH = 2000
_TRUE = {"true", "yes", "y", "on", "1", "是"}
_FALSE = {"false", "no", "n", "off", "0", "否"}


class UserId(str):
    """A person on the platform, by id: the value of an option that names someone.

    Only an adapter makes one, from what its platform vouches for (a Discord user option,
    a Slack mention); typed text never becomes one, so a name that is nobody is refused.
    """

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Bounds:
    """Inclusive numeric bounds for an int or float option."""

    min: float | None
    max: float | None


if TYPE_CHECKING:
    # Type checkers see Range[int, 1, 50] as Annotated[int, 1, 50]: the plain int it is.
    from typing import Annotated as Range
else:

    class Range:
        """`Range[int, 1, 200]`: an int or float option with inclusive bounds (None for open)."""

        def __class_getitem__(cls, params: tuple[Any, ...]) -> Any:
            if not isinstance(params, tuple) or len(params) != 3:
                raise TypeError("Range takes three arguments: Range[type, min, max]")
            kind, lo, hi = params
            if kind not in (int, float):
                raise TypeError("Range works with int or float")
            return Annotated[kind, Bounds(lo, hi)]


@dataclass(frozen=True, slots=True)
class Choice:
    """One allowed value of an option, with the name shown to people."""

    name: str
    value: Scalar


AutocompleteFn = Callable[["AutocompleteRequest"], Awaitable[Sequence[str]]]


@dataclass(frozen=True, slots=True)
class AutocompleteRequest:
    """What a user has typed so far into an option that offers suggestions."""

    option: str
    current: str
    # The other options as typed so far (raw), e.g. the key while the value is being typed.
    options: Mapping[str, object]
    channel: ChannelRef
    # Everything the bot knows (loaded plugins, preference declarations), read-only here.
    core: Core

    def matching(self, candidates: Iterable[str]) -> list[str]:
        """Candidates starting with what was typed, then those containing it (25 at most)."""
        typed = self.current.strip().casefold()
        items = list(dict.fromkeys(candidates))
        starts = [c for c in items if c.casefold().startswith(typed)]
        contains = [c for c in items if typed in c.casefold() and c not in starts]
        return (starts + contains)[:25]


@dataclass(frozen=True, slots=True)
class Param:
    """Extra facts about an option: `Annotated[str, Param("What the story is about")]`."""

    description: str
    min_length: int | None = None
    max_length: int | None = None
    autocomplete: AutocompleteFn | None = None


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One option of one command, as every adapter sees it."""

    name: str
    kind: OptionKind
    description: str
    required: bool
    default: Any = None
    min_value: float | None = None
    max_value: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    choices: tuple[Choice, ...] = ()
    enum_type: type[enum.Enum] | None = None
    autocomplete: AutocompleteFn | None = None

    def allowed(self) -> Text:
        """A short phrase saying what values this option takes."""
        if self.choices:
            return _("one of {choices}", choices=Join(self.choice_names(), "or"))
        if self.kind == "bool":
            return _("true or false")
        if self.kind == "user":
            return _("a person: mention them, e.g. @name")
        lo, hi = self.min_value, self.max_value
        if self.kind == "int":
            if lo is not None and hi is not None:
                return _("a whole number from {lo} to {hi}", lo=_fmt(lo), hi=_fmt(hi))
            if lo is not None:
                return _("a whole number of at least {lo}", lo=_fmt(lo))
            if hi is not None:
                return _("a whole number of at most {hi}", hi=_fmt(hi))
            return _("a whole number")
        if self.kind == "float":
            if lo is not None and hi is not None:
                return _("a number from {lo} to {hi}", lo=_fmt(lo), hi=_fmt(hi))
            if lo is not None:
                return _("a number of at least {lo}", lo=_fmt(lo))
            if hi is not None:
                return _("a number of at most {hi}", hi=_fmt(hi))
            return _("a number")
        return _("text of {lo} to {hi} characters", lo=self.min_length or 1, hi=self.max_length)

    def choice_names(self) -> tuple[Text, ...]:
        """The choices as people of each language call them ("fantasy" / "奇幻")."""
        return tuple(choice(c.name) for c in self.choices)

    def convert(self, raw: object) -> Any:
        """Turn a raw value (text or an already typed value) into this option's type."""
        value: Any = self._coerce(raw)
        if self.choices:
            found = self._choice_of(value)
            if found is None:
                raise OptionError(self.name, self._not_allowed(raw))
            value = found.value
            return self.enum_type(value) if self.enum_type else value
        too_low = self.min_value is not None and value < self.min_value
        too_high = self.max_value is not None and value > self.max_value
        if self.kind in ("int", "float") and (too_low or too_high):
            raise OptionError(self.name, self._not_allowed(raw))
        if self.kind == "str":
            value = value.strip()
            if not value:
                raise OptionError(self.name, _("cannot be empty."))
            if self.max_length is not None and len(value) > self.max_length:
                raise OptionError(
                    self.name,
                    _(
                        "is {length:,} characters; the limit is {limit:,}.",
                        length=len(value),
                        limit=self.max_length,
                    ),
                )
            if self.min_length is not None and len(value) < self.min_length:
                raise OptionError(
                    self.name, _("needs at least {limit} characters.", limit=self.min_length)
                )
        return value

    def _choice_of(self, value: Scalar) -> Choice | None:
        """The choice a typed value names: its value, its name, or its name in any language."""
        for option in self.choices:
            if value == option.value or (
                isinstance(value, str) and value.casefold() == str(option.name).casefold()
            ):
                return option
        if isinstance(value, str):
            typed = value.strip().casefold()
            for option in self.choices:
                names = {choice(option.name).render(loc).casefold() for loc in LOCALES}
                if typed in names:
                    return option
        return None

    def _not_allowed(self, raw: object) -> Text:
        return _("must be {allowed} (got {value}).", allowed=self.allowed(), value=_show(raw))

    def _coerce(self, raw: object) -> Scalar:
        if isinstance(raw, enum.Enum):
            raw = raw.value
        if self.kind == "user":
            if isinstance(raw, UserId) and raw:
                return raw
        elif self.kind == "str":
            if isinstance(raw, bool | int | float | str):
                return readable(str(raw))
        elif self.kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().casefold()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
        elif self.kind == "int":
            if isinstance(raw, int) and not isinstance(raw, bool):
                return raw
            try:
                return int(str(raw).strip())
            except ValueError:
                pass
        else:
            try:
                number = float(raw) if isinstance(raw, int | float) else float(str(raw).strip())
            except ValueError:
                number = math.nan
            # NaN passes every bound check (all its comparisons are false), and an infinity
            # is no setting: neither is a number here.
            if math.isfinite(number) and not isinstance(raw, bool):
                return number
        raise OptionError(self.name, self._not_allowed(raw))

    def to_json(self) -> dict[str, Any]:
        """The declaration as plain data (for `skaldbot commands --json` and adapters)."""
        data: dict[str, Any] = {
            "name": self.name,
            "type": self.kind,
            "description": self.description,
            "required": self.required,
        }
        if not self.required:
            default = self.default.value if isinstance(self.default, enum.Enum) else self.default
            data["default"] = default
        if self.min_value is not None:
            data["min_value"] = self.min_value
        if self.max_value is not None:
            data["max_value"] = self.max_value
        if self.min_length is not None:
            data["min_length"] = self.min_length
        if self.max_length is not None:
            data["max_length"] = self.max_length
        if self.choices:
            data["choices"] = [{"name": c.name, "value": c.value} for c in self.choices]
        data["autocomplete"] = self.autocomplete is not None
        return data


@dataclass(frozen=True, slots=True)
class NoOptions:
    """The options of a command that takes none."""


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _show(raw: object) -> str:
    text = str(raw)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _kind_of(tp: Any) -> OptionKind:
    if tp is UserId:
        return "user"
    for kind, py in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if tp is py:
            return kind  # type: ignore[return-value]
    raise DeclarationError(
        f"unsupported option type {tp!r}: use str, int, float, bool, Range, Literal or an Enum"
    )


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    """(inner type, True) for `T | None`; (tp, False) otherwise."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return args[0], True
        raise DeclarationError(f"unions other than `T | None` are not options: {tp!r}")
    return tp, False


def _spec_for(name: str, hint: Any, field: dataclasses.Field[Any]) -> OptionSpec:
    bounds: Bounds | None = None
    param: Param | None = None
    tp = hint
    # Annotated may wrap the optional, or sit inside it: accept both.
    for _pass in range(2):
        if get_origin(tp) is Annotated:
            base, *extras = get_args(tp)
            for extra in extras:
                if isinstance(extra, Bounds):
                    bounds = extra
                elif isinstance(extra, Param):
                    param = extra
            tp = base
        tp, _optional = _strip_optional(tp)

    has_default = (
        field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
    )
    default = field.default if field.default is not dataclasses.MISSING else None
    if param is None:
        raise DeclarationError(f"option {name!r} needs a description: Annotated[..., Param('...')]")

    choices: tuple[Choice, ...] = ()
    enum_type: type[enum.Enum] | None = None
    if get_origin(tp) is Literal:
        values = get_args(tp)
        kinds = {_kind_of(type(v)) for v in values}
        if len(kinds) != 1:
            raise DeclarationError(f"option {name!r}: Literal values must share one type")
        kind = kinds.pop()
        choices = tuple(Choice(str(v), v) for v in values)
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        enum_type = tp
        kind = _kind_of(type(next(iter(tp)).value))
        choices = tuple(Choice(m.name.lower().replace("_", "-"), m.value) for m in tp)
    else:
        kind = _kind_of(tp)

    max_length = param.max_length
    if kind == "str" and not choices and max_length is None:
        max_length = DEFAULT_MAX_LENGTH
    return OptionSpec(
        name=name,
        kind=kind,
        description=param.description,
        required=not has_default,
        default=default,
        min_value=bounds.min if bounds else None,
        max_value=bounds.max if bounds else None,
        min_length=param.min_length,
        max_length=max_length if kind == "str" else None,
        choices=choices,
        enum_type=enum_type,
        autocomplete=param.autocomplete,
    )


def option_specs(options_type: type[Any]) -> tuple[OptionSpec, ...]:
    """The option declarations of an options dataclass, required options first."""
    if not dataclasses.is_dataclass(options_type):
        raise DeclarationError(f"{options_type.__name__} must be a dataclass")
    hints = get_type_hints(options_type, include_extras=True)
    specs = tuple(
        _spec_for(f.name, hints[f.name], f) for f in dataclasses.fields(options_type) if f.init
    )
    # Dataclass ordering already puts fields without defaults first; keep it explicit.
    return tuple(sorted(specs, key=lambda s: not s.required))


def build_options(
    options_type: type[Any], specs: Sequence[OptionSpec], raw: dict[str, object]
) -> Any:
    """Validate raw values against the specs and build the options object.

    Raises OptionError for the first value that does not fit, naming the option.
    """
    known = {s.name for s in specs}
    for name in raw:
        if name not in known:
            if not known:
                raise OptionError(name, _("this command takes no options."))
            raise OptionError(
                name,
                _(
                    "is not an option of this command (options: {options}).",
                    options=Join(tuple(sorted(known))),
                ),
            )
    values: dict[str, Any] = {}
    for spec in specs:
        if spec.name in raw and raw[spec.name] is not None:
            values[spec.name] = spec.convert(raw[spec.name])
        elif spec.required:
            raise OptionError(
                spec.name, _("is required ({description}).", description=_(spec.description))
            )
    return options_type(**values)


def resolve_users(
    specs: Sequence[OptionSpec],
    raw: Mapping[str, _V],
    person: Callable[[str], str | None],
) -> dict[str, _V | UserId]:
    """Raw options with each person-naming value resolved by the adapter's `person`.

    `person` reads the platform's mention and answers the id, or None when the text names
    nobody; such a value stays text, and the router refuses it with a clear message.
    """
    users = {s.name for s in specs if s.kind == "user"}
    resolved: dict[str, _V | UserId] = dict(raw)
    for name in users & set(raw):
        value = raw[name]
        if isinstance(value, str) and not isinstance(value, UserId):
            found = person(value.strip())
            if found:
                resolved[name] = UserId(found)
    return resolved
