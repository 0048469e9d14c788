// The realism decoder (sdpic.codec.realism) in the web decoder, with a test realism decoder's bundle that
// `sdpic export fixtures` builds (the base g_s with its realism encoder's last layer drawn at random, default
// realism 0.5): the realism map bit for bit as Python computes it, pixels within one level of Python's
// sdpic.api.synthesise_pixels at realism 0.5 and 1, realism 0 the base synthesis (the same pixels as a bundle
// without a realism decoder), the manifest's default, and Python's typed errors.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  FormatError, ParameterError, configureRuntime, decode, decodeLatents, loadModel, realismMap,
} from '../src/index.js';
import {
  REALISM_MODELS, corruptBytes, index, pixelDifference, realism, realismPixels, sha256, stream,
} from './helpers.js';

configureRuntime({ threads: 1 });
const models = REALISM_MODELS;
const skip = realism ? false : 'the fixtures were made without realism (sdpic export fixtures --no-realism)';

test('the realism map: Python\'s bit for bit', { skip }, async () => {
  for (const { name, realism: value, map } of realism.maps) {
    const latents = await decodeLatents(stream(name), { models });
    const r = realismMap(latents.levels, latents.container.level, value, latents.model.realism.lift_span);
    assert.equal(sha256(new Uint8Array(r.buffer)), map, `${name} at ${value}`);
  }
});

test('pixels at realism 0.5 and 1: within one level of the Python decoder\'s, and not the base pixels', { skip }, async () => {
  for (const item of realism.cases) {
    const image = await decode(stream(item.name), { models, realism: item.realism });
    assert.equal(image.realism, item.realism);
    const { differing, max } = pixelDifference(image, realismPixels(item.pixels_file));
    assert.ok(max <= 1, `${item.name} at ${item.realism}: a pixel differs by ${max}`);
    assert.ok(differing <= 0.01 * image.width * image.height, `${item.name} at ${item.realism}: ${differing} differ`);
    const base = await decode(stream(item.name), { models, realism: 0 });
    assert.ok(pixelDifference(base, realismPixels(item.pixels_file)).max > 1, 'the realism decoder changes the pixels');
  }
});

test('strips: the realism decoder on many small strips gives the same pixels (to a level)', { skip }, async () => {
  const item = realism.cases.find((c) => c.name === 'tall-q60' && c.realism === 1);
  const image = await decode(stream(item.name), { models, realism: 1, stripLatents: 8 * 12 });
  assert.ok(pixelDifference(image, realismPixels(item.pixels_file)).max <= 1);
});

test('realism 0: the base synthesis, the pixels of a bundle without a realism decoder', { skip }, async () => {
  for (const name of new Set(realism.cases.map((c) => c.name))) {
    const zero = await decode(stream(name), { models, realism: 0 });
    const plain = await decode(stream(name));
    assert.equal(zero.realism, 0);
    assert.equal(plain.realism, 0);
    assert.deepEqual(zero.data, plain.data, name);
  }
  // the same base graph, exported from the same weights into both bundles
  const { modelId, weightsHash } = (await decodeLatents(stream('rgb-q50'))).container;
  const [withRealism, shipped] = await Promise.all([loadModel(modelId, weightsHash, { models }), loadModel(modelId, weightsHash)]);
  assert.equal(withRealism.manifest.synthesis.default.fp32.sha256, shipped.manifest.synthesis.default.fp32.sha256);
  assert.equal(shipped.realism, null);
  assert.deepEqual(withRealism.realism, { synthesis: 'realism', default: realism.default, lift_span: 8 });
});

test('no realism asked: the bundle\'s default realism (0 for a bundle without a realism decoder)', { skip }, async () => {
  const item = realism.cases.find((c) => c.realism === realism.default);
  const image = await decode(stream(item.name), { models });
  assert.equal(image.realism, realism.default);
  assert.deepEqual(image.data, (await decode(stream(item.name), { models, realism: realism.default })).data);
});

test('typed errors: realism outside [0, 1] or not a number, or asked of a model without a realism decoder', { skip }, async () => {
  for (const bad of [-0.5, 1.5, Number.NaN, Infinity, '0.5', true]) {
    await assert.rejects(decode(stream('rgb-q50'), { models, realism: bad }), (e) => e instanceof ParameterError && /realism/.test(e.message));
  }
  // the shipped bundle has no realism decoder (yet): asking for one is an error, the default is realism 0
  await assert.rejects(decode(stream('rgb-q50'), { realism: 0.5 }),
    (e) => e instanceof ParameterError && e.message === "model 'sdpic' has no realism decoder: decode with realism 0");
  await assert.rejects(decode(stream('mse-q90'), { models: undefined, realism: 1 }), /model 'sdpic-mse' has no realism decoder/);
  await assert.rejects(decode(stream('rgb-q50'), { models, synthesis: 'realism' }), ParameterError);
  // the Python decoder's order: the container first, then the realism asked for
  const corrupt = index.corrupt.find((c) => c.outcome === 'ChecksumError');
  await assert.rejects(decode(corruptBytes(corrupt), { models, realism: 7 }), (e) => e instanceof FormatError);
});
