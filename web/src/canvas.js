// Browser helper: decode an .sdpic file into a <canvas> (or OffscreenCanvas).

import { decode } from './decode.js';

/**
 * Decode `input` (bytes, a Blob/File, or a URL to fetch) and draw it into `canvas`, resized to the image.
 * Returns what decode() returns.
 */
export async function drawToCanvas(canvas, input, options = {}) {
  let bytes = input;
  if (typeof input === 'string' || input instanceof URL) {
    bytes = new Uint8Array(await (await fetch(input)).arrayBuffer());
  } else if (typeof Blob !== 'undefined' && input instanceof Blob) {
    bytes = new Uint8Array(await input.arrayBuffer());
  }
  const image = await decode(bytes, options);
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext('2d').putImageData(new ImageData(image.data, image.width, image.height), 0, 0);
  return image;
}
