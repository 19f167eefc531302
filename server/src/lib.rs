//! # chat-server (being assembled: protocol, config and faults first)

pub mod config;
pub mod fault;
pub mod protocol;

pub use config::Config;
pub use fault::Fault;
