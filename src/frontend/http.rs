//! The HTTP(S) frontend. Stub.
