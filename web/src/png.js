// A PNG encoder for decoded images (8-bit RGB, grey, RGBA or grey + alpha: the decoded mode), given a zlib
// compressor (Node's zlib.deflateSync in the command-line decoder), with the file's ICC profile (iCCP), EXIF
// (eXIf) and XMP (iTXt XML:com.adobe.xmp, uncompressed), where Python's `sdpic decompress` writes them
// (sdpic.metadata.save_params). Rows are filtered with the filter of the smallest absolute sum (None, Sub,
// Up or Paeth), as libpng's heuristic.

import { crc32 } from './crc32.js';

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Filtered scanlines of rows of `channels` bytes a pixel (each prefixed by its filter type). */
function filtered(pixels, width, height, channels) {
  const stride = width * channels;
  const out = new Uint8Array(height * (stride + 1));
  const candidates = Array.from({ length: 4 }, () => new Uint8Array(stride));
  const zero = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const row = pixels.subarray(y * stride, (y + 1) * stride);
    const up = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : zero;
    const [none, sub, upf, pae] = candidates;
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? row[i - channels] : 0;
      const c = i >= channels ? up[i - channels] : 0;
      none[i] = row[i];
      sub[i] = row[i] - a;
      upf[i] = row[i] - up[i];
      pae[i] = row[i] - paeth(a, up[i], c);
    }
    let best = 0;
    let bestCost = Infinity;
    candidates.forEach((candidate, k) => {
      let cost = 0;
      for (let i = 0; i < stride; i++) cost += candidate[i] < 128 ? candidate[i] : 256 - candidate[i];
      if (cost < bestCost) {
        bestCost = cost;
        best = k;
      }
    });
    out[y * (stride + 1)] = [0, 1, 2, 4][best];
    out.set(candidates[best], y * (stride + 1) + 1);
  }
  return out;
}

const latin1 = (text) => Uint8Array.from(text, (c) => c.charCodeAt(0));

function concat(parts) {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** PNG colour types by mode, and the channels of each. */
const COLOUR_TYPES = { L: [0, 1], RGB: [2, 3], LA: [4, 2], RGBA: [6, 4] };

/**
 * PNG bytes of a decoded image ({width, height, data: RGBA, mode (or greyscale), icc_profile, exif, xmp});
 * `deflate`: bytes -> zlib stream. The image's mode decides the colour type (an alpha plane is kept), its
 * metadata goes into iCCP (profile name "ICC Profile", as Pillow writes it), eXIf and iTXt chunks before the
 * image data.
 */
export function encodePng(image, deflate) {
  const { width, height, data } = image;
  const mode = image.mode ?? (image.greyscale ? 'L' : 'RGB');
  const [colourType, channels] = COLOUR_TYPES[mode];
  const grey = mode[0] === 'L';
  const alpha = mode.endsWith('A');
  const pixels = new Uint8Array(width * height * channels);
  for (let p = 0, q = 0; p < pixels.length; p += channels, q += 4) {
    pixels[p] = data[q];
    if (!grey) {
      pixels[p + 1] = data[q + 1];
      pixels[p + 2] = data[q + 2];
    }
    if (alpha) pixels[p + channels - 1] = data[q + 3];
  }
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, colourType, 0, 0, 0], 8);
  const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header)];
  if (image.icc_profile) {
    parts.push(chunk('iCCP', concat([latin1('ICC Profile\0'), Uint8Array.of(0), new Uint8Array(deflate(image.icc_profile))])));
  }
  if (image.exif) parts.push(chunk('eXIf', image.exif));
  if (image.xmp) {
    // keyword, NUL, compression flag 0 and method 0, empty language tag and translated keyword, UTF-8 text
    parts.push(chunk('iTXt', concat([latin1('XML:com.adobe.xmp\0'), Uint8Array.of(0, 0, 0, 0), image.xmp])));
  }
  parts.push(chunk('IDAT', new Uint8Array(deflate(filtered(pixels, width, height, channels)))));
  parts.push(chunk('IEND', new Uint8Array(0)));
  return concat(parts);
}
