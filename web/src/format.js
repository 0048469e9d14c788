// The .sdpic container (docs/format.md), parsed with the Python parser's checks in the same order:
// magic, version, length, section framing, CRC-32, header fields, section tags / duplicates / required
// set, flag-section agreement, version-section agreement, the version-2 sections' headers (alpha plane,
// ICC profile, EXIF, XMP). Every failure is a FormatError subclass; nothing is allocated beyond views of
// the input.

import { ChecksumError, FormatError, TruncatedFileError, UnsupportedVersionError } from './errors.js';
import { crc32 } from './crc32.js';
import { checkAlphaHeader } from './alpha.js';
import { checkMetadata, iccColourSpace } from './metadata.js';

export const MAGIC = [0x53, 0x44, 0x50, 0x43]; // "SDPC"
/** The versions this build reads (sdpic.format.READ_VERSIONS); version 2 only adds optional sections. */
export const READ_VERSIONS = [1, 2];
export const HEADER_SIZE = 28;
export const SECTION_HEADER_SIZE = 5;
export const CRC_SIZE = 4;
export const FLAG_QUALITY_MAP = 0x01;
export const KNOWN_FLAGS = FLAG_QUALITY_MAP;
/** Size limits of the format (sdpic.image_io): a side, and all pixels (Pillow's decompression-bomb limit). */
export const MAX_SIDE = 16384;
export const MAX_PIXELS = 2 * 89_478_485;

/**
 * The section tags this build knows: tag -> name, whether every stream carries it, and the format version
 * that introduced it (a version-1 file cannot have a version-2 section: there it is an unknown tag, as a
 * version-1 reader says). Tags are unique per stream and may come in any order; a tag missing here is a
 * FormatError, as in the Python parser. A new optional section is one more row (and its reader in decode.js).
 */
export const SECTIONS = new Map([
  [1, { name: 'QUALITY_MAP', required: false, version: 1 }],
  [2, { name: 'HYPER_LATENTS', required: true, version: 1 }],
  [3, { name: 'LATENTS', required: true, version: 1 }],
  [4, { name: 'ESCAPES', required: true, version: 1 }],
  [5, { name: 'ALPHA', required: false, version: 2 }],
  [6, { name: 'ICC_PROFILE', required: false, version: 2 }],
  [7, { name: 'EXIF', required: false, version: 2 }],
  [8, { name: 'XMP', required: false, version: 2 }],
]);

export const Colour = Object.freeze({ RGB: 0, GREYSCALE: 1 });

/** Whether bytes start like an .sdpic stream. */
export function peekIsSdpic(bytes) {
  return bytes.length >= 4 && MAGIC.every((b, i) => bytes[i] === b);
}

function checkFields(width, height, colour, quality, level, flags) {
  if (!(width >= 1 && width <= MAX_SIDE && height >= 1 && height <= MAX_SIDE) || width * height > MAX_PIXELS) {
    throw new FormatError(`image size ${width}x${height} is outside the limits (1..${MAX_SIDE} a side)`);
  }
  if (colour !== 0 && colour !== 1) throw new FormatError(`unknown colour code ${colour}`);
  if (quality > 100) throw new FormatError(`quality ${quality} is outside 0..100`);
  if (level > 64) throw new FormatError(`quality level ${level} is outside 0..64`);
  if (flags & ~KNOWN_FLAGS) throw new FormatError(`unknown flags 0x${flags.toString(16).padStart(2, '0')}`);
}

/**
 * Parse and validate an .sdpic byte string (Uint8Array). Returns
 * {modelId, weightsHash (hex), width, height, colour, quality, level, flags, sections: Map(name -> Uint8Array)}.
 */
