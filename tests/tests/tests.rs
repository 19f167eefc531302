//! The contract tests: every row of `shared/PROTOCOL.md` through real
//! sockets, one embedded server per test (`tests::TestServer`), so tests run
//! in parallel. One test binary (as in ripgrep); the modules below are its
//! table of contents.
//!
//! The tests mostly wait on sockets, so more test threads than cores pay
//! off: `cargo test -p tests -- --test-threads 12` takes about 5 s where the
//! default (one thread per core) takes about 20 s on two cores. The tests
//! that run the `chat-server` binary build it first (`cargo build -p server`,
//! a no-op when it is fresh); `CHAT_SERVER_BIN` points them elsewhere.

// §1 Connection: handshake, unknown token (4008), pings, REST on the same port.
mod connection;
// §1 On connect / on disconnect: friend_status_change, several devices,
// typing cleared on going offline, online_friends (G1, G2, G4).
mod presence;
// §2 send_message → new_message (WS form) to every connection of both
// participants; message ids per conversation (G3); implicit conversations.
mod messages;
// §2 typing / stop_typing → user_typing.
mod typing;
// §2 mark_read → messages_read; read flags and unread counts in REST.
mod read_receipts;
// §2 Errors and §8 precedence: each WS error code, the connection survives.
mod errors;
// §1, §5, §8 limits: 4011 too many connections, 1009 message too big,
// 4010 slow consumer.
mod limits;
// §6 REST: authentication, /me, /me/friends, /healthz.
mod rest_me;
// §6 REST: friend requests (new_friend_request, friend_request_accepted).
mod rest_friends;
// §6 REST: create/delete conversation, /conversations.
mod rest_conversations;
// §6 REST: send/delete message, history (after_id, limit, read), G5.
mod rest_messages;
// §6 Provisioning: /admin/users, /admin/users/bulk, /admin/friendships.
mod admin;
// §6 /metrics: the counters move.
mod metrics;
// Close before unregister: a reconnecting client never overlaps its old connection.
mod close_order;
// The retention bound: the last N messages per conversation (docs/server-hardening.md).
mod retention;
// Graceful shutdown: 1001 on every socket; the binary and SIGTERM.
mod shutdown;
// Malformed input (proptest through real sockets): no panic, no harm to
// other connections, the right error codes.
mod malformed;
// The suite bites: every fault the server can inject makes a test above fail.
mod faults;
// Properties of pure code: JSON round trips of every message, decode_client
// on arbitrary input (§8 precedence), scenario files, Recorder::merge.
mod prop_pure;
// The protocol as a state machine through real sockets: a reference model
// predicts every frame of every connection; racy steps judged against the
// allowed outcomes; each server::Fault makes it fail with a shrunk sequence.
mod state_machine;
