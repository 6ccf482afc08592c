//! The figure: RMSE and FID against NFE, log-log, one line per grid solver, a cross per
//! adaptive solver, DDIM at 100 NFE dashed, the reference's own error and the FID floor dotted.
//! Written as SVG text (no plotting or font dependency; any browser or viewer renders it).

use std::fmt::Write as _;

use crate::cli::Args;
use crate::presets::{Row, Solver};
use crate::report::{ode_rmse, Metric};
use crate::score::Cell;
use crate::{DDIM, DDIM_TARGET_NFE};

/// One colour per preset, in the preset file's order (the demo's chart uses the same idea).
const COLORS: [&str; 12] = [
    "#000000", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#ff7f0e", "#393b79",
];
const W: f64 = 1200.0;
const H: f64 = 600.0;

/// A log-log panel: data coordinates to SVG pixels.
struct Axes {
    x0: f64,
    y0: f64,
    w: f64,
    h: f64,
    xmin: f64,
    xmax: f64,
    ymin: f64,
    ymax: f64,
}

impl Axes {
    fn px(&self, x: f64, y: f64) -> (f64, f64) {
        let u = (x.ln() - self.xmin.ln()) / (self.xmax.ln() - self.xmin.ln());
        let y = y.clamp(self.ymin, self.ymax);
        let v = (y.ln() - self.ymin.ln()) / (self.ymax.ln() - self.ymin.ln());
        (self.x0 + u * self.w, self.y0 + self.h - v * self.h)
    }
}

/// Decades around the positive finite values.
fn nice_range(vals: &[f64]) -> (f64, f64) {
    let pos: Vec<f64> = vals
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    if pos.is_empty() {
        return (0.1, 10.0);
    }
    let lo = pos.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = pos.iter().copied().fold(0.0, f64::max);
    let lo = 10f64.powf((lo.log10() - 0.05).floor());
    let hi = 10f64.powf((hi.log10() + 0.05).ceil());
    (lo, if hi > lo { hi } else { lo * 10.0 })
}

fn fmt_tick(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        let d = (-v.log10()).ceil() as usize;
        format!("{v:.d$}")
    }
}

/// `<line>` with an optional dash pattern.
fn line(
    s: &mut String,
    (x1, y1): (f64, f64),
    (x2, y2): (f64, f64),
    color: &str,
    width: f64,
    dash: &str,
) {
    let dash = if dash.is_empty() {
        String::new()
    } else {
        format!(" stroke-dasharray=\"{dash}\"")
    };
    let _ = writeln!(
        s,
        "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{color}\" stroke-width=\"{width}\"{dash}/>"
    );
}

fn text(s: &mut String, (x, y): (f64, f64), anchor: &str, size: u32, body: &str) {
    let body = body
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let _ = writeln!(s, "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" font-size=\"{size}\">{body}</text>");
}

fn cross(s: &mut String, (x, y): (f64, f64), r: f64, color: &str) {
    line(s, (x - r, y - r), (x + r, y + r), color, 2.5, "");
    line(s, (x - r, y + r), (x + r, y - r), color, 2.5, "");
}

