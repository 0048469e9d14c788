// The command-line decoder: PNG files with the decoder's pixels (and alpha plane, ICC profile, EXIF and XMP
// where the file has them), atomic writes, never over the input or an existing file without --force, typed
// errors as one line and a non-zero status.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { inflateSync } from 'node:zlib';

import { FIXTURES, REALISM_MODELS, index, readPng, realism, realismPixels, referencePixels, sha256 } from './helpers.js';

const BIN = fileURLToPath(new URL('../bin/sdpic-decode.js', import.meta.url));
let dir;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sdpic-decode-'));
});
after(() => rm(dir, { recursive: true, force: true }));

async function run(...args) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { timeout: 120_000 });
    return { status: 0, stdout, stderr };
  } catch (error) {
    if (error.code === undefined || typeof error.code === 'string') throw error;
    return { status: error.code, stdout: error.stdout, stderr: error.stderr };
  }
}

const fixture = (name) => fileURLToPath(new URL(`${name}.sdpic`, FIXTURES));

test('decodes to a PNG with the decoder\'s pixels (RGB, and greyscale as one channel)', async () => {
  for (const name of ['mask-q30', 'grey-q80']) {
    const item = index.streams.find((s) => s.name === name);
    const out = join(dir, `${name}.png`);
    const { status, stdout } = await run(fixture(name), out, '--threads', '1');
    assert.equal(status, 0);
    assert.match(stdout, new RegExp(`${item.width}x${item.height}`));
    const png = readPng(new Uint8Array(await readFile(out)));
    assert.equal(png.width, item.width);
    assert.equal(png.channels, item.colour === 'L' ? 1 : 3);
    const reference = referencePixels(name);
    let max = 0;
    for (let i = 0; i < reference.length; i++) max = Math.max(max, Math.abs(png.pixels[i] - reference[i]));
    assert.ok(max <= 1);
  }
  assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.part')), []);
});

test('alpha and metadata: RGBA / grey + alpha PNGs with iCCP, eXIf and iTXt XML:com.adobe.xmp', async () => {
  for (const name of ['golden-rgba-meta-64x48-q50', 'golden-la-40x24-q60']) {
    const item = index.streams.find((s) => s.name === name);
    const out = join(dir, `${name}.png`);
    const { status, stdout } = await run(fixture(name), out, '--threads', '1');
    assert.equal(status, 0);
    assert.match(stdout, new RegExp(`${item.width}x${item.height} ${item.mode}`));
    const png = readPng(new Uint8Array(await readFile(out)));
    assert.equal(png.colourType, item.mode === 'RGBA' ? 6 : 4);
    const alpha = Uint8Array.from({ length: item.width * item.height }, (_, p) => png.pixels[p * png.channels + png.channels - 1]);
    assert.equal(sha256(alpha), item.alpha);
    const colour = png.channels - 1;
    const reference = referencePixels(name);
    let max = 0;
    for (let p = 0; p < item.width * item.height; p++) {
      for (let c = 0; c < colour; c++) max = Math.max(max, Math.abs(png.pixels[p * png.channels + c] - reference[p * colour + c]));
    }
    assert.ok(max <= 1);
    const { iCCP, eXIf, iTXt } = png.chunks;
    if (item.icc_profile) {
      const profile = iCCP[0].subarray(iCCP[0].indexOf(0) + 2); // name, NUL, compression method 0, zlib
      assert.equal(sha256(inflateSync(profile)), item.icc_profile);
      assert.equal(sha256(eXIf[0]), item.exif);
      const keyword = 'XML:com.adobe.xmp\0';
      assert.equal(Buffer.from(iTXt[0].subarray(0, keyword.length)).toString('latin1'), keyword);
      assert.equal(sha256(iTXt[0].subarray(keyword.length + 4)), item.xmp); // flag, method, two empty strings
    } else {
      assert.deepEqual([iCCP, eXIf, iTXt], [undefined, undefined, undefined]);
    }
  }
});

test('--realism: the realism decoder\'s pixels; a bad value is a command-line error', { skip: !realism }, async () => {
  const item = realism.cases.find((c) => c.realism === 1);
  const out = join(dir, 'realism.png');
  const { status, stdout } = await run(fixture(item.name), out, '--realism', '1', '--models', fileURLToPath(REALISM_MODELS), '--threads', '1');
  assert.equal(status, 0);
  assert.match(stdout, /realism 1/);
  const png = readPng(new Uint8Array(await readFile(out)));
  const reference = realismPixels(item.pixels_file);
  assert.ok(png.pixels.every((v, i) => Math.abs(v - reference[i]) <= 1));
  assert.equal((await run(fixture(item.name), join(dir, 'x.png'), '--realism', 'lots')).status, 2);
  const refused = await run(fixture(item.name), join(dir, 'x.png'), '--realism', '0.5');
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /has no realism decoder/);
});

test('refuses an existing output without --force, and the input always', async () => {
  const out = join(dir, 'exists.png');
  await writeFile(out, 'keep me');
  const refused = await run(fixture('rgb-q50'), out);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /exists \(use --force/);
  assert.equal(await readFile(out, 'utf8'), 'keep me');
  assert.equal((await run(fixture('rgb-q50'), out, '--force', '--quiet')).status, 0);
  assert.notEqual(await readFile(out, 'utf8'), 'keep me');
  const self = await run(fixture('rgb-q50'), fixture('rgb-q50'), '--force');
  assert.equal(self.status, 1);
  assert.match(self.stderr, /refusing to overwrite an input/);
});

test('a corrupt file is one error line and status 1; a bad command line status 2', async () => {
  const bad = join(dir, 'bad.sdpic');
  const item = index.corrupt.find((c) => c.outcome === 'ChecksumError');
  await writeFile(bad, Buffer.from(item.data, 'base64'));
  const corrupt = await run(bad, join(dir, 'bad.png'));
  assert.equal(corrupt.status, 1);
  assert.equal(corrupt.stderr.trim(), 'sdpic-decode: error: CRC-32 mismatch: the stream is corrupted');
  assert.equal((await run(fixture('rgb-q50'))).status, 2);
  assert.equal((await run(fixture('rgb-q50'), join(dir, 'x.png'), '--threads', 'many')).status, 2);
  assert.equal((await run(join(dir, 'missing.sdpic'), join(dir, 'x.png'))).status, 1);
});
