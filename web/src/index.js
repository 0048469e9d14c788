// sdpic-web: the .sdpic decoder for browsers and Node.
//
//   import { decode, drawToCanvas } from 'sdpic-web';
//   const { width, height, data } = await decode(bytes);      // data: Uint8ClampedArray, RGBA
//   await drawToCanvas(document.querySelector('canvas'), file);

export { decode, decodeLatents, latentSize, pixelHash, symbolHashes } from './decode.js';
export { drawToCanvas } from './canvas.js';
export { DEFAULT_MODELS, loadModel } from './model.js';
export { configureRuntime } from './runtime.js';
export { SECTIONS, unpack, peekIsSdpic } from './format.js';
export * from './errors.js';
