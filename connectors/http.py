"""One HTTP retry policy for connectors that speak plain HTTP.

Timeouts on every request, capped exponential backoff on connection errors,
timeouts, 429 and 5xx, `Retry-After` honoured, a bounded number of attempts,
then a real error: never a silent give-up.
"""
from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, ReadTimeoutError
from urllib3.util.retry import Retry

RETRY_STATUSES = (429, 500, 502, 503, 504)


def make_session(user_agent: str, retries: int, backoff_seconds: float, max_backoff: float = 60) -> requests.Session:
    policy = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff_seconds,
        backoff_max=max_backoff,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=True,
        raise_on_status=False,  # the caller turns the last status into a clear error
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


def describe_http_error(url: str, exc: Exception) -> str:
    """A one-line reason that names the URL and what to check, without secrets."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None  # urllib3's MaxRetryError
    if isinstance(exc, requests.exceptions.Timeout) or isinstance(reason, TimeoutError | ReadTimeoutError | ConnectTimeoutError):
        return f"{url}: timed out (server too slow or unreachable); raise timeout_seconds or check the URL"
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = str(exc).split("Caused by")[-1].strip(" ()'\"")[:160]
        return f"{url}: could not connect ({reason})"
    return f"{url}: {type(exc).__name__}: {str(exc)[:200]}"


class TimeoutAdapter(HTTPAdapter):
    """Gives every request a timeout: client libraries such as tweepy set none,
    and a hung connection would otherwise hang the nightly run forever."""

    def __init__(self, timeout: float, **kwargs: object) -> None:
        self.timeout = timeout
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def, override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def with_timeout(session: requests.Session, timeout: float) -> requests.Session:
    adapter = TimeoutAdapter(timeout)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
