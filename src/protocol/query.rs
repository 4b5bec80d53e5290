//! Binary-safe query-string decoding (HTTP announce/scrape, UDP BEP 41 URLData).
//! Stub: replaced by the HTTP work.
use crate::protocol::ClientError;

/// A parsed query string.
pub struct Query {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Query {
    pub fn parse(_raw: &[u8]) -> Result<Self, ClientError> {
        Ok(Query { pairs: Vec::new() })
    }

    pub fn first(&self, key: &[u8]) -> Option<&[u8]> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}
