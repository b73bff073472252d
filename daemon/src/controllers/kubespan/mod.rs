//! KubeSpan controllers.

pub mod config;
pub mod identity;
