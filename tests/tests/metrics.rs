//! §6 `/metrics`: Prometheus text with the counters the contract names.
//! Metric names are the server's choice, so series are found by substring
//! and the tests assert that their values move as the traffic says.

use server::protocol::{ClientMessage, Id};
use tests::metrics::Scrape;
use tests::TestServer;

async fn scrape(s: &TestServer) -> (Scrape, String) {
    let reply = s.rest_with_token(None).get("/metrics").await;
    reply.status(200, "GET /metrics");
    (Scrape::parse(&reply.body), reply.body)
}

#[track_caller]
fn assert_some(found: Vec<String>, what: &str, text: &str) {
    assert!(
        !found.is_empty(),
        "no series for {what} in /metrics:\n{text}"
    );
}

#[tokio::test]
async fn metrics_is_prometheus_text() {
    let s = TestServer::start().await;
    let (scrape, text) = scrape(&s).await;
    assert!(text.contains("# TYPE"), "no TYPE lines:\n{text}");
    assert!(!scrape.series.is_empty(), "no series:\n{text}");
}

#[tokio::test]
async fn connection_and_presence_gauges_follow_the_sockets() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let (m0, _) = scrape(&s).await;
    let wa = s.connect_confirmed(&a).await;
    let wa2 = s.connect_confirmed(&a).await;
    let mut wb = s.connect_confirmed(&b).await;
    let (m1, text) = scrape(&s).await;
    // Three sockets, two users.
    let conns = m0.moved_by(&m1, &["conn"], 3.0);
    assert_some(conns.clone(), "open connections (+3)", &text);
    let online = m0.moved_by(&m1, &["online"], 2.0);
    assert_some(online.clone(), "users online (+2)", &text);

    wa.close().await;
    wa2.close().await;
    // A's offline is sent once both of A's sockets are unregistered.
    wb.expect(&server::protocol::ServerEvent::FriendStatusChange {
        user_id: a.id,
        status: server::protocol::Status::Offline,
    })
    .await;
    let (m2, text) = scrape(&s).await;
    // The same gauges come down: one socket and one user remain.
    let back: Vec<String> = conns
        .into_iter()
        .filter(|k| (m2.get(k) - m0.get(k) - 1.0).abs() < 1e-9)
        .collect();
    assert_some(back, "open connections back to +1", &text);
    let back: Vec<String> = online
        .into_iter()
        .filter(|k| (m2.get(k) - m0.get(k) - 1.0).abs() < 1e-9)
        .collect();
    assert_some(back, "users online back to +1", &text);
}

#[tokio::test]
async fn message_event_and_error_counters_move() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wa = s.connect_confirmed(&a).await;
    let mut wb = s.connect_confirmed(&b).await;
    wa.round_trip_skipping().await;
    let (m0, _) = scrape(&s).await;
    for i in 0..3 {
        wa.say(b.id, &format!("m{i}")).await;
        wb.expect_new_message("the message").await;
    }
    wa.send_raw("not json").await;
    wa.expect_error(server::protocol::ErrorCode::InvalidJson)
        .await;
    wa.send(&ClientMessage::Typing {
        receiver_id: Id(a.id),
    })
    .await;
    wa.expect_error(server::protocol::ErrorCode::SelfTarget)
        .await;
    wa.send_binary(vec![1, 2, 3]).await;
    wa.expect_error(server::protocol::ErrorCode::BinaryUnsupported)
        .await;
    let (m1, text) = scrape(&s).await;
    assert_some(
        m0.moved_by(&m1, &["message"], 3.0),
        "messages stored (+3)",
        &text,
    );
    assert_some(
        m0.grew_by_at_least(&m1, &["new_message"], 3.0),
        "events sent of type new_message",
        &text,
    );
    assert_some(
        m0.grew_by_at_least(&m1, &["invalid_json"], 1.0),
        "error frames with code invalid_json",
        &text,
    );
    assert_some(
        m0.grew_by_at_least(&m1, &["self_target"], 1.0),
        "error frames with code self_target",
        &text,
    );
    assert_some(
        m0.grew_by_at_least(&m1, &["binary_unsupported"], 1.0),
        "error frames with code binary_unsupported",
        &text,
    );
}

