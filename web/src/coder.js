// Symbols grouped by integer frequency table, as sdpic.codec.coder.TableCoder codes them: one group per
// table (ascending table id), positions in array order inside a group (a stable sort by table id), each
// group decoded with its table's model from one ANS stream. The last entry of every table is the escape
// symbol, whose value the escape section carries.

import { AnsDecoder, decoderModel, wordsOf } from './ans.js';
import { FormatError } from './errors.js';

export class TableCoder {
  /**
   * `freqs`: the tables' rows (a typed array, `stride` entries a row); `lengths[t]`: entries of row t
   * (its support plus the escape symbol).
   */
  constructor(freqs, stride, lengths) {
    this.lengths = Int32Array.from(lengths);
    this.models = Array.from(this.lengths, (n, t) => decoderModel(freqs.subarray(t * stride, t * stride + n)));
  }

  /** Symbol indices (Int32Array) of the positions whose table ids are `tableIds`. */
  decode(data, tableIds) {
    return this.#decodeSorted(data, tableIds).out;
  }

  /**
   * Symbols mapped to values, `index - offsets[table]`, and the positions (ascending) of escape symbols,
   * whose values the caller fills in: {values: Int32Array, escaped: Int32Array}.
   */
  decodeValues(data, tableIds, offsets) {
    const { out, order, bounds } = this.#decodeSorted(data, tableIds);
    const escaped = [];
    for (let t = 0; t < this.lengths.length; t++) {
      const escape = this.lengths[t] - 1;
      const offset = offsets[t];
      for (let k = bounds[t]; k < bounds[t + 1]; k++) {
        const p = order[k];
        if (out[p] === escape) escaped.push(p);
        out[p] -= offset;
      }
    }
    return { values: out, escaped: Int32Array.from(escaped).sort() };
  }

  #decodeSorted(data, tableIds) {
    if (data.length % 4) throw new FormatError('entropy-coded section length is not a multiple of 4');
    const decoder = new AnsDecoder(wordsOf(data));
    const tables = this.lengths.length;
    const n = tableIds.length;
    const bounds = new Int32Array(tables + 1);
    for (let i = 0; i < n; i++) bounds[tableIds[i] + 1]++;
    for (let t = 0; t < tables; t++) bounds[t + 1] += bounds[t];
    const cursor = bounds.slice(0, tables);
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[cursor[tableIds[i]]++] = i;
    const out = new Int32Array(n);
    for (let t = 0; t < tables; t++) {
      const count = bounds[t + 1] - bounds[t];
      if (count) decoder.decodeInto(this.models[t], count, out, order, bounds[t]);
    }
    return { out, order, bounds };
  }
}

/**
 * An ANS stream holds at least the information of its symbols, so one shorter than the least its
 * symbols can cost is truncated or forged; rejected before decoding (the coder would decode an exhausted
 * stream as endless valid symbols, so a tiny file could claim a huge image). Margins as in Python.
 */
export function checkStreamLength(data, minBits, what) {
  if (8 * data.length + 64 < minBits * (1 - 2 ** -10)) {
    throw new FormatError(`${what} stream is ${data.length} bytes but its symbols need at least ` +
      `${Math.round(minBits / 8)}: the stream is truncated or its header's size is wrong`);
  }
}

/** Hands out raw escaped values in decoding order, checking the section holds exactly enough. */
export class EscapeReader {
  constructor(data, limit) {
    if (data.length % 4) throw new FormatError('escape section length is not a multiple of 4');
    const view = new DataView(data.buffer, data.byteOffset, data.length);
    this.values = new Int32Array(data.length >>> 2);
    for (let i = 0; i < this.values.length; i++) {
      const v = view.getInt32(4 * i);
      if (Math.abs(v) > limit) throw new FormatError(`escaped value beyond +-${limit} (no encoder writes one)`);
      this.values[i] = v;
    }
    this.pos = 0;
  }

  /** target[positions[k]] = the next raw values (positions ascending). */
  fillAt(target, positions) {
    if (this.pos + positions.length > this.values.length) {
      throw new FormatError('escape section is shorter than the coded data requires');
    }
    for (let k = 0; k < positions.length; k++) target[positions[k]] = this.values[this.pos++];
  }

  finish() {
    if (this.pos !== this.values.length) throw new FormatError('escape section has trailing values');
  }
}
