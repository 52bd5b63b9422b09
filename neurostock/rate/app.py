"""The rating app: one image at a time, full size, with its cleaned prompt and nothing
else that could bias the rating; keys 1-4, 5 unusable, s skip, u undo, arrows move.

Safety, checked in tests/test_rate.py and tests/test_hostile.py:
* images: a request names an image id (digits, at most 18 of them), never a path;
  only the queue's images (whose files `images sync` recorded as `ok` in
  files.images) are served, and each only while it is still the file that was
  checked: at request time its real path inside the allowed roots, a regular file
  within `images: max_bytes`, of the recorded size and mtime
  (neurostock.images.recorded); else 404 and one line in the log. The bytes served
  are read from the descriptor that was checked, never past the recorded size.
* writes: JSON only (a cross-site HTML form cannot send it), from a page of this app
  (Origin, else Referer, must be this app), with the browser session's CSRF token;
  the body capped at MAX_BODY bytes before it is read (a larger Content-Length is
  refused at once; a streamed body is read no further than the cap); every field
  checked; nothing else is accepted.
* text: Jinja2 with autoescape; every response (pages, images, static files, errors)
  carries a Content-Security-Policy that allows only this app's own script, style
  and images, and X-Content-Type-Options: nosniff (one ASGI wrapper around the app).
* Host: only the address the app serves (no DNS rebinding).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from neurostock.core.errors import NeurostockError
from neurostock.images.recorded import (
    FileRefused,
    FileRules,
    media_type,
    open_recorded,
    read_chunks,
)
from neurostock.rate.store import QueueItem, RatingStore

COOKIE = "neurostock_rate_session"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
MAX_BODY = 1024
# Ids and page positions are digit strings of at most this many digits (int() of a
# longer one is slow, and of one past 4,300 digits an error).
MAX_ID_DIGITS = 18
# On every response, whatever produced it (a page, an image, a static file, an error).
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATIC = Path(__file__).parent / "static"
log = logging.getLogger("neurostock.rate")


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def environment() -> Environment:
    """The app's one Jinja2 environment: every value escaped."""
    return Environment(loader=PackageLoader("neurostock.rate", "templates"), autoescape=True,
                       undefined=StrictUndefined)


