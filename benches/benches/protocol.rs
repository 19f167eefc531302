//! The wire: decoding a client frame (`decode_client`, the hot path of every
//! WebSocket read, and its error path) and serializing a server event once
//! (`ServerEvent::to_json`, shared by every recipient afterwards).

use benches::timed;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use server::protocol::{decode_client, NewMessage, ServerEvent, Status};
use std::hint::black_box;

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_client");
    let content = "x".repeat(200);
    let frames = [
        (
            "send_message_200B",
            format!(r#"{{"type":"send_message","receiver_id":12345,"content":"{content}"}}"#),
        ),
        (
            "typing",
            r#"{"type":"typing","receiver_id":12345}"#.to_owned(),
        ),
        (
            "get_online_friends",
            r#"{"type":"get_online_friends"}"#.to_owned(),
        ),
        // The error path: classify after a failed typed decode.
        (
            "invalid_field",
            r#"{"type":"typing","receiver_id":-1}"#.to_owned(),
        ),
        ("invalid_json", "{not json".to_owned()),
    ];
    for (name, text) in &frames {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), text, |b, text| {
            b.iter(|| timed(|| black_box(decode_client(black_box(text)))))
        });
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("server_event_to_json");
    let events = [
        (
            "new_message_200B",
            ServerEvent::NewMessage(NewMessage {
                message_id: 987_654,
                sender_id: 12_345,
                conversation_id: 4_321,
                content: "x".repeat(200),
                receiver_id: Some(54_321),
                timestamp: Some("2024-01-01T12:00:00.000000".to_owned()),
                created_at: None,
                media_ids: None,
            }),
        ),
        (
            "friend_status_change",
            ServerEvent::FriendStatusChange {
                user_id: 12_345,
                status: Status::Online,
            },
        ),
        (
            "online_friends_50",
            ServerEvent::OnlineFriends {
                friends: (1..=50).collect(),
            },
        ),
    ];
    for (name, event) in &events {
        g.bench_with_input(BenchmarkId::from_parameter(name), event, |b, event| {
            b.iter(|| timed(|| black_box(event.to_json())))
        });
    }
    g.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
