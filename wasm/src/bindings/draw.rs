//! `draw`: a batch of images (NCHW floats) as a grid into a canvas through one `ImageData`.

use super::error::{opt_err, Error, Result};
use super::js::{numbers, set, Opts};
use crate::pipeline::{grid_rgba as pipeline_grid_rgba, GridLayout, ImageShape};
use js_sys::Object;
use wasm_bindgen::prelude::*;
use wasm_bindgen::Clamped;
use web_sys::{
    CanvasRenderingContext2d, HtmlCanvasElement, ImageData, OffscreenCanvas,
    OffscreenCanvasRenderingContext2d,
};

#[wasm_bindgen(typescript_custom_section)]
const TS_DRAW: &'static str = r#"
/** Where `draw` paints: a canvas (main thread or OffscreenCanvas in a worker) or its 2d context. */
export type DrawTarget = HTMLCanvasElement | OffscreenCanvas | CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;

/** How `draw` lays a batch out: images are NCHW floats, tiled row by row. */
export interface DrawLayout {
  height: number;
  width: number;
  /** 1 (grey, default) or 3 (RGB). */
  channels?: number;
  /** Default: images.length / (channels * height * width). */
  batch?: number;
  /** Tiles per row (default: a near-square grid). */
  columns?: number;
  /** Integer upscaling of each pixel (default 1). */
  scale?: number;
  /** Black pixels between tiles and around the border (default 0). */
  gap?: number;
  /** The values drawn as black and white (default [-1, 1]). */
  valueRange?: [number, number];
  /** Set the canvas size to the grid (default true; ignored for a context). */
  resize?: boolean;
  /** Offset of the grid in the canvas (default 0, 0). */
  x?: number;
  y?: number;
}
"#;

/// Pixels of the whole grid, RGBA, and its size.
struct Grid {
    w: usize,
    h: usize,
    rgba: Vec<u8>,
}

/// Validates the layout against `images` and renders it with the pipeline's `grid_rgba`.
fn layout(images: &[f32], o: &Opts) -> Result<Grid> {
    const MAX: usize = 1 << 14;
    // 2^26 pixels: 256 MiB of RGBA, allocated in one piece.
    const MAX_PIXELS: usize = 1 << 26;
    let h = o
        .uint("height", MAX)?
        .ok_or_else(|| Error::Option("layout.height is required".into()))?;
    let w = o
        .uint("width", MAX)?
        .ok_or_else(|| Error::Option("layout.width is required".into()))?;
    let c = o.uint("channels", 4)?.unwrap_or(1);
    if h == 0 || w == 0 || !matches!(c, 1 | 3) {
        return opt_err("layout needs height, width >= 1 and channels 1 or 3");
    }
    let shape = ImageShape {
        channels: c,
        height: h,
        width: w,
    };
    let per = shape.len();
    let batch = match o.uint("batch", MAX * MAX)? {
        Some(b) => b,
        None => images.len() / per,
    };
    if batch == 0 || batch.checked_mul(per) != Some(images.len()) {
        return opt_err(format!(
            "images has {} values, expected batch x channels x height x width = {batch} x {c} x {h} x {w}",
            images.len()
        ));
    }
    let cols = o.uint("columns", MAX)?.unwrap_or(0);
    let scale = o.uint("scale", 64)?.unwrap_or(1).max(1);
    let gap = o.uint("gap", 256)?.unwrap_or(0);
    let range = match o.get("valueRange")? {
        None => (-1.0f32, 1.0f32),
        Some(v) => {
            let r = numbers(&v, "layout.valueRange")?;
            match r[..] {
                [lo, hi] if hi > lo && (hi - lo).is_finite() => (lo, hi),
                _ => return opt_err("layout.valueRange must be [low, high] with low < high"),
            }
        }
    };
    let grid = GridLayout::new(batch, cols, shape, gap, scale);
    if grid.width > MAX || grid.height > MAX || grid.width * grid.height > MAX_PIXELS {
        return opt_err(format!(
            "the grid would be {} x {} pixels (at most {MAX} a side, {MAX_PIXELS} in all)",
            grid.width, grid.height
        ));
    }
    let rgba = pipeline_grid_rgba(images, shape, range, &grid, [0, 0, 0, 255]);
    Ok(Grid {
        w: grid.width,
        h: grid.height,
        rgba,
    })
}

