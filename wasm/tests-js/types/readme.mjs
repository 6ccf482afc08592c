// Extracts every ```js / ```ts block of wasm/README.md into readme/snippet-N.ts (each a module)
// for `tsc -p tsconfig.readme.json` (npm run check): the README's examples must type-check
// (strict) against the built package's .d.ts, the worker and sampler entries included.
// readme/prelude.d.ts declares what the snippets leave to the reader (your network, ...).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const readme = readFileSync(path.join(HERE, '../../README.md'), 'utf8');
const blocks = [...readme.matchAll(/^```(js|ts)\n([\s\S]*?)^```/gm)].map((m) => m[2]);
if (blocks.length < 5) throw new Error(`expected the README's code blocks, found ${blocks.length}`);
const out = path.join(HERE, 'readme');
rmSync(out, { recursive: true, force: true });
mkdirSync(out);
writeFileSync(path.join(out, 'prelude.d.ts'), `// What the README's snippets leave to the reader.
declare function myNetwork(x: Float32Array, tModel: number): Promise<Float32Array>;
declare function unet(x: Float32Array, timestep: number | undefined): Promise<Float32Array>;
declare const batch: number;
declare const n: number;
declare let req: import('dpm-solver').EvalRequest | null;
declare const s: import('dpm-solver').Sampler;
declare const model: import('dpm-solver').Model;
declare const Sampler: typeof import('dpm-solver').Sampler;
declare const gaussianNoise: typeof import('dpm-solver').gaussianNoise;
`);
blocks.forEach((code, i) => writeFileSync(path.join(out, `snippet-${i + 1}.ts`), `${code}\nexport {};\n`));
console.log(`README snippets: ${blocks.length} written to readme/`);
