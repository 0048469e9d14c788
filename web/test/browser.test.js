// The decoder and the page in headless Chromium (Debian's chromium, driven by playwright-core), served
// cross-origin isolated by scripts/serve.mjs: the fixtures' symbols, latents, alpha planes and pixels as in
// Node and Python, the corrupt variants' error classes, the realism decoder, and the drop-a-file page (what a
// file carries, the realism slider). Skipped without chromium.
// SDPIC_WEB_SCREENSHOT=path.png keeps a screenshot of the page showing a decoded file.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { CHROMIUM, launchChromium } from '../scripts/chromium.mjs';
import { createServer } from '../scripts/serve.mjs';
import { FIXTURES, index, realism } from './helpers.js';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const skip = !CHROMIUM ? 'needs Debian\'s chromium (apt-get install chromium; `make test` installs it as root)'
  : !existsSync(join(DIST, 'js', 'sdpic.js')) ? 'needs the browser build (npm run build)' : false;

let server;
let browser;
let profile;
let page;
let url;
const errors = [];

before(async () => {
  if (skip) return;
  server = createServer(DIST, { '/fixtures/': fileURLToPath(FIXTURES) });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${server.address().port}/`;
  profile = await mkdtemp(join(tmpdir(), 'sdpic-chromium-'));
  browser = await launchChromium(profile);
  page = await browser.newPage();
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(url);
});

after(async () => {
  await browser?.close();
  server?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

test('the page is cross-origin isolated: WebAssembly threads', { skip }, async () => {
  assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), true);
  assert.match(await page.textContent('#runtime'), /WebAssembly, \d+ thread/);
});

test('fixtures in Chromium: symbols and latents as Python\'s, pixels within a level', { skip }, async () => {
  const results = await page.evaluate(async (names) => {
    const sdpic = await import('/js/sdpic.js');
    const out = {};
    for (const name of names) {
      const bytes = new Uint8Array(await (await fetch(`/fixtures/${name}.sdpic`)).arrayBuffer());
      const reference = new Uint8Array(await (await fetch(`/fixtures/${name}.raw`)).arrayBuffer());
      const hashes = await sdpic.symbolHashes(await sdpic.decodeLatents(bytes));
      const image = await sdpic.decode(bytes, { realism: 0 });
      hashes.alpha = await sdpic.alphaHash(image);
      hashes.mode = image.mode;
      const channels = image.greyscale ? 1 : 3;
      let differing = 0;
      let max = 0;
      for (let p = 0; p < image.width * image.height; p++) {
        let d = 0;
        for (let c = 0; c < channels; c++) d = Math.max(d, Math.abs(image.data[4 * p + c] - reference[p * channels + c]));
        if (d) differing++;
        max = Math.max(max, d);
      }
      out[name] = { ...hashes, width: image.width, height: image.height, differing, max };
    }
    return out;
  }, index.streams.map((s) => s.name));
  for (const item of index.streams) {
    const r = results[item.name];
    assert.equal(r.symbols, item.symbols, item.name);
    assert.equal(r.latents, item.latents, item.name);
    assert.equal(r.alpha, item.alpha, item.name);
    assert.equal(r.mode, item.mode, item.name);
    assert.deepEqual([r.width, r.height], [item.width, item.height]);
    assert.ok(r.max <= 1 && r.differing <= 0.01 * item.width * item.height, `${item.name}: ${JSON.stringify(r)}`);
  }
});

test('corrupt variants in Chromium: each the Python decoder\'s outcome, nothing untyped', { skip }, async () => {
  const outcomes = await page.evaluate(async (items) => {
    const sdpic = await import('/js/sdpic.js');
    const out = [];
    for (const { data, symbols, alpha } of items) {
      const bytes = Uint8Array.from(atob(data), (ch) => ch.charCodeAt(0));
      try {
        const image = await sdpic.decode(bytes, { latents: true, realism: 0 });
        const hashes = await sdpic.symbolHashes(image.latents);
        out.push(hashes.symbols === symbols && (await sdpic.alphaHash(image)) === alpha ? 'image' : 'different image');
      } catch (error) {
        out.push(error instanceof sdpic.SdpicError ? error.name : `untyped ${error}`);
      }
    }
    return out;
  }, index.corrupt.map(({ data, symbols, alpha }) => ({ data, symbols, alpha: alpha ?? null })));
  assert.deepEqual(outcomes, index.corrupt.map((c) => c.outcome));
});

test('the realism decoder in Chromium: pixels within a level of Python\'s at realism 0.5 and 1', { skip: skip || !realism }, async () => {
  const results = await page.evaluate(async ({ cases, models }) => {
    const sdpic = await import('/js/sdpic.js');
    const out = [];
    for (const { name, realism, pixels_file: file } of cases) {
      const bytes = new Uint8Array(await (await fetch(`/fixtures/${name}.sdpic`)).arrayBuffer());
      const reference = new Uint8Array(await (await fetch(`/fixtures/${file}`)).arrayBuffer());
      const image = await sdpic.decode(bytes, { models, realism });
      let max = 0;
      for (let p = 0; p < image.width * image.height; p++) {
        for (let c = 0; c < 3; c++) max = Math.max(max, Math.abs(image.data[4 * p + c] - reference[3 * p + c]));
      }
      out.push({ name, realism: image.realism, max });
    }
    return out;
  }, { cases: realism.cases, models: `/fixtures/${realism.models}/` });
  assert.deepEqual(results.map((r) => r.realism), realism.cases.map((c) => c.realism));
  assert.ok(results.every((r) => r.max <= 1), JSON.stringify(results));
});

test('the page: drop a file, see it with its size, bpp and decode time; a bad file says why', { skip }, async () => {
  const item = index.streams.find((s) => s.name === 'auto-q10');
  await page.setInputFiles('#file', fileURLToPath(new URL(`${item.name}.sdpic`, FIXTURES)));
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, { timeout: 60_000 });
  assert.equal(await page.evaluate(() => document.body.dataset.state), 'done', await page.textContent('#error'));
  assert.equal(await page.textContent('#dims'), `${item.width} × ${item.height}`);
  assert.equal(await page.textContent('#bpp'), ((8 * item.bytes) / (item.width * item.height)).toFixed(4));
  assert.match(await page.textContent('#time'), /^\d+\.\d\d s$/);
  const canvas = await page.evaluate(() => [document.getElementById('canvas').width, document.getElementById('canvas').height]);
  assert.deepEqual(canvas, [item.width, item.height]);
  if (process.env.SDPIC_WEB_SCREENSHOT) await page.screenshot({ path: process.env.SDPIC_WEB_SCREENSHOT });

  const bad = index.corrupt.find((c) => c.outcome === 'TruncatedFileError');
  await page.setInputFiles('#file', { name: 'cut.sdpic', mimeType: 'application/octet-stream', buffer: Buffer.from(bad.data, 'base64') });
  await page.waitForFunction(() => document.body.dataset.state === 'error');
  assert.match(await page.textContent('#error'), /^cut\.sdpic: TruncatedFileError: stream ends inside/);
  assert.deepEqual(errors, []);
});

test('the page: what a file carries (alpha, ICC profile, EXIF, XMP); no realism slider without a realism decoder', { skip }, async () => {
  await page.setInputFiles('#file', fileURLToPath(new URL('golden-rgba-meta-64x48-q50.sdpic', FIXTURES)));
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state) && document.getElementById('name').textContent.startsWith('golden'), null, { timeout: 60_000 });
  assert.equal(await page.evaluate(() => document.body.dataset.state), 'done', await page.textContent('#error'));
  assert.equal(await page.textContent('#carries'), 'alpha, ICC profile “Display P3” (580 B), EXIF (288 B), XMP (426 B)');
  assert.equal(await page.isHidden('#realism-control'), true);
  // the canvas holds the alpha plane: a corner of the cut-out is transparent, its middle opaque
  const alpha = await page.evaluate(() => {
    const ctx = document.getElementById('canvas').getContext('2d');
    return [ctx.getImageData(0, 0, 1, 1).data[3], ctx.getImageData(32, 24, 1, 1).data[3]];
  });
  assert.deepEqual(alpha, [0, 255]);
  assert.deepEqual(errors, []);
});

test('the page with a realism decoder: a slider at the default realism that re-decodes', { skip: skip || !realism }, async () => {
  const other = await browser.newPage();
  try {
    await other.goto(`${url}?models=/fixtures/${realism.models}/`);
    await other.setInputFiles('#file', fileURLToPath(new URL('auto-q10.sdpic', FIXTURES)));
    await other.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, { timeout: 60_000 });
    assert.equal(await other.evaluate(() => document.body.dataset.state), 'done', await other.textContent('#error'));
    assert.equal(await other.isVisible('#realism-control'), true);
    assert.equal(await other.inputValue('#realism'), String(realism.default));
    const before = await other.evaluate(() => Array.from(document.getElementById('canvas').getContext('2d').getImageData(0, 0, 64, 64).data));
    await other.fill('#realism', '0');
    await other.dispatchEvent('#realism', 'change');
    await other.waitForFunction(() => document.body.dataset.state === 'done' && document.getElementById('realism-value').textContent === '0.00', null, { timeout: 60_000 });
    await other.waitForFunction(() => document.body.dataset.state === 'done', null, { timeout: 60_000 });
    const after = await other.evaluate(() => Array.from(document.getElementById('canvas').getContext('2d').getImageData(0, 0, 64, 64).data));
    assert.notDeepEqual(after, before);
    if (process.env.SDPIC_WEB_REALISM_SCREENSHOT) await other.screenshot({ path: process.env.SDPIC_WEB_REALISM_SCREENSHOT });
  } finally {
    await other.close();
  }
});
