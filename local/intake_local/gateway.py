"""A local stand-in for the HTTP API: routes from infra.definitions.ROUTES, the JWT authorizer,
API Gateway v2 payload 2.0 events in and the 2.0 response format out.

What API Gateway does and this does the same way:
- routes match on method and path (`{param}`, `{param+}`); the most specific route wins;
- routes with scopes go through the JWT authorizer (tokens.JwtAuthorizer): 401 for a missing,
  malformed, badly signed or expired token or a wrong iss/aud, 403 when the token holds none
  of the route's scopes; the function never runs then, and the reason is in the
  `www-authenticate` header;
- the event: lower-cased headers (repeats joined by ","), cookies split out, query parameters
  (repeats joined by ","), path parameters, requestContext with the JWT claims as strings and
  the scopes, the body base64-encoded unless it is text;
- the answer: statusCode/headers/cookies/body/isBase64Encoded, or any other value as a 200
  JSON body; a function error or a malformed answer is 500;
- request bodies over 10 MB (the HTTP API limit) are 413; so is an event over Lambda's 6 MB
  invocation payload limit;
- every answer the gateway gives itself (no route 404, the authorizer's 401/403, 413, 500, a
  malformed request's 400) has API Gateway's body, `{"message": "Not Found"}` and the like
  (GATEWAY_MESSAGES), never the functions' error envelope: the client and the e2e suite see
  what production sends. The local console's access log says why;
- CORS preflight (OPTIONS) is answered by the gateway itself, as a CORS-configured HTTP API
  does.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from infra.definitions import RouteDef
from intake_local.lambda_runtime import ACCOUNT_ID, LocalFunction
from intake_local.tokens import JwtAuthorizer, TokenRejected, stringify_claims

log = logging.getLogger("intake_local.gateway")

MAX_REQUEST_BODY = 10 * 1024 * 1024  # HTTP API request payload limit
MAX_REQUEST_HEADERS = 10240  # HTTP API: total size of the request line and header values
MAX_LAMBDA_PAYLOAD = 6 * 1024 * 1024  # synchronous Lambda invocation, request and response
DRAIN_LIMIT = 64 * 1024 * 1024  # bodies up to this size are read and dropped before a 413
API_ID = "intakelocal"
STAGE = "$default"
CORS_MAX_AGE = "600"
DEFAULT_ALLOWED_HEADERS = "authorization,content-type,x-amz-date,x-amz-security-token"

_TEXT_TYPES = re.compile(
    r"^(text/.*|application/(json|xml|javascript|x-ndjson|.*\+json|.*\+xml))$", re.I
)

AccessLog = Callable[[str], None]


@dataclass(frozen=True)
class _CompiledRoute:
    route: RouteDef
    pattern: re.Pattern[str]
    params: tuple[str, ...]
    specificity: tuple[int, int, bool, int]

    @property
    def route_key(self) -> str:
        return f"{self.route.method} {self.route.path}"


def compile_routes(routes: Iterable[RouteDef]) -> list[_CompiledRoute]:
    compiled = []
    for route in routes:
        regex, params, greedy = "", [], 0
        for segment in route.path.strip("/").split("/") if route.path != "/" else []:
            m = re.fullmatch(r"\{([A-Za-z0-9_]+)(\+?)\}", segment)
            if m and m.group(2):
                regex += f"/(?P<{m.group(1)}>.+)"
                params.append(m.group(1))
                greedy += 1
            elif m:
                regex += f"/(?P<{m.group(1)}>[^/]+)"
                params.append(m.group(1))
            else:
                regex += "/" + re.escape(segment)
        # Literal routes beat parameterised ones, which beat greedy ones, and a method's route
        # beats ANY on the same path (API Gateway's rule).
        specificity = (greedy, len(params), route.method == "ANY", -len(route.path))
        compiled.append(
            _CompiledRoute(
                route, re.compile("^" + (regex or "/") + "$"), tuple(params), specificity
            )
        )
    return sorted(compiled, key=lambda c: c.specificity)


def match_route(
    routes: list[_CompiledRoute], method: str, path: str
) -> tuple[_CompiledRoute, dict[str, str]] | None:
    for compiled in routes:
        if compiled.route.method not in (method, "ANY"):
            continue
        m = compiled.pattern.match(path)
        if m:
            return compiled, {k: unquote(v) for k, v in m.groupdict().items()}
    return None


# The bodies API Gateway sends when it answers itself, before (or instead of) a function.
GATEWAY_MESSAGES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Request Entity Too Large",
    # API Gateway documents the 10 KB limit of request line and headers, not its answer's
    # status; 431 (RFC 6585) is what the local gateway says.
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}


def gateway_answer(status: int) -> HttpAnswer:
    """API Gateway's own answer: `{"message": "..."}`, never the functions' error envelope."""
    body = json.dumps({"message": GATEWAY_MESSAGES[status]}, separators=(",", ":")).encode()
    return HttpAnswer(status, [("content-type", "application/json")], body)


@dataclass
class HttpAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class Gateway:
    """The HTTP API on 127.0.0.1:<port>, serving `functions` by route."""

    def __init__(
        self,
        routes: Iterable[RouteDef],
        functions: Mapping[str, LocalFunction],
        authorizer: JwtAuthorizer,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        access_log: AccessLog | None = None,
        max_body: int = MAX_REQUEST_BODY,
    ) -> None:
        self.routes = compile_routes(routes)
        missing = {r.route.function.name for r in self.routes} - set(functions)
        if missing:
            raise ValueError(f"no function loaded for routes of: {', '.join(sorted(missing))}")
        self.functions = functions
        self.authorizer = authorizer
        self.access_log = access_log
        self.max_body = max_body
        self._server = _Server((host, port), _RequestHandler, self)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host!s}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="gateway",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    # --- one request ---------------------------------------------------------------------

    def handle(self, request: _Request) -> tuple[HttpAnswer, str]:
        """The answer to one request and a note for the access log (which function ran)."""
        if request.method == "OPTIONS":
            return self._preflight(request), "cors"
        if request.body_too_large:
            return gateway_answer(413), f"body over {self.max_body} bytes"
        matched = match_route(self.routes, request.method, request.path)
        if matched is None:
            return gateway_answer(404), "no route"
        compiled, path_params = matched
        route = compiled.route
        authorized = None
        if route.scopes:
            try:
                authorized = self.authorizer.authorize(
                    request.header("authorization"), route.scopes
                )
            except TokenRejected as exc:
                # The reason goes where API Gateway puts it: the www-authenticate header.
                answer = gateway_answer(exc.status)
                answer.headers.append(("www-authenticate", exc.www_authenticate))
                return answer, f"authorizer: {exc.message}"
        event = build_event(request, compiled.route_key, path_params, authorized)
        function = self.functions[route.function.name]
        if len(json.dumps(event)) > MAX_LAMBDA_PAYLOAD:
            return gateway_answer(413), f"{function.definition.name}: event over 6 MB"
        invocation = function.invoke(event)
        note = f"{function.definition.name} {invocation.duration_ms:.0f}ms"
        if not invocation.ok:
            return _internal_error(), note + " ERROR"
        try:
            answer = map_response(invocation.result)
        except ValueError as exc:
            log.error("%s returned a response API Gateway would refuse: %s", function.name, exc)
            return _internal_error(), note + " BAD-RESPONSE"
        answer.headers.append(("apigw-requestid", event["requestContext"]["requestId"]))
        return answer, note

    def _preflight(self, request: _Request) -> HttpAnswer:
        methods = sorted(
            {c.route.method for c in self.routes if c.pattern.match(request.path)}
            or {c.route.method for c in self.routes}
        )
        headers = [
            ("access-control-allow-origin", request.header("origin") or "*"),
            ("access-control-allow-methods", ",".join([*methods, "OPTIONS"])),
            (
                "access-control-allow-headers",
                request.header("access-control-request-headers") or DEFAULT_ALLOWED_HEADERS,
            ),
            ("access-control-max-age", CORS_MAX_AGE),
            ("vary", "origin"),
        ]
        return HttpAnswer(204, headers, b"")


# --- the event and the response --------------------------------------------------------------


@dataclass
class _Request:
    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]  # as received
    body: bytes
    source_ip: str
    protocol: str
    body_too_large: bool = False

    @property
    def path(self) -> str:
        return self.raw_path

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name]
        return ",".join(values) if values else None


def build_event(
    request: _Request,
    route_key: str,
    path_params: dict[str, str],
    authorized: Any | None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload format 2.0 event."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-proto", "http")
    host = headers.get("host", "localhost")
    if ":" in host:
        headers.setdefault("x-forwarded-port", host.rsplit(":", 1)[1])
    now = datetime.now(UTC)
    epoch_ms = int(now.timestamp() * 1000)
    headers.setdefault(
        "x-amzn-trace-id", f"Root=1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}"
    )

    query: dict[str, str] = {}
    for name, value in parse_qsl(request.raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value

    domain = host.split(":")[0]
    request_context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": domain,
        "domainPrefix": domain.split(".")[0],
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": base64.b64encode(secrets.token_bytes(10)).decode().rstrip("=") + "=",
        "routeKey": route_key,
        "stage": STAGE,
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": epoch_ms,
    }
    if authorized is not None:
        request_context["authorizer"] = {
            "jwt": {"claims": stringify_claims(authorized.claims), "scopes": authorized.scopes}
        }

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
        "headers": headers,
        "requestContext": request_context,
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_params:
        event["pathParameters"] = path_params
    if request.body:
        content_type = headers.get("content-type", "").split(";")[0].strip()
        text = _as_text(request.body) if _TEXT_TYPES.match(content_type) else None
        if text is None:
            event["body"] = base64.b64encode(request.body).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
    return event


def _as_text(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def map_response(result: Any) -> HttpAnswer:
    """The function's answer as API Gateway turns it into HTTP (payload format 2.0)."""
    status = 200
    if isinstance(result, dict) and "statusCode" in result:
        try:
            status = int(result["statusCode"])
        except (TypeError, ValueError):
            raise ValueError(f"statusCode {result['statusCode']!r} is not a number") from None
        if not 100 <= status <= 599:
            raise ValueError(f"statusCode {status} is out of range")
        headers = [(str(k), _header_value(v)) for k, v in (result.get("headers") or {}).items()]
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers.extend((str(name), _header_value(v)) for v in values)
        headers.extend(("set-cookie", str(c)) for c in result.get("cookies") or [])
        body = result.get("body")
        if body is None:
            data = b""
        elif not isinstance(body, str):
            raise ValueError(f"body must be a string, not {type(body).__name__}")
        elif result.get("isBase64Encoded"):
            try:
                data = base64.b64decode(body, validate=True)
            except ValueError:
                raise ValueError("isBase64Encoded is true but body is not base64") from None
        else:
            data = body.encode("utf-8")
    else:
        # Any other JSON value is the body of a 200 application/json answer.
        headers = [("content-type", "application/json")]
        data = json.dumps(result).encode()
    if len(data) > MAX_LAMBDA_PAYLOAD:
        raise ValueError(f"response of {len(data)} bytes is over Lambda's 6 MB limit")
    return HttpAnswer(status, headers, data)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _internal_error() -> HttpAnswer:
    return gateway_answer(500)


