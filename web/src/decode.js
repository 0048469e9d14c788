// decode(bytes) -> {width, height, data: RGBA}: the container, the model named by its header, the quality
// map, the latents, the synthesis transform strip by strip (the model's own, or its realism decoder on the
// realism map), then the alpha plane: the order of sdpic.decompress, so a file with several faults fails
// with the error Python gives.

import { decodeAlphaPlane } from './alpha.js';
import { FormatError, ImageTooLargeError, ParameterError, SdpicError } from './errors.js';
import { Colour, unpack } from './format.js';
import { decompressLatents } from './latents.js';
import { loadModel } from './model.js';
import { decodeLevels, uniformLevels } from './quality_map.js';
import { checkRealism, realismMap } from './realism.js';

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
 * Decode .sdpic bytes to {width, height, data: Uint8ClampedArray RGBA, mode, greyscale, alpha, icc_profile,
 * exif, xmp, realism, realism_decoder, model, bytes, bpp, timings}.
 *
 * `mode`: RGB, L, RGBA or LA (Python's); `data` is RGBA in every case (grey: R = G = B; no alpha plane:
 * A = 255). `icc_profile`, `exif` (the TIFF block, no `Exif\0\0` prefix) and `xmp`: the file's sections
 * (Uint8Array views of `bytes`), or null. `realism`: the realism it was decoded at; `realism_decoder`:
 * whether the model's bundle has a realism decoder.
 *
 * Options: `models` (bundle folder), `realism` (0..1: 0 the model's own synthesis, the pixels of every
 * earlier decoder; above 0 the model's realism decoder; default the bundle's default realism, 0 for a model
 * without one), `synthesis` (another synthesis decoder exported for the same latents, used at realism 0),
 * `precision` ("fp32" or "fp16" weights), `stripLatents` (latents per synthesis strip: memory against
 * speed), `latents` (true: also return what decodeLatents returns, as `latents`).
 */
export async function decode(input, options = {}) {
  const { synthesis, precision = 'fp32', stripLatents } = options;
  if (precision !== 'fp32' && precision !== 'fp16') throw new ParameterError(`precision is fp32 or fp16, got ${precision}`);
  const t0 = now();
  const bytes = asBytes(input);
  const container = unpack(bytes);
  const requested = options.realism === undefined || options.realism === null ? null : checkRealism(options.realism);
  if (requested !== null && requested > 0 && synthesis !== undefined && synthesis !== 'default') {
    throw new ParameterError(`synthesis decoder ${synthesis} decodes at realism 0; realism ${requested} uses the realism decoder`);
  }
  const latents = await withMemoryErrors(container, () => latentsOf(container, options));
  const t1 = now();
  const { container: c, model } = latents;
  const realism = chosenRealism(model, requested, synthesis);
  const decoder = await model.synthesis(realism > 0 ? model.realism.synthesis : synthesis ?? 'default', precision);
  const t2 = now();
  const greyscale = c.colour === Colour.GREYSCALE;
  const data = await withMemoryErrors(c, () => {
    const map = realism > 0 ? realismMap(latents.levels, c.level, realism, model.realism.lift_span) : null;
    return decoder.render(latents.yHat, latents.levels, latents.latentHeight, latents.latentWidth, c.width, c.height,
      { greyscale, stripLatents, realism: map });
  });
  const t3 = now();
  const alpha = c.sections.get('ALPHA');
  if (alpha !== undefined) {
    const plane = await withMemoryErrors(c, () => decodeAlphaPlane(alpha, c.width, c.height));
    for (let i = 0, j = 3; i < plane.length; i++, j += 4) data[j] = plane[i];
  }
  const t4 = now();
  const n = bytes.length;
  return {
    width: c.width, height: c.height, data, mode: (greyscale ? 'L' : 'RGB') + (alpha !== undefined ? 'A' : ''),
    greyscale, alpha: alpha !== undefined, icc_profile: c.sections.get('ICC_PROFILE') ?? null,
    exif: c.sections.get('EXIF') ?? null, xmp: c.sections.get('XMP') ?? null, realism,
    realism_decoder: model.realism !== null, model: model.name,
    bytes: n, bpp: (8 * n) / (c.width * c.height),
    timings: { latents_ms: t1 - t0, load_synthesis_ms: t2 - t1, synthesis_ms: t3 - t2, alpha_ms: t4 - t3, total_ms: t4 - t0 },
    ...(options.latents ? { latents } : {}),
  };
}

/**
 * The realism a decode runs at (sdpic.api.synthesise_pixels): the one asked for, else the model's default
 * (the bundle's), and 0 for a model without a realism decoder, where asking for more is a ParameterError.
 */
function chosenRealism(model, requested, synthesis) {
  const explicitSynthesis = synthesis !== undefined && synthesis !== 'default';
  if (explicitSynthesis && synthesis === model.realism?.synthesis) {
    throw new ParameterError(`synthesis decoder ${synthesis} is the realism decoder: ask for it with the realism option`);
  }
  const value = requested ?? (explicitSynthesis ? 0 : model.realism?.default ?? 0);
  if (value > 0 && model.realism === null) {
    if (requested !== null) throw new ParameterError(`model '${model.name}' has no realism decoder: decode with realism 0`);
    return 0;
  }
  return value;
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

/** SHA-256 of an image's alpha plane (one byte a pixel, row-major) as the Python decoder's record hashes
 * it; null for an image without one. */
export async function alphaHash(image) {
  if (!image.alpha) return null;
  const plane = new Uint8Array(image.width * image.height);
  for (let p = 0, q = 3; p < plane.length; p++, q += 4) plane[p] = image.data[q];
  return sha256(plane);
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
