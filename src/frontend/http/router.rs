//! Matching request paths against the configured routes, httprouter style
//! (what Go chihaya uses), so operators' route strings keep working:
//! `/announce`, `/:passkey/announce` (one named segment), `/files/*rest`
//! (a catch-all; its value keeps the leading `/`, as in httprouter).

use crate::protocol::query::percent_decode;

/// What a matched route serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Announce,
    Scrape,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Static(String),
    Param(String),
    CatchAll(String),
}

#[derive(Clone, Debug)]
struct Route {
    segments: Vec<Segment>,
    endpoint: Endpoint,
}

impl Route {
    fn parse(pattern: &str, endpoint: Endpoint) -> Self {
        let segments = pattern
            .trim_start_matches('/')
            .split('/')
            .map(|s| {
                if let Some(name) = s.strip_prefix(':') {
                    Segment::Param(name.to_string())
                } else if let Some(name) = s.strip_prefix('*') {
                    Segment::CatchAll(name.to_string())
                } else {
                    Segment::Static(s.to_string())
                }
            })
            .collect();
        Route { segments, endpoint }
    }

    /// Static routes win over named segments, which win over catch-alls, so a
    /// `/*rest` announce route never swallows `/scrape`.
    fn rank(&self) -> u8 {
        let has = |f: fn(&Segment) -> bool| self.segments.iter().any(f);
        match () {
            _ if has(|s| matches!(s, Segment::CatchAll(_))) => 2,
            _ if has(|s| matches!(s, Segment::Param(_))) => 1,
            _ => 0,
        }
    }

    fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let mut rest = path.strip_prefix('/')?;
        let mut params = Vec::new();
        for (i, segment) in self.segments.iter().enumerate() {
            if let Segment::CatchAll(name) = segment {
                let start = path.len() - rest.len() - 1;
                params.push((name.clone(), decode(&path[start..])));
                return Some(params);
            }
            let (part, tail) = match rest.split_once('/') {
                Some((part, tail)) => (part, Some(tail)),
                None => (rest, None),
            };
            match segment {
                Segment::Static(s) if s == part => {}
                Segment::Param(name) if !part.is_empty() => {
                    params.push((name.clone(), decode(part)))
                }
                _ => return None,
            }
            let last = i + 1 == self.segments.len();
            match (tail, last) {
                (None, true) => return Some(params),
                (Some(tail), false) => rest = tail,
                _ => return None,
            }
        }
        None
    }
}

/// Route values are percent-decoded (httprouter matches the decoded path);
/// a malformed escape is kept as sent rather than failing the route.
fn decode(raw: &str) -> String {
    match percent_decode(raw.as_bytes()) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => raw.to_string(),
    }
}

/// The configured announce and scrape routes.
#[derive(Clone, Debug)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn new(announce: &[String], scrape: &[String]) -> Self {
        let mut routes: Vec<Route> = announce
            .iter()
            .map(|p| Route::parse(p, Endpoint::Announce))
            .chain(scrape.iter().map(|p| Route::parse(p, Endpoint::Scrape)))
            .collect();
        routes.sort_by_key(Route::rank);
        Router { routes }
    }

    /// The endpoint for `path` and its route parameters, or `None` (a 404).
    pub fn route(&self, path: &str) -> Option<(Endpoint, Vec<(String, String)>)> {
        self.routes
            .iter()
            .find_map(|r| r.matches(path).map(|params| (r.endpoint, params)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(announce: &[&str], scrape: &[&str]) -> Router {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Router::new(&own(announce), &own(scrape))
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn static_routes() {
        let r = router(&["/announce"], &["/scrape"]);
        assert_eq!(r.route("/announce"), Some((Endpoint::Announce, vec![])));
        assert_eq!(r.route("/scrape"), Some((Endpoint::Scrape, vec![])));
        for miss in [
            "/",
            "",
            "/announce/",
            "/announcex",
            "/x/announce",
            "announce",
        ] {
            assert_eq!(r.route(miss), None, "{miss}");
        }
    }

    #[test]
    fn named_segments() {
        let r = router(&["/:passkey/announce"], &["/:passkey/scrape"]);
        assert_eq!(
            r.route("/abc%20d/announce"),
            Some((Endpoint::Announce, params(&[("passkey", "abc d")])))
        );
        assert_eq!(r.route("/k/scrape").unwrap().0, Endpoint::Scrape);
        assert_eq!(r.route("//announce"), None);
        assert_eq!(r.route("/announce"), None);
        assert_eq!(r.route("/a/b/announce"), None);
    }

    #[test]
    fn catch_all_keeps_the_leading_slash_and_loses_to_static() {
        let r = router(&["/a/*rest"], &["/a/scrape"]);
        assert_eq!(
            r.route("/a/x/y"),
            Some((Endpoint::Announce, params(&[("rest", "/x/y")])))
        );
        assert_eq!(
            r.route("/a/"),
            Some((Endpoint::Announce, params(&[("rest", "/")])))
        );
        assert_eq!(r.route("/a/scrape"), Some((Endpoint::Scrape, vec![])));
        assert_eq!(r.route("/b/x"), None);
    }
}
