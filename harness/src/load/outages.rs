//! Outages read off a run's [`Beat`]s: stretches of measured time in which the server
//! answered nothing and requests failed, with when it answered again.

use std::time::Duration;

use super::stats::{BEAT, Beat};

/// Failed requests a stretch without answers needs to count as an outage: one timeout or
/// one error alone is not the server stopping.
pub const MIN_OUTAGE_FAILURES: u64 = 3;

/// A stretch in which no request succeeded, from the schedule's measured start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// Start of the first beat with a failure of the stretch (that beat may also hold the
    /// last successes before it).
    pub from: Duration,
    /// Start of the first beat after it with a success; `None` if none came before the
    /// run ended.
    pub answered_again: Option<Duration>,
    /// Requests that failed from `from` to `answered_again`, the beats at both ends
    /// included.
    pub failed: u64,
}

/// The outages in `beats`, in order.
pub fn outages(beats: &[Beat]) -> Vec<Outage> {
    let at = |i: usize| BEAT * i as u32;
    let mut found = Vec::new();
    let mut i = 0;
    while i < beats.len() {
        // A stretch starts at a beat with a failure and nothing after it answered.
        if beats[i].failed == 0 {
            i += 1;
            continue;
        }
        let start = i;
        let mut failed = u64::from(beats[i].failed);
        let mut dark = beats[i].ok == 0;
        let mut j = i + 1;
        while j < beats.len() && beats[j].ok == 0 {
            failed += u64::from(beats[j].failed);
            dark |= beats[j].failed > 0;
            j += 1;
        }
        // `j` is the first beat with a success after the stretch (or the end). Its failures
        // belong to the outage too: they went out before the server was back.
        let answered_again = (j < beats.len()).then(|| at(j));
        if let Some(end) = beats.get(j) {
            failed += u64::from(end.failed);
        }
        let outage = dark && failed >= MIN_OUTAGE_FAILURES;
        if outage {
            found.push(Outage {
                from: at(start),
                answered_again,
                failed,
            });
        }
        // The beat that answered again had its failures counted by the outage.
        i = if outage { j + 1 } else { j };
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beats(spec: &[(u32, u32)]) -> Vec<Beat> {
        spec.iter()
            .map(|&(ok, failed)| Beat { ok, failed })
            .collect()
    }

    #[test]
    fn a_stretch_without_answers_is_one_outage_with_its_edges() {
        // Up, then a beat half failed, two dark, an empty one, a dark one, back.
        let b = beats(&[
            (10, 0),
            (6, 4),
            (0, 10),
            (0, 10),
            (0, 0),
            (0, 9),
            (3, 2),
            (10, 0),
        ]);
        assert_eq!(
            outages(&b),
            vec![Outage {
                from: Duration::from_millis(100),
                answered_again: Some(Duration::from_millis(600)),
                failed: 35,
            }]
        );
    }

    #[test]
    fn scattered_errors_and_a_lone_failure_are_not_outages() {
        let scattered = beats(&[(9, 1), (8, 2), (9, 1), (10, 0)]);
        assert_eq!(outages(&scattered), vec![]);
        let lone = beats(&[(10, 0), (0, 1), (0, 0), (10, 0)]);
        assert_eq!(outages(&lone), vec![]);
    }

    #[test]
    fn a_server_that_never_came_back_has_no_end_and_two_outages_are_two() {
        let b = beats(&[(0, 5), (10, 0), (10, 0), (2, 3), (0, 8)]);
        assert_eq!(
            outages(&b),
            vec![
                Outage {
                    from: Duration::ZERO,
                    answered_again: Some(Duration::from_millis(100)),
                    failed: 5,
                },
                Outage {
                    from: Duration::from_millis(300),
                    answered_again: None,
                    failed: 11,
                },
            ]
        );
    }
}
