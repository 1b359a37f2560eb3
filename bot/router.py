"""From an invocation to a running handler: find, validate, check, run, report."""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import logging
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.access import Access
from bot.checks import Cooldowns, Permissions
from bot.context import Context
from bot.errors import UserError
from bot.i18n import Join, Languages, _, choice
from bot.invocation import Invocation
from bot.logcontext import add_fields, log_fields
from bot.memory.controls import ChannelControls
from bot.memory.problems import storage_kind, storage_problem
from bot.memory.store import PluginStore
from bot.options import build_options
from bot.plugin import CommandSpec
from bot.preferences import Preferences
from bot.prompts import PromptRenderer
from bot.reply import Reply
from bot.safety import Matcher
from engine import (
    EngineError,
    EngineRestarting,
    EngineStalled,
    EngineUnavailable,
    StreamInterrupted,
)

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Run:
    """One dispatched invocation: its reply stream and the task producing it."""

    invocation: Invocation
    reply: Reply
    task: asyncio.Task[None]

    def cancel(self) -> None:
        """Stop the handler (the engine request is aborted with it)."""
        self.task.cancel()

    async def wait(self) -> None:
        """Wait until the handler has finished, however it finished."""
        await asyncio.gather(self.task, return_exceptions=True)


class Router:
    """Routes invocations to plugin handlers, each in its own task."""

    def __init__(self, core: Core) -> None:
        self._core = core
        settings = core.config.router
        self.permissions = Permissions(core.config.permissions)
        self.access = Access(core.config.access)
        self.cooldowns = Cooldowns(settings, core.db)
        self._timeout = settings.handler_timeout_s
        self._tasks: set[asyncio.Task[None]] = set()

    def dispatch(self, inv: Invocation) -> Run:
        """Start serving an invocation now; the adapter reads the reply as it comes."""
        reply = Reply(Languages(self._core.config.language, self._core.config.language))
        task = asyncio.create_task(self._serve(inv, reply), name=f"skald-{inv.id}-{inv.command}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Run(inv, reply, task)

    async def shutdown(self) -> None:
        """Cancel every running handler and wait for them to finish."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def resolve(self, name: str) -> CommandSpec:
        """The command with this name, or a UserError suggesting the closest one."""
        commands = self._core.plugins.commands
        words = name.strip().lstrip("/").split()
        key = " ".join(words)
        if key in commands:
            return commands[key]
        subs = sorted(
            c.words[1]
            for c in commands.values()
            if len(c.words) == 2 and words and c.words[0] == words[0]
        )
        if subs and len(words) == 1:
            raise UserError(
                _(
                    "/{command} needs a subcommand: {subcommands}.",
                    command=words[0],
                    subcommands=Join(tuple(subs)),
                )
            )
        if subs:
            close = difflib.get_close_matches(words[1], subs, n=1)
            if close:
                raise UserError(
                    _(
                        "/{command} has no subcommand {word}. Did you mean /{command} {close}?",
                        command=words[0],
                        word=repr(words[1]),
                        close=close[0],
                    )
                )
            raise UserError(
                _("/{command} has no subcommand {word}.", command=words[0], word=repr(words[1]))
            )
        names = {c.words[0] for c in commands.values()}
        close = difflib.get_close_matches(words[0] if words else "", names, n=1)
        if close:
            raise UserError(
                _("Unknown command /{command}. Did you mean /{close}?", command=key, close=close[0])
            )
        raise UserError(
            _("Unknown command /{command}. Type /help to see the commands.", command=key)
        )

    async def _serve(self, inv: Invocation, reply: Reply) -> None:
        started = time.monotonic()
        plugin = "unknown"
        outcome = "ok"
        with log_fields(incident=inv.id, platform=inv.channel.platform, channel=inv.channel.scope):
            try:
                # 1) Whose language replies are in: the channel's preferences are kept in
                # memory after their first read, so even a refusal is said in it at once.
                prefs = await self._core.preferences(inv.channel.scope)
                reply.speak(await self._core.languages(inv.channel, inv.user, prefs))
                # 2) Find and validate: cheap, before the engine or any other table.
                spec = self.resolve(inv.command)
                plugin = spec.plugin
                add_fields(plugin=plugin)
                # config.yaml's access rules, before the options say anything about the command.
                self.access.check(spec.name, inv.channel.platform, inv.user)
                options = build_options(spec.options_type, spec.options, dict(inv.options))
                # 3) Checks, in the order that tells the user the most useful thing first.
                self.permissions.check(spec, inv)
                # Accepted before the controls are read, so adapters show "working" at once.
                reply.accept()
                controls = await self._core.controls.load(inv.channel.scope)
                await self._check_controls(spec, inv, controls)
                # 4) The channel's rating: the request must fit it, and so must the reply.
                rating = self._core.rating(inv.channel, prefs)
                matcher = self._core.matcher(rating, controls.phrases)
                if not self.permissions.requires_admin(spec):
                    # Admins' own commands are not filtered: they manage the lists.
                    check_request(options, matcher, rating)
                # A refused request does not count as a use: the cooldown comes last.
                await self.cooldowns.check(spec, inv, controls.cooldown(spec.name))
                reply.guard(matcher, rating)
                # 5) The handler, with everything it needs, under a deadline.
                ctx = self._context(spec, inv, options, reply, prefs, rating)
                instance = self._core.plugins.instance(spec.plugin)
                async with asyncio.timeout(self._timeout):
                    await spec.handler(instance, ctx)
            except UserError as exc:
                outcome = "refused"
                await reply.notice(exc.message, kind="error", private=exc.private)
            except TimeoutError:
                outcome = "timeout"
                log.warning("/%s timed out after %ss", inv.command, self._timeout)
                await reply.notice(
                    _(
                        "That took too long (over {seconds:g} s) and was stopped.",
                        seconds=self._timeout,
                    ),
                    kind="error",
                )
            except asyncio.CancelledError:
                outcome = "cancelled"
                await reply.notice(_("Stopped."), kind="info")
                raise
            except EngineRestarting as exc:
                outcome = "engine_died"
                log.error("engine died during the request: %s", exc)
                await reply.notice(
                    _(
                        "The language model stopped while writing this reply, so it is "
                        "incomplete. It is restarting: please try again in a minute. "
                        "(incident {incident})",
                        incident=inv.id,
                    ),
                    kind="error",
                    private=False,
                )
            except StreamInterrupted as exc:
                outcome = "interrupted"
                log.error("reply interrupted: %s", exc)
                await reply.notice(
                    _(
                        "The reply was cut off: the language model server stopped part-way. "
                        "Please try again. (incident {incident})",
                        incident=inv.id,
                    ),
                    kind="error",
                    private=False,
                )
            except EngineStalled as exc:
                outcome = "stalled"
                # No traceback: the engine is slow or hung, our code is fine.
                log.error("engine stalled: %s", exc)
                await reply.notice(
                    _(
                        "The language model stopped writing (nothing for {seconds:g} s), so "
                        "this reply ends here. Please try again. (incident {incident})",
                        seconds=exc.seconds,
                        incident=inv.id,
                    ),
                    kind="error",
                    private=False,
                )
            except EngineUnavailable as exc:
                outcome = "engine_unavailable"
                log.error("engine unavailable: %s", exc)
                await reply.notice(
                    _(
                        "The language model is not available right now. Please try again "
                        "later. (incident {incident})",
                        incident=inv.id,
                    ),
                    kind="error",
                )
            except EngineError as exc:
                outcome = "engine_error"
                log.error("engine error: %s", exc, exc_info=True)
                await reply.notice(
                    _(
                        "The language model failed on this request. (incident {incident})",
                        incident=inv.id,
                    ),
                    kind="error",
                )
            except sqlite3.Error as exc:
                # The disk is full, the file read-only or damaged: say so in one line, and
                # keep serving what needs no write.
                outcome = "storage"
                log.warning("storage error (%s): %s", storage_kind(exc), exc)
                await reply.notice(storage_problem(exc), kind="error")
            except Exception:
                outcome = "failed"
                log.exception("incident %s: /%s by %s failed", inv.id, inv.command, inv.user.id)
                await reply.notice(
                    _("Something went wrong on our side. (incident {incident})", incident=inv.id),
                    kind="error",
                )
            finally:
                if outcome != "ok":
                    # Text the filter held back would print after the error notice: the
                    # reply stopped where it was shown.
                    reply.drop_held()
                reply.close()
                metrics = self._core.metrics
                metrics.command(plugin, outcome).inc()
                metrics.plugin(plugin).latency.observe(time.monotonic() - started)

    async def _check_controls(
        self, spec: CommandSpec, inv: Invocation, controls: ChannelControls
    ) -> None:
        """Refuse users blocked in the workspace and plugins switched off in the channel."""
        if not inv.user.is_admin and await self._core.controls.is_blocked(inv.channel, inv.user.id):
            raise UserError(_("The admins of this workspace have blocked you from using Skald."))
        if spec.plugin in controls.disabled:
            raise UserError(
                _("/{command} is turned off in this channel by its admins.", command=spec.words[0])
            )

    def _context(
        self,
        spec: CommandSpec,
        inv: Invocation,
        options: object,
        reply: Reply,
        prefs: Preferences,
        rating: str,
    ) -> Context[object]:
        core = self._core
        language = reply.languages.public
        guidance = core.rating_guidance.render(language, rating)
        return Context(
            options=options,
            invocation=inv,
            prefs=prefs,
            prompts=PromptRenderer(core.plugins.prompts_for(spec.plugin), language, guidance),
            engine=core.engine,
            reply=reply,
            plugin=spec.plugin,
            store=PluginStore(core.db, spec.plugin, inv.channel.scope),
            core=core,
        )


def check_request(options: object, matcher: Matcher, rating: str) -> None:
    """Refuse a request whose text options have a phrase the channel's rating blocks."""
    if not dataclasses.is_dataclass(options):
        return
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        if isinstance(value, str) and matcher.find(value) is not None:
            raise UserError(
                _(
                    "This channel's rating ({rating}) does not allow that request.",
                    rating=choice(rating),
                )
            )
