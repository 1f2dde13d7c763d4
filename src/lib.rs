//! pacwarden decides, for any host name or IP address, whether it belongs to a catalogue of
//! trusted endpoints (Microsoft 365's web service, Microsoft's additional endpoints, an
//! organisation's own entries), which entry decided it and how it should be routed.
//!
//! Data flows one way: [`catalogue`] sources → [`snapshot`] (compiled with [`matcher`]) →
//! callers. [`host`] normalises every host the same way for every caller.

pub mod app;
pub mod catalogue;
pub mod cli;
pub mod config;
pub mod export;
pub mod host;
pub mod http;
pub mod load;
pub mod matcher;
pub mod metrics;
pub mod pac;
pub mod profile;
pub mod reload;
pub mod snapshot;
pub mod squid;
pub mod state;
pub mod upstream;
