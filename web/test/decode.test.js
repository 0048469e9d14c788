// The decoder against the Python decoder's records of the fixture streams (the golden files among them):
// symbols, latents and the alpha plane bit for bit (hashes), pixels within one level, the ICC profile, EXIF
// and XMP as the file's bytes; and every corrupt variant ends in the error class Python raises, or in the
// same image (symbols and alpha plane).

import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  DEFAULT_MODELS, FormatError, ParameterError, SdpicError, UnknownModelError, UnsafeWeightsError,
  WeightsNotFoundError, alphaHash, configureRuntime, decode, decodeLatents, pixelHash, symbolHashes,
} from '../src/index.js';
import { corruptBytes, index, pixelDifference, referencePixels, sha256, stream } from './helpers.js';

configureRuntime({ threads: 1 });
const temps = [];
after(() => Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true }))));

for (const item of index.streams) {
  test(`${item.name}: symbols, latents and pixels as the Python decoder's`, async () => {
    const bytes = stream(item.name);
    const latents = await decodeLatents(bytes);
    assert.deepEqual(await symbolHashes(latents), { symbols: item.symbols, latents: item.latents });
    const image = await decode(bytes, { realism: 0 });
    assert.equal(image.width, item.width);
    assert.equal(image.height, item.height);
    assert.equal(image.greyscale, item.colour === 'L');
    assert.equal(image.mode, item.mode);
    assert.equal(image.data.length, 4 * item.width * item.height);
    assert.equal(await alphaHash(image), item.alpha);
    if (!image.alpha) assert.ok(image.data.every((v, i) => i % 4 !== 3 || v === 255));
    for (const key of ['icc_profile', 'exif', 'xmp']) {
      assert.equal(image[key] === null ? null : sha256(image[key]), item[key], key);
    }
    const { differing, max } = pixelDifference(image, referencePixels(item.name));
    assert.ok(max <= 1, `a pixel differs by ${max} levels`);
    assert.ok(differing <= 0.01 * item.width * item.height, `${differing} pixels differ`);
    if (differing === 0) assert.equal(await pixelHash(image), item.pixels);
  });
}

test('strips: a tall image decoded in many strips gives the same pixels (to a level)', async () => {
  const image = await decode(stream('tall-q60'), { stripLatents: 8 * 12 });
  const { max } = pixelDifference(image, referencePixels('tall-q60'));
  assert.ok(max <= 1);
});

test('fp16 weights: a smaller download, pixels still within a level (on a few percent of them)', async () => {
  const image = await decode(stream('auto-q10'), { precision: 'fp16' });
  const { differing, max } = pixelDifference(image, referencePixels('auto-q10'));
  assert.ok(max <= 1, `max ${max}`);
  assert.ok(differing <= 0.05 * image.width * image.height, `${differing} differ`);
});

test('golden files: the version-2 ones carry what the Python decoder reads (alpha, profile, EXIF, XMP)', () => {
  const modes = Object.fromEntries(index.streams.filter((s) => s.name.startsWith('golden-')).map((s) => [s.name, s.mode]));
  assert.equal(modes['golden-rgba-meta-64x48-q50'], 'RGBA');
  assert.equal(modes['golden-la-40x24-q60'], 'LA');
  const rgba = index.streams.find((s) => s.name === 'golden-rgba-meta-64x48-q50');
  assert.ok(rgba.icc_profile && rgba.exif && rgba.xmp && rgba.format_version === 2);
});

test('every corrupt variant: the Python decoder\'s outcome (its error class, or the same image)', async () => {
  const mismatches = [];
  for (const item of index.corrupt) {
    const bytes = corruptBytes(item);
    let outcome;
    try {
      const image = await decode(bytes, { latents: true, realism: 0 });
      const hashes = await symbolHashes(image.latents);
      const same = hashes.symbols === item.symbols && hashes.latents === item.latents && image.mode === item.mode &&
        (await alphaHash(image)) === item.alpha;
      outcome = same ? 'image' : 'different image';
    } catch (error) {
      assert.ok(error instanceof SdpicError, `${item.name}: untyped ${error}`);
      outcome = error.name;
    }
    if (outcome !== item.outcome) mismatches.push(`${item.name}: ${outcome}, Python ${item.outcome}`);
  }
  assert.deepEqual(mismatches, []);
  assert.ok(index.corrupt.length > 400);
  const v2 = index.corrupt.filter((c) => c.name.startsWith('golden-rgba') || c.name.startsWith('golden-la'));
  assert.ok(v2.filter((c) => c.outcome === 'image' && c.alpha).length > 5 && v2.filter((c) => c.outcome === 'FormatError').length > 50);
});

test('inputs: an ArrayBuffer decodes; anything else is a FormatError', async () => {
  const bytes = stream('rgb-q50');
  const image = await decode(bytes.slice().buffer);
  assert.equal(image.width, 64);
  await assert.rejects(decode('SDPC'), FormatError);
  await assert.rejects(decode(stream('rgb-q50'), { precision: 'fp8' }), ParameterError);
  await assert.rejects(decode(stream('rgb-q50'), { synthesis: 'realism' }), UnknownModelError);
});

test('model bundles: a missing folder, and files that disagree with the manifest, are typed errors', async () => {
  await assert.rejects(decode(stream('rgb-q50'), { models: join(tmpdir(), 'no-such-sdpic-models') }), WeightsNotFoundError);
  const dir = await mkdtemp(join(tmpdir(), 'sdpic-models-'));
  temps.push(dir);
  await cp(fileURLToPath(DEFAULT_MODELS), dir, { recursive: true });
  const manifest = JSON.parse(await readFile(join(dir, 'sdpic.json'), 'utf8'));
  manifest.blob.bytes += 8;
  await writeFile(join(dir, 'sdpic.json'), JSON.stringify(manifest));
  await assert.rejects(decode(stream('rgb-q50'), { models: dir }), UnsafeWeightsError);
});

test('the WebP decoder\'s WebAssembly missing: a typed error for files with an alpha plane only', async () => {
  const { setWebpWasmUrl } = await import('../src/alpha.js');
  configureRuntime({ webpWasm: new URL('no-such-webp_dec.wasm', import.meta.url).href });
  try {
    await assert.rejects(decode(stream('golden-la-40x24-q60')),
      (e) => e instanceof SdpicError && !(e instanceof FormatError) && /WebP decoder's WebAssembly/.test(e.message));
    assert.equal((await decode(stream('golden-grey-37x29-q80'))).mode, 'L'); // no alpha plane: not needed
  } finally {
    setWebpWasmUrl(undefined);
  }
  assert.equal((await decode(stream('golden-la-40x24-q60'))).mode, 'LA');
});