/// The keys of a `DrawLayout` options object (`draw` and `gridRgba` take the same object).
const LAYOUT_KEYS: &[&str] = &[
    "height",
    "width",
    "channels",
    "batch",
    "columns",
    "scale",
    "gap",
    "valueRange",
    "resize",
    "x",
    "y",
];

fn js_err(what: &str) -> impl Fn(JsValue) -> Error + '_ {
    move |e| Error::Js(format!("{what}: {}", super::error::js_message(&e)))
}

/// Draws `images` (NCHW floats, `layout.valueRange` mapped to black..white) as a grid into the
/// canvas or context `target`; returns the grid's `{ width, height }` in pixels.
#[wasm_bindgen(unchecked_return_type = "{ width: number; height: number }")]
pub fn draw(
    #[wasm_bindgen(unchecked_param_type = "DrawTarget")] target: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Float32Array")] images: JsValue,
    #[wasm_bindgen(js_name = layout, unchecked_param_type = "DrawLayout")] layout_opts: JsValue,
) -> core::result::Result<Object, Error> {
    let _guard = super::limits::enter()?;
    let images = super::limits::floats(&images, "images", super::limits::MAX_SAMPLE_ELEMENTS)?;
    let o = Opts::new(&layout_opts, "layout", LAYOUT_KEYS)?;
    let g = layout(&images, &o)?;
    let resize = o.boolean("resize")?.unwrap_or(true);
    let (x, y) = (o.num("x")?.unwrap_or(0.0), o.num("y")?.unwrap_or(0.0));
    let image = || {
        ImageData::new_with_u8_clamped_array_and_sh(Clamped(&g.rgba), g.w as u32, g.h as u32)
            .map_err(js_err("ImageData"))
    };
    if let Some(c) = target.dyn_ref::<HtmlCanvasElement>() {
        if resize {
            c.set_width(g.w as u32);
            c.set_height(g.h as u32);
        }
        let ctx = c
            .get_context("2d")
            .map_err(js_err("getContext"))?
            .ok_or_else(|| Error::Js("canvas has no 2d context".into()))?;
        ctx.unchecked_into::<CanvasRenderingContext2d>()
            .put_image_data(&image()?, x, y)
            .map_err(js_err("putImageData"))?;
    } else if let Some(c) = target.dyn_ref::<OffscreenCanvas>() {
        if resize {
            c.set_width(g.w as u32);
            c.set_height(g.h as u32);
        }
        let ctx = c
            .get_context("2d")
            .map_err(js_err("getContext"))?
            .ok_or_else(|| Error::Js("canvas has no 2d context".into()))?;
        ctx.unchecked_into::<OffscreenCanvasRenderingContext2d>()
            .put_image_data(&image()?, x, y)
            .map_err(js_err("putImageData"))?;
    } else if let Some(ctx) = target.dyn_ref::<CanvasRenderingContext2d>() {
        ctx.put_image_data(&image()?, x, y)
            .map_err(js_err("putImageData"))?;
    } else if let Some(ctx) = target.dyn_ref::<OffscreenCanvasRenderingContext2d>() {
        ctx.put_image_data(&image()?, x, y)
            .map_err(js_err("putImageData"))?;
    } else {
        return Err(Error::Option(
            "draw target must be an HTMLCanvasElement, OffscreenCanvas or a 2d context".into(),
        ));
    }
    let out = Object::new();
    set(&out, "width", g.w as f64);
    set(&out, "height", g.h as f64);
    Ok(out)
}

/// The same grid as RGBA bytes (`width * height * 4`), for callers that paint elsewhere (a
/// worker posting an `ImageData`, a PNG encoder).
#[wasm_bindgen(js_name = gridRgba, unchecked_return_type = "{ width: number; height: number; data: Uint8ClampedArray }")]
pub fn grid_rgba_js(
    #[wasm_bindgen(unchecked_param_type = "Float32Array")] images: JsValue,
    #[wasm_bindgen(js_name = layout, unchecked_param_type = "DrawLayout")] layout_opts: JsValue,
) -> core::result::Result<Object, Error> {
    let _guard = super::limits::enter()?;
    let images = super::limits::floats(&images, "images", super::limits::MAX_SAMPLE_ELEMENTS)?;
    let o = Opts::new(&layout_opts, "layout", LAYOUT_KEYS)?;
    let g = layout(&images, &o)?;
    let out = Object::new();
    set(&out, "width", g.w as f64);
    set(&out, "height", g.h as f64);
    set(&out, "data", js_sys::Uint8ClampedArray::from(&g.rgba[..]));
    Ok(out)
}
