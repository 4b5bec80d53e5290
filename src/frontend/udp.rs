//! The UDP frontend. Stub.