class SecurityHeaders:
    """ASGI wrapper: SECURITY_HEADERS on every HTTP response the app sends (those a
    response sets itself are kept), Starlette's own error responses included."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def bounded_int(raw: str | None) -> int | None:
    """`raw` as a non-negative integer when it is 1 to MAX_ID_DIGITS ASCII digits."""
    if raw is None or not 0 < len(raw) <= MAX_ID_DIGITS or not (raw.isascii()
                                                               and raw.isdigit()):
        return None
    return int(raw)


async def capped_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, read no further than `limit` bytes: a declared Content-Length
    above it is refused before anything is read, a streamed body as soon as it passes
    it (413 either way)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        size = bounded_int(declared.strip())
        if size is None:
            raise _Refused(400, "bad Content-Length")
        if size > limit:
            raise _Refused(413, "request too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _Refused(413, "request too large")
    return bytes(body)


def create_app(store: RatingStore, queue: list[QueueItem], host: str, port: int,
               rules: FileRules | None = None) -> ASGIApp:
    """The app serving `queue`, writing through `store`; image files are served only
    while they pass `rules` (default: the default `images:` settings' roots and cap)."""
    rules = rules or FileRules.from_config(store.con)
    page = environment().get_template("rate.html.j2")
    by_id = {item.image_id: item for item in queue}
    index_of = {item.image_id: i for i, item in enumerate(queue)}
    sessions: dict[str, str] = {}  # browser session -> its CSRF token
    hosts = sorted({host, "127.0.0.1", "localhost"} if host in ("127.0.0.1", "localhost")
                   else {host})
    origins = {f"http://{h}:{port}" for h in hosts}

    def _error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status)

    async def show(request: Request) -> Response:
        session = request.cookies.get(COOKIE)
        new = session not in sessions
        if new:
            session = secrets.token_urlsafe(24)
            sessions[session] = secrets.token_urlsafe(32)
        standing = store.standing()
        raw = request.query_params.get("i")
        if raw is None:
            index = next((i for i, item in enumerate(queue) if item.image_id not in standing),
                         len(queue))
        else:
            position = bounded_int(raw)
            if position is None and not (raw.isascii() and raw.isdigit()):
                return _error(400, f"i must be 0-{len(queue)}")
            if position is None or position > len(queue):
                return _error(404, f"no position {raw[:20]} in this queue of {len(queue)}")
            index = position
        item = queue[index] if index < len(queue) else None
        n_rated = sum(1 for q in queue if q.image_id in standing)
        html = page.render(
            item=item, index=index, total=len(queue), n_rated=n_rated,
            given=standing.get(item.image_id) if item else None,
            csrf=sessions[session], annotator=store.annotator, queue=store.queue)
        response = HTMLResponse(html)
        if new:
            response.set_cookie(COOKIE, session, httponly=True, samesite="strict", path="/")
        return response

    async def image(request: Request) -> Response:
        image_id = bounded_int(request.path_params["image_id"])
        item = by_id.get(image_id) if image_id is not None else None
        if item is None:
            return _error(404, "no such image in this queue")
        try:
            handle = await run_in_threadpool(open_recorded, item.path, item.file_size,
                                             item.file_mtime_ns, rules)
        except FileRefused as exc:
            log.warning("neurostock rate: image %s not served: %s", image_id, exc.reason)
            return _error(404, "no such image in this queue")
        return StreamingResponse(read_chunks(handle, item.file_size),
                                 media_type=media_type(item.format),
                                 headers={"Content-Length": str(item.file_size)})

    async def favicon(request: Request) -> Response:
        return Response((STATIC / "favicon.svg").read_bytes(), media_type="image/svg+xml")

    async def _checked(request: Request) -> tuple[str, dict]:
        """The browser session of a write, and its JSON body; _Refused otherwise."""
        origin = request.headers.get("origin")
        if origin is None:
            referer = request.headers.get("referer")
            if referer:
                parts = urlsplit(referer)
                origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in origins:
            raise _Refused(403, "cross-site request refused")
        session = request.cookies.get(COOKIE)
        token = request.headers.get("x-csrf-token", "")
        if session not in sessions or not secrets.compare_digest(
                sessions[session].encode(), token.encode()):
            raise _Refused(403, "missing or wrong CSRF token: reload the page")
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise _Refused(415, "send JSON")
        body = await capped_body(request)
        try:
            data = json.loads(body)
        except ValueError:
            raise _Refused(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise _Refused(400, "the body must be a JSON object")
        return session, data

    async def rate(request: Request) -> Response:
        try:
            session, data = await _checked(request)
            if set(data) != {"image_id", "rating"}:
                raise _Refused(400, "fields must be exactly image_id and rating")
            image_id, rating = data["image_id"], data["rating"]
            if type(image_id) is not int or image_id not in by_id:
                raise _Refused(400, "image_id is not an image of this queue")
            if type(rating) is not int or not 1 <= rating <= 5:
                raise _Refused(400, "rating must be an integer 1-5")
            rating_id = store.rate(image_id, rating, session)
        except _Refused as exc:
            return _error(exc.status, exc.message)
        except NeurostockError as exc:
            return _error(400, str(exc))
        return JSONResponse({"rating_id": rating_id, "next": index_of[image_id] + 1})

    async def undo(request: Request) -> Response:
        try:
            session, data = await _checked(request)
            if data:
                raise _Refused(400, "undo takes no fields")
        except _Refused as exc:
            return _error(exc.status, exc.message)
        undone = store.undo(session)
        if undone is None:
            return _error(409, "nothing to undo in this session")
        rating_id, image_id = undone
        return JSONResponse({"retracted_rating_id": rating_id,
                             "index": index_of.get(image_id, 0)})

    static = StaticFiles(directory=STATIC)
    routes = [
        Route("/", show, methods=["GET"]),
        # A string, checked by bounded_int: Starlette's int convertor turns a long digit
        # string into an error 500.
        Route("/image/{image_id}", image, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Route("/api/rate", rate, methods=["POST"]),
        Route("/api/undo", undo, methods=["POST"]),
        Mount("/static", app=static, name="static"),
    ]
    app = Starlette(routes=routes,
                    middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)])
    return SecurityHeaders(app)


LOCAL_HOSTS = ("127.0.0.1", "localhost")
_HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                        r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


def parse_port(raw: str) -> int:
    """`--port` as an integer 1-65535; NeurostockError (one line) otherwise."""
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise NeurostockError(f"--port must be an integer 1-65535, not {raw!r}")
    return int(text)


def check_host(host: str) -> str | None:
    """Validate `--host`: an IPv4 address or a host name the app can answer to by name
    (its Host and Origin checks compare with it). Returns the warning to print when it is
    not 127.0.0.1/localhost (the app has no login), None otherwise; NeurostockError (one
    line) for anything else."""
    import ipaddress

    if host in LOCAL_HOSTS:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        if address.version != 4:
            raise NeurostockError(f"--host {host}: IPv6 addresses are not supported; give "
                                  "an IPv4 address or a host name")
        if address.is_unspecified:
            # A wildcard cannot be checked against the Host header browsers send, and it
            # would expose the app on every interface.
            raise NeurostockError(f"--host {host}: give the one address the raters will "
                                  "open (e.g. this machine's LAN address), not a wildcard")
    elif len(host) > 253 or not _HOST_NAME.fullmatch(host):
        raise NeurostockError(f"--host {host!r} is neither an IPv4 address nor a host name")
    return (f"warning: listening on {host}, not 127.0.0.1: the app has no login, anyone "
            "who can reach this address can rate and undo as this annotator")


def serve(store: RatingStore, queue: list[QueueItem], host: str, port: int,
          say=print, rules: FileRules | None = None) -> None:
    """Run the app with uvicorn until Ctrl-C (or SIGTERM); a refused image file is one
    line on stderr."""
    import socket

    import uvicorn

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise NeurostockError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    app = create_app(store, queue, host, port, rules)
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    say(f"rating {len(queue):,} images (queue {store.queue}) as {store.annotator!r}: open "
        f"http://{host}:{port}/ ; Ctrl-C stops")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
