"""Slack's request signatures, checked on the raw bytes before anything is parsed."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

# Slack's own rule: a request older (or newer) than five minutes is refused.
MAX_AGE_S = 5 * 60


def signature_valid(
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    clock: Callable[[], float] = time.time,
) -> bool:
    """True when `signature` is `v0=` + HMAC-SHA256 of `v0:{timestamp}:{body}`, and fresh.

    Works on bytes (slack_sdk's verifier decodes the body first, and fails on bytes that
    are not UTF-8).
    """
    if not secret or not timestamp.isdigit() or abs(clock() - int(timestamp)) > MAX_AGE_S:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)
