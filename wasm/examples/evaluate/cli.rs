//! The command line (`--help`): lexopt over the options, with the defaults of the full run,
//! `--quick` and `--flow`.

use lexopt::prelude::*;

/// The preset whose run at `--ref-nfe` is the converged solution.
const REFERENCE: &str = "dpm3";
/// The preset whose distance to the reference at `--ref-nfe` is the reference's own error.
const REFERENCE_CHECK: &str = "pp3m";
/// Samples of the full run. The cost is ~3,440 image evaluations of the UNet per sample
/// (every row and NFE, guided: two per NFE), ~5 ms each with per-image tract evaluation on
/// this 2-core machine: 704 s measured for 40 samples, so 80 fit in about 25 minutes.
pub const FULL_SAMPLES: usize = 80;
/// Images per batch of the full run (the network sees twice as many under guidance).
const FULL_BATCH: usize = 20;
/// NFE of the converged references (full run).
pub const FULL_REF_NFE: usize = 200;
/// Samples of `--flow` (fewer: the flow run comes on top of the main one).
pub const FLOW_SAMPLES: usize = 40;
/// Samples of `--quick` (one batch).
const QUICK_SAMPLES: usize = 4;
/// NFE of the references in `--quick`.
const QUICK_REF_NFE: usize = 60;

/// The command line (`--help`).
#[derive(Debug)]
pub struct Args {
    pub quick: bool,
    pub samples: usize,
    pub batch: usize,
    pub guidance: f32,
    pub spacing: String,
    pub ref_nfe: usize,
    pub nfes: Vec<usize>,
    pub model: String,
    /// Preset keys of the grid and adaptive rows (empty: every preset for the model).
    pub rows: Vec<String>,
    /// Preset of the converged reference, and of its check.
    pub reference: String,
    pub reference_check: String,
    /// Spacing of the reference (its check runs at `spacing`).
    pub reference_spacing: String,
    pub classifier: String,
    pub data: String,
    pub md: String,
    pub plot: String,
    /// The command as run, for the report.
    pub command: String,
}

pub const HELP: &str = "\
Sample quality against NFE on the demo model (writes a Markdown report and an SVG plot).

usage: cargo run --release -p dpm-solver-wasm --example evaluate -- [options]

  --quick            smoke run: 4 samples, NFE 5,10,20, references at 60 NFE
  --samples N        samples (default 80; a multiple of --batch)
  --batch B          images per generation (default 20)
  --guidance S       classifier-free guidance scale (default 2; 1 = conditional, unguided)
  --spacing NAME     time steps of the DPM-Solver rows: logSNR (default), time_uniform,
                     time_quadratic, karras
  --ref-nfe N        NFE of the converged reference (default 200)
  --nfe A,B,...      the NFE grid (default 5,6,8,10,12,15,20,50)
  --model PATH       the UNet (default www/models/unet.onnx)
  --rows K,K,...     the presets (www/solvers.json keys) to evaluate (default: all that
                     apply to the model's schedule)
  --reference K      the converged reference's preset (default dpm3)
  --reference-check K  the preset whose distance to the reference at --ref-nfe is reported
                     as the reference's own error (default pp3m)
  --reference-spacing NAME  the reference's spacing (default: --spacing; its check runs at
                     --spacing)
  --flow             the flow-matching demo model: --model www/models/flow.onnx --samples 40
                     --nfe 4,5,6,8,10,12,15,20 --rows euler_flow,pp2m,pp2m_diffusers,unipc,pp3m
                     --reference pp2m --reference-spacing time_uniform --reference-check pp3m
                     --md wasm/QUALITY-flow.md --plot wasm/quality-flow.svg (later options win)
  --classifier PATH  the classifier (default www/models/classifier.onnx)
  --data DIR         the training digits (default train/data; `bash train/fetch_data.sh`)
  --md PATH          the report (default wasm/QUALITY.md)
  --plot PATH        the SVG plot (default wasm/quality.svg)
  -h, --help         this text
";

