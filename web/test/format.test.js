// The container parser: the fixture headers, the Python parser's errors on the corrupt variants that fail in
// the container, and the section table as the place where a new optional section slots in.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from '../src/crc32.js';
import { FormatError } from '../src/errors.js';
import { SECTIONS, peekIsSdpic, unpack } from '../src/format.js';
import { corruptBytes, index, stream } from './helpers.js';

const CONTAINER_ERRORS = new Set(['TruncatedFileError', 'ChecksumError', 'UnsupportedVersionError']);

test('fixture headers: size, colour, quality map section as recorded', () => {
  for (const item of index.streams) {
    const c = unpack(stream(item.name));
    assert.equal(c.width, item.width);
    assert.equal(c.height, item.height);
    assert.equal(c.colour, item.colour === 'L' ? 1 : 0);
    assert.equal(c.modelId, item.model_id);
    assert.ok(['HYPER_LATENTS', 'LATENTS', 'ESCAPES'].every((s) => c.sections.has(s)));
    assert.equal(c.sections.has('QUALITY_MAP'), Boolean(c.flags & 1));
  }
  assert.ok(peekIsSdpic(stream('rgb-q50')) && !peekIsSdpic(Uint8Array.of(0x89, 0x50)));
});

test('container errors of the corrupt variants: the class the Python parser raises', () => {
  let checked = 0;
  for (const item of index.corrupt) {
    if (!CONTAINER_ERRORS.has(item.outcome)) continue;
    assert.throws(() => unpack(corruptBytes(item)), (e) => e.name === item.outcome, item.name);
    checked++;
  }
  assert.ok(checked > 100);
});

/** A stream with one more section (tag, payload), framing and CRC rebuilt. */
function withSection(bytes, tag, payload) {
  const body = bytes.subarray(0, bytes.length - 4);
  const out = new Uint8Array(body.length + 5 + payload.length + 4);
  out.set(body);
  out[27] += 1;
  out[body.length] = tag;
  new DataView(out.buffer).setUint32(body.length + 1, payload.length);
  out.set(payload, body.length + 5);
  new DataView(out.buffer).setUint32(out.length - 4, crc32(out, 0, out.length - 4));
  return out;
}

test('sections: an unknown tag is a FormatError, a duplicate too; a tag added to SECTIONS is read', () => {
  const bytes = withSection(stream('rgb-q50'), 9, Uint8Array.of(1, 2, 3));
  assert.throws(() => unpack(bytes), (e) => e instanceof FormatError && /unknown section tag 9/.test(e.message));
  assert.throws(() => unpack(withSection(stream('rgb-q50'), 4, new Uint8Array(0))), /ESCAPES appears twice/);
  SECTIONS.set(9, { name: 'EXAMPLE', required: false });
  try {
    assert.deepEqual(Array.from(unpack(bytes).sections.get('EXAMPLE')), [1, 2, 3]);
  } finally {
    SECTIONS.delete(9);
  }
});
