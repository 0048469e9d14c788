// Range ANS decoding compatible with the streams constriction writes (constriction 0.5,
// `constriction.stream.stack.AnsCoder` with its defaults: 32-bit words, a 64-bit state, 24-bit
// probabilities), and its quantisation of categorical models (`Categorical(p, perfect=False)`).
//
// - The compressed words are a stack: decoding pops them from the end of the array.
// - Initial state (`from_compressed`): the last word, which must not be zero, then the word before it
//   below it: state = w[n-1] * 2^32 + w[n-2] (one word: state = w[n-1]; none: state = 0).
// - Decoding a symbol: q = state mod 2^24; the symbol s with cdf[s] <= q < cdf[s+1];
//   state = (state >> 24) * (cdf[s+1] - cdf[s]) + (q - cdf[s]); if state < 2^32 and a word is left,
//   state = state * 2^32 + next word. An exhausted stream keeps decoding (valid symbols), as there.
// - Quantisation (`fast_quantized_cdf`): for probabilities p_i of n symbols, cdf[i] =
//   floor(P_i * (2^24 - n) / sum(p)) + i with P_i the running float64 sum of p_0..p_{i-1}; cdf[n] = 2^24.
//   The tables hold integer frequencies f_i with sum 2^16 (p_i = f_i / 2^16: every sum is exact), so
//   cdf[i] = floor(F_i * (2^24 - n) / 2^16) + i, computed here in exact integer arithmetic.
//
// The 64-bit state lives in two float64 numbers (high and low 32 bits); every intermediate value is an
// integer below 2^53, so the arithmetic is exact.

import { FormatError } from './errors.js';

export const PRECISION = 24;
const ONE = 2 ** PRECISION;
const QUANTILE_MASK = ONE - 1;
const TWO32 = 2 ** 32;
const TWO20 = 2 ** 20;
// Multiplying by these is dividing by powers of two, exactly (and much faster than `/` or `%`).
const INV12 = 2 ** -12;
const INV20 = 2 ** -20;
const INV32 = 2 ** -32;
/** A model's lookup table maps the top 12 bits of a quantile to the first symbol that can hold it. */
const LUT_SHIFT = 12;

/** constriction's cdf (length n + 1) of the integer frequencies freqs[0..n), which sum to 2^16. */
export function quantizedCdf(freqs) {
  const n = freqs.length;
  const cdf = new Uint32Array(n + 1);
  const free = ONE - n;
  let cumulative = 0;
  for (let i = 0; i < n; i++) {
    cdf[i] = Math.floor((cumulative * free) / 65536) + i;
    cumulative += freqs[i];
  }
  cdf[n] = ONE;
  return cdf;
}

/** The model used for decoding: its cdf and, per 2^12-wide bucket of quantiles, the first symbol in it. */
export function decoderModel(freqs) {
  const cdf = quantizedCdf(freqs);
  const lut = new Uint16Array(ONE >>> LUT_SHIFT);
  let s = 0;
  for (let b = 0; b < lut.length; b++) {
    const q = b << LUT_SHIFT;
    while (cdf[s + 1] <= q) s++;
    lut[b] = s;
  }
  return { cdf, lut };
}

/** Big-endian 32-bit words of an ANS section (its length is a multiple of 4). */
export function wordsOf(bytes) {
  const n = bytes.length >>> 2;
  const words = new Uint32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0; i < n; i++) words[i] = view.getUint32(4 * i);
  return words;
}

export class AnsDecoder {
  /** `words`: the compressed stream as constriction's `get_compressed()` returns it (a Uint32Array). */
  constructor(words) {
    this.words = words;
    this.pos = words.length;
    this.hi = 0;
    this.lo = 0;
    if (this.pos > 0) {
      const first = words[--this.pos];
      if (first === 0) throw new FormatError('entropy-coded section is invalid (its last word is zero)');
      if (this.pos > 0) {
        this.hi = first;
        this.lo = words[--this.pos];
      } else {
        this.lo = first;
      }
    }
  }

  /** Decode `count` symbols of `model` (from decoderModel) into out[positions[start + k]]. */
  decodeInto(model, count, out, positions, start) {
    const { cdf, lut } = model;
    let { hi, lo, pos } = this;
    const words = this.words;
    for (let k = 0; k < count; k++) {
      const quantile = lo & QUANTILE_MASK;
      // the symbol s with cdf[s] <= quantile < cdf[s + 1]: from its bucket's first symbol on
      let s = lut[quantile >>> LUT_SHIFT];
      while (cdf[s + 1] <= quantile) s++;
      const left = cdf[s];
      const prob = cdf[s + 1] - left;
      // state = (state >> 24) * prob + (quantile - left), in exact pieces below 2^53
      const shifted = hi * 256 + (lo >>> 24); // < 2^40
      const sHi = Math.floor(shifted * INV20);
      const low = (shifted - sHi * TWO20) * prob + (quantile - left); // < 2^45
      const high = sHi * prob; // < 2^44: state = high * 2^20 + low
      const highTop = Math.floor(high * INV12);
      const t = (high - highTop * 4096) * TWO20 + low; // < 2^46
      const carry = Math.floor(t * INV32);
      const newLo = t - carry * TWO32;
      const newHi = highTop + carry;
      if (newHi === 0 && pos > 0) {
        hi = newLo;
        lo = words[--pos];
      } else {
        hi = newHi;
        lo = newLo;
      }
      out[positions[start + k]] = s;
    }
    this.hi = hi;
    this.lo = lo;
    this.pos = pos;
  }
}
