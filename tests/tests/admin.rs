//! §6 Provisioning: `POST /admin/users`, `POST /admin/users/bulk` (count
//! 1..=100000, names `{prefix}{n}` skipping taken ones), `POST
//! /admin/friendships` (all-or-nothing, no WS events), admin auth (401).

use server::protocol::rest::{
    BulkUsers, BulkUsersCreated, CreateUser, Friends, Friendships, FriendshipsCreated,
    ProvisionedUser,
};
use server::protocol::ErrorCode;
use std::collections::HashSet;
use tests::TestServer;

#[tokio::test]
async fn create_user_returns_id_name_and_a_working_token() {
    let s = TestServer::start().await;
    let admin = s.admin();
    let u: ProvisionedUser = admin
        .post(
            "/admin/users",
            &CreateUser {
                username: "Alice_1.x-y".into(),
            },
        )
        .await
        .ok(201, "create user");
    assert_eq!(u.username, "Alice_1.x-y");
    assert!(u.user_id > 0);
    // At least 128 bits, URL-safe.
    assert!(u.api_token.len() >= 22, "token too short: {}", u.api_token);
    assert!(
        u.api_token
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
        "token is not URL-safe: {}",
        u.api_token
    );
    let me: server::protocol::rest::Me = s
        .rest_with_token(Some(&u.api_token))
        .get("/me")
        .await
        .ok(200, "me");
    assert_eq!(me.user_id, u.user_id);
    s.connect_token(&u.api_token).await.round_trip().await;
}

#[tokio::test]
async fn usernames_are_validated_and_unique() {
    let s = TestServer::start().await;
    let admin = s.admin();
    admin
        .post(
            "/admin/users",
            &CreateUser {
                username: "bob".into(),
            },
        )
        .await
        .status(201, "bob");
    admin
        .post(
            "/admin/users",
            &CreateUser {
                username: "bob".into(),
            },
        )
        .await
        .err(409, ErrorCode::Conflict, "a taken username");
    admin
        .post(
            "/admin/users",
            &CreateUser {
                username: "x".repeat(32),
            },
        )
        .await
        .status(201, "32 characters");
    for bad in [
        String::new(),
        "x".repeat(33),
        "a b".into(),
        "é".into(),
        "a/b".into(),
        "a@b".into(),
    ] {
        admin
            .post(
                "/admin/users",
                &CreateUser {
                    username: bad.clone(),
                },
            )
            .await
            .err_any(
                400,
                &[ErrorCode::InvalidBody, ErrorCode::InvalidField],
                &format!("username {bad:?}"),
            );
    }
    admin.post_raw("/admin/users", "{}").await.err_any(
        400,
        &[ErrorCode::InvalidBody, ErrorCode::InvalidField],
        "no username",
    );
}

