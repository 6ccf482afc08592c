#![no_main]
//! See `dpm_solver_fuzz::onnx`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| dpm_solver_fuzz::onnx::run(data));
