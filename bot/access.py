"""Who may use which command: config.yaml's `access` rules, one decision for every path.

A slash command, its autocomplete, a reply's buttons and the console all ask here, on every
platform; adapters only say who the person is (their id, and their roles where the
platform has roles).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from bot.config import CommandAccess, Config
from bot.errors import UserError
from bot.i18n import Text, _
from bot.invocation import User


class Access:
    """Decides from config.yaml's `access` rules whether a person may use a command."""

    def __init__(self, rules: Mapping[str, CommandAccess]) -> None:
        self._rules = dict(rules)

    def refusal(self, command: str, platform: str, user: User) -> Text | None:
        """Why the rules refuse `user` the command, or None when they may use it.

        A rule for the command and one for its group ("story" for "story start") both
        apply: each must let the person through.
        """
        words = command.split()
        names = [command] if len(words) < 2 else [words[0], command]
        for name in names:
            rule = self._rules.get(name)
            if rule is not None and not _lets_through(rule, platform, user):
                return _("You can't use /{command} here.", command=command)
        return None

    def check(self, command: str, platform: str, user: User) -> None:
        """Raise UserError when the rules refuse `user` the command."""
        refused = self.refusal(command, platform, user)
        if refused is not None:
            raise UserError(refused)

    def allows(self, command: str, platform: str, user: User) -> bool:
        """True when the rules let `user` use the command."""
        return self.refusal(command, platform, user) is None


def _lets_through(rule: CommandAccess, platform: str, user: User) -> bool:
    person = f"{platform}:{user.id}"
    ids = set(user.roles)
    names = {n.casefold() for n in user.role_names}

    def has(wanted: tuple[str, ...]) -> bool:
        return any(w in ids or w.casefold() in names for w in wanted)

    if person in rule.deny_users or has(rule.deny_roles):
        return False
    if rule.allow_users or rule.allow_roles:
        # On a platform without roles, only allow_users can let someone through.
        return person in rule.allow_users or has(rule.allow_roles)
    return True


def unknown_command_names(config: Config, commands: Iterable[str]) -> list[str]:
    """Command names config.yaml names that no loaded plugin has, as "key: 'name'" lines.

    `access` may name a group ("story": every /story command); `permissions.admin_commands`
    and `router.cooldowns` name single commands.
    """
    full = set(commands)
    groups = {name.split()[0] for name in full}
    named = (
        ("access", config.access, full | groups),
        ("permissions.admin_commands", config.permissions.admin_commands, full),
        ("router.cooldowns", config.router.cooldowns, full),
    )
    problems: list[str] = []
    for key, names, known in named:
        for name in names:
            if name in known:
                continue
            close = difflib.get_close_matches(name, sorted(full), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{key}: {name!r}{hint}")
    return problems
