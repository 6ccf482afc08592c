//! Runs a fuzz harness on pseudo-random inputs without libFuzzer (no instrumentation, stable
//! toolchain), for machines or moments where the instrumented build is not available: not
//! coverage-guided, but the harnesses decode structure from bytes, so random bytes still reach
//! deep. A panic (a failed assertion, or a panic that would trap in wasm) is reported and its
//! input written to `fuzz/artifacts/<target>/sweep-<n>`.
//!
//!   cargo run --release --bin sweep -- <sampler|diffusers|onnx_load|options> <runs> [seed] [max_seconds]
//!   cargo run --release --bin sweep -- <target> replay <dir>    (each file once: the kept inputs)
//!   cargo run --release --bin sweep -- onnx_load export <dir> <out>   (each input's ONNX file,
//!       `<out>/<name>.onnx`, and the evaluation run on it, `<out>/<name>.json`: for the wasm tests)
//!
//! A panic's site (the first panic of the input: for a tract panic, where in tract it panicked)
//! is printed with each crash and tallied at the end; `SWEEP_BACKTRACE=1` prints the backtrace
//! of each first panic too (for the sites inside `core`/`alloc`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic;

thread_local! {
    /// The first panic of the current input: site, message, backtrace (when asked for).
    static FIRST: RefCell<Option<(String, String, String)>> = const { RefCell::new(None) };
}

/// Records the first panic of an input (the ones after it are the harness's assertion about it).
fn hook(info: &panic::PanicHookInfo<'_>) {
    FIRST.with(|f| {
        let mut f = f.borrow_mut();
        if f.is_none() {
            let site = info
                .location()
                .map(|l| l.to_string())
                .unwrap_or_else(|| "unknown".into());
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let bt = if std::env::var_os("SWEEP_BACKTRACE").is_some() {
                std::backtrace::Backtrace::force_capture().to_string()
            } else {
                String::new()
            };
            *f = Some((site, msg, bt));
        }
    });
}

/// Runs one input; `Some((site, message, backtrace))` if it panicked.
fn one(run: fn(&[u8]), data: &[u8]) -> Option<(String, String, String)> {
    FIRST.with(|f| *f.borrow_mut() = None);
    let r = panic::catch_unwind(|| run(data));
    let first = FIRST.with(|f| f.borrow_mut().take());
    r.is_err().then(|| first.unwrap_or_default())
}

/// Shortens a site to its crate-relative path (`tract-core-0.23.9/src/...:line:col`).
fn short(site: &str) -> &str {
    match site.find("/registry/src/") {
        Some(i) => {
            let rest = &site[i + "/registry/src/".len()..];
            rest.find('/').map_or(rest, |j| &rest[j + 1..])
        }
        None => site,
    }
}

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
    #[cfg(feature = "pipeline")]
    if target == "onnx_load" && args.get(2).map(String::as_str) == Some("export") {
        let (dir, out) = (&args[3], &args[4]);
        std::fs::create_dir_all(out).expect("create the output directory");
        for e in std::fs::read_dir(dir).expect("read the input directory") {
            let path = e.expect("a directory entry").path();
            let name = path.file_name().expect("a file name").to_string_lossy();
            let data = std::fs::read(&path).expect("read an input");
            let Some((bytes, eval)) = dpm_solver_fuzz::onnx::case(&data) else {
                println!("{name}: no model");
                continue;
            };
            std::fs::write(format!("{out}/{name}.onnx"), bytes).expect("write the model");
            if let Some((x, t, classes)) = eval {
                let list = |v: Vec<String>| v.join(",");
                let json = format!(
                    "{{\"x\":[{}],\"t\":[{}],\"classes\":[{}]}}\n",
                    list(x.iter().map(f32::to_string).collect()),
                    list(t.iter().map(f32::to_string).collect()),
                    list(classes.iter().map(i64::to_string).collect())
                );
                std::fs::write(format!("{out}/{name}.json"), json).expect("write the evaluation");
            }
            println!("{name}: exported");
        }
        return;
    }
    panic::set_hook(Box::new(hook));
    if args.get(2).map(String::as_str) == Some("replay") {
        let dir = args.get(3).expect("replay needs a directory");
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .expect("read the replay directory")
            .map(|e| e.expect("a directory entry").path())
            .collect();
        paths.sort();
        let mut failed = 0;
        for path in &paths {
            if let Some((site, msg, bt)) = one(run, &std::fs::read(path).expect("read an input")) {
                failed += 1;
                println!(
                    "{}: panicked at {}: {msg}\n{bt}",
                    path.display(),
                    short(&site)
                );
            }
        }
        println!(
            "{target}: {} kept inputs replayed, {failed} panics",
            paths.len()
        );
        if failed > 0 {
            std::process::exit(1);
        }
        return;
    }
    let mut next = || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let t0 = std::time::Instant::now();
    let mut crashes = 0u64;
    let mut sites: BTreeMap<String, (u64, String, u64)> = BTreeMap::new();
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
        if let Some((site, msg, bt)) = one(run, &buf) {
            crashes += 1;
            let dir = format!("{}/artifacts/{target}", env!("CARGO_MANIFEST_DIR"));
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(format!("{dir}/sweep-{i}"), &buf);
            eprintln!("sweep-{i}: panicked at {}: {msg}\n{bt}", short(&site));
            let e = sites.entry(short(&site).to_string()).or_insert((0, msg, i));
            e.0 += 1;
        }
    }
    for (site, (n, msg, first)) in &sites {
        println!("  {n} x {site} (first sweep-{first}): {msg}");
    }
    // Messages of panics after this point (thread-local destructors at exit) are shown.
    drop(panic::take_hook());
    println!(
        "{target}: {done} runs in {:.0} s, {crashes} panics",
        t0.elapsed().as_secs_f64()
    );
    if crashes > 0 {
        std::process::exit(1);
    }
}