#[tokio::test]
async fn rest_requests_are_counted_by_route_and_status() {
    let s = TestServer::start().await;
    let a = s.user().await;
    let (m0, _) = scrape(&s).await;
    let rest = s.rest(&a);
    for _ in 0..3 {
        rest.get("/me").await.status(200, "me");
    }
    s.rest_with_token(Some("nope"))
        .get("/me")
        .await
        .status(401, "unauthorized");
    rest.history(i64::MAX as u64, None, None)
        .await
        .status(404, "unknown conversation");
    rest.post_raw("/create_conversation", vec![b' '; 70_000])
        .await
        .status(413, "too large");
    let (m1, text) = scrape(&s).await;
    assert_some(
        m0.grew_by_at_least(&m1, &["me", "200"], 3.0),
        "REST requests to /me with status 200",
        &text,
    );
    assert_some(
        m0.grew_by_at_least(&m1, &["me", "401"], 1.0),
        "REST requests to /me with status 401",
        &text,
    );
    assert_some(
        m0.grew_by_at_least(&m1, &["404"], 1.0),
        "REST requests with status 404",
        &text,
    );
    assert_some(
        m0.grew_by_at_least(&m1, &["create_conversation", "413"], 1.0),
        "REST requests to /create_conversation with status 413",
        &text,
    );
}

#[tokio::test]
async fn slow_consumer_closes_are_exposed() {
    let s = TestServer::start().await;
    let (_, text) = scrape(&s).await;
    // The counter itself is checked moving in limits.rs (the slow-consumer
    // test); here only that /metrics describes it.
    assert!(
        text.to_lowercase().contains("slow"),
        "/metrics mentions no slow-consumer counter:\n{text}"
    );
}

/// `GET /metrics` with `accept` (None: no header) over a real socket:
/// (status, Content-Type, body).
async fn scrape_accepting(s: &TestServer, accept: Option<&str>) -> (u16, String, String) {
    let mut req = reqwest::Client::new()
        .get(format!("{}/metrics", s.http_url()))
        .timeout(tests::TIMEOUT);
    if let Some(a) = accept {
        req = req.header(reqwest::header::ACCEPT, a);
    }
    let resp = req.send().await.expect("GET /metrics");
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, ctype, resp.text().await.expect("reading /metrics"))
}

#[tokio::test]
async fn metrics_negotiates_openmetrics_when_asked() {
    let s = TestServer::start().await;
    // What Prometheus sends when it scrapes with OpenMetrics enabled.
    let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,\
        application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    for accept in [
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        "application/openmetrics-text",
        prometheus,
    ] {
        let (status, ctype, body) = scrape_accepting(&s, Some(accept)).await;
        assert_eq!(status, 200);
        assert_eq!(
            ctype, "application/openmetrics-text; version=1.0.0; charset=utf-8",
            "Accept: {accept}"
        );
        assert!(
            body.trim_end().ends_with("# EOF"),
            "OpenMetrics ends with # EOF:\n{body}"
        );
        assert!(
            body.contains("# TYPE chat_slow_consumer_closes counter"),
            "OpenMetrics names a counter family without _total:\n{body}"
        );
    }
}

#[tokio::test]
async fn metrics_answers_text_004_otherwise() {
    let s = TestServer::start().await;
    for accept in [
        None,
        Some("*/*"),
        Some("text/plain"),
        Some("text/plain;version=0.0.4;q=1,*/*;q=0.1"),
        Some("application/json"),
        Some("application/openmetrics-text;q=0.1, text/plain;q=0.9"),
    ] {
        let (status, ctype, body) = scrape_accepting(&s, accept).await;
        assert_eq!(status, 200);
        assert_eq!(
            ctype, "text/plain; version=0.0.4; charset=utf-8",
            "Accept: {accept:?}"
        );
        assert!(!body.contains("# EOF"), "text 0.0.4 has no # EOF:\n{body}");
        assert!(
            body.contains("# TYPE chat_slow_consumer_closes_total counter"),
            "text 0.0.4 names a counter by its sample:\n{body}"
        );
        // The same series as the OpenMetrics scrape (what moves was tested above).
        let scrape = Scrape::parse(&body);
        assert!(
            scrape
                .series
                .keys()
                .any(|k| k.starts_with("chat_open_connections")),
            "{body}"
        );
    }
}