export function unpack(bytes) {
  if (!(bytes instanceof Uint8Array)) throw new FormatError('an .sdpic stream is a Uint8Array of bytes');
  const n = bytes.length;
  for (let i = 0; i < Math.min(n, 4); i++) {
    if (bytes[i] !== MAGIC[i]) throw new FormatError('not an .sdpic stream (bad magic bytes)');
  }
  if (n < 5) throw new TruncatedFileError('stream ends inside the header');
  const version = bytes[4];
  if (!READ_VERSIONS.includes(version)) {
    throw new UnsupportedVersionError(`format version ${version} is not supported (this build reads versions ` +
      `${READ_VERSIONS.join(' and ')})`);
  }
  if (n < HEADER_SIZE + CRC_SIZE) throw new TruncatedFileError('stream ends inside the header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, n);
  const modelId = view.getUint16(5);
  const weightsHash = Array.from(bytes.subarray(7, 15), (b) => b.toString(16).padStart(2, '0')).join('');
  const width = view.getUint32(15);
  const height = view.getUint32(19);
  const colour = bytes[23];
  const quality = bytes[24];
  const level = bytes[25];
  const flags = bytes[26];
  const count = bytes[27];
  // Walk the sections first: a length past the end means truncation, which deserves its own message.
  let pos = HEADER_SIZE;
  const spans = new Map(); // tag -> [start, length], or null for a duplicate (first position kept)
  for (let k = 0; k < count; k++) {
    if (pos + SECTION_HEADER_SIZE > n - CRC_SIZE) throw new TruncatedFileError('stream ends inside a section header');
    const tag = bytes[pos];
    const length = view.getUint32(pos + 1);
    pos += SECTION_HEADER_SIZE;
    if (pos + length > n - CRC_SIZE) throw new TruncatedFileError('stream ends inside a section');
    spans.set(tag, spans.has(tag) ? null : [pos, length]);
    pos += length;
  }
  if (pos !== n - CRC_SIZE) throw new FormatError('bytes after the last section (or a corrupted section length)');
  if (crc32(bytes, 0, n - CRC_SIZE) !== view.getUint32(n - CRC_SIZE)) {
    throw new ChecksumError('CRC-32 mismatch: the stream is corrupted');
  }
  checkFields(width, height, colour, quality, level, flags);
  const sections = new Map();
  for (const [tag, span] of spans) {
    const known = SECTIONS.get(tag);
    if (!known || known.version > version) {
      throw new FormatError(`unknown section tag ${tag}${version === 1 ? ' in a version-1 file' : ''}`);
    }
    if (span === null) throw new FormatError(`section ${known.name} appears twice`);
    sections.set(known.name, bytes.subarray(span[0], span[0] + span[1]));
  }
  const missing = [...SECTIONS.values()].filter((s) => s.required && !sections.has(s.name)).map((s) => s.name);
  if (missing.length) throw new FormatError(`missing sections: ${missing.sort().join(', ')}`);
  if (Boolean(flags & FLAG_QUALITY_MAP) !== sections.has('QUALITY_MAP')) {
    throw new FormatError('quality-map flag and section disagree');
  }
  // One way to write a file: version 2 only where a version-2 section needs it.
  const needed = [...SECTIONS.values()].some((s) => s.version === 2 && sections.has(s.name)) ? 2 : 1;
  if (version !== needed) throw new FormatError('a version-2 file without a version-2 section');
  checkVersion2Sections(sections, width, height, colour);
  return { version, modelId, weightsHash, width, height, colour, quality, level, flags, sections };
}

/** The alpha plane's WebP header against the image size; ICC / EXIF / XMP in their canonical forms and
 * within their limits (on bytes only: nothing is decoded), in the Python parser's order. */
function checkVersion2Sections(sections, width, height, colour) {
  if (sections.has('ALPHA')) checkAlphaHeader(sections.get('ALPHA'), width, height);
  const icc = sections.get('ICC_PROFILE') ?? null;
  checkMetadata(icc, sections.get('EXIF') ?? null, sections.get('XMP') ?? null);
  if (icc !== null) {
    const space = iccColourSpace(icc);
    const expected = colour === Colour.GREYSCALE ? 'GRAY' : 'RGB';
    if (space !== expected) throw new FormatError(`ICC profile is for ${space} data, the image is ${expected}`);
  }
}
