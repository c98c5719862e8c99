//! `tokenmint-token`: the format of tokenmint's access tokens, shared by the server that signs
//! them and by `tokenmint-verify`, so the two cannot drift:
//!
//! - [`Claims`]: the claims set;
//! - [`ACCESS_TOKEN_TYPE`] and [`jose::is_access_token_type`]: the `typ` header (RFC 9068);
//! - [`jose::is_strict_compact_jws`]: the structural checks made before any signature check
//!   (no repeated member names, no `crit`).
//!
//! Pure data and parsing: no I/O, no clock, no keys.

mod claims;
pub mod jose;

pub use claims::{Actor, Claims};

/// The `typ` header tokenmint puts on access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The `client_id` claim of tokens whose exchange named no client (RFC 9068 requires one).
pub const ANONYMOUS_CLIENT: &str = "anonymous";
