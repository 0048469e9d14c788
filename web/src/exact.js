// The exact integer networks of the entropy-parameter path (sdpic.codec.exact): hyper-synthesis, checkerboard
// context and parameter fusion, with the Python decoder's integer weights (scale 2^16) and biases
// (scale 2^28), on integer-valued float64 activations (scale 2^12). Per layer, as ExactSequential's
// reference definition:
//
//   conv:    a' = clamp(floor((sum(a * w) + b) / 2^16 + 1/2), -2^22, 2^22)
//   leaky:   a' = a >= 0 ? a : floor(a / 8)
//   relu:    a' = max(a, 0)
//   shuffle: pixel shuffle (C r^2, H, W) -> (C, rH, rW)
//
// Every value is an integer below 2^53, so float64 computes all of it exactly: the same bits as the Python
// decoder on any machine.

const LIMIT = 2 ** 22;
const INV_WEIGHT_SCALE = 2 ** -16;

function rescaleInPlace(acc, bias, rows, n) {
  for (let r = 0; r < rows; r++) {
    const b = bias[r];
    const base = r * n;
    for (let p = base; p < base + n; p++) {
      const v = Math.floor((acc[p] + b) * INV_WEIGHT_SCALE + 0.5);
      acc[p] = v > LIMIT ? LIMIT : v < -LIMIT ? -LIMIT : v;
    }
  }
}

function activateInPlace(a, op) {
  if (op === 'leaky') {
    for (let p = 0; p < a.length; p++) if (a[p] < 0) a[p] = Math.floor(a[p] * 0.125);
  } else {
    for (let p = 0; p < a.length; p++) if (a[p] < 0) a[p] = 0;
  }
}

function pixelShuffle(a, channels, height, width, r) {
  const c = channels / (r * r);
  const out = new Float64Array(a.length);
  const ow = width * r;
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < r; i++) {
      for (let j = 0; j < r; j++) {
        const src = (ch * r * r + i * r + j) * height * width;
        const dst = ch * height * r * ow;
        for (let y = 0; y < height; y++) {
          const row = dst + (y * r + i) * ow + j;
          const from = src + y * width;
          for (let x = 0; x < width; x++) out[row + x * r] = a[from + x];
        }
      }
    }
  }
  return out;
}

/** Columns of a convolution's input (C kh kw, Hout Wout), zero-padded: the convolution as a product. */
function im2col(a, channels, height, width, kh, kw, stride, padding, outH, outW) {
  const n = outH * outW;
  const cols = new Float64Array(channels * kh * kw * n);
  for (let c = 0; c < channels; c++) {
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        const row = ((c * kh + ky) * kw + kx) * n;
        for (let oy = 0; oy < outH; oy++) {
          const y = oy * stride[0] + ky - padding[0];
          if (y < 0 || y >= height) continue;
          const src = (c * height + y) * width;
          const dst = row + oy * outW;
          for (let ox = 0; ox < outW; ox++) {
            const x = ox * stride[1] + kx - padding[1];
            if (x >= 0 && x < width) cols[dst + ox] = a[src + x];
          }
        }
      }
    }
  }
  return cols;
}

export class ExactNetwork {
  /**
   * `layers`: the manifest's description ({op: conv|leaky|relu|shuffle, ...}); `arrays`: the bundle's
   * arrays by name; `gemm`: an OrtGemm or JsGemm.
   */
  constructor(layers, arrays, gemm) {
    this.gemm = gemm;
    this.layers = layers.map((layer) => {
      if (layer.op !== 'conv') return { ...layer };
      const k = layer.in * layer.kernel[0] * layer.kernel[1];
      const weights = Float64Array.from(arrays[layer.weight]);
      return { ...layer, k, weights, w: gemm.weight(weights, layer.out, k), bias: arrays[layer.bias] };
    });
    this.columnCache = new Map();
  }

  /** The network on a (channels, height, width) activation (Float64Array, channel-major). */
  async run(input, channels, height, width) {
    let a = input;
    let c = channels;
    let h = height;
    let w = width;
    for (const layer of this.layers) {
      if (layer.op === 'conv') {
        const [kh, kw] = layer.kernel;
        const outH = Math.floor((h + 2 * layer.padding[0] - kh) / layer.stride[0]) + 1;
        const outW = Math.floor((w + 2 * layer.padding[1] - kw) / layer.stride[1]) + 1;
        const pointwise = kh === 1 && kw === 1 && layer.stride[0] === 1 && layer.stride[1] === 1;
        const cols = pointwise ? a : im2col(a, c, h, w, kh, kw, layer.stride, layer.padding, outH, outW);
        a = await this.gemm.matmul(layer.w, cols, outH * outW);
        rescaleInPlace(a, layer.bias, layer.out, outH * outW);
        c = layer.out;
        h = outH;
        w = outW;
      } else if (layer.op === 'shuffle') {
        a = pixelShuffle(a, c, h, w, layer.factor);
        c /= layer.factor * layer.factor;
        h *= layer.factor;
        w *= layer.factor;
      } else {
        activateInPlace(a, layer.op);
      }
    }
    return { data: a, channels: c, height: h, width: w };
  }

  /**
   * A network of 1x1 convolutions on n positions as columns. `parts`: [{start, rows, data (rows x n)}],
   * blocks of input channels; channels no part covers are zero, so their terms (and weight columns) are
   * left out, which changes no bit. Returns Float64Array (out x n).
   */
  async matrix(parts, n) {
    let a = null;
    for (const [index, layer] of this.layers.entries()) {
      if (layer.op !== 'conv') {
        activateInPlace(a, layer.op);
        continue;
      }
      let w = layer.w;
      let cols = a;
      if (index === 0) {
        ({ w, cols } = this.#firstColumns(layer, parts, n));
      }
      a = await this.gemm.matmul(w, cols, n);
      rescaleInPlace(a, layer.bias, layer.out, n);
    }
    return a;
  }

  #firstColumns(layer, parts, n) {
    const key = parts.map((p) => `${p.start}:${p.rows}`).join(',');
    let w = this.columnCache.get(key);
    const k = parts.reduce((sum, p) => sum + p.rows, 0);
    if (!w) {
      const sub = new Float64Array(layer.out * k);
      for (let o = 0; o < layer.out; o++) {
        let col = 0;
        for (const p of parts) {
          sub.set(layer.weights.subarray(o * layer.k + p.start, o * layer.k + p.start + p.rows), o * k + col);
          col += p.rows;
        }
      }
      w = this.gemm.weight(sub, layer.out, k);
      this.columnCache.set(key, w);
    }
    const cols = new Float64Array(k * n);
    let row = 0;
    for (const p of parts) {
      cols.set(p.data.subarray(0, p.rows * n), row * n);
      row += p.rows;
    }
    return { w, cols };
  }
}
