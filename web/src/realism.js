// The realism decoder's input (sdpic.codec.realism): the requested realism R, checked as Python checks it,
// and the per-block realism map r = R · clamp(1 − (level − base) / LIFT_SPAN, 0, 1), base the file's global
// level, computed in float32 step by step as torch computes it, so the map is Python's bit for bit
// (the test fixtures compare their hashes).

import { ParameterError } from './errors.js';

/** `realism` as a number in [0, 1], else ParameterError (NaN too). */
export function checkRealism(realism) {
  if (typeof realism !== 'number') throw new ParameterError(`realism must be a number in [0, 1], got ${JSON.stringify(realism) ?? String(realism)}`);
  if (!(realism >= 0 && realism <= 1)) throw new ParameterError(`realism must be within [0, 1], got ${realism}`);
  return realism;
}

/** The realism map (Float32Array, h x w) of quality levels (Int32Array, h x w), the file's global level `base`
 * and the realism R; `liftSpan`: the levels over which realism falls to 0 (the bundle's manifest says). */
export function realismMap(levels, base, realism, liftSpan) {
  const f = Math.fround;
  const r = f(realism);
  const span = f(liftSpan);
  const out = new Float32Array(levels.length);
  for (let i = 0; i < levels.length; i++) {
    const lift = f(f(levels[i]) - f(base));
    const falling = f(1 - f(lift / span));
    out[i] = f(r * Math.min(Math.max(falling, 0), 1));
  }
  return out;
}
