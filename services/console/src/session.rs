//! Sessions of signed-in users, kept in memory only: the console has no data of its own. A
//! session holds the user's API key on the server side (the browser holds only a random session
//! id in an HttpOnly cookie), a CSRF token for its forms, and when it ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// 32 random bytes, URL-safe: session ids and CSRF tokens.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the system's random source");
    URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Clone)]
pub struct Session {
    /// The user's API key: every call the console makes for this session carries it.
    pub key: String,
    /// Who the key belongs to ("dispatchers/…"), for the header.
    pub subject: String,
    /// The role's protobuf name ("ROLE_DISPATCHER").
    pub role: String,
    pub csrf: String,
    pub expires: Instant,
    /// A volunteer's accepted assignments ("assignments/…"), newest first: the app's list of
    /// jobs (the offer stream tells of offers only).
    pub jobs: Vec<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key and the CSRF token stay out of logs.
        f.debug_struct("Session")
            .field("subject", &self.subject)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Starts a session; returns its id, the cookie's value.
    pub fn start(&self, key: String, subject: String, role: String, ttl: Duration) -> String {
        let id = random_token();
        let session = Session {
            key,
            subject,
            role,
            csrf: random_token(),
            expires: Instant::now() + ttl,
            jobs: Vec::new(),
        };
        let mut map = self.by_id.lock().unwrap();
        // Expired sessions go when a new one starts, so the map does not grow without end.
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        map.insert(id.clone(), session);
        id
    }

    /// The live session with this id.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.by_id.lock().unwrap();
        match map.get(id) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn end(&self, id: &str) {
        self.by_id.lock().unwrap().remove(id);
    }

    /// Remembers an accepted assignment in the session's list of jobs.
    pub fn add_job(&self, id: &str, assignment: &str) {
        if let Some(s) = self.by_id.lock().unwrap().get_mut(id)
            && !s.jobs.iter().any(|j| j == assignment)
        {
            s.jobs.insert(0, assignment.to_string());
            s.jobs.truncate(20);
        }
    }
}

/// One-time sign-in codes for volunteers' phones: a dispatcher has a volunteer key issued, and
/// the phone that opens the code's link within its time gets a session with that key. The key
/// waits here, in memory, until then; a code works once.
#[derive(Default)]
pub struct JoinCodes {
    by_code: Mutex<HashMap<String, (String, String, Instant)>>,
}

impl JoinCodes {
    pub fn issue(&self, key: String, subject: String, ttl: Duration) -> String {
        let code = random_token();
        let mut map = self.by_code.lock().unwrap();
        let now = Instant::now();
        map.retain(|_, (_, _, until)| *until > now);
        map.insert(code.clone(), (key, subject, now + ttl));
        code
    }

    /// The key and subject of a live code, which then works no more.
    pub fn redeem(&self, code: &str) -> Option<(String, String)> {
        let (key, subject, until) = self.by_code.lock().unwrap().remove(code)?;
        (until > Instant::now()).then_some((key, subject))
    }

    /// Whether a code is live, without using it.
    pub fn is_live(&self, code: &str) -> bool {
        self.by_code
            .lock()
            .unwrap()
            .get(code)
            .is_some_and(|(_, _, until)| *until > Instant::now())
    }
}

/// Sign-in attempts per client address: a token bucket, so guessing keys from one place is
/// slow while a person who mistypes twice is not held up.
pub struct SignInLimit {
    per_minute: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl SignInLimit {
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            per_minute: f64::from(per_minute),
            burst: f64::from(burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one attempt for `ip`; false when its bucket is empty.
    pub fn take(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap();
        if buckets.len() > 10_000 {
            // Full buckets are the same as none.
            let burst = self.burst;
            let rate = self.per_minute / 60.0;
            buckets.retain(|_, (tokens, at)| *tokens + at.elapsed().as_secs_f64() * rate < burst);
        }
        let (tokens, at) = buckets.entry(ip).or_insert((self.burst, now));
        *tokens = (*tokens + at.elapsed().as_secs_f64() * self.per_minute / 60.0).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_until_it_expires_or_ends() {
        let sessions = Sessions::default();
        let id = sessions.start("k".into(), "s".into(), "r".into(), Duration::from_secs(60));
        assert_eq!(sessions.get(&id).unwrap().key, "k");
        assert!(sessions.get("other").is_none());
        sessions.end(&id);
        assert!(sessions.get(&id).is_none());
        let gone = sessions.start("k".into(), "s".into(), "r".into(), Duration::ZERO);
        assert!(sessions.get(&gone).is_none());
    }

    #[test]
    fn tokens_are_random_and_long() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }

    #[test]
    fn sign_in_attempts_run_out_and_are_per_address() {
        let limit = SignInLimit::new(1, 3);
        let here: IpAddr = [10, 0, 0, 1].into();
        let there: IpAddr = [10, 0, 0, 2].into();
        assert!((0..3).all(|_| limit.take(here)));
        assert!(!limit.take(here));
        assert!(limit.take(there));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let h = "komek_lang=kk; komek_session=abc=; other=1";
        assert_eq!(cookie(h, "komek_session"), Some("abc="));
        assert_eq!(cookie(h, "komek_lang"), Some("kk"));
        assert_eq!(cookie(h, "missing"), None);
    }
}
