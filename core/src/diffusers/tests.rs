//! Unit tests of the diffusers layer (the parity suite is `tests/tests/diffusers_parity.rs`).
