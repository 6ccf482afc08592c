// Drops a .wasm file's debugging custom sections ("name": function names for stack traces,
// "producers") in place; the module is otherwise unchanged. Used by build-package.sh for both
// builds: they are a fifth of the sampler-only file and of the full one (Debian's wasm-opt,
// which would do this, is broken; see wasm/Cargo.toml).
const fs = require('fs');
const file = process.argv[2];
const b = fs.readFileSync(file);
if (b.readUInt32LE(0) !== 0x6d736100) throw new Error(`${file} is not a wasm module`);
const keep = [b.subarray(0, 8)];
let p = 8;
const leb = () => {
  let r = 0, s = 0, x;
  do { x = b[p++]; r += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80);
  return r;
};
while (p < b.length) {
  const start = p;
  const id = b[p++];
  const size = leb();
  const body = p;
  let drop = false;
  if (id === 0) {
    const n = leb();
    const name = b.subarray(p, p + n).toString();
    drop = name === 'name' || name === 'producers';
  }
  p = body + size;
  if (!drop) keep.push(b.subarray(start, p));
}
fs.writeFileSync(file, Buffer.concat(keep));
