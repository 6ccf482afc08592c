//! Placeholder: the wasm-bindgen bindings (being written).
