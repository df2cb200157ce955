//! The "Recovery" lines of a run: outages, lost sessions, re-sent requests, in words.

use crate::record::RunRecord;
use crate::report::text::thousands;

/// One sentence per thing the run recovered from; empty when there was nothing.
pub fn recovery_lines(r: &RunRecord) -> Vec<String> {
    let Some(rec) = &r.recovery else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    for o in &rec.outages {
        let lost = match o.failed {
            1 => "1 request failed".to_string(),
            n => format!("{} requests failed", thousands(n)),
        };
        lines.push(match o.answered_again_seconds {
            Some(back) => format!(
                "The server stopped answering at {:.1} s and answered again at {back:.1} s ({:.1} s without answers); {lost} in that time.",
                o.from_seconds,
                o.seconds(r.measured_seconds)
            ),
            None => format!(
                "The server stopped answering at {:.1} s and had not answered again when the run ended ({:.1} s later); {lost}.",
                o.from_seconds,
                o.seconds(r.measured_seconds)
            ),
        });
    }
    if rec.session_lost > 0 {
        let took = match (rec.session_recovery_p50_ms, rec.session_recovery_max_ms) {
            (Some(p50), Some(max)) => {
                format!(", each in {p50:.1} ms (median; at most {max:.1} ms)")
            }
            _ => String::new(),
        };
        lines.push(format!(
            "{} session{} lost (HTTP 404 for the session's id, or its connection gone) and opened again with a new initialize{took}.",
            thousands(rec.session_lost),
            if rec.session_lost == 1 { "" } else { "s" }
        ));
    }
    if rec.session_renewals_failed > 0 {
        lines.push(format!(
            "{} attempt{} to open a lost session again failed.",
            thousands(rec.session_renewals_failed),
            if rec.session_renewals_failed == 1 {
                ""
            } else {
                "s"
            }
        ));
    }
    if rec.resends > 0 {
        lines.push(format!(
            "{} request{} sent once more on a new connection: the server had closed the kept-alive connection before answering.",
            thousands(rec.resends),
            if rec.resends == 1 { "" } else { "s" }
        ));
    }
    lines
}
