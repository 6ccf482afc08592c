// Issue 15 against the built package: every input that used to trap the module, run nothing,
// return NaN with success or be silently truncated is now a clear Error, and the object (and
// the module) keeps working afterwards.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { load, ROOT } from './load.mjs';

const dpm = await load();
const unetBytes = new Uint8Array(await readFile(path.join(ROOT, 'www/models/unet.onnx')));
const tinyBytes = new Uint8Array(await readFile(path.join(ROOT, 'fuzz/seeds/tiny_unet.onnx')));

/** `fn` throws an Error (not a RuntimeError trap, not a glue TypeError) matching `re`. */
function throwsMsg(fn, re) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof Error, `thrown value is an Error (got ${e})`);
    assert.ok(!(e instanceof WebAssembly.RuntimeError), `a trap: ${e.message}`);
    assert.equal(e.name, 'Error', `${e.name}: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
  assert.equal(dpm.instancePoisoned(), false, 'the instance is still healthy');
}

/** Runs a Sampler to the end with eps = 0.1 x; returns it. */
function finish(s) {
  let r;
  while ((r = s.ask())) s.tell(r.x.map((v) => 0.1 * v));
  return s;
}

test('gaussianNoise: lengths are integers in range', () => {
  for (const bad of [-1, 2 ** 32, 1.5, NaN, undefined, 2 ** 27]) {
    throwsMsg(() => dpm.gaussianNoise(0, bad), /length/);
  }
  const v = dpm.gaussianNoise(0, 8);
  assert.equal(v.length, 8);
  assert.ok(v.every(Number.isFinite));
});

test('Sampler: xT checked before it is copied, scratch sized after validation', () => {
  throwsMsg(() => new dpm.Sampler({ order: 3 }, new Float32Array(2 ** 26 + 1)), /xT has 67108865 elements/);
  // Within the length limit but x + order-3 full-order scratch exceeds the byte cap.
  throwsMsg(
    () => new dpm.Sampler({ order: 3, multistepVariant: 'full_order' }, new Float32Array(2 ** 26)),
    /MiB/,
  );
  throwsMsg(() => new dpm.Sampler({ order: 3 }, undefined), /xT is required/);
  throwsMsg(() => new dpm.Sampler({ order: 3 }), /xT is required/);
  throwsMsg(() => new dpm.Sampler({ order: 3 }, 'abc'), /xT must be a Float32Array/);
  throwsMsg(() => new dpm.Sampler({ order: 2 ** 32 + 2 }, new Float32Array(4)), /order/);
  const s = new dpm.Sampler({ steps: 5 }, Float32Array.of(0.5, -1, 0.25, 2));
  throwsMsg(() => s.tell(), /output is required/);
  throwsMsg(() => s.tell(undefined), /output is required/);
  throwsMsg(() => s.tell(new Float32Array(1000)), /output has 1000 elements/);
  throwsMsg(() => s.tellCfg(new Float32Array(4)), /guidance|uncond/);
  finish(s);
  assert.equal(s.nfe, 5);
  assert.ok(s.x.every(Number.isFinite));
  s.free();
});

test('discrete schedules refuse times below 1/N (the reference domain); the default 1/N works', () => {
  throwsMsg(() => new dpm.Sampler({ tEnd: 1e-4 }, new Float32Array(4).fill(0.5)), /1\/N/);
  throwsMsg(() => new dpm.Sampler({ direction: 'invert', tStart: 1e-5 }, new Float32Array(4).fill(0.5)), /1\/N/);
  const s = finish(new dpm.Sampler({ tEnd: 1e-3, steps: 6 }, new Float32Array(4).fill(0.5)));
  assert.ok(s.x.every(Number.isFinite));
});

test('extreme configurations: a clear error or a finite result, never Ok with NaN', () => {
  const cases = [
    { schedule: { type: 'linear', beta0: 0.1, beta1: 1e30 } },
    { schedule: { type: 'linear', beta0: 0, beta1: 3e38 }, algorithm: 'dpmsolver' },
    { spacing: { karras: 1e-45 } },
    { spacing: { karras: 1e30 } },
    { schedule: { type: 'discrete', betas: { kind: 'linear', start: 0.999, end: 0.9999999, n: 1000 } } },
    { guidance: { type: 'classifier-free', scale: 3e38 } },
  ];
  for (const opts of cases) {
    let s;
    try {
      s = new dpm.Sampler({ steps: 6, ...opts }, Float32Array.of(0.5, -1, 0.25, 2));
    } catch (e) {
      assert.ok(e instanceof Error && !(e instanceof WebAssembly.RuntimeError), String(e));
      continue;
    }
    try {
      let r;
      while ((r = s.ask())) {
        assert.ok(r.x.every(Number.isFinite), `${JSON.stringify(opts)}: a non-finite request`);
        const out = r.x.map((v) => 0.1 * v);
        if (opts.guidance) s.tellCfg(out, r.x.map((v) => 0.2 * v));
        else s.tell(out);
      }
      assert.ok(s.x.every(Number.isFinite), `${JSON.stringify(opts)}: done with a non-finite x`);
    } catch (e) {
      assert.ok(e instanceof Error && !(e instanceof WebAssembly.RuntimeError), String(e));
      assert.match(e.message, /at evaluation \d+ \(solver-made NaN\)|guidance/);
      assert.equal(s.ask(), null, 'the run is over after a divergence');
    }
  }
});

test('diffusers configs: no truncation, no zero-step runs, no NaN combinations', () => {
  const x = Float32Array.of(0.5, -1, 0.25, 2);
  const mk = (name, cfg, steps = 10) => new dpm.Sampler({ scheduler: name, schedulerConfig: cfg, steps }, x);
  throwsMsg(() => mk('DPMSolverMultistepScheduler', { solver_order: 1e8 }), /solver_order/);
  throwsMsg(() => mk('DPMSolverMultistepScheduler', { solver_order: 4294967298 }), /solver_order/);
  throwsMsg(() => mk('UniPCMultistepScheduler', { num_train_timesteps: 4294968296 }), /num_train_timesteps/);
  for (const name of ['DPMSolverMultistepScheduler', 'UniPCMultistepScheduler', 'DDIMScheduler']) {
    throwsMsg(() => mk(name, { timestep_spacing: 'leading', steps_offset: 5000 }), /steps_offset/);
  }
  throwsMsg(() => mk('UniPCMultistepScheduler', { lower_order_final: false }), /lower_order_final/);
  throwsMsg(() => mk('UniPCMultistepScheduler', { predict_x0: false }), /predict_x0/);
  // The same options with a final sigma that is not zero are fine, and finite.
  for (const cfg of [{ lower_order_final: false, final_sigmas_type: 'sigma_min' }, { predict_x0: false, final_sigmas_type: 'sigma_min' }]) {
    const s = finish(mk('UniPCMultistepScheduler', cfg));
    assert.equal(s.nfe, 10);
    assert.ok(s.x.every(Number.isFinite));
  }
});

test('Model: metadata sizes, guidance and plan batch refused before allocating; the model still works', () => {
  const model = new dpm.Model(unetBytes);
  throwsMsg(() => model.generate({ batch: 2, class: 3, guidance: 3e38, steps: 2 }), /guidance scale/);
  model.planBatch = 4096;
  throwsMsg(() => model.generate({ batch: 4096, steps: 2 }), /planBatch|intermediate tensor|batch/);
  model.planBatch = 1;
  throwsMsg(() => model.prepare(-1), /prepare batch/);
  const g = model.generate({ batch: 2, class: 3, guidance: 2, steps: 3, seed: 1 });
  assert.equal(g.images.length, 2 * 784);
  assert.ok(g.images.every(Number.isFinite));
  model.free();
});

test('malformed ONNX is an Error, never a trap', async () => {
  const bad = ['bad_output_name', 'bad_raw_data', 'bad_dims', 'bad_raw_string', 'bad_num_classes', 'bad_image_dims'];
  for (const name of bad) {
    const bytes = new Uint8Array(await readFile(path.join(ROOT, `fuzz/seeds/${name}.onnx`)));
    throwsMsg(() => new dpm.Model(bytes), /ONNX|metadata|num_classes|image|graph/);
  }
  const tiny = new dpm.Model(tinyBytes);
  assert.equal(tiny.imageLength, 16);
  const g = tiny.generate({ batch: 3, steps: 4, class: 2 });
  assert.ok(g.images.every(Number.isFinite));
  tiny.free();
});

test('new Model / readOnnxInfo: a missing or wrong bytes argument is a clear Error', () => {
  for (const bad of [undefined, null, 3, 'model.onnx', {}, true, Symbol('x')]) {
    throwsMsg(() => new dpm.Model(bad), /new Model\(bytes\) must be a Uint8Array or ArrayBuffer/);
    throwsMsg(() => dpm.readOnnxInfo(bad), /readOnnxInfo\(bytes\) must be a Uint8Array or ArrayBuffer/);
  }
  throwsMsg(() => new dpm.Model(), /got undefined/);
  throwsMsg(() => dpm.readOnnxInfo(), /got undefined/);
  // The same bytes as an ArrayBuffer, a view into a larger buffer, or an array of numbers.
  const padded = new Uint8Array(tinyBytes.length + 7);
  padded.set(tinyBytes, 3);
  for (const b of [tinyBytes.slice().buffer, new DataView(padded.buffer, 3, tinyBytes.length), Array.from(tinyBytes)]) {
    const m = new dpm.Model(b);
    assert.equal(m.imageLength, 16);
    m.free();
    assert.equal(dpm.readOnnxInfo(b).outputs.length, 1);
  }
  // A GenerationRun stepped without its model: wasm-bindgen's own class check, an Error.
  const m = new dpm.Model(tinyBytes);
  const run = m.begin({ steps: 2, class: 1 });
  throwsMsg(() => run.step(undefined), /expected instance of Model/);
  let st;
  while (!(st = run.step(m)).done);
  assert.ok(run.finish().images.every(Number.isFinite));
  run.free();
  m.free();
});

test('models that made tract 0.23.9 panic (a trap in wasm) are a clear Error', async () => {
  // fuzz/tract-panics: the mutated models of every panic site (vendor/PATCHES.md), with the
  // evaluation the fuzz harness ran on it when it loads. Never a trap; an Error, except for
  // the one class that is a valid model once tract stops indexing past the declared outputs.
  const dir = path.join(ROOT, 'fuzz/tract-panics');
  const names = (await readdir(dir)).filter((f) => f.endsWith('.onnx')).sort();
  assert.ok(names.length >= 10, `${names.length} models`);
  let errors = 0;
  for (const name of names) {
    const bytes = new Uint8Array(await readFile(path.join(dir, name)));
    let model;
    try {
      model = new dpm.Model(bytes);
    } catch (e) {
      throwsMsg(() => { throw e; }, /./);
      errors++;
      continue;
    }
    const evalPath = path.join(dir, name.replace(/\.onnx$/, '.json'));
    const { x, t, classes } = JSON.parse(await readFile(evalPath, 'utf8'));
    const run = () => model.run(Float32Array.from(x), Float32Array.from(t), classes.length ? classes : undefined);
    if (name.includes('expansion-outputs')) {
      // A node declaring fewer outputs than its op makes: the declared ones are used, which is
      // a valid model (the panic compared the undeclared ones too).
      assert.ok(run().every(Number.isFinite), name);
    } else {
      throwsMsg(run, /network evaluation failed/);
      errors++;
    }
    model.free();
  }
  assert.equal(errors, names.filter((n) => !n.includes('expansion-outputs')).length);
  // The module is still healthy.
  const tiny = new dpm.Model(tinyBytes);
  assert.ok(tiny.generate({ batch: 1, steps: 2, class: 0 }).images.every(Number.isFinite));
  tiny.free();
});

test('gridRgba: sizes whose product wraps in 32 bits are refused', () => {
  throwsMsg(() => dpm.gridRgba(new Float32Array(16), { height: 16384, width: 16384, channels: 3, batch: 2 ** 28 }), /images has 16 values/);
  throwsMsg(() => dpm.gridRgba(new Float32Array(4 * 1024 * 1024), { height: 1024, width: 1024, batch: 4, scale: 8 }), /pixels/);
  const g = dpm.gridRgba(new Float32Array(4 * 16), { height: 4, width: 4, batch: 4 });
  assert.equal(g.data.length, g.width * g.height * 4);
});
