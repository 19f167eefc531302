"""REST plumbing shared by rest.py and admin.py: the error type and its
middleware, bearer-token authentication, the JSON body reader (size limit ->
413, bad JSON or shape -> 400 invalid_body) and field validators.

The order of checks follows the reference's extractors: authentication
first (401), then the body (413, then 400), then the endpoint's rules.
"""

import hmac
from typing import Any

from aiohttp import web

from .protocol import DESCRIBE, dumps, is_id, is_text, is_u64, loads
from .state import AppState

STATE: web.AppKey[AppState] = web.AppKey("state", AppState)

# The status §6/§8 give each rule's code.
STATUS = {
    "unauthorized": 401,
    "forbidden": 403,
    "not_friends": 403,
    "not_participant": 403,
    "not_found": 404,
    "unknown_user": 404,
    "unknown_conversation": 404,
    "conflict": 409,
    "payload_too_large": 413,
}


class ApiError(Exception):
    """`{"error":{"code","message"}}` with an HTTP status."""

    def __init__(self, code: str, message: str = "", status: int = 0):
        super().__init__(code)
        self.code = code
        self.message = message or DESCRIBE[code]
        self.status = status or STATUS.get(code, 400)

    def response(self) -> web.Response:
        return json_response({"error": {"code": self.code, "message": self.message}},
                             self.status)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=dumps(data), status=status, content_type="application/json")


@web.middleware
async def middleware(request: web.Request, handler) -> web.StreamResponse:
    """Turns ApiError and unknown routes into the contract's error body, and
    counts REST requests by route pattern and status."""
    info = request.match_info
    route = info.route.resource.canonical if info.route.resource is not None else "unmatched"
    try:
        resp = await handler(request)
    except ApiError as e:
        resp = e.response()
    except web.HTTPNotFound:
        resp = ApiError("not_found").response()
    except web.HTTPException as e:
        request.app[STATE].metrics.rest_requests[(route, e.status)] += 1
        raise
    if route != "/ws/{token}":
        request.app[STATE].metrics.rest_requests[(route, resp.status)] += 1
    return resp


def _bearer(request: web.Request) -> str | None:
    value = request.headers.get("Authorization")
    if value is None or not value.startswith("Bearer "):
        return None
    token = value[len("Bearer "):]
    return token.strip() if token else None


def auth_user(request: web.Request) -> int:
    """The user of `Authorization: Bearer <api_token>`, else 401."""
    token = _bearer(request)
    uid = request.app[STATE].store.authenticate(token) if token else None
    if uid is None:
        raise ApiError("unauthorized")
    return uid


def auth_admin(request: web.Request) -> None:
    """The admin token, compared in constant time; a user token answers 401."""
    token = _bearer(request)
    admin = request.app[STATE].admin_token
    if token is None or not hmac.compare_digest(token.encode(), admin.encode()):
        raise ApiError("unauthorized")


async def json_body(request: web.Request) -> dict:
    """A JSON object body of at most max_message_bytes (413 beyond). The
    content type is not checked."""
    limit = request.app[STATE].config.max_message_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError("payload_too_large")
    buf = bytearray()
    async for chunk in request.content.iter_any():
        buf += chunk
        if len(buf) > limit:
            raise ApiError("payload_too_large")
    try:
        body = loads(bytes(buf).decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise ApiError("invalid_body", str(e)) from None
    if not isinstance(body, dict):
        raise ApiError("invalid_body", "expected a JSON object")
    return body


def _field(body: dict, name: str) -> Any:
    if name not in body:
        raise ApiError("invalid_body", f"missing field `{name}`")
    return body[name]


def id_field(body: dict, name: str) -> int:
    v = _field(body, name)
    if not is_id(v):
        raise ApiError("invalid_body", f"`{name}` must be an integer in 1..=2^63-1")
    return v


def u64_field(body: dict, name: str) -> int:
    v = _field(body, name)
    if not is_u64(v):
        raise ApiError("invalid_body", f"`{name}` must be a non-negative integer")
    return v


def str_field(body: dict, name: str) -> str:
    v = _field(body, name)
    if not is_text(v):
        raise ApiError("invalid_body", f"`{name}` must be a string")
    return v


def u64_list(body: dict, name: str) -> list[int]:
    """An optional array of non-negative integers (default empty)."""
    v = body.get(name, [])
    if not isinstance(v, list) or not all(is_u64(x) for x in v):
        raise ApiError("invalid_body", f"`{name}` must be an array of non-negative integers")
    return v
