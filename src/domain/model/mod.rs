//! The records and values the domain keeps and the ports carry: plain data with the rules
//! that belong to the data itself.
//!
//! This module imports nothing from the services or the ports, so that both can depend on it
//! without depending on each other. Parsing a stored name back (`FromStr`) lives with the
//! service that owns the type, because its error is the port's [`super::ports::StoreError`].

pub mod admin_keys;
pub mod audit;
pub mod keys;
pub mod sessions;
pub mod tokens;
