//! The core on an emulated Cortex-M4F: runs the `embedded/` firmware under QEMU (`mps2-an386`)
//! and checks what it prints against the host.
//!
//! * conformance cases (compiled into the firmware from `reference_public.json`, run with the
//!   `f32` core and an `f32` Gaussian-mixture oracle): the same NFE as the host's `f32` run and
//!   the fixture; `max |x_fw - x_host_f32| <= max(FW_VS_HOST_MIN, reference_f32_max_abs_dev)`,
//!   i.e. the firmware differs from the host's `f32` run by no more than the reference's own
//!   `f32`-vs-`f64` deviation on that case (the solver code is the same; the host evaluates the
//!   oracle in `f64` at `f64` `alpha`, `sigma`, the firmware in `f32` at the sampler's `f32`
//!   `alpha`, `sigma`, so the difference is `f32` rounding, amplified as much as the case
//!   amplifies it); and `max |x_fw - expected.x_0| <= tol_f32`;
//! * the tiny MNIST denoiser: ten 14x14 digits, finite, `|x| <= 4`, 10 to 120 of 196 pixels
//!   inked (`x > 0`): a sanity check, not a quality measure (that is judged by eye, and by the
//!   classifier in `train/tiny_denoiser.py`);
//! * the firmware exits 0 through semihosting and says `done ok`, within `TIMEOUT`.
//!
//! Needs `qemu-system-arm` and the `thumbv7em-none-eabihf` target, so it is `#[ignore]`d in the
//! plain `cargo test` of `.ci/test-core.sh` and run by `.ci/test-embedded.sh` (which installs
//! both) with `--ignored`. Environment: `DPM_EMBEDDED_ELF` (the firmware; if unset the test
//! builds it with `cargo build --release` in `embedded/`), `DPM_QEMU` (default
//! `qemu-system-arm` on `PATH`). Anything missing is a failure, never a skip.

use dpm_solver_tests::{fixture_path, load, max_abs_diff, run_reference_case};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Floor of the `|firmware - host f32|` bound (a few `f32` ulps of values of order 1).
const FW_VS_HOST_MIN: f64 = 1e-5;
/// Wall-clock limit of the QEMU run (it takes about a second).
const TIMEOUT: Duration = Duration::from_secs(120);
/// Cases the firmware must run.
const MIN_CASES: usize = 6;

const HOW: &str = "run `bash .ci/test-embedded.sh` from the repository root (it installs \
                   qemu-system-arm and the thumbv7em-none-eabihf target, builds the firmware and \
                   runs this test)";

fn firmware() -> PathBuf {
    if let Some(p) = std::env::var_os("DPM_EMBEDDED_ELF").filter(|p| !p.is_empty()) {
        let mut p = PathBuf::from(p);
        if p.is_relative() && !p.is_file() {
            // Relative to the repository root (the test runs in tests/).
            p = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p);
        }
        assert!(
            p.is_file(),
            "DPM_EMBEDDED_ELF={} does not exist; {HOW}",
            p.display()
        );
        return p;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../embedded");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "DPM_EMBEDDED_ELF not set: building the firmware in {}",
        dir.display()
    );
    // The firmware is its own workspace with its own target dir and .cargo/config.toml.
    let status = Command::new(cargo)
        .args(["build", "--release"])
        .current_dir(&dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo: {e}; {HOW}"));
    assert!(status.success(), "building the firmware failed; {HOW}");
    dir.join("target/thumbv7em-none-eabihf/release/dpm-solver-embedded")
}

/// Runs the firmware; returns its semihosting output.
fn run_qemu(elf: &Path) -> String {
    let qemu = std::env::var_os("DPM_QEMU")
        .filter(|q| !q.is_empty())
        .unwrap_or_else(|| "qemu-system-arm".into());
    let mut child = Command::new(&qemu)
        .args([
            "-machine",
            "mps2-an386",
            "-cpu",
            "cortex-m4",
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "none",
            "-icount",
            "shift=0,align=off",
            "-semihosting-config",
            "enable=on,target=native",
            "-kernel",
        ])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}; {HOW}", qemu.to_string_lossy()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for qemu") {
            break st;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the firmware did not finish within {TIMEOUT:?} (hung?); QEMU killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = reader.join().unwrap().expect("read qemu output");
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).ok();
    assert!(
        status.success(),
        "firmware exited with {status} after {:?}\nstdout:\n{out}\nstderr:\n{err}",
        start.elapsed()
    );
    eprintln!("firmware ran in {:?}", start.elapsed());
    out
}

fn parse_hex_f32(words: &[&str]) -> Vec<f64> {
    words
        .iter()
        .map(|w| {
            f32::from_bits(u32::from_str_radix(w, 16).unwrap_or_else(|_| panic!("bad hex {w}")))
                as f64
        })
        .collect()
}

