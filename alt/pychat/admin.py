"""Provisioning (§6, §8): POST /admin/users, /admin/users/bulk,
/admin/friendships, behind the admin bearer token. No WS events."""

from aiohttp import web

from .extract import STATE, ApiError, auth_admin, json_body, json_response, str_field, u64_field
from .protocol import is_u64
from .store import StoreError

# StoreError kinds -> contract error code (the status follows the code).
_CODES = {"taken": "conflict", "unknown_user": "unknown_user",
          "self_target": "self_target", "invalid": "invalid_field"}


def _provisioning(e: StoreError) -> ApiError:
    return ApiError(_CODES[e.kind], e.message)


async def create_user(request: web.Request) -> web.Response:
    auth_admin(request)
    name = str_field(await json_body(request), "username")
    try:
        user = request.app[STATE].store.create_user(name)
    except StoreError as e:
        raise _provisioning(e) from None
    return json_response(user, 201)


async def create_bulk(request: web.Request) -> web.Response:
    auth_admin(request)
    body = await json_body(request)
    count = u64_field(body, "count")
    prefix = str_field(body, "username_prefix")
    try:
        users = request.app[STATE].store.create_bulk(count, prefix)
    except StoreError as e:
        raise _provisioning(e) from None
    return json_response({"users": users}, 201)


async def friendships(request: web.Request) -> web.Response:
    auth_admin(request)
    pairs = (await json_body(request)).get("pairs", None)
    if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 and is_u64(p[0]) and is_u64(p[1])
            for p in pairs):
        raise ApiError("invalid_body", "`pairs` must be an array of [int, int]")
    try:
        created = request.app[STATE].store.add_friendships([(a, b) for a, b in pairs])
    except StoreError as e:
        raise _provisioning(e) from None
    return json_response({"created": created})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/admin/users", create_user)
    router.add_post("/admin/users/bulk", create_bulk)
    router.add_post("/admin/friendships", friendships)
