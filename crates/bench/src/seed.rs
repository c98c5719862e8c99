//! Seeding: sessions created through real token exchanges, as apps create them, before the
//! measurement; on the peer, chains from its bench-only seeding route.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Context;
use tokenmint_fake_appwrite::FakeAppwrite;

use crate::api::{self, Target};

/// Signs `count` users in with the fake Appwrite (`bench-user-<n>`) and exchanges their JWTs
/// on `workers` concurrent tasks; returns the refresh tokens in user order.
///
/// # Errors
/// The first failed exchange: a run on a server that cannot exchange measures nothing.
pub async fn sessions(
    client: &reqwest::Client,
    target: &Target,
    appwrite: &FakeAppwrite,
    count: u32,
    workers: u16,
) -> anyhow::Result<Vec<String>> {
    let next = Arc::new(AtomicU32::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers.min(u16::try_from(count).unwrap_or(u16::MAX)) {
        let (client, target, appwrite, next) = (
            client.clone(),
            target.clone(),
            appwrite.clone(),
            Arc::clone(&next),
        );
        tasks.spawn(async move {
            let mut seeded = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return Ok::<_, anyhow::Error>(seeded);
                }
                let user = appwrite.signed_in_user(&format!("bench-user-{n}"));
                let token = api::exchange(&client, &target, &user.jwt)
                    .await
                    .map_err(|failure| anyhow::anyhow!("{failure}"))
                    .with_context(|| format!("seeding: the exchange for bench-user-{n} failed"))?;
                seeded.push((n, token));
            }
        });
    }
    let mut tokens = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    while let Some(joined) = tasks.join_next().await {
        tokens.extend(joined.context("a seeding task panicked")??);
    }
    tokens.sort_unstable_by_key(|(n, _)| *n);
    Ok(tokens.into_iter().map(|(_, token)| token).collect())
}

/// Asks the peer for `count` refresh chains (in batches, so no answer grows large); returns
/// their first refresh tokens.
///
/// # Errors
/// The first failed batch.
pub async fn peer_chains(
    client: &reqwest::Client,
    target: &Target,
    count: u32,
) -> anyhow::Result<Vec<String>> {
    const BATCH: u32 = 1000;
    let mut tokens = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let mut from = 0;
    while from < count {
        let batch = BATCH.min(count - from);
        let seeded = api::peer_chains(client, target, u64::from(from), batch)
            .await
            .map_err(|failure| anyhow::anyhow!("{failure}"))
            .with_context(|| format!("seeding the peer: chains {from} to {}", from + batch))?;
        tokens.extend(seeded);
        from += batch;
    }
    Ok(tokens)
}
