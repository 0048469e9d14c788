// Fixtures of the tests: streams made by the Python encoder and the Python decoder's records of them
// (`sdpic export fixtures test/fixtures`, which `make web` runs), read from test/fixtures/.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';

export const FIXTURES = new URL('./fixtures/', import.meta.url);
export const index = JSON.parse(readFileSync(new URL('index.json', FIXTURES), 'utf8'));
export const stream = (name) => new Uint8Array(readFileSync(new URL(`${name}.sdpic`, FIXTURES)));
export const referencePixels = (name) => new Uint8Array(readFileSync(new URL(`${name}.raw`, FIXTURES)));
export const corruptBytes = (item) => new Uint8Array(Buffer.from(item.data, 'base64'));
export const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
/** The realism fixtures: a bundle folder with a test realism decoder, and the Python decoder's pixels. */
export const realism = index.realism;
export const REALISM_MODELS = realism ? new URL(`${realism.models}/`, FIXTURES) : null;
export const realismPixels = (file) => new Uint8Array(readFileSync(new URL(file, FIXTURES)));

/** Pixels differing from the Python decoder's (any channel) and the largest difference. */
export function pixelDifference(image, reference) {
  const channels = image.greyscale ? 1 : 3;
  let differing = 0;
  let max = 0;
  for (let p = 0; p < image.width * image.height; p++) {
    let d = 0;
    for (let c = 0; c < channels; c++) d = Math.max(d, Math.abs(image.data[4 * p + c] - reference[p * channels + c]));
    if (d) differing++;
    if (d > max) max = d;
  }
  return { differing, max };
}

/**
 * A PNG's pixels (8-bit grey, RGB, grey + alpha or RGBA, non-interlaced) and its other chunks by type (lists
 * of payloads), to check the command-line decoder's files.
 */
export function readPng(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let pos = 8;
  let width;
  let height;
  let channels;
  let colourType;
  const idat = [];
  const chunks = {};
  while (pos < bytes.length) {
    const length = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const data = bytes.subarray(pos + 8, pos + 8 + length);
    if (type === 'IHDR') {
      width = view.getUint32(pos + 8);
      height = view.getUint32(pos + 12);
      colourType = data[9];
      channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colourType];
    } else if (type === 'IDAT') idat.push(data);
    else (chunks[type] ??= []).push(data);
    pos += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i];
      const a = i >= channels ? out[y * stride + i - channels] : 0;
      const b = y > 0 ? out[(y - 1) * stride + i] : 0;
      const c = i >= channels && y > 0 ? out[(y - 1) * stride + i - channels] : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a
        : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      out[y * stride + i] = x + [0, a, b, (a + b) >> 1, paeth][filter];
    }
  }
  return { width, height, channels, colourType, pixels: out, chunks };
}
