"""The user REST endpoints (§6), /healthz and /metrics.

Each handler awaits only while reading its body (json_body), before it
touches any state; from the rule checks on, it is synchronous, so a state
change and the WS events it causes are one atomic step (see manager.py).
"""

import re

from aiohttp import web

from . import messaging
from .extract import (STATE, ApiError, auth_user, id_field, json_body, json_response,
                      str_field, u64_list)
from .messaging import RuleError
from .protocol import MAX_ID, MAX_MEDIA_IDS, MAX_U64, event
from .store import StoreError

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
_U64_TEXT = re.compile(r"\+?[0-9]+")


def _rule(e: RuleError) -> ApiError:
    return ApiError(e.code, e.message)


async def me(request: web.Request) -> web.Response:
    uid = auth_user(request)
    user = request.app[STATE].store.users[uid]
    return json_response({"user_id": uid, "username": user.username})


async def friends(request: web.Request) -> web.Response:
    uid = auth_user(request)
    state = request.app[STATE]
    store, manager = state.store, state.manager
    rows = [{"user_id": f, "username": store.users[f].username,
             "online": manager.is_user_online(f)}
            for f in sorted(store.friends_of(uid))]
    return json_response({"friends": rows})


async def send_friend_request(request: web.Request) -> web.Response:
    uid = auth_user(request)
    receiver = id_field(await json_body(request), "receiver_id")
    state = request.app[STATE]
    try:
        name = state.store.send_request(uid, receiver)
    except StoreError as e:
        code = {"self_target": "self_target", "unknown_user": "unknown_user",
                "conflict": "conflict"}[e.kind]
        raise ApiError(code, e.message if code == "conflict" else "") from None
    frame = event("new_friend_request", sender_id=uid, sender_username=name)
    state.manager.send_personal_message(receiver, frame, "new_friend_request")
    return json_response({}, 201)


async def accept_friend_request(request: web.Request) -> web.Response:
    uid = auth_user(request)
    requester = id_field(await json_body(request), "sender_id")
    state = request.app[STATE]
    try:
        name = state.store.accept_request(uid, requester)
    except StoreError as e:
        if e.kind == "self_target":
            raise ApiError("self_target") from None
        raise ApiError("not_found", e.message) from None
    # Becoming friends sends no presence event (§8).
    frame = event("friend_request_accepted", friend_id=uid, friend_username=name)
    state.manager.send_personal_message(requester, frame, "friend_request_accepted")
    return json_response({})


async def create_conversation(request: web.Request) -> web.Response:
    uid = auth_user(request)
    other = id_field(await json_body(request), "other_user_id")
    state = request.app[STATE]
    try:
        messaging.check_target(state.store, uid, other)
    except RuleError as e:
        raise _rule(e) from None
    conv, created = state.store.get_or_create(uid, other)
    if not created:
        return json_response({"conversation_id": conv.id})
    frame = event("new_conversation", conversation_id=conv.id, other_user_id=uid)
    state.manager.send_personal_message(other, frame, "new_conversation")
    return json_response({"conversation_id": conv.id}, 201)


async def delete_conversation(request: web.Request) -> web.Response:
    uid = auth_user(request)
    cid = id_field(await json_body(request), "conversation_id")
    state = request.app[STATE]
    conv = state.store.conversation(cid)
    if conv is None:
        raise ApiError("unknown_conversation")
    if not conv.has(uid):
        raise ApiError("not_participant")
    # G4: to the other participant only.
    frame = event("conversation_deleted", conversation_id=cid)
    state.manager.send_personal_message(conv.other(uid), frame, "conversation_deleted")
    state.metrics.messages_stored -= state.store.forget(conv)
    return json_response({})


async def conversations(request: web.Request) -> web.Response:
    uid = auth_user(request)
    rows = [{"conversation_id": c.id, "other_user_id": c.other(uid),
             "unread_count": c.unread_count(uid)}
            for c in request.app[STATE].store.of_user(uid)]
    return json_response({"conversations": rows})


