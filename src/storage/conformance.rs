//! The conformance suite every storage engine must pass. Stub.
