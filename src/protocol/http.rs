//! HTTP announce/scrape: query → request, response → bencode. Stub.
