// The ANS decoder against an independent encoder written from constriction's encode_symbol (BigInt
// arithmetic, 64-bit state, 32-bit words, 24-bit probabilities): random tables and symbols, states up to
// 2^64, decoded back exactly; and constriction's quantisation of the tables.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { AnsDecoder, decoderModel, quantizedCdf } from '../src/ans.js';
import { FormatError } from '../src/errors.js';

function randomGenerator(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    s = (s ^ (s >>> 13)) >>> 0;
    return s / 2 ** 32;
  };
}

/** Integer frequencies (each >= 1) summing to 2^16, peaked like the codec's tables. */
function randomFreqs(random, n) {
  const weights = Array.from({ length: n }, (_, i) => Math.exp(-Math.abs(i - n / 2) * random() * 2) + random() * 1e-3);
  const total = weights.reduce((a, b) => a + b, 0);
  const freqs = weights.map((w) => Math.max(1, Math.floor((w / total) * (65536 - n))));
  freqs[freqs.indexOf(Math.max(...freqs))] += 65536 - freqs.reduce((a, b) => a + b, 0);
  return Uint16Array.from(freqs);
}

/** constriction's AnsCoder: encode_symbol on a stack, then get_compressed (state words appended, high last). */
function encode(symbols, cdfs) {
  let state = 0n;
  const bulk = [];
  for (let i = symbols.length - 1; i >= 0; i--) {
    const cdf = cdfs[i];
    const left = BigInt(cdf[symbols[i]]);
    const prob = BigInt(cdf[symbols[i] + 1]) - left;
    if (state >> 40n >= prob) {
      bulk.push(Number(state & 0xffffffffn));
      state >>= 32n;
    }
    state = ((state / prob) << 24n) | (left + (state % prob));
  }
  if (state >> 32n) bulk.push(Number(state & 0xffffffffn), Number(state >> 32n));
  else if (state) bulk.push(Number(state));
  return Uint32Array.from(bulk);
}

test('quantised cdf: floor(F_i (2^24 - n) / 2^16) + i, ending at 2^24', () => {
  const cdf = quantizedCdf(Uint16Array.from([65533, 1, 1, 1]));
  assert.deepEqual(Array.from(cdf), [0, 16777212 - 3 + 1, 16777212 - 3 + 2 + 0, 16777214, 16777216].map((v, i) =>
    i === 0 ? 0 : i === 4 ? 2 ** 24 : Math.floor(([0, 65533, 65534, 65535][i] * (2 ** 24 - 4)) / 65536) + i));
  for (let i = 0; i < 4; i++) assert.ok(cdf[i + 1] > cdf[i]);
});

test('random streams decode to the encoded symbols, state arithmetic exact up to 2^64', () => {
  const random = randomGenerator(7);
  const tables = Array.from({ length: 12 }, (_, t) => randomFreqs(random, 2 + Math.floor(random() * (t < 6 ? 60 : 800))));
  const models = tables.map(decoderModel);
  for (let round = 0; round < 20; round++) {
    const count = 1 + Math.floor(random() * 5000);
    const which = Array.from({ length: count }, () => Math.floor(random() * tables.length));
    const symbols = which.map((t) => {
      const cdf = models[t].cdf;
      const q = Math.floor(random() * 2 ** 24); // symbols drawn from the model itself, and rare ones too
      let s = 0;
      while (cdf[s + 1] <= q) s++;
      return random() < 0.02 ? Math.floor(random() * (cdf.length - 1)) : s;
    });
    const words = encode(symbols, which.map((t) => models[t].cdf));
    const decoder = new AnsDecoder(words);
    const out = new Int32Array(count);
    for (let i = 0; i < count; i++) decoder.decodeInto(models[which[i]], 1, out, Int32Array.of(i), 0);
    assert.deepEqual(Array.from(out), symbols, `round ${round}`);
    assert.equal(decoder.pos, 0);
    assert.equal(decoder.hi, 0);
    assert.equal(decoder.lo, 0);
  }
});

test('stream edge cases: empty (state 0), a zero last word (rejected), exhausted (keeps decoding)', () => {
  const model = decoderModel(Uint16Array.from([30000, 30000, 5536]));
  const out = new Int32Array(5);
  const positions = Int32Array.from([0, 1, 2, 3, 4]);
  new AnsDecoder(new Uint32Array(0)).decodeInto(model, 5, out, positions, 0);
  assert.deepEqual(Array.from(out), [0, 0, 0, 0, 0]);
  assert.throws(() => new AnsDecoder(Uint32Array.of(5, 0)), FormatError);
  const decoder = new AnsDecoder(Uint32Array.of(0xdeadbeef));
  decoder.decodeInto(model, 5, out, positions, 0);
  assert.ok(out.every((s) => s >= 0 && s < 3));
});
