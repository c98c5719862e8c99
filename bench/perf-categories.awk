#!/usr/bin/awk -f
# Sums a `perf report --no-children --sort sym -q` listing (self time per symbol) into coarse
# categories, so profiles of two builds can be compared at a glance.
{
    pct = $1; sub("%", "", pct); $1 = ""; sym = $0
    if (sym ~ /\[k\]/) c = "kernel (network, scheduling, system calls)"
    else if (sym ~ /ecp_nistz|bignum|ECDSA|ecdsa|bn_|p256|montinv|ed25519|x25519|fe_|ge_/) c = "signature (ES256)"
    else if (sym ~ /aws_lc|sha256|sha512|aes|gcm|hmac|hkdf/) c = "other crypto (hashes, sealing, RNG, TLS records)"
    else if (sym ~ /malloc|free|memmove|memcpy|memset|realloc|unlink_chunk|memcmp|_int_|_mi_|mi_/) c = "memory (allocator, copies)"
    else if (sym ~ /sqlx/) c = "sqlx"
    else if (sym ~ /rustls/) c = "rustls"
    else if (sym ~ /hyper|h1::|http::|HeaderMap|header/) c = "hyper / http"
    else if (sym ~ /tokio/) c = "tokio"
    else if (sym ~ /axum|tower/) c = "axum / tower"
    else if (sym ~ /serde|json/) c = "serde / JSON"
    else if (sym ~ /tracing/) c = "tracing"
    else if (sym ~ /tokenmint/) c = "tokenmint"
    else c = "other"
    total[c] += pct
}
END { for (c in total) printf "%6.1f%%  %s\n", total[c], c }
