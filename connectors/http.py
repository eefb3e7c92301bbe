"""One HTTP layer for every connector: the RSS session and the sessions handed to tweepy and praw.

Timeouts on every request, capped exponential backoff on connection errors,
timeouts, 429 and 5xx, `Retry-After` honoured, a bounded number of attempts,
then a real error: never a silent give-up.

A read timeout restarts with every byte, so a server that trickles a byte a
second never times out. `TimeoutAdapter` therefore also gives each request a
total deadline (`DEADLINE_FACTOR` x its read timeout) for the status line,
headers and whole body: a watchdog cuts the connection when it passes, and the
body is read here, within it.
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.util.retry import Retry

RETRY_STATUSES = (429, 500, 502, 503, 504)
DEFAULT_TIMEOUT_SECONDS = 30.0  # for clients that pass none (tweepy)
DEADLINE_FACTOR = 4  # a whole response must arrive within this many read timeouts
_CHUNK = 64 * 1024


class DeadlineExceeded(requests.exceptions.Timeout):
    """The response did not arrive completely within the request deadline (a trickling server)."""

    def __init__(self, url: str, seconds: float) -> None:
        super().__init__(f"response not complete within the request deadline ({seconds:g}s)")
        self.url = url
        self.seconds = seconds


class ResponseTooLarge(requests.exceptions.RequestException):
    """The body is larger than the caller allows (protects memory)."""


def make_session(
    user_agent: str,
    retries: int,
    backoff_seconds: float,
    max_backoff: float = 60,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    max_body_bytes: int | None = None,
    limit_name: str = "the size limit",
) -> requests.Session:
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
    adapter = TimeoutAdapter(timeout, max_body_bytes=max_body_bytes, limit_name=limit_name, max_retries=policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


def with_timeout(session: requests.Session, timeout: float, deadline: float | None = None) -> requests.Session:
    """Mount the timeout-and-deadline adapter on a session a client library made (tweepy) or gets (praw)."""
    adapter = TimeoutAdapter(timeout, deadline=deadline)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


# -- describing failures --------------------------------------------------------


def without_credentials(url: str) -> str:
    """`https://user:pass@host/x` -> `https://host/x`: a URL is shown in errors, never its userinfo."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl()


def describe_http_error(url: str, exc: Exception) -> str:
    """A one-line reason that names the URL and what to check, without secrets."""
    reason = network_reason(exc)
    url = without_credentials(url)
    host = urlsplit(url).netloc or url
    if reason is None:
        return f"{url}: {type(exc).__name__}: {_first_line(exc)[:200]}"
    if reason == "timed out" or reason.startswith("timed out"):
        return f"{url}: {reason} (server too slow or unreachable); raise timeout_seconds or check the URL"
    if reason == "connection refused":
        return f"{url}: connection refused (nothing listens at {host}; check the URL and that the server is up)"
    if reason == "could not resolve host":
        return f"{url}: could not resolve host {urlsplit(url).hostname or host} (check the URL's host name and DNS)"
    if reason.startswith("TLS error"):
        return f"{url}: {reason}; check the server's certificate, or the URL's http/https"
    if any(isinstance(e, DeadlineExceeded) for e in _causes(exc)):
        return (
            f"{url}: {reason}: the server sends too slowly (a whole response must arrive within "
            f"{DEADLINE_FACTOR} x timeout_seconds)"
        )
    return f"{url}: {reason}"