/// The SVG document.
pub fn svg(
    args: &Args,
    solvers: &[Solver],
    cells: &[Cell],
    fid_floor: f64,
    ref_err: f64,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" \
         font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    );
    let color = |sv: &Solver| {
        COLORS[solvers.iter().position(|p| p.key == sv.key).unwrap_or(0) % COLORS.len()]
    };
    let panels: [(&str, Metric, f64); 2] = [
        ("RMSE to the converged ODE solution", &ode_rmse, ref_err),
        ("FID (classifier features)", &|c: &Cell| c.fid, fid_floor),
    ];
    let xmax_nfe = args
        .nfes
        .iter()
        .copied()
        .max()
        .unwrap_or(50)
        .max(DDIM_TARGET_NFE) as f64;
    for (pi, (title, f, floor)) in panels.iter().enumerate() {
        let mut vals: Vec<f64> = cells.iter().map(f).collect();
        vals.push(*floor);
        let (ymin, ymax) = nice_range(&vals);
        let ax = Axes {
            x0: 80.0 + pi as f64 * 590.0,
            y0: 40.0,
            w: 480.0,
            h: 380.0,
            xmin: (args.nfes.iter().copied().min().unwrap_or(5) as f64 * 0.8).max(1.0),
            xmax: xmax_nfe * 1.2,
            ymin,
            ymax,
        };
        // Grid lines and ticks: 1, 2, 5 per decade; the NFE grid.
        let mut dec = ymin;
        while dec <= ymax * 1.0001 {
            for m in [1.0, 2.0, 5.0] {
                let y = dec * m;
                if y < ymin * 0.999 || y > ymax * 1.001 {
                    continue;
                }
                let (_, py) = ax.px(ax.xmin, y);
                line(
                    &mut s,
                    (ax.x0, py),
                    (ax.x0 + ax.w, py),
                    "#ccc",
                    1.0,
                    if m == 1.0 { "" } else { "2 3" },
                );
                text(&mut s, (ax.x0 - 6.0, py + 4.0), "end", 11, &fmt_tick(y));
            }
            dec *= 10.0;
        }
        let mut xt: Vec<usize> = args.nfes.clone();
        xt.push(DDIM_TARGET_NFE);
        for n in xt {
            let (px, _) = ax.px(n as f64, ymin);
            line(&mut s, (px, ax.y0), (px, ax.y0 + ax.h), "#ccc", 1.0, "2 3");
            text(
                &mut s,
                (px, ax.y0 + ax.h + 16.0),
                "middle",
                11,
                &n.to_string(),
            );
        }
        line(
            &mut s,
            (ax.x0, ax.y0 + ax.h),
            (ax.x0 + ax.w, ax.y0 + ax.h),
            "#000",
            1.0,
            "",
        );
        line(
            &mut s,
            (ax.x0, ax.y0),
            (ax.x0, ax.y0 + ax.h),
            "#000",
            1.0,
            "",
        );
        text(&mut s, (ax.x0, 24.0), "start", 14, title);
        text(
            &mut s,
            (ax.x0 + ax.w / 2.0, ax.y0 + ax.h + 34.0),
            "middle",
            12,
            "NFE",
        );
        if floor.is_finite() && *floor > 0.0 {
            let (x0, y) = ax.px(ax.xmin, *floor);
            line(&mut s, (x0, y), (ax.x0 + ax.w, y), "#777", 1.5, "1 3");
        }
        if let Some(d) = cells
            .iter()
            .find(|c| c.solver.key == DDIM && c.nfe == Some(DDIM_TARGET_NFE))
        {
            let v = f(d);
            if v.is_finite() && v > 0.0 {
                line(
                    &mut s,
                    ax.px(ax.xmin, v),
                    ax.px(ax.xmax, v),
                    COLORS[0],
                    1.5,
                    "8 5",
                );
                let (px, py) = ax.px(DDIM_TARGET_NFE as f64, v);
                let _ = writeln!(
                    s,
                    "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"4\" fill=\"{}\"/>",
                    COLORS[0]
                );
            }
        }
        for sv in solvers.iter().filter(|s| s.row == Row::Grid) {
            let col = color(sv);
            let pts: Vec<(f64, f64)> = args
                .nfes
                .iter()
                .filter_map(|&n| {
                    cells
                        .iter()
                        .find(|c| c.solver.key == sv.key && c.nfe == Some(n))
                })
                .map(|c| (c.nfe.unwrap_or(0) as f64, f(c)))
                .filter(|p| p.1.is_finite() && p.1 > 0.0)
                .map(|(x, y)| ax.px(x, y))
                .collect();
            if pts.len() > 1 {
                let path: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                let _ = writeln!(
                    s,
                    "<polyline points=\"{}\" fill=\"none\" stroke=\"{col}\" stroke-width=\"1.5\"/>",
                    path.join(" ")
                );
            }
            for (x, y) in &pts {
                let _ = writeln!(
                    s,
                    "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{col}\"/>"
                );
            }
        }
        for c in cells.iter().filter(|c| c.nfe.is_none()) {
            let v = f(c);
            if v.is_finite() && v > 0.0 {
                cross(
                    &mut s,
                    ax.px(c.acc.mean_nfe().clamp(ax.xmin, ax.xmax), v),
                    6.0,
                    color(&c.solver),
                );
            }
        }
    }
    // Legend: the grid solvers, the adaptive ones, the reference levels; then the run's settings.
    let (mut lx, mut ly) = (80.0, 480.0);
    let mut entry = |s: &mut String, mark: &dyn Fn(&mut String, f64, f64), label: &str| {
        if lx + 40.0 + 7.0 * label.len() as f64 > W - 20.0 {
            lx = 80.0;
            ly += 20.0;
        }
        mark(s, lx, ly);
        text(s, (lx + 28.0, ly + 4.0), "start", 12, label);
        lx += 28.0 + 7.0 * label.len() as f64 + 20.0;
    };
    for sv in solvers {
        let col = color(sv);
        if sv.row == Row::Grid {
            entry(
                &mut s,
                &|s: &mut String, x, y| line(s, (x, y), (x + 20.0, y), col, 2.0, ""),
                &sv.name,
            );
        } else {
            entry(
                &mut s,
                &|s: &mut String, x, y| cross(s, (x + 10.0, y), 5.0, col),
                &sv.name,
            );
        }
    }
    if cells
        .iter()
        .any(|c| c.solver.key == DDIM && c.nfe == Some(DDIM_TARGET_NFE))
    {
        entry(
            &mut s,
            &|s: &mut String, x, y| line(s, (x, y), (x + 20.0, y), COLORS[0], 1.5, "8 5"),
            &format!("DDIM at {DDIM_TARGET_NFE} NFE"),
        );
    }
    entry(
        &mut s,
        &|s: &mut String, x, y| line(s, (x, y), (x + 20.0, y), "#777", 1.5, "1 3"),
        "reference error / FID floor",
    );
    let note = format!(
        "{} samples, guidance {}, {} spacing{}",
        args.samples,
        args.guidance,
        args.spacing,
        if args.quick { " (quick run)" } else { "" }
    );
    text(&mut s, (80.0, ly + 30.0), "start", 12, &note);
    s.push_str("</svg>\n");
    s
}
