// The ALPHA section (docs/format.md, version 2): a lossless WebP (VP8L) of a grey image whose green channel
// is the alpha plane. Its RIFF and VP8L headers are checked on the bytes when the file is parsed (before
// anything is decoded, as sdpic.alpha.check_header does, with its messages); the bitstream is decoded by
// libwebp compiled to WebAssembly (@jsquash/webp), in browsers and in Node, from a file of the package (no
// network at run time).

import decodeWebp, { init as initWebp } from '@jsquash/webp/decode.js';

import { FormatError, ImageTooLargeError, SdpicError } from './errors.js';

const VP8L_SIGNATURE = 0x2f;
const text = (bytes, start, end) => String.fromCharCode(...bytes.subarray(start, end));

/** FormatError unless `payload` is a simple-format lossless WebP of width x height (bytes only). */
export function checkAlphaHeader(payload, width, height) {
  if (payload.length < 25 || text(payload, 0, 4) !== 'RIFF' || text(payload, 8, 16) !== 'WEBPVP8L') {
    throw new FormatError('alpha section is not a lossless WebP (RIFF/WEBP/VP8L) stream');
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
  const riffSize = view.getUint32(4, true);
  const chunkSize = view.getUint32(16, true);
  if (riffSize !== payload.length - 8 || chunkSize + (chunkSize & 1) !== payload.length - 20) {
    throw new FormatError('alpha section: WebP chunk sizes disagree with the section length');
  }
  if (payload[20] !== VP8L_SIGNATURE) throw new FormatError('alpha section: bad VP8L signature');
  const bits = view.getUint32(21, true);
  const planeWidth = (bits & 0x3fff) + 1;
  const planeHeight = ((bits >>> 14) & 0x3fff) + 1;
  const version = bits >>> 29;
  if (version !== 0) throw new FormatError(`alpha section: VP8L version ${version} (must be 0)`);
  if (planeWidth !== width || planeHeight !== height) {
    throw new FormatError(`alpha plane is ${planeWidth}x${planeHeight}, the image ${width}x${height}`);
  }
}

let wasmUrl;
let compiled = null; // the compiled module, kept
let ready = null; // an instance of it, dropped after a trap

/** Where the WebP decoder's WebAssembly is, when not where the package keeps it (see configureRuntime). */
export function setWebpWasmUrl(url) {
  wasmUrl = url;
  compiled = null;
  ready = null;
}

async function defaultWasmUrl() {
  if (typeof globalThis.process?.versions?.node === 'string') { // where npm installed @jsquash/webp
    const [{ createRequire }, { pathToFileURL }] = await Promise.all([import('node:module'), import('node:url')]);
    return pathToFileURL(createRequire(import.meta.url).resolve('@jsquash/webp/codec/dec/webp_dec.wasm'));
  }
  // the browser build copies it beside the bundle (scripts/build.mjs)
  return new URL('webp_dec.wasm', import.meta.url);
}

async function readWasm(url) {
  if (url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    return readFile(url);
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.arrayBuffer();
}

function forget(promise, clear) {
  promise.catch(clear);
  return promise;
}

/** An instance of the decoder, compiled once; a fresh one after a trap (the old one is not trusted again). */
function instance() {
  if (compiled === null) {
    compiled = forget((async () => {
      let url;
      try {
        url = wasmUrl === undefined ? await defaultWasmUrl() : new URL(wasmUrl, globalThis.location?.href);
        return await WebAssembly.compile(await readWasm(url));
      } catch (error) {
        throw new SdpicError(`cannot load the WebP decoder's WebAssembly from ${url?.href ?? wasmUrl} (${error.message})`);
      }
    })(), () => {
      compiled = null;
    });
  }
  if (ready === null) {
    ready = forget(compiled.then((module) => initWebp(module)), () => {
      ready = null;
    });
  }
  return ready;
}

/**
 * The alpha plane (Uint8Array, height x width) of an ALPHA section: the green channel of the decoded WebP.
 * A bitstream libwebp refuses is a FormatError (as Python's decoder says); memory the engine cannot give an
 * ImageTooLargeError.
 */
export async function decodeAlphaPlane(payload, width, height) {
  checkAlphaHeader(payload, width, height);
  await instance();
  let image;
  try {
    image = await decodeWebp(payload);
  } catch (error) {
    if (error?.message !== 'Decoding error') ready = null; // a trap (abort, out of bounds) ends the instance
    if (error instanceof RangeError) {
      throw new ImageTooLargeError(`${width}x${height}: not enough memory to decode the alpha plane here (${error.message})`);
    }
    throw new FormatError(`alpha section does not decode (${error?.message ?? error})`);
  }
  if (image.width !== width || image.height !== height) {
    throw new FormatError(`alpha plane is ${image.width}x${image.height}, the image ${width}x${height}`);
  }
  const rgba = image.data;
  const plane = new Uint8Array(width * height);
  for (let i = 0, j = 1; i < plane.length; i++, j += 4) plane[i] = rgba[j];
  return plane;
}
