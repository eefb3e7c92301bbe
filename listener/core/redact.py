"""Masking secrets in every string that leaves the program: logs, errors, the runs table, reports, JSON.

Two nets, because an API may echo a credential back in an error body
(X has echoed the `Authorization` header):

1. the values of secret environment variables (the named ones, and any
   variable whose name says it is a credential: `*_TOKEN`, `*_SECRET`,
   `*_PASSWORD`, `*_API_KEY`, ...), wherever they appear;
2. anything shaped like a credential: `Bearer <token>`, `Authorization: ...`,
   `password=...`/`access_token=...` pairs in URLs, JSON and headers, a
   password in a URL's user info, and X's app-only bearer tokens.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

MASK = "***"

SECRET_VARIABLES = (
    "X_BEARER_TOKEN",
    "REDDIT_CLIENT_ID",
    "REDDIT_CLIENT_SECRET",
    "REDDIT_PASSWORD",
    "LISTENER_SMTP_PASSWORD",
    "PGPASSWORD",
)
_SECRET_NAME = re.compile(r"(?:TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|APIKEY|ACCESS_KEY|PRIVATE_KEY|CLIENT_ID)$")
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words

_KEYS = r"(?:access_token|refresh_token|id_token|token|api_key|apikey|key|client_secret|secret|password|passwd|pwd)"
_SHAPES = (
    # Authorization: Bearer abc / Basic abc / any scheme (header lines, repr of a headers dict)
    re.compile(r"(?i)(\bauthorization['\"]?\s*[:=]\s*['\"]?)(?:[A-Za-z]+\s+)?[^\s'\",;}]+"),
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9\-._~+/%]+=*"),
    # ?access_token=abc, "password": "abc", secret='abc'
    re.compile(r"(?i)(\b" + _KEYS + r"['\"]?\s*[:=]\s*['\"]?)[^\s'\"&,;}]+"),
    # scheme://user:password@host
    re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^\s/:@]*:)[^\s/@]+(?=@)"),
    # X app-only bearer tokens: a long run of A's then base64/percent-encoded characters
    re.compile(r"()\bA{12,}[A-Za-z0-9%+/=\-_]{20,}"),
)


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """The secrets this process knows: named variables and credential-like names, longest first."""
    env = os.environ if environ is None else environ
    values = {
        value
        for name, value in env.items()
        if (name in SECRET_VARIABLES or _SECRET_NAME.search(name.upper())) and len(value) >= _MIN_SECRET_LENGTH
    }
    return sorted(values, key=len, reverse=True)


def mask(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every known secret value and every credential-shaped substring replaced by ***."""
    if not text:
        return text
    for secret in secret_values() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    for shape in _SHAPES:
        text = shape.sub(lambda m: m.group(1) + MASK, text)
    return text


def mask_optional(text: str | None) -> str | None:
    return None if text is None else mask(text)


def mask_all(value: Any, secrets: list[str] | None = None) -> Any:
    """Every string inside `value` (dicts, lists, tuples) masked; for JSON reports."""
    known = secret_values() if secrets is None else secrets
    if isinstance(value, str):
        return mask(value, known)
    if isinstance(value, dict):
        return {key: mask_all(item, known) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_all(item, known) for item in value]
    return value
