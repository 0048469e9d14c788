// ONNX Runtime (onnxruntime-web, WebAssembly with SIMD) for the synthesis transform and the exact networks'
// products. Threads: ONNX Runtime's own WebAssembly threads, where the page is cross-origin isolated (or in
// Node); elsewhere one thread. Its settings are global and take effect at the first session.

import * as ort from 'onnxruntime-web';
import { setWebpWasmUrl } from './alpha.js';
import { ParameterError } from './errors.js';

let started = false;

/**
 * Settings of the runtime, before the first decode: `threads` (WebAssembly threads; default ONNX Runtime's
 * choice), `wasmPaths` (where its .wasm file is served, when not next to the bundle), `webpWasm` (the URL of
 * the WebP decoder's webp_dec.wasm, for the alpha plane, when not next to the bundle or in node_modules).
 */
export function configureRuntime({ threads, wasmPaths, webpWasm } = {}) {
  if (threads !== undefined) {
    if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
      throw new ParameterError(`threads must be an integer in 1..64, got ${threads}`);
    }
    if (started && threads !== ort.env.wasm.numThreads) {
      throw new ParameterError('the thread count is fixed once the first file is decoded');
    }
    ort.env.wasm.numThreads = threads;
  }
  if (wasmPaths !== undefined) ort.env.wasm.wasmPaths = wasmPaths;
  if (webpWasm !== undefined) setWebpWasmUrl(webpWasm);
}

/** ONNX Runtime, its settings frozen from now on. */
export function runtime() {
  started = true;
  return ort;
}
