"""Keep the terminal for Skald's own lines: what libraries print goes to a log file."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import TextIO

# The file, in the data folder, that receives vLLM's, torch's and Triton's output.
ENGINE_LOG = "engine.log"


def _terminal_copy(fd: int, original: TextIO) -> TextIO:
    """A text stream on a duplicate of `fd`, as the process's own stream was."""
    return io.TextIOWrapper(
        io.FileIO(os.dup(fd), "w"),
        encoding=getattr(original, "encoding", None) or "utf-8",
        errors="backslashreplace",
        line_buffering=True,
        write_through=True,
    )


def send_library_output_to(path: Path) -> None:
    """From now on, the process's stdout and stderr descriptors write to `path`, while
    Python's sys.stdout and sys.stderr stay on the terminal.

    vLLM's engine core is a child process that inherits descriptors 1 and 2, and the C and
    C++ parts of vLLM, torch and Triton (NUMA binding, kernel warnings, leak reports at
    exit) write straight to them. Skald writes through sys.stdout and sys.stderr, which
    keep copies of the terminal's descriptors. For the life of the process: leak reports
    come during interpreter shutdown, after any code of ours has run.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    stdout, stderr = _terminal_copy(1, sys.stdout), _terminal_copy(2, sys.stderr)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.stdout, sys.stderr = stdout, stderr
