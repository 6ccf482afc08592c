//! The cross-entry table of option sets (`tests/fixtures/options_table.json`) through the
//! core's options module (as JSON, the way the fixtures' reader hands them over) and through
//! the command line (`dpm_solver_tests::options::from_args`, lexopt, as
//! `examples/options.rs` runs it): both give the same configuration (the same run, bit for
//! bit) or the same error; rows marked `same_as` give the same run as the row they name; the
//! expected NFE is the NFE of the run. `wasm/tests-js/options.test.mjs` runs the same table
//! through the JS `Sampler` and `Model.generate` against the native results.

use dpm_solver::Options;
use dpm_solver_tests::options::{from_args, set_json, table_run, to_args};
use serde_json::Value;
use std::collections::HashMap;

fn table() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/options_table.json");
    let text = std::fs::read_to_string(path).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["rows"].as_array().unwrap().clone()
}

/// The module's result for one row: the run, or the error's message.
fn module(options: &Value) -> Value {
    let mut o = Options::<f32>::new();
    match set_json(&mut o, options).and_then(|()| o.config().map_err(|e| e.to_string())) {
        Ok(cfg) => table_run(cfg),
        Err(e) => serde_json::json!({ "error": e }),
    }
}

/// The command line's result for one row.
fn cli(options: &Value) -> Value {
    match from_args(to_args(options), Options::<f32>::new()) {
        Ok(cfg) => table_run(cfg),
        Err(e) => serde_json::json!({ "error": e }),
    }
}

#[test]
fn every_row_agrees_across_the_module_and_the_command_line() {
    let rows = table();
    assert!(rows.len() >= 40, "{} rows", rows.len());
    let mut results: HashMap<String, Value> = HashMap::new();
    let (mut runs, mut errors) = (0, 0);
    for row in &rows {
        let name = row["name"].as_str().unwrap();
        let opts = &row["options"];
        let (m, c) = (module(opts), cli(opts));
        match row.get("error").and_then(Value::as_str) {
            Some(want) => {
                for (entry, r) in [("module", &m), ("command line", &c)] {
                    let got = r["error"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{name}: the {entry} accepted it: {r}"));
                    assert!(
                        got.contains(want),
                        "{name}: {entry} says {got:?}, expected {want:?}"
                    );
                }
                errors += 1;
            }
            None => {
                assert!(m.get("error").is_none(), "{name}: {m}");
                assert_eq!(m, c, "{name}: module and command line differ");
                let nfe = m["nfe"].as_u64().unwrap();
                assert!(nfe > 0, "{name}: no evaluation");
                match m["expected_nfe"].as_u64() {
                    Some(e) => assert_eq!(e, nfe, "{name}: expected_nfe"),
                    // Only the adaptive method decides its NFE as it goes.
                    None => assert!(name.contains("adaptive"), "{name}: no expected NFE"),
                }
                if let Some(other) = row.get("same_as").and_then(Value::as_str) {
                    let r = results
                        .get(other)
                        .unwrap_or_else(|| panic!("{name}: same_as {other}: no such row above"));
                    assert_eq!(&m, r, "{name} differs from {other}");
                }
                results.insert(name.to_string(), m);
                runs += 1;
            }
        }
    }
    // Rows that differ from the defaults in one option must differ in their run (the option
    // was read, not dropped).
    for (a, b) in [
        ("karras by name", "logSNR"),
        ("karras rho 5", "karras by name"),
        ("thresholding", "thresholding on"),
        ("DPM-Solver taylor", "singlestep order 3"),
        ("v prediction", "classifier-free guidance"),
        ("inversion", "v prediction"),
        ("camelCase keys", "logSNR"),
    ] {
        assert_ne!(results[a], results[b], "{a} and {b} ran the same");
    }
    println!("options table: {runs} runs and {errors} errors agree (module, command line)");
}
