//! `tokenmint-verify`: what a Rust microservice embeds to verify tokenmint access tokens
//! locally. The verifier itself arrives with the verifier issue; the crate exists now so the
//! workspace layout is stable.
