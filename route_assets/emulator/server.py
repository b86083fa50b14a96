"""The emulator's HTTP server and its Python API.

One loopback port serves every provider under its own prefix, so a client is pointed at the
emulator by its base URL alone. Request lines are never logged: a Gemini URL may carry the key
in `?key=`, and the emulator must never write a credential anywhere.
"""

import logging
import socket
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from route_assets.emulator import bfl, cdn, fal, gemini, judge, replicate
from route_assets.emulator.state import DEFAULT_KEYS, State
from route_assets.emulator.wire import Request, Response
from route_assets.settings import PROVIDER_ENV

__all__ = ["DEFAULT_KEYS", "Emulator", "base_urls_for", "serve_forever"]

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024 * 1024
Handler = Callable[[State, Request], Response]
_ROUTES: tuple[tuple[str, Handler], ...] = (
    ("/fal", fal.handle), ("/replicate/v1", replicate.handle), ("/bfl", bfl.handle),
    ("/gemini", gemini.handle), ("/cdn", cdn.handle), ("/judge", judge.handle),
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a held ("hang") connection must not hold up stop()
    request_queue_size = 128
    state: State


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs behind their load balancers
    server: _Server
    timeout = 300  # an idle keep-alive connection gives its thread back eventually

    def log_message(self, format: str, *args: Any) -> None:
        pass  # see the module docstring: request lines can carry credentials

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return None if length > MAX_BODY else self.rfile.read(length)

    def _dispatch(self) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        path = unquote(url.path)
        try:
            body = self._read_body()
        except ValueError:
            body = None
        if body is None:
            self.close_connection = True
            self._send(Response(413, b"request body too large or unreadable", "text/plain"))
            return
        request = Request(self.command, "/", dict(parse_qsl(url.query)),
                          {k.lower(): v for k, v in self.headers.items()}, body)
        response = Response(404, b"Not Found", "text/plain")
        for prefix, handle in _ROUTES:
            if path == prefix or path.startswith(prefix + "/"):
                request.path = path[len(prefix):] or "/"
                try:
                    response = handle(state, request)
                except Exception:  # an emulator bug: answer 500 and keep it for the tests
                    state.record_error()
                    logger.exception("emulator failed on %s %s", self.command, url.path)
                    response = Response(500, b"emulator error", "text/plain")
                break
        self._send(response)

    def _send(self, response: Response) -> None:
        if response.hang_s > 0:
            self.server.state.stop.wait(response.hang_s)
            self._drop()
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", response.content_type)
        if response.chunks is not None:
            # No Content-Length: the body ends when the connection closes (RFC 9112 §6.3).
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for chunk in response.chunks:
                    self.wfile.write(chunk)
            except OSError:
                pass  # the client stopped reading, which is what an oversized body is for
            self._drop()
            return
        declared = response.declared_length
        self.send_header("Content-Length", str(declared if declared is not None
                                               else len(response.body)))
        self.end_headers()
        try:
            self.wfile.write(response.body)
        except OSError:
            self.close_connection = True
            return
        if declared is not None and declared != len(response.body):
            self._drop()  # a truncated body: close before the promised bytes arrive

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def base_urls_for(root: str) -> dict[str, str]:
    return {"fal": f"{root}/fal", "replicate": f"{root}/replicate/v1", "bfl": f"{root}/bfl",
            "gemini": f"{root}/gemini"}


class Emulator:
    """fal, Replicate, BFL and Gemini on one loopback port, with faults and counters."""

    def __init__(self, *, keys: Mapping[str, str] = DEFAULT_KEYS, latency_s: float = 0.0,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self._state = State(keys, latency_s)
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "Emulator":
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        server = _Server(self._address, _RequestHandler)
        server.state = self._state
        host, port = server.server_address[:2]
        # A wildcard bind is reachable on loopback; URLs handed to clients must name a host.
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else str(host)
        self._state.root = f"http://{shown}:{port}"
        self._state.stop.clear()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="provider-emulator",
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._state.stop.set()  # release held connections and Prefer: wait holds
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def root(self) -> str:
        if not self._state.root:
            raise RuntimeError("the emulator has not been started")
        return self._state.root

    def base_urls(self) -> dict[str, str]:
        return base_urls_for(self.root)

    def env(self) -> dict[str, str]:
        """Environment that points route_assets' provider clients at this emulator."""
        return self.env_for(self.root)

    def env_for(self, root: str) -> dict[str, str]:
        """The same for an emulator served at `root` (e.g. before it is started)."""
        out = {}
        for provider, base in base_urls_for(root.rstrip("/")).items():
            key_var, base_var, _ = PROVIDER_ENV[provider]
            out[key_var], out[base_var] = self._state.keys[provider], base
        return out

    def inject(self, provider: str, fault: str, *, times: int = 1, phase: str = "submit",
               model: str | None = None, retry_after_s: float = 1.0,
               hang_s: float = 30.0) -> None:
        """Make the next `times` matching requests of `phase` suffer `fault`."""
        self._state.faults.arm(provider, fault, times=times, phase=phase, model=model,
                               retry_after_s=retry_after_s, hang_s=hang_s)

    def pending_faults(self) -> int:
        """Firings still armed (0 once every injected fault has hit a request)."""
        return self._state.faults.pending()

    def submissions(self, provider: str | None = None, model: str | None = None) -> int:
        """Accepted, billable submissions: requests that created a job (or were answered)."""
        return self._state.count("accepted", provider, model)

    def attempts(self, provider: str | None = None, model: str | None = None) -> int:
        """Every submit request, including the ones refused (auth, 4xx, 429, 5xx)."""
        return self._state.count("attempts", provider, model)

    def inputs(self, provider: str | None = None, model: str | None = None
               ) -> list[dict[str, Any]]:
        """The request bodies of the accepted submissions, oldest first."""
        return self._state.inputs(provider, model)

    @property
    def errors(self) -> list[str]:
        """Tracebacks of emulator bugs (answered as plain 500s); empty in a healthy run."""
        return list(self._state.errors)

    def set_latency(self, seconds: float) -> None:
        """Time from submit until a job is done, for jobs submitted from now on."""
        self._state.latency_s = max(0.0, seconds)

    def reset(self) -> None:
        """Forget jobs, media, faults and counters; latency goes back to the initial value."""
        self._state.reset()


def serve_forever(*, host: str, port: int, latency_s: float, keys: Mapping[str, str],
                  on_ready: Callable[[Emulator], None] | None = None) -> None:
    """Run the emulator until KeyboardInterrupt. Prints nothing: `on_ready` gets the started
    emulator (its root, base URLs and env) for the caller to show."""
    emulator = Emulator(keys=keys, latency_s=latency_s, host=host, port=port).start()
    try:
        if on_ready is not None:
            on_ready(emulator)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