#[test]
#[ignore = "needs qemu-system-arm and the thumbv7em-none-eabihf target: run .ci/test-embedded.sh"]
fn firmware_in_qemu_matches_host() {
    let elf = firmware();
    let out = run_qemu(&elf);
    assert!(
        out.lines().any(|l| l == "done ok"),
        "firmware did not report `done ok`:\n{out}"
    );

    let fixtures = load(&fixture_path(
        "DPM_REFERENCE_FIXTURES",
        "reference_public.json",
    ))
    .expect("load the reference fixtures");
    let mut n_cases = 0;
    let mut worst_host = 0.0f64;
    for line in out.lines().filter(|l| l.starts_with("case ")) {
        let w: Vec<&str> = line.split_whitespace().collect();
        let name = w[1];
        assert_eq!(w.get(2), Some(&"nfe"), "firmware failed a case: {line}");
        let nfe: usize = w[3].parse().unwrap();
        assert_eq!(w[4], "x");
        let x_fw = parse_hex_f32(&w[5..]);
        let case = fixtures
            .cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("firmware ran {name}, which the fixture does not have"));
        let dim = case.x_t[0].len();
        assert_eq!(x_fw.len(), case.x_t.len() * dim, "{name}: length");
        let x_fw: Vec<Vec<f64>> = x_fw.chunks(dim).map(|c| c.to_vec()).collect();
        let host = run_reference_case::<f32>(case).expect("host f32 run");
        let expected: Vec<Vec<f64>> =
            serde_json::from_value(case.expected["x_0"].clone()).expect("expected.x_0");
        let exp_nfe = case.expected["nfe"].as_u64().unwrap() as usize;
        let tol = case.expected["tol_f32"].as_f64().unwrap();
        let bound = case.expected["reference_f32_max_abs_dev"]
            .as_f64()
            .unwrap_or(0.0)
            .max(FW_VS_HOST_MIN);
        let d_host = max_abs_diff(&x_fw, &host.x);
        let d_ref = max_abs_diff(&x_fw, &expected);
        let d_host_ref = max_abs_diff(&host.x, &expected);
        println!(
            "{name:45} nfe fw {nfe:3} host {:3} ref {exp_nfe:3} | |fw-host| {d_host:.2e} (bound {bound:.2e}) \
             | |fw-ref| {d_ref:.2e} (host {d_host_ref:.2e}, tol_f32 {tol:.2e})",
            host.nfe
        );
        assert_eq!(nfe, host.nfe, "{name}: NFE firmware vs host");
        assert_eq!(nfe, exp_nfe, "{name}: NFE firmware vs fixture");
        assert!(
            d_host <= bound,
            "{name}: firmware vs host f32 {d_host:e} > {bound:e}"
        );
        assert!(
            d_ref <= tol,
            "{name}: firmware vs reference {d_ref:e} > tol_f32 {tol:e}"
        );
        worst_host = worst_host.max(d_host / bound);
        n_cases += 1;
    }
    assert!(
        n_cases >= MIN_CASES,
        "firmware ran {n_cases} cases, expected at least {MIN_CASES}:\n{out}"
    );
    println!("{n_cases} cases; worst |firmware - host f32| / bound = {worst_host:.3}");

    // The digits: 10 classes, 196 finite values each, mostly in [-1, 1] with some ink.
    let digits: Vec<Vec<f64>> = out
        .lines()
        .filter(|l| l.starts_with("digit "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let i = w
                .iter()
                .position(|s| *s == "x")
                .expect("digit line without x");
            parse_hex_f32(&w[i + 1..])
        })
        .collect();
    assert_eq!(digits.len(), 10, "ten digits:\n{out}");
    for (c, d) in digits.iter().enumerate() {
        assert_eq!(d.len(), 196, "digit {c}: 14x14 values");
        assert!(
            d.iter().all(|v| v.is_finite()),
            "digit {c}: non-finite values"
        );
        // Guidance (scale 3) overshoots the data range [-1, 1] somewhat; a blow-up would not.
        let max = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let ink = d.iter().filter(|v| **v > 0.0).count();
        assert!(max <= 4.0, "digit {c}: |x| up to {max}: blown up");
        assert!(
            (10..=120).contains(&ink),
            "digit {c}: {ink}/196 pixels inked: not digit-like"
        );
    }
    for l in out.lines().filter(|l| l.starts_with("art")) {
        println!("{}", l.strip_prefix("art ").unwrap_or(""));
    }
    for l in out
        .lines()
        .filter(|l| l.starts_with("stack ") || l.starts_with("bench ") || l.starts_with("calib"))
    {
        println!("{l}");
    }
}