async def send_message(request: web.Request) -> web.Response:
    uid = auth_user(request)
    body = await json_body(request)
    cid = id_field(body, "conversation_id")
    content = str_field(body, "content")
    media_ids = u64_list(body, "media_ids")
    if len(media_ids) > MAX_MEDIA_IDS:
        raise ApiError("invalid_field", "at most 10 media_ids")
    state = request.app[STATE]
    try:
        messaging.check_content(content)
    except RuleError as e:
        raise _rule(e) from None
    conv = state.store.conversation(cid)
    if conv is None:
        raise ApiError("unknown_conversation")
    if not conv.has(uid):
        raise ApiError("not_participant")
    # G3/G5: stored and enqueued (REST form, to the receiver) in one step.
    m = messaging.store_and_push(state.store, state.manager, conv, uid, content,
                                 media_ids, rest=True)
    return json_response({"message_id": m.id, "created_at": m.created_at}, 201)


async def delete_message(request: web.Request) -> web.Response:
    uid = auth_user(request)
    mid = id_field(await json_body(request), "message_id")
    state = request.app[STATE]
    store = state.store
    cid = store.by_message.get(mid)
    conv = store.conversation(cid) if cid is not None else None
    if conv is None:
        raise ApiError("not_found", "no such message")
    if not conv.has(uid):
        raise ApiError("not_participant")
    i = conv.find(mid)
    if i is None:
        raise ApiError("not_found", "no such message")
    if conv.messages[i].sender != uid:
        raise ApiError("forbidden", "only the author may delete a message")
    store.remove_message(conv, i)
    state.metrics.messages_stored -= 1
    frame = event("delete_message", message_id=mid)
    state.manager.send_personal_message(conv.other(uid), frame, "delete_message")
    return json_response({})


def _query_u64(request: web.Request, name: str) -> int | None:
    values = request.rel_url.query.getall(name, [])
    if not values:
        return None
    if len(values) > 1:
        raise ApiError("invalid_field",
                       f"Failed to deserialize query string: duplicate field `{name}`")
    v = values[0]
    if not _U64_TEXT.fullmatch(v) or int(v) > MAX_U64:
        raise ApiError("invalid_field",
                       f"Failed to deserialize query string: `{name}` is not a u64")
    return int(v)


async def history(request: web.Request) -> web.Response:
    uid = auth_user(request)
    after = _query_u64(request, "after_id") or 0
    limit = _query_u64(request, "limit")
    limit = min(DEFAULT_LIMIT if limit is None else limit, MAX_LIMIT)
    text = request.match_info["id"]
    if not _U64_TEXT.fullmatch(text) or not 1 <= int(text) <= MAX_ID:
        raise ApiError("invalid_field", "bad conversation id")
    conv = request.app[STATE].store.conversation(int(text))
    if conv is None:
        raise ApiError("unknown_conversation")
    if not conv.has(uid):
        raise ApiError("not_participant")
    rows = [{"message_id": m.id, "sender_id": m.sender, "content": m.content,
             "created_at": m.created_at, "read": conv.is_read(m), "media_ids": m.media_ids}
            for m in conv.page(after, limit)]
    return json_response({"messages": rows})


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def metrics(request: web.Request) -> web.Response:
    return web.Response(
        text=request.app[STATE].metrics.render(),
        headers={"Content-Type": "application/openmetrics-text; version=1.0.0; charset=utf-8"})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/me", me)
    router.add_get("/me/friends", friends)
    router.add_post("/me/send_friend_request", send_friend_request)
    router.add_post("/me/accept_friend_request", accept_friend_request)
    router.add_post("/create_conversation", create_conversation)
    router.add_post("/delete_conversation", delete_conversation)
    router.add_get("/conversations", conversations)
    router.add_post("/conversation/send_message", send_message)
    router.add_post("/conversation/delete_message", delete_message)
    router.add_get("/conversation/{id}/messages", history)
    router.add_get("/healthz", healthz)
    router.add_get("/metrics", metrics)
