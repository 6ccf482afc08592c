// A Node ESM script as a user writes it: `await init()` with no argument, a Model from the
// file, generateAsync, and the grid written as a PNG. Usage: node generate.mjs MODEL OUT.png
import init, { Model, gridRgba } from 'dpm-solver';
import { readFile, writeFile } from 'node:fs/promises';
import { deflateSync } from 'node:zlib';

const [modelPath, outPath] = process.argv.slice(2);
await init();
const model = new Model(await readFile(modelPath));
const meta = model.metadata;
const gen = await model.generateAsync({ seed: 1, batch: 16, class: 7, guidance: 2, steps: 10 });
const grid = gridRgba(gen.images, { height: meta.height, width: meta.width, gap: 1, valueRange: meta.valueRange });
await writeFile(outPath, png(grid.data, grid.width, grid.height));
let sum = 0;
for (const v of gen.images) sum += v;
console.log(JSON.stringify({ nfe: gen.nfe, width: grid.width, height: grid.height, sum }));
model.free();

/** RGBA pixels as a PNG file (8-bit RGBA, no filtering). */
function png(rgba, width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'ascii');
    Buffer.from(data).copy(out, 8);
    out.writeUInt32BE(crc(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8-bit, RGBA, deflate, no filter, no interlace
  const raw = Buffer.alloc((4 * width + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (4 * width + 1)] = 0;
    Buffer.from(rgba.buffer, rgba.byteOffset + y * 4 * width, 4 * width).copy(raw, y * (4 * width + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}
