//! Images as bytes: RGBA for a canvas or a PNG, and a grid layout for a batch.

use super::info::ImageShape;

/// Maps a value of `range` to a byte (clamped; NaN gives 0).
#[inline]
pub fn to_byte(v: f32, range: (f32, f32)) -> u8 {
    let u = (v - range.0) / (range.1 - range.0);
    if u.is_nan() {
        0
    } else {
        (u.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
    }
}

/// RGBA bytes (`4 x height x width`, row-major, opaque) of one NCHW image: 1 channel is grey,
/// 3 or more use the first three as RGB, 2 use the first as grey. Values missing from a short
/// `image` are drawn black (never an out-of-bounds panic); a shape whose byte count overflows
/// `usize` gives an empty vector.
pub fn to_rgba(image: &[f32], shape: ImageShape, range: (f32, f32)) -> Vec<u8> {
    let Some(len) = shape
        .height
        .checked_mul(shape.width)
        .and_then(|v| v.checked_mul(4))
    else {
        return Vec::new();
    };
    let mut out = vec![0u8; len];
    write_rgba(image, shape, range, &mut out, shape.width * 4, 1);
    out
}

/// Writes one image scaled up by `scale` (nearest neighbour) into `dst` whose rows are
/// `stride` bytes apart, starting at `dst[0]`.
fn write_rgba(
    image: &[f32],
    shape: ImageShape,
    range: (f32, f32),
    dst: &mut [u8],
    stride: usize,
    scale: usize,
) {
    let plane = shape.height * shape.width;
    // A value missing from a short slice reads as NaN (black): never an index panic.
    let at = |i: usize| image.get(i).copied().unwrap_or(f32::NAN);
    for y in 0..shape.height {
        for x in 0..shape.width {
            let p = y * shape.width + x;
            let px = if shape.channels >= 3 {
                [
                    to_byte(at(p), range),
                    to_byte(at(plane + p), range),
                    to_byte(at(2 * plane + p), range),
                    255,
                ]
            } else {
                let g = to_byte(at(p), range);
                [g, g, g, 255]
            };
            for dy in 0..scale {
                let row = (y * scale + dy) * stride;
                for dx in 0..scale {
                    let o = row + (x * scale + dx) * 4;
                    if let Some(d) = dst.get_mut(o..o + 4) {
                        d.copy_from_slice(&px);
                    }
                }
            }
        }
    }
}

/// Where the images of a batch go in one picture: `cols x rows` cells of the image size times
/// `scale`, `padding` pixels between cells and around the border.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridLayout {
    /// Number of images.
    pub count: usize,
    /// Cells per row.
    pub cols: usize,
    /// Rows.
    pub rows: usize,
    /// Cell width in pixels (image width x scale).
    pub cell_width: usize,
    /// Cell height in pixels.
    pub cell_height: usize,
    /// Gap in pixels.
    pub padding: usize,
    /// Integer upscaling factor.
    pub scale: usize,
    /// Picture width in pixels.
    pub width: usize,
    /// Picture height in pixels.
    pub height: usize,
}

impl GridLayout {
    /// A grid for `count` images of `shape`; `cols = 0` picks a near-square grid (at most
    /// `ceil(sqrt(count))` columns).
    pub fn new(count: usize, cols: usize, shape: ImageShape, padding: usize, scale: usize) -> Self {
        let count_nz = count.max(1);
        let cols = if cols == 0 {
            let mut c = 1;
            while c * c < count_nz {
                c += 1;
            }
            c
        } else {
            cols.min(count_nz)
        };
        let rows = count_nz.div_ceil(cols);
        let scale = scale.max(1);
        // Saturating: a layout too large for `usize` reports `usize::MAX` sizes (which callers
        // compare with their limits) instead of wrapping to a small one.
        let (cw, ch) = (
            shape.width.saturating_mul(scale),
            shape.height.saturating_mul(scale),
        );
        let side = |n: usize, cell: usize| {
            n.saturating_mul(cell)
                .saturating_add(n.saturating_add(1).saturating_mul(padding))
        };
        GridLayout {
            count,
            cols,
            rows,
            cell_width: cw,
            cell_height: ch,
            padding,
            scale,
            width: side(cols, cw),
            height: side(rows, ch),
        }
    }

    /// Top-left pixel of cell `i`.
    pub fn origin(&self, i: usize) -> (usize, usize) {
        let (c, r) = (i % self.cols, i / self.cols);
        (
            self.padding + c * (self.cell_width + self.padding),
            self.padding + r * (self.cell_height + self.padding),
        )
    }

    /// The cell under pixel `(x, y)`, if any (for click handling on a canvas).
    pub fn cell_at(&self, x: usize, y: usize) -> Option<usize> {
        (0..self.count).find(|&i| {
            let (ox, oy) = self.origin(i);
            x >= ox && x < ox + self.cell_width && y >= oy && y < oy + self.cell_height
        })
    }
}

/// RGBA bytes (`4 x layout.width x layout.height`) of a batch of NCHW `images` laid out by
/// `layout` on `background` (empty when that byte count overflows `usize`).
pub fn grid_rgba(
    images: &[f32],
    shape: ImageShape,
    range: (f32, f32),
    layout: &GridLayout,
    background: [u8; 4],
) -> Vec<u8> {
    let Some(len) = layout
        .width
        .checked_mul(layout.height)
        .and_then(|v| v.checked_mul(4))
    else {
        return Vec::new();
    };
    let mut out = vec![0u8; len];
    for px in out.chunks_mut(4) {
        px.copy_from_slice(&background);
    }
    let stride = layout.width * 4;
    let n = shape.len();
    for (i, img) in images.chunks(n.max(1)).take(layout.count).enumerate() {
        if img.len() < n {
            break;
        }
        let (ox, oy) = layout.origin(i);
        let Some(dst) = out.get_mut(oy * stride + ox * 4..) else {
            break;
        };
        write_rgba(img, shape, range, dst, stride, layout.scale);
    }
    out
}
