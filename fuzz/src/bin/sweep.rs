//! Runs a fuzz harness on pseudo-random inputs without libFuzzer (no instrumentation, stable
//! toolchain), for machines or moments where the instrumented build is not available: not
//! coverage-guided, but the harnesses decode structure from bytes, so random bytes still reach
//! deep. A panic (a failed assertion, or a panic that would trap in wasm) is reported and its
//! input written to `fuzz/artifacts/<target>/sweep-<n>`.
//!
//!   cargo run --release --bin sweep -- <sampler|diffusers|onnx_load|options> <runs> [seed] [max_seconds]
//!   cargo run --release --bin sweep -- <target> replay <dir>    (each file once: the kept inputs)

use std::panic;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let target = args.get(1).map(String::as_str).unwrap_or("sampler");
    let runs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let mut state: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(15) | 1;
    let max_secs: f64 = args
        .get(4)
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::INFINITY);
    let run: fn(&[u8]) = match target {
        "sampler" => dpm_solver_fuzz::sampler::run,
        "diffusers" => dpm_solver_fuzz::diffusers::run,
        #[cfg(feature = "pipeline")]
        "onnx_load" => dpm_solver_fuzz::onnx::run,
        #[cfg(feature = "pipeline")]
        "options" => dpm_solver_fuzz::options::run,
        other => panic!("unknown target {other}"),
    };
    if args.get(2).map(String::as_str) == Some("replay") {
        let dir = args.get(3).expect("replay needs a directory");
        let mut n = 0;
        for e in std::fs::read_dir(dir).expect("read the replay directory") {
            let path = e.expect("a directory entry").path();
            run(&std::fs::read(&path).expect("read an input"));
            n += 1;
        }
        println!("{target}: {n} kept inputs replayed, no panic");
        return;
    }
    panic::set_hook(Box::new(|_| {}));
    let mut next = || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let t0 = std::time::Instant::now();
    let mut crashes = 0u64;
    let mut buf = Vec::with_capacity(4096);
    let mut done = 0u64;
    for i in 0..runs {
        if t0.elapsed().as_secs_f64() > max_secs {
            break;
        }
        done += 1;
        let len = (next() % 4096) as usize;
        buf.clear();
        while buf.len() < len {
            buf.extend_from_slice(&next().to_le_bytes());
        }
        buf.truncate(len);
        if panic::catch_unwind(|| run(&buf)).is_err() {
            crashes += 1;
            let dir = format!("{}/artifacts/{target}", env!("CARGO_MANIFEST_DIR"));
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(format!("{dir}/sweep-{i}"), &buf);
        }
    }
    // Messages of panics after this point (thread-local destructors at exit) are shown.
    drop(panic::take_hook());
    #[cfg(feature = "pipeline")]
    let caught = dpm_solver_fuzz::onnx::TRACT_PANICS.load(std::sync::atomic::Ordering::Relaxed);
    #[cfg(not(feature = "pipeline"))]
    let caught = 0u64;
    println!(
        "{target}: {done} runs in {:.0} s, {crashes} panics{}",
        t0.elapsed().as_secs_f64(),
        if caught > 0 {
            format!(
                " ({caught} tract panics on malformed operators caught natively: traps in wasm)"
            )
        } else {
            String::new()
        }
    );
    if crashes > 0 {
        std::process::exit(1);
    }
}