# --- the HTTP server -------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], gateway: Gateway
    ) -> None:
        self.gateway = gateway
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer (a Ctrl-C'd `intake send`) is not the gateway's
        error: no traceback on the console for it, as API Gateway logs none."""
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "intake-local-gateway"
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    # Every method reaches the routing, as with API Gateway: one no route matches is a 404
    # (http.server would answer 501 for any method without a do_ method).
    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET
    do_TRACE = do_CONNECT = do_QUERY = do_GET

    def _handle(self) -> None:
        started = time.perf_counter()
        gateway = self.server.gateway
        header_bytes = len(self.requestline) + sum(len(v) for v in self.headers.values())
        if header_bytes > MAX_REQUEST_HEADERS:
            log.info("refused %s: %d bytes of request line and headers", self.command, header_bytes)
            self._send(gateway_answer(431))
            self.close_connection = True  # the body, if any, was not read
            return
        try:
            body, too_large = self._read_body(gateway.max_body)
        except ValueError as exc:
            log.info("refused %s %s: %s", self.command, self.path, exc)
            self._send(gateway_answer(400))
            self.close_connection = True
            return
        parts = urlsplit(self.path)
        request = _Request(
            method=self.command.upper(),
            raw_path=parts.path or "/",
            raw_query=parts.query,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
            body_too_large=too_large,
        )
        try:
            answer, note = gateway.handle(request)
        except Exception:
            log.exception("gateway failed on %s %s", request.method, self.path)
            answer, note = _internal_error(), "gateway ERROR"
        if too_large:
            self.close_connection = True  # the rest of the body was not read
            answer.headers.append(("connection", "close"))
        self._send(answer)
        if gateway.access_log:
            ms = (time.perf_counter() - started) * 1000
            gateway.access_log(
                f"{request.method} {self.path} -> {answer.status} ({note}, {ms:.0f}ms)"
            )

    def _read_body(self, limit: int) -> tuple[bytes, bool]:
        """The request body, or (b"", True) when it is over `limit` bytes."""
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            return self._read_chunked(limit)
        length_text = self.headers.get("content-length")
        if not length_text:
            return b"", False
        try:
            length = int(length_text)
        except ValueError:
            raise ValueError("Content-Length is not a number") from None
        if length < 0:
            raise ValueError("Content-Length is negative")
        if length > limit:
            if length <= DRAIN_LIMIT:
                # Read and drop the body so the client sees the 413 rather than a reset.
                while length > 0:
                    length -= len(self.rfile.read(min(1024 * 1024, length))) or length
            return b"", True
        return self.rfile.read(length), False

    def _read_chunked(self, limit: int) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise ValueError("malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks), False
            total += size
            if total > limit:
                return b"", True
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line, a header line over 64 KiB,
        more than 100 headers) in API Gateway's shape instead of an HTML page."""
        log.info("refused by http.server: %s %s", code, message or "")
        phrase = GATEWAY_MESSAGES.get(code) or HTTPStatus(code).phrase
        body = json.dumps({"message": phrase}, separators=(",", ":")).encode()
        self.close_connection = True
        self._send(HttpAnswer(code, [("content-type", "application/json")], body))

    def _send(self, answer: HttpAnswer) -> None:
        self.send_response(answer.status)
        names = {k.lower() for k, _ in answer.headers}
        for name, value in answer.headers:
            if name.lower() in ("content-length", "transfer-encoding"):
                continue
            self.send_header(name, value)
        if "access-control-allow-origin" not in names:
            # No headers yet when http.server refuses the request line or the headers.
            headers = getattr(self, "headers", None)
            self.send_header(
                "access-control-allow-origin", (headers and headers.get("origin")) or "*"
            )
        self.send_header("content-length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD" and answer.body:
            self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)
