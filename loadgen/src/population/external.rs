//! The `--population FILE` format: users and friendships that already
//! exist on an external server, validated with errors that say where.

use super::graph::Graph;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use thiserror::Error;

/// Why a `--population` file could not be used.
#[derive(Debug, Error)]
pub enum PopulationError {
    /// The file could not be read.
    #[error("population file {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON of the expected shape, or breaks a rule.
    #[error("population file {path}: {message}")]
    Invalid {
        /// The path.
        path: String,
        /// Where and what, e.g. `users[3].user_id: 0 is not a valid id`.
        message: String,
    },
}

/// One user of a `--population` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalUser {
    /// The server's user id.
    pub user_id: u64,
    /// The user's API token.
    pub token: String,
    /// The username, if the file gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// Users and friendships that already exist on an external server (`--population FILE`):
/// `{"users":[{"user_id":1,"token":"..."}],"friendships":[[1,2],...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct External {
    /// The users, in file order (user index = position).
    pub users: Vec<ExternalUser>,
    /// Friendships as pairs of user ids.
    #[serde(default)]
    pub friendships: Vec<(u64, u64)>,
}

impl External {
    /// Reads and validates a population file.
    pub fn load(path: &Path) -> Result<External, PopulationError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PopulationError::Read {
            path: shown.clone(),
            source,
        })?;
        External::parse(&text, &shown)
    }

    /// Parses and validates population JSON; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<External, PopulationError> {
        let invalid = |message: String| PopulationError::Invalid {
            path: origin.to_owned(),
            message,
        };
        let ext: External = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if ext.users.len() < 2 {
            return Err(invalid(format!(
                "users: needs at least 2 users, got {}",
                ext.users.len()
            )));
        }
        let mut seen = HashMap::with_capacity(ext.users.len());
        for (i, u) in ext.users.iter().enumerate() {
            if u.user_id == 0 || u.user_id > server::protocol::MAX_ID {
                return Err(invalid(format!(
                    "users[{i}].user_id: {} is not a valid id",
                    u.user_id
                )));
            }
            if u.token.is_empty() {
                return Err(invalid(format!("users[{i}].token: must not be empty")));
            }
            if let Some(j) = seen.insert(u.user_id, i) {
                return Err(invalid(format!(
                    "users[{i}].user_id: {} repeats users[{j}]",
                    u.user_id
                )));
            }
        }
        for (i, &(a, b)) in ext.friendships.iter().enumerate() {
            for id in [a, b] {
                if !seen.contains_key(&id) {
                    return Err(invalid(format!("friendships[{i}]: unknown user_id {id}")));
                }
            }
            if a == b {
                return Err(invalid(format!(
                    "friendships[{i}]: user {a} cannot befriend itself"
                )));
            }
        }
        Ok(ext)
    }

    /// The friend graph by user index (position in `users`): sorted,
    /// symmetric, duplicates dropped.
    pub fn friend_graph(&self) -> Vec<Vec<u32>> {
        let index: HashMap<u64, u32> = self
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.user_id, i as u32))
            .collect();
        let mut g = Graph::new(self.users.len());
        for (a, b) in &self.friendships {
            if let (Some(&a), Some(&b)) = (index.get(a), index.get(b)) {
                g.add(a, b);
            }
        }
        g.into_adjacency()
    }
}
