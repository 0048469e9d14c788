// decode(bytes) -> {width, height, data: RGBA}: the container, the model named by its header, the quality
// map, the latents, then the synthesis transform strip by strip.

import { FormatError, ImageTooLargeError, ParameterError, SdpicError } from './errors.js';
import { Colour, unpack } from './format.js';
import { decompressLatents } from './latents.js';
import { loadModel } from './model.js';
import { decodeLevels, uniformLevels } from './quality_map.js';

const now = () => globalThis.performance?.now() ?? Date.now();

function asBytes(input) {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new FormatError('an .sdpic stream is bytes: a Uint8Array, an ArrayBuffer or a typed-array view');
}

/** Latent rows and columns of an image: padded to a multiple of 64, then / 16. */
export function latentSize(height, width, pad = 64, stride = 16) {
  return [(height + ((pad - (height % pad)) % pad)) / stride, (width + ((pad - (width % pad)) % pad)) / stride];
}

/**
 * Entropy-decode a stream (no synthesis): {container, model, levels, yHat, z, residuals, latentHeight,
 * latentWidth}. Options: `models` (bundle folder URL or path).
 */
export async function decodeLatents(input, options = {}) {
  const bytes = asBytes(input);
  const container = unpack(bytes);
  return withMemoryErrors(container, () => latentsOf(container, options));
}

/**
 * A size the format allows but this machine cannot hold (an allocation past the engine's limits) is an
 * ImageTooLargeError, not an untyped RangeError. (The tests compare every outcome with the Python
 * decoder's, so a RangeError of a bug would not hide behind it.)
 */
async function withMemoryErrors(container, work) {
  try {
    return await work();
  } catch (error) {
    if (error instanceof RangeError && !(error instanceof SdpicError)) {
      throw new ImageTooLargeError(`${container.width}x${container.height}: not enough memory to decode it here (${error.message})`);
    }
    throw error;
  }
}

async function latentsOf(container, options) {
  const model = await loadModel(container.modelId, container.weightsHash, options);
  const { pad_multiple: pad, latent_stride: stride } = model.constants;
  const [h, w] = latentSize(container.height, container.width, pad, stride);
  const levels = container.sections.has('QUALITY_MAP')
    ? decodeLevels(container.sections.get('QUALITY_MAP'), h, w, container.level, model.qualityMapTable, model.minBits.quality_map)
    : uniformLevels(h, w, container.level);
  const latents = await decompressLatents(model, container.sections, levels, h, w);
  return { container, model, levels, latentHeight: h, latentWidth: w, ...latents };
}

/**
 * Decode .sdpic bytes to {width, height, data: Uint8ClampedArray RGBA, greyscale, bytes, bpp, timings}.
 * Options: `models` (bundle folder), `synthesis` (decoder name, default "default"), `precision` ("fp32" or
 * "fp16" weights), `stripLatents` (latents per synthesis strip: memory against speed), `latents` (true: also
 * return what decodeLatents returns, as `latents`).
 */
export async function decode(input, options = {}) {
  const { synthesis = 'default', precision = 'fp32', stripLatents } = options;
  if (precision !== 'fp32' && precision !== 'fp16') throw new ParameterError(`precision is fp32 or fp16, got ${precision}`);
  const t0 = now();
  const latents = await decodeLatents(input, options);
  const t1 = now();
  const { container, model } = latents;
  const decoder = await model.synthesis(synthesis, precision);
  const t2 = now();
  const greyscale = container.colour === Colour.GREYSCALE;
  const data = await withMemoryErrors(container, () => decoder.render(latents.yHat, latents.levels,
    latents.latentHeight, latents.latentWidth, container.width, container.height, { greyscale, stripLatents }));
  const t3 = now();
  const n = asBytes(input).length;
  return {
    width: container.width, height: container.height, data, greyscale, model: model.name,
    bytes: n, bpp: (8 * n) / (container.width * container.height),
    timings: { latents_ms: t1 - t0, load_synthesis_ms: t2 - t1, synthesis_ms: t3 - t2, total_ms: t3 - t0 },
    ...(options.latents ? { latents } : {}),
  };
}

async function sha256(...arrays) {
  const total = arrays.reduce((s, a) => s + a.byteLength, 0);
  const joined = new Uint8Array(total);
  let pos = 0;
  for (const a of arrays) {
    joined.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), pos);
    pos += a.byteLength;
  }
  const digest = await globalThis.crypto.subtle.digest('SHA-256', joined);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * The hashes `sdpic export reference` gives for the same stream (sdpic.export.reference): `symbols`
 * (levels, ẑ, both passes' residuals as little-endian int32) and `latents` (ŷ as little-endian float32).
 */
export async function symbolHashes(latents) {
  if (!littleEndian) throw new ParameterError('symbol hashes are defined on little-endian bytes');
  return {
    symbols: await sha256(latents.levels, latents.z, ...latents.residuals),
    latents: await sha256(latents.yHat),
  };
}

/** SHA-256 of an image's pixels as the Python decoder's record hashes them (RGB interleaved, or L). */
export async function pixelHash(image) {
  const channels = image.greyscale ? 1 : 3;
  const out = new Uint8Array(image.width * image.height * channels);
  for (let p = 0, q = 0; p < out.length; p += channels, q += 4) {
    for (let c = 0; c < channels; c++) out[p + c] = image.data[q + c];
  }
  return sha256(out);
}
