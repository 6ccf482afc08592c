// Numbers read from and written as text inside the wasm modules go through JavaScript's own
// conversions (wasm/src/decimal.rs), not Rust's float parsing/formatting. Checked here against
// an exact reference written independently with BigInt: metadata text -> f32 rounded once
// (not through f64, which rounds twice just beside an f32 midpoint), and the f32 shown back as
// its shortest decimal (Model.metadata / readOnnxInfo: `schedule.betas.start`).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { load, ROOT } from './load.mjs';

const dpm = await load();
const bytes = new Uint8Array(await readFile(path.join(ROOT, 'www/models/unet.onnx')));

// An f64 as an exact rational [num, den] of BigInts.
function exact(x) {
  const b = new DataView(new ArrayBuffer(8));
  b.setFloat64(0, x);
  const hi = b.getUint32(0), lo = b.getUint32(4);
  const e = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (e) m |= 1n << 52n;
  const p = BigInt((e || 1) - 1075);
  const num = x < 0 ? -m : m;
  return p >= 0n ? [num << p, 1n] : [num, 1n << -p];
}
// A decimal string ("-1.25e-3") as an exact rational.
function decimal(s) {
  const [, sign, int, frac = '', exp = '0'] = /^([+-]?)(\d*)\.?(\d*)(?:e([+-]?\d+))?$/i.exec(s);
  const d = BigInt((int + frac) || '0') * (sign === '-' ? -1n : 1n);
  const e = BigInt(exp) - BigInt(frac.length);
  return e >= 0n ? [d * 10n ** e, 1n] : [d, 10n ** -e];
}
const cmp = ([a, b], [c, d]) => (a * d > c * b ? 1 : a * d < c * b ? -1 : 0);
const absdiff = ([a, b], [c, d]) => { const n = a * d - c * b; return [n < 0n ? -n : n, b * d]; };
const f32bits = (f) => { const v = new DataView(new ArrayBuffer(4)); v.setFloat32(0, f); return v.getUint32(0); };
const f32of = (bits) => { const v = new DataView(new ArrayBuffer(4)); v.setUint32(0, bits); return v.getFloat32(0); };

// The f32 nearest the decimal (ties to even) among the f32 near Number(s) and its neighbours.
function refF32(s) {
  const q = decimal(s);
  const c = Math.fround(Number(s));
  const cands = [f32of(f32bits(c) - 1), c, f32of(f32bits(c) + 1)];
  let best = null;
  for (const f of cands) {
    const d = absdiff(exact(f), q);
    const k = best === null ? -1 : cmp(d, best.d);
    if (k < 0 || (k === 0 && (f32bits(f) & 1) === 0)) best = { f, d };
  }
  return best.f;
}
// The shortest decimal that rounds back to f (exactly), nearest f among equally short ones.
function refShortest(f) {
  for (let p = 1; p <= 9; p++) {
    const m = BigInt(f.toExponential(p - 1).replace('.', '').replace(/e.*/, ''));
    const e = Number(f.toExponential(p - 1).split('e')[1]) - (p - 1);
    let best = null;
    for (const c of [m - 1n, m, m + 1n]) {
      const s = `${c}e${e}`;
      if (refF32(s) !== f) continue;
      const d = absdiff(decimal(s), exact(f));
      if (best === null || cmp(d, best.d) < 0) best = { v: Number(s), d };
    }
    if (best) return best.v;
  }
  throw new Error('no shortest');
}
// The exact decimal expansion of an f64 (for building text just beside a midpoint).
function expansion(x) {
  const [n, d] = exact(x); // d = 2^k
  const k = d.toString(2).length - 1;
  const digits = (n * 5n ** BigInt(k)).toString().padStart(k + 1, '0');
  return `${digits.slice(0, digits.length - k)}.${digits.slice(digits.length - k)}`;
}

test('metadata numbers: text -> f32 rounded once, shown as the shortest decimal', async () => {
  const texts = ['0.00085', '1e-4', '0.0001', '8.5E-4', '+0.0012345678', '.0003', '0.00099999999999999999999', '1.1920929e-7'];
  // Text just above and just below f32 midpoints, which Number() maps onto the midpoint itself.
  for (const v of [0.00085, 0.0001, 0.0123, 0.00390625 /* 2^-8: a binade's lower edge */]) {
    const f = Math.fround(v);
    for (const g of [f32of(f32bits(f) + 1), f32of(f32bits(f) - 1)]) {
      const mid = expansion((f + g) / 2);
      texts.push(mid, `${mid}000000000000000000001`);
      const below = mid.replace(/(\d)(0*)$/, (_, dgt, z) => `${Number(dgt) - 1}${'9'.repeat(z.length)}99999999999999999999`);
      if (!/-/.test(below)) texts.push(below);
    }
  }
  let twice = 0;
  for (const s of texts) {
    const want = refF32(s);
    if (Math.fround(Number(s)) !== want) twice++;
    const m = new dpm.Model(bytes, { metadata: { beta_schedule: 'linear', beta_start: s, beta_end: '0.02' } });
    const got = m.metadata.schedule.betas.start;
    m.free();
    assert.equal(got, refShortest(want), `beta_start "${s}"`);
  }
  assert.ok(twice > 0, 'some cases round differently through f64 (the cases are discriminating)');
});

test('numbers in messages are JavaScript\'s own text for them', async () => {
  assert.throws(() => new dpm.Sampler({ steps: 2.5 }, new Float32Array(4)), /options\.steps must be an integer in 0\.\.=\d+, got 2\.5$/);
  assert.throws(() => dpm.gaussianNoise(-3, 4), /seed must be a non-negative safe integer, got -3$/);
  assert.throws(() => dpm.gaussianNoise(1e300, 4), /got 1e\+300$/);
  assert.throws(
    () => new dpm.Model(bytes, { metadata: { beta_schedule: 'linear', beta_start: '1.5', beta_end: '0.02' } }),
    /"beta_start" = "1\.5" is invalid: a beta must lie in \(0, 1\)/,
  );
  assert.throws(
    () => new dpm.Model(bytes, { metadata: { beta_schedule: 'linear', beta_start: '0x10', beta_end: '0.02' } }),
    /not a number of the expected kind/,
  );
});
