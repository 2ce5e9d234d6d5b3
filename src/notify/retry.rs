//! When to try a delivery again, and how long to wait: pure, so it is unit-tested.

use std::time::Duration;

/// The longest wait between two attempts, whatever the server asks for.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Worth another try: network errors, timeouts, HTTP 429 and 5xx, SMTP 4xx.
    Transient {
        why: String,
        retry_after: Option<Duration>,
    },
    /// Trying again cannot help: a wrong URL or token (HTTP 4xx), an SMTP 5xx.
    Permanent(String),
}

/// Sort an HTTP answer. 2xx is delivered; 408, 429 and 5xx are transient; the rest permanent.
pub fn classify_http(status: u16, body: &str, retry_after: Option<Duration>) -> Attempt {
    let body = body.trim();
    let mut why = format!("HTTP {status}");
    if !body.is_empty() {
        let short: String = body.chars().take(120).collect();
        why.push_str(&format!(" ({short})"));
    }
    match status {
        200..=299 => Attempt::Delivered,
        408 | 429 | 500..=599 => Attempt::Transient { why, retry_after },
        _ => Attempt::Permanent(why),
    }
}

/// Wait before retry number `retry` (0 for the first): `base` doubled each time, at least
/// what the server asked for with Retry-After, at most [`MAX_BACKOFF`].
pub fn backoff_delay(base: Duration, retry: u32, retry_after: Option<Duration>) -> Duration {
    let doubled = base.saturating_mul(1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX));
    doubled
        .max(retry_after.unwrap_or_default())
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_sorted() {
        assert_eq!(classify_http(200, "ok", None), Attempt::Delivered);
        assert_eq!(classify_http(204, "", None), Attempt::Delivered);
        assert!(matches!(
            classify_http(500, "boom", None),
            Attempt::Transient { why, .. } if why == "HTTP 500 (boom)"
        ));
        assert!(matches!(
            classify_http(429, "", Some(Duration::from_secs(3))),
            Attempt::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(3)
        ));
        assert_eq!(
            classify_http(404, "no_service", None),
            Attempt::Permanent("HTTP 404 (no_service)".into())
        );
        assert!(matches!(
            classify_http(403, "", None),
            Attempt::Permanent(_)
        ));
    }

    #[test]
    fn backoff_doubles_honours_retry_after_and_is_capped() {
        let base = Duration::from_millis(500);
        assert_eq!(backoff_delay(base, 0, None), Duration::from_millis(500));
        assert_eq!(backoff_delay(base, 1, None), Duration::from_secs(1));
        assert_eq!(backoff_delay(base, 2, None), Duration::from_secs(2));
        assert_eq!(
            backoff_delay(base, 0, Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
        assert_eq!(backoff_delay(base, 40, None), MAX_BACKOFF);
        assert_eq!(
            backoff_delay(base, 0, Some(Duration::from_secs(3600))),
            MAX_BACKOFF
        );
    }
}
