// sdpic-web: the .sdpic decoder for browsers and Node.
//
//   import { decode, drawToCanvas } from 'sdpic-web';
//   const { width, height, data } = await decode(bytes);      // data: Uint8ClampedArray, RGBA
//   await drawToCanvas(document.querySelector('canvas'), file);
//   const { mode, icc_profile, exif, xmp } = await decode(bytes, { realism: 0.5 });

export { alphaHash, decode, decodeLatents, latentSize, pixelHash, symbolHashes } from './decode.js';
export { iccDescription } from './metadata.js';
export { checkRealism, realismMap } from './realism.js';
export { drawToCanvas } from './canvas.js';
export { DEFAULT_MODELS, loadModel } from './model.js';
export { configureRuntime } from './runtime.js';
export { SECTIONS, unpack, peekIsSdpic } from './format.js';
export * from './errors.js';
