// The container parser: the fixture headers, the Python parser's errors (class and message) on the corrupt
// variants that fail in the container, the version-2 sections' limits, and the section table as the place
// where a new optional section slots in.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from '../src/crc32.js';
import { FormatError } from '../src/errors.js';
import { SECTIONS, peekIsSdpic, unpack } from '../src/format.js';
import { MAX_METADATA_BYTES, iccDescription } from '../src/metadata.js';
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
    assert.equal(c.version, item.format_version);
    assert.equal(c.sections.has('ALPHA'), item.mode.endsWith('A'));
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

test('every variant the parser refuses: the Python parser\'s error class and message (same checks, same order)', () => {
  let refused = 0;
  for (const item of index.corrupt) {
    try {
      unpack(corruptBytes(item));
    } catch (error) {
      assert.deepEqual([error.name, error.message], [item.outcome, item.message], item.name);
      refused++;
    }
  }
  assert.ok(refused > 300);
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

/** A stream's sections (tag, payload) and the same header with other sections, framing and CRC rebuilt. */
function sectionsOf(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out = [];
  for (let k = 0, pos = 28; k < bytes[27]; k++) {
    const length = view.getUint32(pos + 1);
    out.push([bytes[pos], bytes.subarray(pos + 5, pos + 5 + length)]);
    pos += 5 + length;
  }
  return out;
}

function rebuilt(bytes, sections) {
  const length = 28 + sections.reduce((s, [, p]) => s + 5 + p.length, 0) + 4;
  const out = new Uint8Array(length);
  out.set(bytes.subarray(0, 28));
  out[27] = sections.length;
  const view = new DataView(out.buffer);
  let pos = 28;
  for (const [tag, payload] of sections) {
    out[pos] = tag;
    view.setUint32(pos + 1, payload.length);
    out.set(payload, pos + 5);
    pos += 5 + payload.length;
  }
  view.setUint32(length - 4, crc32(out, 0, length - 4));
  return out;
}

test('version 2: ICC, EXIF and XMP over 16 MiB are FormatErrors, at the limit they are read', () => {
  const bytes = stream('golden-rgba-meta-64x48-q50');
  const parts = sectionsOf(bytes);
  const grown = (tag, size) => rebuilt(bytes, parts.map(([t, p]) => {
    if (t !== tag) return [t, p];
    const big = new Uint8Array(size).fill(0x20);
    big.set(p);
    return [t, big];
  }));
  for (const [tag, name] of [[6, 'ICC profile'], [7, 'EXIF block'], [8, 'XMP packet']]) {
    assert.equal(unpack(grown(tag, MAX_METADATA_BYTES)).sections.get(SECTIONS.get(tag).name).length, MAX_METADATA_BYTES);
    assert.throws(() => unpack(grown(tag, MAX_METADATA_BYTES + 1)),
      (e) => e instanceof FormatError && e.message === `${name} of ${MAX_METADATA_BYTES + 1} bytes is over the ${MAX_METADATA_BYTES}-byte limit`);
  }
});

test('version 2: what sdpic info says of the profile (its description), read from the tag table', () => {
  const icc = unpack(stream('golden-rgba-meta-64x48-q50')).sections.get('ICC_PROFILE');
  assert.equal(iccDescription(icc), 'Display P3');
  assert.equal(iccDescription(icc.subarray(0, 140)), null);
  assert.equal(iccDescription(new Uint8Array(128)), null);
});
