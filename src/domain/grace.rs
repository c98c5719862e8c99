//! The grace window of a rotated refresh token, and why an outage must not end it.
//!
//! A client whose refresh got no answer (a 503, a timeout, a dropped connection) retries with
//! the token it holds. If the rotation had committed before the answer was lost, the retry
//! presents the family's *previous* token, and within the grace window it gets the same
//! successor back. Outside the window that token counts as replayed and the session is
//! revoked as stolen.
//!
//! When the answer was lost because tokenmint itself could not answer — the database stalled,
//! restarted or failed over, or no replica ran — the client had no way to retry inside the
//! window: every attempt met the same outage. So an outage that began inside the window
//! extends it: the window then ends `grace` after the outage ended, and again after any
//! further outage that began before that. A replay after a window that met no outage is
//! still a replay.
//!
//! Times are compared in whole milliseconds (the stored precision) and the window is rounded
//! up to a whole millisecond, so every retry within the configured window is honoured.

use chrono::{DateTime, Duration, Utc};

use super::ports::Outage;

/// The grace window, in whole milliseconds, rounded up.
fn window_ms(grace: Duration) -> i64 {
    grace.num_milliseconds() + i64::from(grace.subsec_nanos() % 1_000_000 != 0)
}

/// Whether a token used at `used_at` may still be retried at `now`, with no outage in
/// between.
pub fn within_window(used_at: DateTime<Utc>, grace: Duration, now: DateTime<Utc>) -> bool {
    now.timestamp_millis() - used_at.timestamp_millis() <= window_ms(grace)
}

/// The last millisecond (unix) at which a token used at `used_at` may be retried, given the
/// outages seen around it (in any order).
pub fn window_end_ms(used_at: DateTime<Utc>, grace: Duration, outages: &[Outage]) -> i64 {
    let grace_ms = window_ms(grace);
    let used_ms = used_at.timestamp_millis();
    let mut spans: Vec<(i64, i64)> = outages
        .iter()
        .map(|o| (o.start.timestamp_millis(), o.end.timestamp_millis()))
        .filter(|&(start, end)| start <= end && end >= used_ms)
        .collect();
    spans.sort_unstable();
    let mut end = used_ms.saturating_add(grace_ms);
    for (outage_start, outage_end) in spans {
        if outage_start > end {
            break;
        }
        end = end.max(outage_end.saturating_add(grace_ms));
    }
    end
}

/// Whether a token used at `used_at` may still be retried at `now`, given the outages seen
/// between the two.
pub fn within_extended_window(
    used_at: DateTime<Utc>,
    grace: Duration,
    outages: &[Outage],
    now: DateTime<Utc>,
) -> bool {
    now.timestamp_millis() <= window_end_ms(used_at, grace, outages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    fn outage(start: i64, end: i64) -> Outage {
        Outage {
            start: at(start),
            end: at(end),
        }
    }

    const GRACE: i64 = 10_000;

    fn grace() -> Duration {
        Duration::milliseconds(GRACE)
    }

    #[test]
    fn without_outages_the_window_is_the_grace_period_to_the_millisecond() {
        assert!(within_window(at(0), grace(), at(GRACE)));
        assert!(!within_window(at(0), grace(), at(GRACE + 1)));
        assert!(within_extended_window(at(0), grace(), &[], at(GRACE)));
        assert!(!within_extended_window(at(0), grace(), &[], at(GRACE + 1)));
        // A window of a fraction of a millisecond rounds up.
        assert!(within_window(at(0), Duration::microseconds(1), at(1)));
    }

    #[test]
    fn an_outage_beginning_inside_the_window_restarts_it_when_the_outage_ends() {
        // Used at 0; the database goes down at 300 ms and comes back at 25 s.
        let outages = [outage(300, 25_000)];
        assert_eq!(
            window_end_ms(at(0), grace(), &outages),
            at(35_000).timestamp_millis()
        );
        assert!(within_extended_window(at(0), grace(), &outages, at(34_000)));
        assert!(!within_extended_window(
            at(0),
            grace(),
            &outages,
            at(35_001)
        ));
    }

    #[test]
    fn an_outage_that_began_before_the_rotation_and_ended_after_counts_too() {
        // The failing operation started before the rotation's stamp (an older statement).
        let outages = [outage(-2_000, 12_000)];
        assert!(within_extended_window(at(0), grace(), &outages, at(21_000)));
    }

    #[test]
    fn outages_chain_while_each_begins_inside_the_window_the_last_one_left() {
        let outages = [outage(40_000, 50_000), outage(5_000, 30_000)];
        // 5 s–30 s extends the window to 40 s; the outage starting at 40 s extends it to 60 s.
        assert_eq!(
            window_end_ms(at(0), grace(), &outages),
            at(60_000).timestamp_millis()
        );
        // One starting after the window closed does not reopen it.
        let late = [outage(5_000, 30_000), outage(40_001, 50_000)];
        assert_eq!(
            window_end_ms(at(0), grace(), &late),
            at(40_000).timestamp_millis()
        );
    }

    #[test]
    fn outages_outside_the_window_change_nothing() {
        let outages = [outage(-60_000, -1), outage(10_001, 20_000)];
        assert_eq!(
            window_end_ms(at(0), grace(), &outages),
            at(GRACE).timestamp_millis()
        );
        // A replay well after the window is still a replay.
        assert!(!within_extended_window(
            at(0),
            grace(),
            &outages,
            at(15_000)
        ));
    }

    #[test]
    fn a_window_of_zero_is_extended_only_to_the_end_of_the_outage() {
        let outages = [outage(0, 8_000)];
        assert!(within_extended_window(
            at(0),
            Duration::zero(),
            &outages,
            at(8_000)
        ));
        assert!(!within_extended_window(
            at(0),
            Duration::zero(),
            &outages,
            at(8_001)
        ));
    }
}
