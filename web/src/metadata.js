// The ICC profile, EXIF and XMP sections (docs/format.md, version 2): the checks the Python parser makes on
// their bytes (sdpic.metadata: canonical forms, 16 MiB limits), with its messages, and the profile's
// description for display. Nothing here parses more than a bounded header.

import { FormatError } from './errors.js';

/** Largest ICC profile, EXIF block or XMP packet a file may carry, each (sdpic.metadata.MAX_METADATA_BYTES). */
export const MAX_METADATA_BYTES = 16 * 1024 * 1024;

function checkSize(name, data) {
  if (!data.length) throw new FormatError(`empty ${name}`);
  if (data.length > MAX_METADATA_BYTES) {
    throw new FormatError(`${name} of ${data.length} bytes is over the ${MAX_METADATA_BYTES}-byte limit`);
  }
}

/** Bytes as Latin-1 text (one character a byte), in chunks: a spread of megabytes would overflow the stack. */
function latin1(bytes) {
  let out = '';
  for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return out;
}
const ascii = (data, start, end) => latin1(data.subarray(start, end));
// Python's str.isspace() on Latin-1 characters, which str.strip() removes (JavaScript's trim() keeps some).
const PY_SPACE = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0]);

function pyStrip(text, chars = null) {
  const strip = chars === null ? (c) => PY_SPACE.has(c.charCodeAt(0)) || /\s/u.test(c) : (c) => chars.includes(c);
  const list = [...text];
  let a = 0;
  let b = list.length;
  while (a < b && strip(list[a])) a++;
  while (b > a && strip(list[b - 1])) b--;
  return list.slice(a, b).join('');
}

/** An ICC profile: a 128-byte header or more, signature `acsp` at offset 36, within the limit. */
export function checkIcc(data) {
  checkSize('ICC profile', data);
  if (data.length < 128 || ascii(data, 36, 40) !== 'acsp') {
    throw new FormatError("the ICC profile is malformed (no 'acsp' header signature)");
  }
}

/** A TIFF-structured EXIF block (`II*\0` or `MM\0*` first, no `Exif\0\0` prefix), within the limit. */
export function checkExif(data) {
  checkSize('EXIF block', data);
  const head = ascii(data, 0, 4);
  if (data.length < 8 || (head !== 'II*\0' && head !== 'MM\0*')) {
    throw new FormatError('the EXIF block is malformed (no TIFF header)');
  }
}

/** An XMP packet: UTF-8 text within the limit (the WHATWG decoder in fatal mode refuses what Python's does:
 * invalid sequences, overlong forms, surrogates). */
export function checkXmp(data) {
  checkSize('XMP packet', data);
  try {
    new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(data);
  } catch {
    throw new FormatError('the XMP packet is not UTF-8 text');
  }
}

/** The checks of the three sections, in the Python parser's order (each may be null: absent). */
export function checkMetadata(icc, exif, xmp) {
  if (icc !== null) checkIcc(icc);
  if (exif !== null) checkExif(exif);
  if (xmp !== null) checkXmp(xmp);
}

/** The data colour space of an ICC profile header ("RGB", "GRAY", "CMYK", ...), as sdpic.metadata reads it. */
export function iccColourSpace(data) {
  return pyStrip(ascii(data, 16, 20));
}

/**
 * The profile's description (`desc` tag: ICC v2 `desc` or v4 `mluc` text, first record), or null; read from
 * the tag table in time linear in the profile, as sdpic.metadata.icc_description (for display only).
 */
export function iccDescription(data) {
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  const u32 = (bytes, offset) => {
    if (offset + 4 > bytes.length) throw new RangeError('short');
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(offset);
  };
  try {
    const count = u32(data, 128);
    if (count > Math.floor((data.length - 132) / 12)) return null;
    for (let k = 0; k < count; k++) {
      const entry = 132 + 12 * k;
      const signature = ascii(data, entry, entry + 4);
      const offset = view.getUint32(entry + 4);
      const size = view.getUint32(entry + 8);
      if (signature !== 'desc' || offset + size > data.length) continue;
      const tag = data.subarray(offset, offset + size);
      let text;
      if (ascii(tag, 0, 4) === 'desc') { // textDescriptionType: u32 length, ASCII with a NUL
        const n = u32(tag, 8);
        const chars = tag.subarray(12, 12 + n);
        const nul = chars.indexOf(0);
        text = latin1(nul < 0 ? chars : chars.subarray(0, nul));
      } else if (ascii(tag, 0, 4) === 'mluc') { // records of (language, country, length, offset)
        if (u32(tag, 8) < 1) return null;
        const n = u32(tag, 20);
        const start = u32(tag, 24);
        text = new TextDecoder('utf-16be').decode(tag.subarray(start, start + n));
      } else {
        return null;
      }
      return pyStrip(pyStrip(text, '\0 ')) || null;
    }
  } catch (error) {
    if (error instanceof RangeError) return null;
    throw error;
  }
  return null;
}
