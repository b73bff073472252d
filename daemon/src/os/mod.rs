//! What weftd reads from the operating system outside the data plane: network links.

pub mod links;
