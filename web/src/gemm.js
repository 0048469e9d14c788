// Float64 matrix products for the exact networks, run by ONNX Runtime's WebAssembly MatMul (SIMD, and its
// threads where it has them), about four times faster than a JavaScript loop.
//
// Exactness does not depend on how the product is computed: the operands are integers (weights below 2^18,
// activations below 2^22, at most 4096 terms a sum), so every partial sum is an integer below 2^53, exact
// in float64 in any order, blocked, vectorised or fused. The tests compare the results with the Python
// decoder's bit for bit all the same (symbol and latent hashes).

import { SdpicError } from './errors.js';

// ONNX model of one MatMul node, o (m x n) = w (m x k) @ a (k x n), float64, written as protobuf here so
// that it needs no file: ModelProto {ir_version 8, opset 17, graph {node, inputs w a, output o}}.
function varint(value) {
  const out = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
const text = (s) => Array.from(new TextEncoder().encode(s));
const field = (number, bytes) => [...varint(number * 8 + 2), ...varint(bytes.length), ...bytes];
const intField = (number, value) => [...varint(number * 8), ...varint(value)];
const DOUBLE = 11;

function tensorInfo(name, dims) {
  const shape = dims.flatMap((d) => field(1, field(2, text(d))));
  return field(1, text(name)).concat(field(2, field(1, [...intField(1, DOUBLE), ...field(2, shape)])));
}

export function matmulModel() {
  const node = [...field(1, text('w')), ...field(1, text('a')), ...field(2, text('o')), ...field(4, text('MatMul'))];
  const graph = [
    ...field(1, node), ...field(2, text('matmul_f64')),
    ...field(11, tensorInfo('w', ['m', 'k'])), ...field(11, tensorInfo('a', ['k', 'n'])),
    ...field(12, tensorInfo('o', ['m', 'n'])),
  ];
  const model = [...intField(1, 8), ...field(8, intField(2, 17)), ...field(7, graph)];
  return new Uint8Array(model);
}

/** o = w @ a for float64 integer-valued matrices, with ONNX Runtime. */
export class OrtGemm {
  static async create(ort, sessionOptions = {}) {
    const session = await ort.InferenceSession.create(matmulModel(), { executionProviders: ['wasm'], ...sessionOptions });
    return new OrtGemm(ort, session);
  }

  constructor(ort, session) {
    this.ort = ort;
    this.session = session;
  }

  /** A weight matrix (Float64Array, m x k row-major) prepared for repeated products. */
  weight(data, m, k) {
    return { tensor: new this.ort.Tensor('float64', data, [m, k]), m, k };
  }

  /** w (from weight()) times a (Float64Array, k x n) -> Float64Array (m x n). */
  async matmul(w, a, n) {
    let out;
    try {
      out = await this.session.run({ w: w.tensor, a: new this.ort.Tensor('float64', a, [w.k, n]) });
    } catch (error) {
      throw new SdpicError(`the runtime's matrix product failed (${error?.message ?? error})`);
    }
    return out.o.data;
  }
}

/** The same product in JavaScript (no runtime needed; slower): for small checks and as a reference. */
export class JsGemm {
  weight(data, m, k) {
    return { data, m, k };
  }

  async matmul(w, a, n) {
    const { data, m, k } = w;
    const out = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      const row = i * n;
      for (let j = 0; j < k; j++) {
        const wij = data[i * k + j];
        if (wij === 0) continue;
        const col = j * n;
        for (let p = 0; p < n; p++) out[row + p] += wij * a[col + p];
      }
    }
    return out;
  }
}
