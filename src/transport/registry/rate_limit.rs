//! What a registry says about how fast it may be asked: `Retry-After` (seconds or an HTTP
//! date) on a 429 or 503, and Docker Hub's `RateLimit-Limit` / `RateLimit-Remaining`
//! (`100;w=21600`: 100 pulls per 21600 s window). A refusal with nothing remaining is not
//! retried: the window has to pass first.

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// `Retry-After`, as seconds or an HTTP date (a date in the past is no wait).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// Docker Hub's rate-limit headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u64,
    pub remaining: u64,
    /// The window, in seconds (`w=`).
    pub window: Option<u64>,
}

impl RateLimit {
    /// From `RateLimit-Limit` and `RateLimit-Remaining`, when the registry sent both.
    pub fn from_headers(headers: &HeaderMap) -> Option<RateLimit> {
        let field = |name: &str| -> Option<(u64, Option<u64>)> {
            let v = headers.get(name)?.to_str().ok()?;
            let mut parts = v.split(';');
            let n = parts.next()?.trim().parse().ok()?;
            let w = parts
                .filter_map(|p| p.trim().strip_prefix("w="))
                .find_map(|w| w.parse().ok());
            Some((n, w))
        };
        let (limit, w1) = field("ratelimit-limit")?;
        let (remaining, w2) = field("ratelimit-remaining")?;
        Some(RateLimit {
            limit,
            remaining,
            window: w1.or(w2),
        })
    }

    pub fn used_up(&self) -> bool {
        self.remaining == 0
    }
}

impl fmt::Display for RateLimit {
    /// `76 of 100 requests left in a 6h window`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {} requests left", self.remaining, self.limit)?;
        if let Some(w) = self.window {
            write!(f, " in a {} window", span(w))?;
        }
        Ok(())
    }
}

/// `6h`, `90m`, `45s`.
pub fn span(secs: u64) -> String {
    match secs {
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The message of a refusal with nothing remaining: when it resets, and what helps.
pub fn used_up_message(limit: &RateLimit, retry_after: Option<Duration>) -> String {
    let resets = match (retry_after, limit.window) {
        (Some(d), _) => format!("it resets in {}", span(d.as_secs().max(1))),
        (None, Some(w)) => format!("it resets within the {} window", span(w)),
        (None, None) => "it resets when the registry's window ends".to_string(),
    };
    format!(
        "the registry's rate limit is used up ({limit}); {resets}: wait until then, or log in \
         (--creds, or an auth file) for a higher limit"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2")])),
            Some(Duration::from_secs(2))
        );
        let later = SystemTime::now() + Duration::from_secs(30);
        let h = headers(&[("retry-after", &httpdate::fmt_http_date(later))]);
        let d = retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(28) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        let past = headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]);
        assert_eq!(retry_after(&past), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
    }

    #[test]
    fn docker_hub_headers() {
        let h = headers(&[
            ("ratelimit-limit", "100;w=21600"),
            ("ratelimit-remaining", "0;w=21600"),
        ]);
        let l = RateLimit::from_headers(&h).unwrap();
        assert!(l.used_up());
        assert_eq!(l.to_string(), "0 of 100 requests left in a 6h window");
        assert_eq!(
            used_up_message(&l, None),
            "the registry's rate limit is used up (0 of 100 requests left in a 6h window); it resets within the 6h window: wait until then, or log in (--creds, or an auth file) for a higher limit"
        );
        assert!(RateLimit::from_headers(&headers(&[("ratelimit-limit", "100")])).is_none());
    }
}
