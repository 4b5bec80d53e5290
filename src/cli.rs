//! Command line. Stub.
pub fn main() -> i32 {
    0
}
