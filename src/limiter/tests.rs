//! Tests of the limiters on a clock the test moves.

use std::net::Ipv4Addr;
use std::num::NonZeroU32;

use governor::clock::FakeRelativeClock;

use super::*;

fn rate(count: u32, seconds: u64) -> Rate {
    Rate {
        count: NonZeroU32::new(count).unwrap(),
        per: Duration::from_secs(seconds),
    }
}

fn limiter<K: Hash + Eq + Clone>(
    count: u32,
    seconds: u64,
) -> (KeyedLimiter<K, FakeRelativeClock>, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    (
        KeyedLimiter::new(rate(count, seconds), clock.clone()),
        clock,
    )
}

#[test]
fn a_key_is_refused_after_its_burst_while_other_keys_pass() {
    let (limiter, _) = limiter::<u64>(3, 3600);
    for _ in 0..3 {
        assert_eq!(limiter.check(&1), Ok(()));
    }
    assert!(limiter.check(&1).is_err());
    assert_eq!(limiter.check(&2), Ok(()));
}

#[test]
fn retry_after_is_the_whole_seconds_until_the_next_request_can_pass() {
    let (limiter, clock) = limiter::<u64>(2, 3600);
    limiter.check(&1).unwrap();
    limiter.check(&1).unwrap();
    // One request comes back every 30 minutes.
    assert_eq!(limiter.check(&1), Err(Limited { retry_after: 1800 }));
    clock.advance(Duration::from_millis(1_799_500));
    assert_eq!(limiter.check(&1), Err(Limited { retry_after: 1 }));
    clock.advance(Duration::from_millis(500));
    assert_eq!(limiter.check(&1), Ok(()));
    assert!(limiter.check(&1).is_err());
}

#[test]
fn retry_after_is_never_zero_for_sub_second_waits() {
    let (limiter, _) = limiter::<u64>(100, 1);
    for _ in 0..100 {
        limiter.check(&1).unwrap();
    }
    assert_eq!(limiter.check(&1), Err(Limited { retry_after: 1 }));
}

#[test]
fn a_sweep_drops_refilled_keys_and_keeps_the_others() {
    let (limiter, clock) = limiter::<u64>(2, 60);
    limiter.check(&1).unwrap();
    clock.advance(Duration::from_secs(50));
    limiter.check(&2).unwrap();
    clock.advance(Duration::from_secs(20));
    // Key 1 refilled 40 s ago; key 2 is still one short.
    assert_eq!(limiter.sweep("test"), 1);
    limiter.check(&2).unwrap();
    assert!(
        limiter.check(&2).is_err(),
        "key 2's state survived the sweep"
    );
}

#[test]
fn a_sweep_empties_a_limiter_over_its_key_bound() {
    let (limiter, _) = limiter::<u64>(1, 3600);
    let limiter = limiter.with_max_keys(10);
    for key in 0..11 {
        limiter.check(&key).unwrap();
    }
    assert!(limiter.check(&0).is_err());
    assert_eq!(limiter.sweep("test"), 0);
    assert_eq!(
        limiter.check(&0),
        Ok(()),
        "limits restart from full buckets"
    );
    for key in 1..10 {
        limiter.check(&key).unwrap();
    }
    assert_eq!(
        limiter.sweep("test"),
        10,
        "within the bound, nothing is emptied"
    );
}

#[test]
fn ipv6_clients_share_their_64_and_mapped_ipv4_counts_as_ipv4() {
    let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
    let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
    let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
    assert_eq!(ip_key(a), ip_key(b));
    assert_eq!(ip_key(a), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
    assert_ne!(ip_key(a), ip_key(other));
    let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
    assert_eq!(ip_key(mapped), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    assert_ne!(
        ip_key("192.0.2.1".parse().unwrap()),
        ip_key("192.0.2.2".parse().unwrap())
    );
}

fn settings(count: u32) -> RateLimitSettings {
    RateLimitSettings {
        ip: Some(rate(count, 3600)),
        webhook_ip: Some(rate(count, 3600)),
        exchange_user: Some(rate(count, 3600)),
        admin_key: Some(rate(count, 3600)),
    }
}

#[test]
fn each_kind_of_refusal_is_counted_under_its_own_label() {
    let limits = RateLimits::new(&settings(1));
    let client: IpAddr = "192.0.2.1".parse().unwrap();
    limits.check_ip(IpScope::OAuth, client).unwrap();
    assert!(limits.check_ip(IpScope::OAuth, client).is_err());
    limits.check_ip(IpScope::Webhook, client).unwrap();
    assert!(limits.check_ip(IpScope::Webhook, client).is_err());
    limits.check_user("alice").unwrap();
    assert!(limits.check_user("alice").is_err());
    assert!(limits.check_user("alice").is_err());
    limits.check_user("bob").unwrap();
    limits.check_admin_key("00000000000000ff").unwrap();
    assert!(limits.check_admin_key("00000000000000ff").is_err());
    limits.check_admin_key("00000000000000fe").unwrap();
    let counters = limits.counters();
    assert_eq!(counters.rejected(LimitKind::Ip), 2);
    assert_eq!(counters.rejected(LimitKind::User), 2);
    assert_eq!(counters.rejected(LimitKind::AdminKey), 1);
    let labels: Vec<_> = LimitKind::ALL.iter().map(|k| k.label()).collect();
    assert_eq!(labels, ["ip", "user", "admin_key"]);
}

#[test]
fn disabled_limits_refuse_nothing() {
    let limits = RateLimits::new(&RateLimitSettings::DISABLED);
    let client: IpAddr = "192.0.2.1".parse().unwrap();
    for _ in 0..100 {
        limits.check_ip(IpScope::OAuth, client).unwrap();
        limits.check_ip(IpScope::Webhook, client).unwrap();
        limits.check_user("alice").unwrap();
        limits.check_admin_key("00000000000000ff").unwrap();
    }
    limits.sweep();
    assert!(
        LimitKind::ALL
            .iter()
            .all(|k| limits.counters().rejected(*k) == 0)
    );
}