#[tokio::test]
async fn admin_endpoints_want_the_admin_token() {
    let s = TestServer::start().await;
    let u = s.user().await;
    let user = s.rest(&u);
    let wrong = format!("{}x", s.embedded.admin_token);
    for rest in [
        user,
        s.rest_with_token(None),
        s.rest_with_token(Some("nope")),
        s.rest_with_token(Some(&wrong)),
    ] {
        rest.post_raw("/admin/users", r#"{"username":"eve"}"#)
            .await
            .err(401, ErrorCode::Unauthorized, "create user");
        rest.post_raw("/admin/users/bulk", r#"{"count":1,"username_prefix":"e"}"#)
            .await
            .err(401, ErrorCode::Unauthorized, "bulk");
        rest.post_raw("/admin/friendships", r#"{"pairs":[]}"#)
            .await
            .err(401, ErrorCode::Unauthorized, "friendships");
    }
}

#[tokio::test]
async fn a_configured_admin_token_is_the_one_in_force() {
    let s = TestServer::with_config(server::Config {
        admin_token: Some("let-me-in-please".into()),
        ..server::Config::default()
    })
    .await;
    assert_eq!(s.embedded.admin_token, "let-me-in-please");
    s.rest_with_token(Some("let-me-in-please"))
        .post(
            "/admin/users",
            &CreateUser {
                username: "ok".into(),
            },
        )
        .await
        .status(201, "with the configured token");
}

#[tokio::test]
async fn bulk_names_count_up_from_one_skipping_taken_names() {
    let s = TestServer::start().await;
    let admin = s.admin();
    for name in ["bk2", "bk4"] {
        admin
            .post(
                "/admin/users",
                &CreateUser {
                    username: name.into(),
                },
            )
            .await
            .status(201, name);
    }
    let created: BulkUsersCreated = admin
        .post(
            "/admin/users/bulk",
            &BulkUsers {
                count: 4,
                username_prefix: "bk".into(),
            },
        )
        .await
        .ok(201, "bulk");
    let names: Vec<&str> = created.users.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["bk1", "bk3", "bk5", "bk6"]);
    let ids: HashSet<u64> = created.users.iter().map(|u| u.user_id).collect();
    let tokens: HashSet<&str> = created.users.iter().map(|u| u.api_token.as_str()).collect();
    assert_eq!((ids.len(), tokens.len()), (4, 4), "distinct ids and tokens");
    // Every token works.
    for u in &created.users {
        let me: server::protocol::rest::Me = s
            .rest_with_token(Some(&u.api_token))
            .get("/me")
            .await
            .ok(200, "me");
        assert_eq!(
            (me.user_id, me.username.as_str()),
            (u.user_id, u.username.as_str())
        );
    }
}

#[tokio::test]
async fn bulk_count_must_be_1_to_100000() {
    let s = TestServer::start().await;
    let admin = s.admin();
    for count in [0, 100_001, 1_000_000_000] {
        admin
            .post(
                "/admin/users/bulk",
                &BulkUsers {
                    count,
                    username_prefix: "n".into(),
                },
            )
            .await
            .err_any(
                400,
                &[ErrorCode::InvalidBody, ErrorCode::InvalidField],
                &format!("count {count}"),
            );
    }
    admin
        .post_raw("/admin/users/bulk", r#"{"count":-1,"username_prefix":"n"}"#)
        .await
        .err_any(
            400,
            &[ErrorCode::InvalidBody, ErrorCode::InvalidField],
            "count -1",
        );
    // Nothing was created by the refused calls.
    let created: BulkUsersCreated = admin
        .post(
            "/admin/users/bulk",
            &BulkUsers {
                count: 1,
                username_prefix: "n".into(),
            },
        )
        .await
        .ok(201, "count 1");
    assert_eq!(created.users[0].username, "n1");
}

#[tokio::test]
async fn bulk_of_many_users_gives_distinct_tokens() {
    let s = TestServer::start().await;
    let users = s.users(2000).await;
    let tokens: HashSet<&str> = users.iter().map(|u| u.token.as_str()).collect();
    assert_eq!(tokens.len(), 2000);
}

#[tokio::test]
async fn friendships_count_created_pairs_and_send_no_events() {
    let s = TestServer::start().await;
    let [a, b, c] = s.users_n().await;
    let mut wa = s.connect_confirmed(&a).await;
    let mut wb = s.connect_confirmed(&b).await;
    let reply: FriendshipsCreated = s
        .befriend_ids([(a.id, b.id), (c.id, a.id)])
        .await
        .ok(200, "friendships");
    assert_eq!(reply.created, 2);
    // No WS events.
    tests::silent_all(&mut [&mut wa, &mut wb]).await;
    // Existing pairs, in either order, are not errors but not created.
    let reply: FriendshipsCreated = s
        .befriend_ids([(b.id, a.id), (a.id, b.id), (b.id, c.id)])
        .await
        .ok(200, "friendships again");
    assert_eq!(reply.created, 1);
    let empty: FriendshipsCreated = s.befriend_ids([]).await.ok(200, "no pairs");
    assert_eq!(empty.created, 0);
    let friends: Friends = s.rest(&b).get("/me/friends").await.ok(200, "friends");
    let mut ids: Vec<u64> = friends.friends.iter().map(|f| f.user_id).collect();
    ids.sort_unstable();
    let mut expected = vec![a.id, c.id];
    expected.sort_unstable();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn friendships_are_all_or_nothing() {
    let s = TestServer::start().await;
    let [a, b, c] = s.users_n().await;
    let unknown = i64::MAX as u64;
    s.befriend_ids([(a.id, b.id), (b.id, unknown)])
        .await
        .err_any(
            404,
            &[ErrorCode::NotFound, ErrorCode::UnknownUser],
            "an unknown id",
        );
    s.befriend_ids([(a.id, c.id), (b.id, b.id)]).await.err_any(
        400,
        &[
            ErrorCode::SelfTarget,
            ErrorCode::InvalidBody,
            ErrorCode::InvalidField,
        ],
        "a pair of one user with itself",
    );
    // Nothing of either call was created.
    for u in [&a, &b, &c] {
        let friends: Friends = s.rest(u).get("/me/friends").await.ok(200, "friends");
        assert!(friends.friends.is_empty(), "{}: {friends:?}", u.username);
    }
    s.admin()
        .post_raw("/admin/friendships", r#"{"pairs":[[1]]}"#)
        .await
        .err_any(
            400,
            &[ErrorCode::InvalidBody, ErrorCode::InvalidField],
            "a short pair",
        );
    let ok: FriendshipsCreated = s
        .admin()
        .post(
            "/admin/friendships",
            &Friendships {
                pairs: vec![(a.id, c.id)],
            },
        )
        .await
        .ok(200, "a valid call afterwards");
    assert_eq!(ok.created, 1);
}

#[tokio::test]
async fn bulk_names_follow_the_username_rules() {
    let s = TestServer::start().await;
    let admin = s.admin();
    // The names `{prefix}{n}` must be valid usernames (1–32 of
    // `A-Za-z0-9_.-`): a bad character, or a prefix that leaves no room for
    // the number, is refused and creates nothing.
    for prefix in ["a b", "é", "a/", &"x".repeat(32)] {
        admin
            .post(
                "/admin/users/bulk",
                &BulkUsers {
                    count: 2,
                    username_prefix: prefix.to_owned(),
                },
            )
            .await
            .err_any(
                400,
                &[ErrorCode::InvalidBody, ErrorCode::InvalidField],
                &format!("prefix {prefix:?}"),
            );
    }
    // An empty prefix gives plain numbers, which are valid usernames.
    let created: BulkUsersCreated = admin
        .post(
            "/admin/users/bulk",
            &BulkUsers {
                count: 2,
                username_prefix: String::new(),
            },
        )
        .await
        .ok(201, "empty prefix");
    let names: Vec<&str> = created.users.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["1", "2"]);
}
