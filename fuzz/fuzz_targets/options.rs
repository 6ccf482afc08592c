#![no_main]
//! See `dpm_solver_fuzz::options`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| dpm_solver_fuzz::options::run(data));
