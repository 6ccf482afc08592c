// Static server on 127.0.0.1 (a secure context, as WebGPU needs) for this example:
//   /          this folder            /pkg/     the built package (target/pkg/web)
//   /ort/      onnxruntime-web/dist   /models/  the demo's models (www/models)
//   /www/      the demo page, with /www/pkg/ and /www/ort/ as above
// Usage: node serve.mjs [port]  (0: any free port; the URL is printed).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../../..');
const PKG = process.env.DPM_PKG ?? path.join(ROOT, 'target/pkg/web');
const ORT = path.join(HERE, 'node_modules/onnxruntime-web/dist');
const MOUNTS = [
  // The demo page with its WebGPU runtime (what make demo assembles in www/).
  ['/www/pkg/', PKG],
  ['/www/ort/', ORT],
  ['/www/', path.join(ROOT, 'www')],
  ['/pkg/', PKG],
  ['/ort/', ORT],
  ['/models/', path.join(ROOT, 'www/models')],
  ['/', HERE],
];
const TYPES = { '.css': 'text/css', '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream', '.json': 'application/json' };

export function serve(port = 0) {
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const [prefix, dir] = MOUNTS.find(([p]) => url.startsWith(p));
    const file = path.resolve(dir, '.' + url.slice(prefix.length - 1));
    if (!file.startsWith(path.resolve(dir)) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404);
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await serve(Number(process.argv[2] ?? 8090));
  console.log(`http://127.0.0.1:${server.address().port}/`);
}
