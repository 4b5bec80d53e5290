//! Bencode writing (and reading, for tests and the e2e self-test). Stub.