def network_reason(exc: BaseException) -> str | None:
    """What went wrong on the wire, in words, or None when it is not a network failure we know.

    requests and urllib3 bury the cause several exceptions deep (and urllib3's
    NewConnectionError is a subclass of its connect *timeout*), so the whole
    chain is searched, most telling cause first.
    """
    chain = list(_causes(exc))
    for item in chain:
        if isinstance(item, (DeadlineExceeded, ResponseTooLarge)):
            return str(item)
    if _has(chain, NameResolutionError, socket.gaierror):
        return "could not resolve host"
    tls = next(
        (
            e
            for e in chain
            if isinstance(e, (ssl.SSLError, ssl.CertificateError, Urllib3SSLError, requests.exceptions.SSLError))
        ),
        None,
    )
    if tls is not None:
        return f"TLS error ({_tls_detail(chain)})"
    if _has(chain, ConnectionRefusedError) or any(getattr(e, "errno", None) == errno.ECONNREFUSED for e in chain):
        return "connection refused"
    if _has(chain, ConnectTimeoutError, requests.exceptions.ConnectTimeout) and not _has(chain, NewConnectionError):
        return "timed out connecting"
    if _has(chain, ReadTimeoutError, requests.exceptions.ReadTimeout, socket.timeout):
        return "timed out"
    if _has(
        chain,
        ConnectionResetError,
        BrokenPipeError,
        http.client.RemoteDisconnected,
        ProtocolError,
        requests.exceptions.ChunkedEncodingError,
    ):
        return "connection closed by the server before the response was complete"
    if _has(chain, requests.exceptions.Timeout):
        return "timed out"
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """exc, then what it wraps: args (requests -> MaxRetryError), .reason, prawcore's original, __cause__."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < 20:
        item = todo.pop(0)
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        wrapped = [
            *item.args,
            getattr(item, "reason", None),
            getattr(item, "original_exception", None),
            item.__cause__,
            item.__context__,
        ]
        todo.extend(w for w in wrapped if isinstance(w, BaseException))


def _has(chain: list[BaseException], *kinds: type[BaseException]) -> bool:
    return any(isinstance(e, kinds) for e in chain)


def _tls_detail(chain: list[BaseException]) -> str:
    innermost = next((e for e in reversed(chain) if isinstance(e, ssl.SSLError)), chain[-1])
    detail = getattr(innermost, "reason", None) or _first_line(innermost)
    return str(detail)[:120]


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0]


# -- the per-request deadline ---------------------------------------------------


class _Expired(Exception):
    """Raised inside urllib3 when a retry would start after the deadline: not an OSError, so
    urllib3 does not retry it again."""


class _Watchdog:
    """Shuts the request's socket when the deadline passes, which ends any blocked read."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._conn: Any = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()

    def attach(self, conn: Any) -> None:
        with self._lock:
            if self.expired:
                conn.close()
                raise _Expired
            self._conn = conn

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sock = getattr(self._conn, "sock", None)
        if isinstance(sock, socket.socket):
            try:  # the plain socket's shutdown, also for TLS: it must not wait for the TLS layer
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass


_current = threading.local()  # the watchdog of the request this thread is sending


class _WatchedPool(HTTPConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        return _watched(super()._get_conn(timeout))


class _WatchedTlsPool(HTTPSConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        return _watched(super()._get_conn(timeout))


def _watched(conn: Any) -> Any:
    dog = getattr(_current, "dog", None)
    if dog is not None:
        dog.attach(conn)
    return conn


_POOLS = {"http": _WatchedPool, "https": _WatchedTlsPool}


class TimeoutAdapter(HTTPAdapter):
    """Gives every request a timeout (client libraries such as tweepy set none) and a total deadline.

    The body is always read here, whole and within the deadline, so callers
    get `response.content` from memory (`stream=True` is not honoured); with
    `max_body_bytes` a larger body raises ResponseTooLarge naming `limit_name`.
    `deadline` fixes the deadline instead of deriving it from each request's
    timeout (prawcore passes a fixed 16 s timeout whatever praw is told).
    """

    def __init__(
        self,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_body_bytes: int | None = None,
        limit_name: str = "the size limit",
        deadline: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.timeout = timeout
        self.deadline = deadline
        self.max_body_bytes = max_body_bytes
        self.limit_name = limit_name
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        **kwargs: Any,
    ) -> requests.Response:
        timeout = self.timeout if timeout is None else timeout
        seconds = self.deadline or request_deadline(timeout)
        previous = getattr(_current, "dog", None)
        with _Watchdog(seconds) as dog:
            _current.dog = dog
            try:
                response = super().send(request, stream=True, timeout=timeout, **kwargs)
                self._read_body(response)
            except _Expired:
                raise DeadlineExceeded(str(request.url), seconds) from None
            except Exception:
                if dog.expired:
                    raise DeadlineExceeded(str(request.url), seconds) from None
                raise
            finally:
                _current.dog = previous
        if dog.expired:  # a body cut short by the watchdog can look complete (no Content-Length)
            response.close()
            raise DeadlineExceeded(str(request.url), seconds)
        return response

    def _read_body(self, response: requests.Response) -> None:
        chunks, size = [], 0
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if self.max_body_bytes is not None and size > self.max_body_bytes:
                response.close()
                raise ResponseTooLarge(
                    f"response larger than {self.limit_name} ({self.max_body_bytes} bytes)", response=response
                )
            chunks.append(chunk)
        response._content = b"".join(chunks)  # what Response.content caches; read once, here


def request_deadline(timeout: Any) -> float:
    """DEADLINE_FACTOR x the read timeout of a requests `timeout` (a number or a (connect, read) pair)."""
    read = timeout[1] if isinstance(timeout, tuple) else timeout
    if not isinstance(read, (int, float)) or isinstance(read, bool) or read <= 0:
        read = DEFAULT_TIMEOUT_SECONDS
    return DEADLINE_FACTOR * float(read)
