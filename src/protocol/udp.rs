//! BEP 15 / BEP 41 UDP packet codec. Stub.
