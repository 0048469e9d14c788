// The web decoder's side of benchmarks/web_decoder.py (which writes the jobs and reads the results):
//
//   node scripts/bench.mjs JOB.json OUT.json
//
// JOB: {runtime: "node" | "chromium", threads, precision, stripLatents?, mode, dir, files: [...]}
//   mode "decode": each file {name, reference?, channels}: symbol/latent/pixel/alpha hashes and mode, pixels
//                  differing from the reference (the Python decoder's raw colour pixels), times; the first
//                  decode also loads the model. Realism `realism` (default 0: the pixels the Python records
//                  hash), with the bundles of `models` (a folder; default the package's).
//   mode "fuzz":   `cases` (a JSON file of [{name, data (base64)}]): each case's outcome (error class, or
//                  "image", its symbol and alpha hashes and mode) and time; an untyped exception is recorded as
//                  "untyped ..."
//   mode "sizes":  bytes, gzip and brotli sizes of what the page loads (dist/), the WebP decoder's WebAssembly,
//                  and a realism decoder's ONNX (`realism_bundle`, a bundle folder, where given)
//   mode "screenshot": the page with `files[0]` decoded, as a PNG at `out`
// Peak memory: Node's max RSS; in Chromium the renderer's peak RSS (VmHWM).

import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

import { launchChromium } from './chromium.mjs';
import { createServer } from './serve.mjs';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const [jobPath, outPath] = process.argv.slice(2);
const job = JSON.parse(await readFile(jobPath, 'utf8'));

// Runs in Node or in the page: decode one file and compare it with its reference.
async function decodeOne(sdpic, bytes, reference, channels, options) {
  const t0 = performance.now();
  const image = await sdpic.decode(bytes, { realism: 0, ...options, latents: Boolean(reference) });
  const seconds = (performance.now() - t0) / 1000;
  const out = { seconds, timings: image.timings, width: image.width, height: image.height, mode: image.mode };
  if (reference) {
    Object.assign(out, await sdpic.symbolHashes(image.latents));
    out.pixels = await sdpic.pixelHash(image);
    out.alpha = await sdpic.alphaHash(image);
    let differing = 0;
    let max = 0;
    const histogram = {};
    for (let p = 0; p < image.width * image.height; p++) {
      let d = 0;
      for (let c = 0; c < channels; c++) d = Math.max(d, Math.abs(image.data[4 * p + c] - reference[p * channels + c]));
      if (d) {
        differing++;
        histogram[d] = (histogram[d] ?? 0) + 1;
      }
      if (d > max) max = d;
    }
    Object.assign(out, { differing, max, histogram });
  }
  return out;
}

async function fuzzOne(sdpic, bytes) {
  const t0 = performance.now();
  let outcome;
  let symbols;
  let alpha;
  let mode;
  try {
    const image = await sdpic.decode(bytes, { latents: true, realism: 0 });
    symbols = (await sdpic.symbolHashes(image.latents)).symbols;
    alpha = await sdpic.alphaHash(image);
    mode = image.mode;
    outcome = 'image';
  } catch (error) {
    outcome = error instanceof sdpic.SdpicError ? error.name : `untyped ${error?.name}: ${error?.message}`;
  }
  return { outcome, symbols, alpha, mode, seconds: (performance.now() - t0) / 1000 };
}

const read = async (name) => new Uint8Array(await readFile(join(job.dir, name)));

async function runNode() {
  const sdpic = await import('../src/index.js');
  sdpic.configureRuntime({ threads: job.threads });
  const options = { precision: job.precision ?? 'fp32', stripLatents: job.stripLatents, realism: job.realism ?? 0,
    models: job.models };
  const results = [];
  if (job.mode === 'fuzz') {
    for (const item of JSON.parse(await readFile(join(job.dir, job.cases), 'utf8'))) {
      results.push({ name: item.name, ...(await fuzzOne(sdpic, new Uint8Array(Buffer.from(item.data, 'base64')))) });
    }
  } else {
    for (const file of job.files) {
      const reference = file.reference ? await read(file.reference) : null;
      const bytes = await read(file.name);
      const cpu = process.cpuUsage();
      const result = await decodeOne(sdpic, bytes, reference, file.channels, options);
      const used = process.cpuUsage(cpu);
      results.push({ name: file.name, ...result, cpu_seconds: (used.user + used.system) / 1e6 });
    }
  }
  return { results, peak_rss_mb: process.resourceUsage().maxRSS / 1024 };
}

/** Peak RSS (VmHWM) of the renderer processes of the Chromium whose command line names `profile`, in MB. */
async function rendererPeakMb(profile) {
  const procs = new Map();
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      // Chromium rewrites its process titles: the arguments may be one string with blanks
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split(/[\0 ]/);
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      procs.set(Number(pid), { ppid, cmdline });
    } catch {
      // the process ended meanwhile
    }
  }
  const roots = new Set([...procs].filter(([, p]) => p.cmdline.some((a) => a.includes(profile))).map(([pid]) => pid));
  const inTree = (pid) => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = procs.get(p)?.ppid ?? 0, hops++) if (roots.has(p)) return true;
    return false;
  };
  let peak = 0;
  for (const [pid, p] of procs) {
    if (!p.cmdline.includes('--type=renderer') || !inTree(pid)) continue;
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      peak = Math.max(peak, Number(/VmHWM:\s+(\d+)/.exec(status)[1]) / 1024);
    } catch {
      // the process ended meanwhile
    }
  }
  return peak;
}

