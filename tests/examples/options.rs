//! The DPM-Solver options as a command line: `--name value` (or `--group.entry value`) per
//! option, handed by lexopt to the core's options module, then the table run
//! (`dpm_solver_tests::options::table_run`) printed as JSON.
//!
//! ```sh
//! cargo run --release -p dpm-solver-tests --example options -- --steps 6 --spacing.karras 7
//! # every row of the cross-entry table, each as its command line (for the JS tests):
//! cargo run --release -p dpm-solver-tests --example options -- \
//!     --table tests/fixtures/options_table.json > target/options-native.json
//! ```

use dpm_solver::Options;
use dpm_solver_tests::options::{from_args, table_run, to_args};
use serde_json::{json, Value};

fn run(args: Vec<String>) -> Value {
    match from_args(args, Options::<f32>::new()) {
        Ok(cfg) => table_run(cfg),
        Err(e) => json!({ "error": e }),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = if args.first().map(String::as_str) == Some("--table") {
        let Some(path) = args.get(1) else {
            eprintln!("usage: options --table FILE | options [--name value]...");
            std::process::exit(2);
        };
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
            eprintln!("{path}: {e}");
            std::process::exit(1)
        });
        let table: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            eprintln!("{path}: {e}");
            std::process::exit(1)
        });
        let rows = table["rows"].as_array().cloned().unwrap_or_default();
        Value::Array(
            rows.iter()
                .map(|r| {
                    let args = to_args(&r["options"]);
                    json!({ "name": r["name"], "args": args, "result": run(args.clone()) })
                })
                .collect(),
        )
    } else {
        run(args)
    };
    println!("{out}");
}
