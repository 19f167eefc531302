//! [`Rest`]: a REST client with optional bearer auth, and [`Reply`]: the
//! status and body of one answer, with the assertions the tests make on them.

use serde::de::DeserializeOwned;
use serde::Serialize;
use server::protocol::rest::ErrorBody;
use server::protocol::ErrorCode;

/// One REST answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// What was asked (`POST /me/...`), for failure messages.
    pub request: String,
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// Asserts the status and parses the body as `T`.
    #[track_caller]
    pub fn ok<T: DeserializeOwned>(&self, status: u16, what: &str) -> T {
        self.status(status, what);
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "{what}: {} answered {status} with a body that is not the expected JSON ({e}): {}",
                self.request, self.body
            )
        })
    }

    /// Asserts the status.
    #[track_caller]
    pub fn status(&self, status: u16, what: &str) -> &Reply {
        assert_eq!(
            self.status, status,
            "{what}: {} answered {} (expected {status}), body: {}",
            self.request, self.status, self.body
        );
        self
    }

    /// Asserts an error reply: the status and `{"error":{"code","message"}}`
    /// with one of `codes`.
    #[track_caller]
    pub fn err_any(&self, status: u16, codes: &[ErrorCode], what: &str) -> ErrorCode {
        let body: ErrorBody = self.ok(status, what);
        assert!(
            codes.contains(&body.error.code),
            "{what}: {} answered {status} with code {} (expected one of {codes:?}), body: {}",
            self.request,
            body.error.code,
            self.body
        );
        assert!(
            !body.error.message.is_empty(),
            "{what}: the error message is empty: {}",
            self.body
        );
        body.error.code
    }

    /// Asserts an error reply with exactly `code`.
    #[track_caller]
    pub fn err(&self, status: u16, code: ErrorCode, what: &str) {
        self.err_any(status, &[code], what);
    }

    /// The body as a JSON value (to check the presence of raw fields).
    #[track_caller]
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{}: body is not JSON ({e}): {}", self.request, self.body))
    }
}

/// A REST client for one identity.
#[derive(Clone)]
pub struct Rest {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Rest {
    /// A client for `base` (`http://127.0.0.1:PORT`) with an optional token.
    pub fn new(http: reqwest::Client, base: String, token: Option<String>) -> Rest {
        Rest { http, base, token }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(crate::TIMEOUT);
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    async fn finish(&self, request: String, req: reqwest::RequestBuilder) -> Reply {
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{request}: no answer: {e}"));
        let status = resp.status().as_u16();
        let body = resp
            .text()
            .await
            .unwrap_or_else(|e| panic!("{request}: reading the body: {e}"));
        Reply {
            request,
            status,
            body,
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.finish(
            format!("GET {path}"),
            self.request(reqwest::Method::GET, path),
        )
        .await
    }

    /// `POST path` with a JSON body.
    pub async fn post<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> Reply {
        let json = serde_json::to_string(body).expect("request bodies serialize");
        self.post_raw(path, json).await
    }

    /// `POST path` with raw bytes as an `application/json` body.
    pub async fn post_raw(&self, path: &str, body: impl Into<Vec<u8>>) -> Reply {
        let req = self
            .request(reqwest::Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.into());
        self.finish(format!("POST {path}"), req).await
    }

    /// `GET /conversation/{id}/messages` with optional `after_id` and `limit`.
    pub async fn history(
        &self,
        conversation_id: u64,
        after_id: Option<u64>,
        limit: Option<u64>,
    ) -> Reply {
        let mut query = Vec::new();
        if let Some(a) = after_id {
            query.push(format!("after_id={a}"));
        }
        if let Some(l) = limit {
            query.push(format!("limit={l}"));
        }
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        };
        self.get(&format!("/conversation/{conversation_id}/messages{q}"))
            .await
    }
}
