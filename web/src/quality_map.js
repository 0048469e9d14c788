// The per-block quality map (sdpic.quality_map): one level 0..64 per latent position, each predicted from
// its causal neighbours by JPEG-LS's median edge detector; the residuals are ANS-coded with one fixed table.

import { TableCoder, checkStreamLength } from './coder.js';
import { FormatError } from './errors.js';

const LEVELS = 64;

function medPredict(levels, i, j, width, base) {
  const a = j > 0 ? levels[i * width + j - 1] : -1;
  const b = i > 0 ? levels[(i - 1) * width + j] : -1;
  if (a < 0 && b < 0) return base;
  if (a < 0) return b;
  if (b < 0) return a;
  const c = levels[(i - 1) * width + j - 1];
  if (c >= Math.max(a, b)) return Math.min(a, b);
  if (c <= Math.min(a, b)) return Math.max(a, b);
  return a + b - c;
}

/** A uniform map: every block at the header's level. */
export function uniformLevels(height, width, level) {
  return new Int32Array(height * width).fill(level);
}

/**
 * Decode the QUALITY_MAP section into levels (Int32Array, height x width row-major). `table`: the fixed
 * residual frequencies (residuals -64..64 and an escape); `minBits`: the least one of its symbols costs.
 */
export function decodeLevels(data, height, width, base, table, minBits) {
  checkStreamLength(data, height * width * minBits, 'quality map');
  const coder = new TableCoder(table, table.length, [table.length]);
  const symbols = coder.decode(data, new Uint8Array(height * width));
  for (let k = 0; k < symbols.length; k++) {
    if (symbols[k] - LEVELS > LEVELS) throw new FormatError('quality map holds an escape symbol');
  }
  const levels = new Int32Array(height * width);
  for (let i = 0; i < height; i++) {
    for (let j = 0; j < width; j++) {
      const value = symbols[i * width + j] - LEVELS + medPredict(levels, i, j, width, base);
      if (value < 0 || value > LEVELS) throw new FormatError('quality map decodes to a level outside 0..64');
      levels[i * width + j] = value;
    }
  }
  return levels;
}
