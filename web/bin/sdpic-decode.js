#!/usr/bin/env node
// sdpic-decode IN.sdpic OUT.png: decode a file with the web decoder (in Node) and write a PNG, atomically
// (a temporary file beside it, then a rename); never over the input, never over a file without --force.

import { randomBytes } from 'node:crypto';
import { readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';

import { OutputExistsError, ParameterError, SdpicError, configureRuntime, decode } from '../src/index.js';
import { encodePng } from '../src/png.js';

const USAGE = `usage: sdpic-decode IN.sdpic OUT.png [--force] [--realism R] [--threads N] [--fp16] [--models DIR] [--quiet]

Decode an .sdpic file to PNG with the JavaScript decoder: RGB or greyscale, with the alpha plane where the
file has one (RGBA / grey + alpha), and its ICC profile, EXIF and XMP (iCCP, eXIf, iTXt chunks).
  --force       overwrite OUT if it exists (never IN)
  --realism R   0..1: 0 the model's faithful decoder, higher the realism decoder (default: the model's)
  --threads N   WebAssembly threads (default: the CPU count, at most 4)
  --fp16        the synthesis decoder's fp16 weights (a smaller download; pixels may move by a level)
  --models DIR  model bundle folder (default: the package's models/, built by \`sdpic export onnx\`)
  --quiet       print nothing on success`;

function parse(argv) {
  const args = { files: [], force: false, fp16: false, quiet: false, threads: undefined, models: undefined,
    realism: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') return { help: true };
    if (a === '--force') args.force = true;
    else if (a === '--fp16') args.fp16 = true;
    else if (a === '--quiet') args.quiet = true;
    else if (a === '--threads' || a === '--models' || a === '--realism') {
      if (i + 1 >= argv.length) throw new ParameterError(`${a} needs a value`);
      const value = argv[++i];
      if (a === '--threads') {
        if (!/^\d+$/.test(value)) throw new ParameterError(`--threads takes a positive integer, got ${value}`);
        args.threads = Number(value);
      } else if (a === '--realism') {
        if (!/^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(value)) {
          throw new ParameterError(`--realism takes a number in [0, 1], got ${value}`);
        }
        args.realism = Number(value);
      } else {
        args.models = resolve(value);
      }
    } else if (a.startsWith('-') && a !== '-') throw new ParameterError(`unknown option ${a}`);
    else args.files.push(a);
  }
  if (args.files.length !== 2) throw new ParameterError('expected IN.sdpic and OUT.png');
  return args;
}

async function exists(path) {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function main(argv) {
  const args = parse(argv);
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const [input, output] = args.files.map((f) => resolve(f));
  if (input === output) throw new OutputExistsError(`${args.files[1]}: refusing to overwrite an input file`);
  if (!args.force && (await exists(output))) throw new OutputExistsError(`${args.files[1]}: exists (use --force to overwrite)`);
  let bytes;
  try {
    bytes = new Uint8Array(await readFile(input));
  } catch (error) {
    throw new SdpicError(`${args.files[0]}: cannot read (${error.code ?? error.message})`);
  }
  configureRuntime({ threads: args.threads ?? Math.min(4, availableParallelism()) });
  const image = await decode(bytes, { precision: args.fp16 ? 'fp16' : 'fp32', models: args.models, realism: args.realism });
  const png = encodePng(image, (data) => deflateSync(data, { level: 6 }));
  const temp = join(dirname(output), `.${basename(output)}.${randomBytes(6).toString('hex')}.part`);
  try {
    await writeFile(temp, png, { flag: 'wx' });
    await rename(temp, output);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw new SdpicError(`${args.files[1]}: cannot write (${error.code ?? error.message})`);
  }
  if (!args.quiet) {
    const carried = [['ICC profile', image.icc_profile], ['EXIF', image.exif], ['XMP', image.xmp]]
      .filter(([, v]) => v).map(([k]) => k);
    console.log(`${args.files[0]} -> ${args.files[1]}: ${image.width}x${image.height} ${image.mode}, ` +
      `${image.bytes} bytes, ${image.bpp.toFixed(4)} bpp${image.realism > 0 ? `, realism ${image.realism}` : ''}` +
      `${carried.length ? `, with ${carried.join(', ')}` : ''}, decoded in ${(image.timings.total_ms / 1000).toFixed(2)} s`);
  }
  return 0;
}

let status;
try {
  status = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof ParameterError) {
    console.error(`sdpic-decode: error: ${error.message}\n\n${USAGE}`);
    status = 2;
  } else if (error instanceof SdpicError) {
    console.error(`sdpic-decode: error: ${error.message}`);
    status = 1;
  } else {
    console.error(`sdpic-decode: internal error: ${error?.stack ?? error}`);
    status = 70;
  }
}
// ONNX Runtime's worker threads would keep the process alive.
process.exit(status);
