// Entropy decoding of the latents (SdpicModel._decompress_latents): the hyper-latents ẑ with one table per
// channel, h_s(ẑ), then two checkerboard passes. Pass 1 (anchors, row + column even) takes its means and
// scales from the hyper features and the quality map; pass 2 also from the context of its four decoded
// anchor neighbours. The same checks, in the same order, as the Python decoder; the result is ŷ exactly as
// the synthesis transform sees it (float32), and the symbols themselves for comparisons.

import { EscapeReader, checkStreamLength } from './coder.js';
import { FormatError, ParameterError } from './errors.js';

const ACT_SCALE = 4096;
const LIMIT = 2 ** 22;
/** Pass positions per evaluation of the context and parameter networks (memory only: exact either way). */
const CODING_CHUNK = 4096;

/** The LATENTS section: two length-prefixed ANS streams (one per context pass). */
export function splitStreams(data) {
  const out = [];
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  let pos = 0;
  while (pos < data.length) {
    if (pos + 4 > data.length) throw new FormatError('latent section is truncated');
    const n = view.getUint32(pos);
    pos += 4;
    if (pos + n > data.length) throw new FormatError('latent section is truncated');
    out.push(data.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}

/** Column of pass position k of row r: anchors (pass 0) at 2k + r % 2, the others at 2k + 1 - r % 2. */
const columnOf = (pass, r, k) => 2 * k + (pass === 0 ? r & 1 : 1 - (r & 1));

/** (channels, h, w) -> that pass's positions (channels, h, w / 2), row-major. */
function passPositions(grid, channels, h, w, pass) {
  const half = w / 2;
  const out = new Float64Array(channels * h * half);
  for (let c = 0; c < channels; c++) {
    for (let r = 0; r < h; r++) {
      const src = (c * h + r) * w;
      const dst = (c * h + r) * half;
      for (let k = 0; k < half; k++) out[dst + k] = grid[src + columnOf(pass, r, k)];
    }
  }
  return out;
}

/** The four anchor neighbours (up, down, left, right) of non-anchor positions [p0, p1), (4M, p1 - p0). */
function neighbours(anchors, m, h, half, p0, p1) {
  const n = p1 - p0;
  const out = new Float64Array(4 * m * n);
  const plane = h * half;
  for (let p = p0; p < p1; p++) {
    const r = Math.floor(p / half);
    const k = p - r * half;
    const up = r > 0 ? (r - 1) * half + k : -1;
    const down = r + 1 < h ? (r + 1) * half + k : -1;
    // row r even: left is anchor k of the row, right anchor k + 1; odd: k - 1 and k
    const even = (r & 1) === 0;
    const left = even ? r * half + k : k > 0 ? r * half + k - 1 : -1;
    const right = even ? (k + 1 < half ? r * half + k + 1 : -1) : r * half + k;
    const col = p - p0;
    for (let c = 0; c < m; c++) {
      const base = c * plane;
      if (up >= 0) out[c * n + col] = anchors[base + up];
      if (down >= 0) out[(m + c) * n + col] = anchors[base + down];
      if (left >= 0) out[(2 * m + c) * n + col] = anchors[base + left];
      if (right >= 0) out[(3 * m + c) * n + col] = anchors[base + right];
    }
  }
  return out;
}

/** searchsorted(thresholds, v, right=True) of each of `len` values: how many thresholds are <= v. */
function scaleIndices(scales, len, thresholds, indices, at) {
  for (let j = 0; j < len; j++) {
    const v = scales[j];
    let a = 0;
    let b = thresholds.length;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (thresholds[mid] <= v) a = mid + 1;
      else b = mid;
    }
    indices[at + j] = a;
  }
}

/** ŷ = residual + mean / 2^12 of one pass's positions into the (M, h, w) float32 grid. */
function scatterPass(yHat, values, means, m, h, w, pass) {
  const half = w / 2;
  for (let ch = 0; ch < m; ch++) {
    for (let r = 0; r < h; r++) {
      const src = (ch * h + r) * half;
      const dst = (ch * h + r) * w + (pass === 0 ? r & 1 : 1 - (r & 1));
      for (let k = 0; k < half; k++) yHat[dst + 2 * k] = values[src + k] + means[src + k] / ACT_SCALE;
    }
  }
}

/** The first pass's decoded latents in fixed point, as the context network reads them. */
function fixedAnchors(values, means) {
  const anchors = new Float64Array(values.length);
  for (let i = 0; i < anchors.length; i++) {
    const v = values[i] * ACT_SCALE + means[i];
    anchors[i] = v > LIMIT ? LIMIT : v < -LIMIT ? -LIMIT : v;
  }
  return anchors;
}

function rowsOf(block, rows, n, p0, p1) {
  const len = p1 - p0;
  const out = new Float64Array(rows * len);
  for (let r = 0; r < rows; r++) out.set(block.subarray(r * n + p0, r * n + p1), r * len);
  return out;
}

/**
 * Means (fixed point, integer-valued float64) and scale-table indices (Uint8Array) of one pass, each
 * (M, n) channel-major in coding order. `anchors`: the fixed-point anchors (M, h, w/2) for the second
 * pass, null for the first (no context: those inputs are zero and left out).
 */
async function passParameters(model, hyper, quality, anchors, h, half) {
  const { latent_channels: m, hyper_features: f, context_channels: cc } = model.config;
  const inputs = model.manifest.parameter_inputs;
  const n = h * half;
  const means = new Float64Array(m * n);
  const indices = new Uint8Array(m * n);
  const thresholds = model.scaleThresholds;
  for (let p0 = 0; p0 < n; p0 += CODING_CHUNK) {
    const p1 = Math.min(n, p0 + CODING_CHUNK);
    const len = p1 - p0;
    const parts = [{ start: inputs.hyper, rows: f, data: rowsOf(hyper, f, n, p0, p1) }];
    if (anchors) {
      const ctx = await model.context.matrix([{ start: 0, rows: 4 * m, data: neighbours(anchors, m, h, half, p0, p1) }], len);
      parts.push({ start: inputs.context, rows: cc, data: ctx });
    }
    parts.push({ start: inputs.quality, rows: 1, data: quality.subarray(p0, p1) });
    const out = await model.parameters.matrix(parts, len);
    for (let c = 0; c < m; c++) {
      means.set(out.subarray(c * len, (c + 1) * len), c * n + p0);
      scaleIndices(out.subarray((m + c) * len, (m + c + 1) * len), len, thresholds, indices, c * n + p0);
    }
  }
  return { means, indices };
}

/**
 * Decode the latents of a parsed stream. `levels`: the quality map (Int32Array, h x w). Returns
 * {yHat: Float32Array (M, h, w), z: Int32Array (C, h/4, w/4), residuals: [Int32Array, Int32Array]}.
 */
export async function decompressLatents(model, sections, levels, h, w) {
  const c = model.config;
  const m = c.latent_channels;
  if (h % 2 || w % 2 || h < 1 || w < 1) {
    throw new ParameterError(`latent grid ${h}x${w} is not a padded image's (sides must be even)`);
  }
  const zh = h / 4;
  const zw = w / 4;
  const escapes = new EscapeReader(sections.get('ESCAPES'), model.constants.escape_limit);

  const zBytes = sections.get('HYPER_LATENTS');
  const zIds = new Uint8Array(c.hyper_channels * zh * zw);
  for (let ch = 0; ch < c.hyper_channels; ch++) zIds.fill(ch, ch * zh * zw, (ch + 1) * zh * zw);
  checkStreamLength(zBytes, zh * zw * model.minBits.z_sum, 'hyper-latent');
  const z = model.zCoder.decodeValues(zBytes, zIds, model.zValueOffsets);
  escapes.fillAt(z.values, z.escaped);

  const zFixed = new Float64Array(z.values.length);
  for (let i = 0; i < zFixed.length; i++) zFixed[i] = Math.min(LIMIT, Math.max(-LIMIT, z.values[i] * ACT_SCALE));
  const hyper = (await model.hyperSynthesis.run(zFixed, c.hyper_channels, zh, zw)).data; // (F, h, w)
  const qFixed = Float64Array.from(levels, (level) => level * (ACT_SCALE / model.constants.quality_levels));

  const streams = splitStreams(sections.get('LATENTS'));
  if (streams.length !== 2) throw new FormatError('latent section must hold exactly two context passes');
  const half = w / 2;
  const yHat = new Float32Array(m * h * w);
  const residuals = [];
  let anchors = null;
  for (let pass = 0; pass < 2; pass++) {
    const { means, indices } = await passParameters(
      model, passPositions(hyper, c.hyper_features, h, w, pass), passPositions(qFixed, 1, h, w, pass), anchors, h, half);
    const counts = new Float64Array(model.minBits.y.length);
    for (let i = 0; i < indices.length; i++) counts[indices[i]]++;
    const minBits = counts.reduce((sum, count, t) => sum + count * model.minBits.y[t], 0);
    checkStreamLength(streams[pass], minBits, 'latent');
    const { values, escaped } = model.yCoder.decodeValues(streams[pass], indices, model.yHalfWidths);
    escapes.fillAt(values, escaped);
    residuals.push(values);
    scatterPass(yHat, values, means, m, h, w, pass);
    if (pass === 0) anchors = fixedAnchors(values, means);
  }
  escapes.finish();
  return { yHat, z: z.values, residuals };
}
