//! The text of an admin key: `tma_<id>_<secret>`, and the fingerprint it is cached under.

/// The admin-key prefix, so leaked keys are recognisable by secret scanners.
pub const ADMIN_KEY_PREFIX: &str = "tma_";
const ID_LEN: usize = 16;
const SECRET_LEN: usize = 43;

/// `tma_<16 hex>_<43 base64url>` → (id, secret).
pub(super) fn split_key(presented: &str) -> Option<(&str, &str)> {
    let rest = presented.strip_prefix(ADMIN_KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_').filter(|(id, _)| id.len() == ID_LEN)?;
    let well_formed = id.bytes().all(|b| b.is_ascii_hexdigit())
        && secret.len() == SECRET_LEN
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then_some((id, secret))
}

/// The cache key: a hash of the presented key, so the cache never holds a usable secret.
pub(super) fn fingerprint(presented: &str) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, presented.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_into_id_and_secret_only_when_well_formed() {
        let secret = "A".repeat(43);
        let key = format!("tma_0123456789abcdef_{secret}");
        assert_eq!(split_key(&key), Some(("0123456789abcdef", secret.as_str())));
        for bad in [
            "".to_owned(),
            format!("tmx_0123456789abcdef_{secret}"),
            format!("tma_0123456789abcde_{secret}"),
            format!("tma_0123456789abcdeg_{secret}"),
            format!("tma_0123456789abcdef_{secret}A"),
            format!("tma_0123456789abcdef_{}+", "A".repeat(42)),
        ] {
            assert_eq!(split_key(&bad), None, "{bad}");
        }
    }
}