/// The options of `raw` (the arguments after the program name); `None` for `--help`.
pub fn parse(raw: &[String]) -> Result<Option<Args>, Box<dyn std::error::Error>> {
    let quick = raw.iter().any(|a| a == "--quick");
    let flow = raw.iter().any(|a| a == "--flow");
    let mut a = Args {
        quick,
        samples: if quick { QUICK_SAMPLES } else { FULL_SAMPLES },
        batch: if quick { QUICK_SAMPLES } else { FULL_BATCH },
        guidance: 2.0,
        spacing: "logSNR".into(),
        ref_nfe: if quick { QUICK_REF_NFE } else { FULL_REF_NFE },
        nfes: if quick {
            vec![5, 10, 20]
        } else {
            vec![5, 6, 8, 10, 12, 15, 20, 50]
        },
        model: "www/models/unet.onnx".into(),
        rows: Vec::new(),
        reference: REFERENCE.into(),
        reference_check: REFERENCE_CHECK.into(),
        reference_spacing: String::new(),
        classifier: "www/models/classifier.onnx".into(),
        data: "train/data".into(),
        md: "wasm/QUALITY.md".into(),
        plot: "wasm/quality.svg".into(),
        command: String::new(),
    };
    if flow {
        a.model = "www/models/flow.onnx".into();
        if !quick {
            a.samples = FLOW_SAMPLES;
            a.nfes = vec![4, 5, 6, 8, 10, 12, 15, 20];
        }
        a.rows = ["euler_flow", "pp2m", "pp2m_diffusers", "unipc", "pp3m"]
            .map(String::from)
            .to_vec();
        // The reference from t = 1 (pure noise, as Euler starts): DPM-Solver++(2M) uniform in
        // t; its check (and the core's rows) at logSNR, which starts at t = 1 - 1/N.
        a.reference = "pp2m".into();
        a.reference_check = "pp3m".into();
        a.reference_spacing = "time_uniform".into();
        a.md = "wasm/QUALITY-flow.md".into();
        a.plot = "wasm/quality-flow.svg".into();
    }
    let list = |v: String| {
        v.split(',')
            .map(|s| s.trim().to_string())
            .collect::<Vec<_>>()
    };
    let mut p = lexopt::Parser::from_args(raw.iter());
    while let Some(arg) = p.next()? {
        match arg {
            Long("quick") | Long("flow") => {}
            Long("samples") => a.samples = p.value()?.parse()?,
            Long("batch") => a.batch = p.value()?.parse()?,
            Long("guidance") => a.guidance = p.value()?.parse()?,
            Long("spacing") => a.spacing = p.value()?.string()?,
            Long("ref-nfe") => a.ref_nfe = p.value()?.parse()?,
            Long("nfe") => {
                a.nfes = list(p.value()?.string()?)
                    .iter()
                    .map(|s| s.parse())
                    .collect::<Result<_, _>>()?
            }
            Long("model") => a.model = p.value()?.string()?,
            Long("rows") => a.rows = list(p.value()?.string()?),
            Long("reference") => a.reference = p.value()?.string()?,
            Long("reference-check") => a.reference_check = p.value()?.string()?,
            Long("reference-spacing") => a.reference_spacing = p.value()?.string()?,
            Long("classifier") => a.classifier = p.value()?.string()?,
            Long("data") => a.data = p.value()?.string()?,
            Long("md") => a.md = p.value()?.string()?,
            Long("plot") => a.plot = p.value()?.string()?,
            Short('h') | Long("help") => return Ok(None),
            _ => return Err(format!("{} (see --help)", arg.unexpected()).into()),
        }
    }
    if a.reference_spacing.is_empty() {
        a.reference_spacing = a.spacing.clone();
    }
    #[allow(clippy::manual_is_multiple_of)] // is_multiple_of needs Rust 1.87, the MSRV is 1.80
    if a.batch == 0 || a.samples == 0 || a.samples % a.batch != 0 {
        return Err("--samples must be a positive multiple of --batch".into());
    }
    if a.nfes.is_empty() || a.nfes.contains(&0) || a.ref_nfe == 0 {
        return Err("--nfe and --ref-nfe must be positive".into());
    }
    a.command = format!(
        "cargo run --release -p dpm-solver-wasm --example evaluate{}{}",
        if raw.is_empty() { "" } else { " -- " },
        raw.join(" ")
    );
    Ok(Some(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Option<Args>, String> {
        let raw: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse(&raw).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_of_the_full_run() {
        let a = args("").unwrap().unwrap();
        assert_eq!((a.samples, a.batch, a.ref_nfe), (80, 20, 200));
        assert_eq!(a.nfes, [5, 6, 8, 10, 12, 15, 20, 50]);
        assert_eq!(
            (a.reference.as_str(), a.reference_check.as_str()),
            ("dpm3", "pp3m")
        );
        assert_eq!(a.reference_spacing, "logSNR");
        assert!(a.rows.is_empty());
        assert_eq!(
            a.command,
            "cargo run --release -p dpm-solver-wasm --example evaluate"
        );
    }

    #[test]
    fn quick_and_flow_set_their_defaults_and_later_options_win() {
        let a = args("--quick").unwrap().unwrap();
        assert_eq!((a.samples, a.batch, a.ref_nfe), (4, 4, 60));
        assert_eq!(a.nfes, [5, 10, 20]);
        let a = args("--flow --rows pp2m,unipc --nfe 4,10 --spacing time_uniform")
            .unwrap()
            .unwrap();
        assert_eq!(a.model, "www/models/flow.onnx");
        assert_eq!((a.samples, a.reference.as_str()), (40, "pp2m"));
        assert_eq!(a.rows, ["pp2m", "unipc"]);
        assert_eq!(a.nfes, [4, 10]);
        assert_eq!(
            (a.spacing.as_str(), a.reference_spacing.as_str()),
            ("time_uniform", "time_uniform")
        );
        assert_eq!(a.md, "wasm/QUALITY-flow.md");
        assert_eq!(
            a.command,
            "cargo run --release -p dpm-solver-wasm --example evaluate -- --flow --rows pp2m,unipc --nfe 4,10 --spacing time_uniform"
        );
    }

    #[test]
    fn bad_command_lines_are_errors() {
        assert!(args("--help").unwrap().is_none());
        assert!(args("-h --samples 3").unwrap().is_none());
        for (line, want) in [
            ("--samples 30 --batch 20", "multiple of --batch"),
            ("--batch 0", "multiple of --batch"),
            ("--nfe 5,x", "invalid digit"),
            ("--nfe 0,5", "must be positive"),
            ("--samples", "missing argument"),
            ("--sample 4", "--sample"),
            ("extra", "extra"),
        ] {
            let e = args(line).unwrap_err();
            assert!(e.contains(want), "{line}: {e}");
        }
    }
}
