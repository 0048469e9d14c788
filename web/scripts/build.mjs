// Build the browser files into dist/ (a folder any static server can serve):
//   dist/index.html, dist/style.css     the drop-a-file page
//   dist/js/sdpic.js                    the decoder (src/ bundled with onnxruntime-web's WebAssembly build)
//   dist/js/page.js                     the page's script (imports ./sdpic.js)
//   dist/js/ort-wasm-simd-threaded.wasm ONNX Runtime's WebAssembly (SIMD, threads)
//   dist/js/webp_dec.wasm               libwebp's decoder (@jsquash/webp), for alpha planes; loaded on the first one
//   dist/models/                        the model bundles of models/ (built by `sdpic export onnx`)
// Threads need a cross-origin isolated page (COOP/COEP headers, as scripts/serve.mjs and `sdpic serve --web`
// send); without them the decoder runs on one thread.

import { build } from 'esbuild';
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = `${root}dist/`;

await rm(dist, { recursive: true, force: true });
await mkdir(`${dist}js`, { recursive: true });
await build({
  entryPoints: [`${root}src/index.js`],
  outfile: `${dist}js/sdpic.js`,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  legalComments: 'none',
  // the WebAssembly-only build of onnxruntime-web (no WebGL/WebGPU code); node: modules are reached only for
  // file: URLs, which a page never uses
  alias: { 'onnxruntime-web': 'onnxruntime-web/wasm' },
  external: ['node:*'],
  logLevel: 'warning',
});
await build({
  entryPoints: [`${root}page/app.js`],
  outfile: `${dist}js/page.js`,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  external: ['./sdpic.js'],
  logLevel: 'warning',
});
for (const file of ['index.html', 'style.css']) await copyFile(`${root}page/${file}`, `${dist}${file}`);
await copyFile(`${root}node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm`, `${dist}js/ort-wasm-simd-threaded.wasm`);
await copyFile(`${root}node_modules/@jsquash/webp/codec/dec/webp_dec.wasm`, `${dist}js/webp_dec.wasm`);
let models = [];
try {
  models = await readdir(`${root}models`);
} catch {
  console.warn('build: no models/ (run `sdpic export onnx --out-dir web/models`): the page will find no model');
}
if (models.length) {
  await mkdir(`${dist}models`);
  for (const file of models) await copyFile(`${root}models/${file}`, `${dist}models/${file}`);
}
