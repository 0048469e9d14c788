// The decoder and the page in headless Chromium (Debian's chromium, driven by playwright-core), served
// cross-origin isolated by scripts/serve.mjs: the fixtures' symbols, latents and pixels as in Node and
// Python, the corrupt variants' error classes, and the drop-a-file page. Skipped without chromium.
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
import { FIXTURES, index } from './helpers.js';

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
      const image = await sdpic.decode(bytes);
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
    assert.deepEqual([r.width, r.height], [item.width, item.height]);
    assert.ok(r.max <= 1 && r.differing <= 0.01 * item.width * item.height, `${item.name}: ${JSON.stringify(r)}`);
  }
});

test('corrupt variants in Chromium: each the Python decoder\'s outcome, nothing untyped', { skip }, async () => {
  const outcomes = await page.evaluate(async (items) => {
    const sdpic = await import('/js/sdpic.js');
    const out = [];
    for (const { data, symbols } of items) {
      const bytes = Uint8Array.from(atob(data), (ch) => ch.charCodeAt(0));
      try {
        const hashes = await sdpic.symbolHashes(await sdpic.decodeLatents(bytes));
        out.push(hashes.symbols === symbols ? 'image' : 'different image');
      } catch (error) {
        out.push(error instanceof sdpic.SdpicError ? error.name : `untyped ${error}`);
      }
    }
    return out;
  }, index.corrupt.map(({ data, symbols }) => ({ data, symbols })));
  assert.deepEqual(outcomes, index.corrupt.map((c) => c.outcome));
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
