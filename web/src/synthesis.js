// The synthesis decoder: an ONNX graph from `sdpic export onnx` (any synthesis transform exported that way:
// ŷ and integer quality levels of a strip of latent rows in, and for the realism decoder the realism map
// too, uint8 pixels out), run strip by strip so that
// memory stays bounded by the strip size, not the image size. Each strip reads `halo` latent rows beyond
// its own on each side (the manifest says how many the graph needs) and keeps only its own rows.

import { ParameterError, SdpicError, UnsafeWeightsError } from './errors.js';

/** Latents per strip, halo included, unless the caller asks otherwise: ~300 MB of ONNX Runtime memory at the
 * widest (37 kB a latent measured); a Kodak image is one strip, the 10.6 MP photo seven. */
export const STRIP_LATENTS = 8192;
const MIN_STRIP_ROWS = 4;

/** Row ranges [top, bottom) of the strips of a latent grid, about `latents` latents each (halo included). */
export function strips(height, width, halo, latents = STRIP_LATENTS) {
  if (!Number.isInteger(latents) || latents < 1) throw new ParameterError(`strip size must be a positive integer, got ${latents}`);
  const rows = Math.max(MIN_STRIP_ROWS, Math.floor(latents / width) - 2 * halo);
  const out = [];
  for (let top = 0; top < height; top += rows) out.push([top, Math.min(top + rows, height)]);
  return out;
}

export class SynthesisDecoder {
  /** `session`: an ONNX Runtime session of the graph; `entry`: its manifest entry (halo, scale, names). */
  constructor(ort, session, entry, channels) {
    this.ort = ort;
    this.session = session;
    this.entry = entry;
    this.channels = channels;
  }

  /**
   * Pixels of decoded latents into an RGBA image: `yHat` (Float32Array, channels x h x w), `levels`
   * (Int32Array, h x w); `realism`: the realism map (Float32Array, h x w) for a graph that takes one. The
   * image is width x height, cropped from the padded grid; greyscale streams give R = G = B. Returns a
   * Uint8ClampedArray (width x height x 4), A = 255.
   */
  async render(yHat, levels, h, w, width, height, { greyscale = false, stripLatents, realism = null } = {}) {
    const { halo, scale, inputs, output } = this.entry;
    const m = this.channels;
    if ((inputs.length === 3) !== (realism !== null)) {
      throw new UnsafeWeightsError(`synthesis graph inputs ${inputs.join(', ')} given ${realism === null ? 'no' : 'a'} realism map`);
    }
    const data = new Uint8ClampedArray(width * height * 4);
    for (const [top, bottom] of strips(h, w, halo, stripLatents)) {
      if (top * scale >= height) break;
      const lo = Math.max(0, top - halo);
      const hi = Math.min(h, bottom + halo);
      const rows = hi - lo;
      const y = new Float32Array(m * rows * w);
      for (let c = 0; c < m; c++) y.set(yHat.subarray((c * h + lo) * w, (c * h + hi) * w), c * rows * w);
      const q = new BigInt64Array(rows * w);
      for (let i = 0; i < rows * w; i++) q[i] = BigInt(levels[lo * w + i]);
      const feeds = {
        [inputs[0]]: new this.ort.Tensor('float32', y, [1, m, rows, w]),
        [inputs[1]]: new this.ort.Tensor('int64', q, [1, 1, rows, w]),
      };
      if (realism !== null) feeds[inputs[2]] = new this.ort.Tensor('float32', realism.slice(lo * w, hi * w), [1, 1, rows, w]);
      let result;
      try {
        result = await this.session.run(feeds);
      } catch (error) {
        throw new SdpicError(`the synthesis runtime failed on latent rows ${lo}..${hi} (${error?.message ?? error})`);
      }
      const pixels = result[output];
      const px = pixels.data;
      pixels.dispose?.();
      const stripWidth = w * scale;
      const plane = rows * scale * stripWidth;
      const first = top * scale;
      const last = Math.min(bottom * scale, height);
      for (let row = first; row < last; row++) {
        const src = (row - lo * scale) * stripWidth;
        let dst = row * width * 4;
        for (let x = 0; x < width; x++, dst += 4) {
          const r = px[src + x];
          data[dst] = r;
          data[dst + 1] = greyscale ? r : px[plane + src + x];
          data[dst + 2] = greyscale ? r : px[2 * plane + src + x];
          data[dst + 3] = 255;
        }
      }
    }
    return data;
  }
}
