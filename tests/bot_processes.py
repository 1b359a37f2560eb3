"""Real `skaldbot run` processes on one shared data folder, driven through their consoles.

`BotFolder` writes a config.yaml (the remote engine pointed at a fake vLLM server, a
folder of custom plugins) and starts bots on it; `BotProcess.type` types a command into
one bot's piped standard input and returns what the bot printed for it; `BotFolder.skaldbot`
runs another `skaldbot` command (`reload`) on the same folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
# A bot starts in a few seconds; on two busy cores give it more.
START_TIMEOUT_S = 60.0
REPLY_TIMEOUT_S = 30.0
# Settings that would start Discord or Slack, or override the config file.
_FOREIGN = (
    "DISCORD_TOKEN",
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SKALD_CONFIG",
    "SKALD_DATA_DIR",
    "SKALD_ENGINE_URLS",
    "SKALD_METRICS_PORT",
)


def readme_plugin() -> dict[str, str]:
    """The README's example plugin (haiku.py and its prompts, haiku.yaml)."""
    text = (REPO / "README.md").read_text(encoding="utf-8").split("## Add a plugin", 1)[1]
    code = re.findall(r"```python\n(.*?)```", text, re.DOTALL)[0]
    prompts = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)[0]
    return {"haiku.py": str(code), "haiku.yaml": str(prompts)}


def skaldbot(
    config: Path, *args: str, data_dir: Path | None = None, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `skaldbot --config CONFIG ARGS` (on `data_dir` when given) and wait for it."""
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if data_dir is not None:
        env["SKALD_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=timeout_s,
        check=False,
    )


class BotProcess:
    """One `skaldbot run` console process; its replies are read as it prints them."""

    def __init__(self, config: Path, log: Path) -> None:
        self._log = log
        env = {k: v for k, v in os.environ.items() if k not in _FOREIGN}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        with log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "--config", str(config), "run"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
                cwd=REPO,
                text=True,
                encoding="utf-8",
            )
        self.pid = self.process.pid
        self._output = ""
        self._changed = threading.Condition()
        self._markers = 0
        threading.Thread(target=self._read, name=f"bot-{self.pid}-stdout", daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        while chunk := self.process.stdout.readline():
            with self._changed:
                self._output += chunk
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def type(self, line: str, timeout_s: float = REPLY_TIMEOUT_S) -> str:
        """Type a command; returns what the bot printed for it once the reply is complete.

        The console serves lines in order and echoes each before its reply, so the echo of
        a marker line typed next shows that the reply above it is complete.
        """
        self._markers += 1
        marker = f"/reply-{self._markers}-done"
        with self._changed:
            start = len(self._output)
        assert self.process.stdin is not None
        self.process.stdin.write(f"{line}\n{marker}\n")
        self.process.stdin.flush()
        echo, end = f"> {line}\n", f"> {marker}\n"
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while end not in self._output[start:]:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise AssertionError(
                        f"bot {self.pid} did not answer {line!r}:\n{self._output[start:]}\n"
                        f"{self.log_tail()}"
                    )
                self._changed.wait(left)
            shown = self._output[start:]
        return shown.split(echo, 1)[-1].split(end, 1)[0]

    def log_tail(self) -> str:
        """The end of the bot's standard error (its log and status lines)."""
        return self._log.read_text(errors="replace")[-3000:] if self._log.exists() else ""

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL it, as a crash would: nothing of its own clean-up runs."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """End its input (as Ctrl-D does), then wait; kill it if it does not exit."""
        if not self.alive():
            return
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()


class BotFolder:
    """A data folder with its config and plugin folder, shared by every bot started on it."""

    def __init__(self, root: Path, engine_url: str) -> None:
        self.root = root
        self.data = root / "data"
        self.plugins = root / "custom_plugins"
        self.plugins.mkdir(parents=True, exist_ok=True)
        for name, text in readme_plugin().items():
            (self.plugins / name).write_text(text)
        self.config = root / "config.yaml"
        settings = {
            "data_dir": str(self.data),
            "log_level": "INFO",
            "engine": {"backend": "remote", "urls": [engine_url], "health_interval_s": 1},
            "router": {"cooldown_s": 0},
            "fairness": {"user_concurrency": 0},
            # Few built-in plugins: each bot starts sooner.
            "plugins": {
                "builtin": ["help", "skald", "prefs"],
                "folders": [str(self.plugins)],
                "entry_points": False,
            },
            "console": {"user": "ada", "admin": True},
        }
        self.config.write_text(yaml.safe_dump(settings))
        self.bots: list[BotProcess] = []

    def start_bot(self) -> BotProcess:
        """Start a bot and wait until it serves commands (it registers before that)."""
        bot = BotProcess(self.config, self.root / f"bot-{len(self.bots) + 1}.log")
        self.bots.append(bot)
        bot.type("/help help", timeout_s=START_TIMEOUT_S)
        return bot

    def skaldbot(self, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `skaldbot ARGS` on this folder, as an operator would beside the bots."""
        return skaldbot(self.config, *args, timeout_s=timeout_s)

    def stop_all(self) -> None:
        """Stop every bot still running."""
        for bot in self.bots:
            bot.stop()