async function withChromium(work) {
  const bench = await mkdtemp(join(tmpdir(), 'sdpic-bench-page-'));
  await writeFile(join(bench, 'index.html'), '<!doctype html><meta charset="utf-8"><title>bench</title>');
  const server = createServer(DIST, { '/files/': job.dir, '/bench/': bench });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  const profile = await mkdtemp(join(tmpdir(), 'sdpic-chromium-'));
  const browser = await launchChromium(profile);
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (error) => errors.push(error.message));
    return await work({ page, base, profile, errors });
  } finally {
    await browser.close();
    server.close();
    await rm(profile, { recursive: true, force: true });
    await rm(bench, { recursive: true, force: true });
  }
}

async function runChromium() {
  return withChromium(async ({ page, base, profile, errors }) => {
    await page.goto(`${base}/bench/`);
    const isolated = await page.evaluate(() => globalThis.crossOriginIsolated);
    await page.evaluate(async (threads) => {
      const sdpic = await import('/js/sdpic.js');
      sdpic.configureRuntime({ threads });
    }, job.threads);
    const options = { precision: job.precision ?? 'fp32', stripLatents: job.stripLatents };
    const results = [];
    for (const file of job.files) {
      const result = await page.evaluate(async ({ file, options, decodeSource }) => {
        const sdpic = await import('/js/sdpic.js');
        const decodeOne = new Function(`return ${decodeSource}`)();
        const bytes = new Uint8Array(await (await fetch(`/files/${file.name}`)).arrayBuffer());
        const reference = file.reference
          ? new Uint8Array(await (await fetch(`/files/${file.reference}`)).arrayBuffer()) : null;
        return decodeOne(sdpic, bytes, reference, file.channels, options);
      }, { file, options, decodeSource: decodeOne.toString() });
      results.push({ name: file.name, ...result });
    }
    return { results, cross_origin_isolated: isolated, renderer_peak_rss_mb: await rendererPeakMb(profile), errors };
  });
}

async function screenshot() {
  return withChromium(async ({ page, base, errors }) => {
    await page.goto(`${base}/`);
    await page.setInputFiles('#file', join(job.dir, job.files[0].name));
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, { timeout: 120_000 });
    await page.screenshot({ path: job.out, fullPage: true });
    const text = Object.fromEntries(await Promise.all(['dims', 'bytes', 'bpp', 'time', 'model', 'carries', 'runtime']
      .map(async (id) => [id, await page.textContent(`#${id}`)])));
    return { state: await page.evaluate(() => document.body.dataset.state), text, errors };
  });
}

async function sizes() {
  const files = ['index.html', 'style.css', 'js/page.js', 'js/sdpic.js', 'js/ort-wasm-simd-threaded.wasm', 'js/webp_dec.wasm'];
  const models = JSON.parse(await readFile(join(DIST, 'models', 'models.json'), 'utf8'));
  const out = { files: {} };
  const measure = async (name) => {
    const data = await readFile(join(DIST, name));
    out.files[name] = {
      bytes: data.length, gzip: gzipSync(data, { level: 9 }).length,
      brotli: brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
    };
  };
  for (const name of files) await measure(name);
  await measure('models/models.json');
  for (const { manifest } of models.models) {
    const m = JSON.parse(await readFile(join(DIST, 'models', manifest), 'utf8'));
    await measure(`models/${manifest}`);
    await measure(`models/${m.blob.file}`);
    for (const variant of ['fp32', 'fp16']) await measure(`models/${m.synthesis.default[variant].file}`);
  }
  if (job.realism_bundle) { // a realism decoder's graph (the same g_s architecture and a realism encoder)
    const m = JSON.parse(await readFile(join(job.realism_bundle, 'sdpic.json'), 'utf8'));
    const file = m.synthesis[m.realism.synthesis].fp32.file;
    const data = await readFile(join(job.realism_bundle, file));
    out.realism_onnx = { file, bytes: data.length, gzip: gzipSync(data, { level: 9 }).length,
      brotli: brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length };
  }
  out.git_commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  out.onnxruntime_web = JSON.parse(await readFile(fileURLToPath(new URL('../node_modules/onnxruntime-web/package.json',
    import.meta.url)), 'utf8')).version;
  out.dist_bytes_checked = (await stat(join(DIST, 'js', 'sdpic.js'))).size;
  return out;
}

const run = { sizes, screenshot }[job.mode] ?? (job.runtime === 'chromium' ? runChromium : runNode);
const result = await run();
await writeFile(outPath, `${JSON.stringify({ job: { ...job, files: job.files?.length }, ...result }, null, 1)}\n`);
process.exit(0);
