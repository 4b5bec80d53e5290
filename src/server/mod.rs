//! Wiring: config → storage → tracker → frontends; signals and shutdown. Stub.
