// Model bundles (`sdpic export onnx`): a folder with models.json (which bundle decodes which model id and
// weights hash) and, per model, its manifest, integer tables (.bin) and synthesis decoders (.onnx). Read
// with fetch in browsers and from the file system for file: URLs in Node; each is loaded once.

import { TableCoder } from './coder.js';
import { ModelMismatchError, ParameterError, UnknownModelError, UnsafeWeightsError, WeightsNotFoundError } from './errors.js';
import { ExactNetwork } from './exact.js';
import { OrtGemm } from './gemm.js';
import { runtime } from './runtime.js';
import { SynthesisDecoder } from './synthesis.js';

/** Where the bundles are unless a caller says: `models/` beside the package's folder of modules. */
export const DEFAULT_MODELS = new URL('../models/', import.meta.url);

const BUNDLE_FORMAT = 'sdpic-web-model';
const BUNDLE_VERSION = 1;

async function readBytes(url) {
  try {
    if (url.protocol === 'file:') {
      const { readFile } = await import('node:fs/promises');
      return new Uint8Array(await readFile(url));
    }
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    throw new WeightsNotFoundError(`cannot read ${url.href} (${error.message})`);
  }
}

async function readJson(url) {
  const bytes = await readBytes(url);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new UnsafeWeightsError(`${url.href} is not JSON`);
  }
}

const READERS = {
  uint16: [Uint16Array, 2, (v, o) => v.getUint16(o, true)],
  int16: [Int16Array, 2, (v, o) => v.getInt16(o, true)],
  int32: [Int32Array, 4, (v, o) => v.getInt32(o, true)],
  float64: [Float64Array, 8, (v, o) => v.getFloat64(o, true)],
};

/** The bundle's arrays (little-endian in the file) as typed arrays, by name. */
function arraysOf(blob, index) {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.length);
  const arrays = {};
  for (const [name, { dtype, shape, offset }] of Object.entries(index)) {
    const reader = READERS[dtype];
    const count = shape.reduce((a, b) => a * b, 1);
    if (!reader || offset + count * reader[1] > blob.length) throw new UnsafeWeightsError(`array ${name} lies outside the bundle`);
    const out = new reader[0](count);
    for (let i = 0; i < count; i++) out[i] = reader[2](view, offset + i * reader[1]);
    arrays[name] = out;
  }
  return arrays;
}

/**
 * The bundle's realism decoder, or null: {synthesis (the name of its synthesis entry, whose graph also takes
 * the realism map), default (the realism a decode uses unless asked), lift_span (sdpic.codec.realism.LIFT_SPAN)}.
 */
function realismOf(manifest) {
  const realism = manifest.realism ?? null;
  if (realism === null) return null;
  const entry = manifest.synthesis?.[realism.synthesis];
  if (!entry || entry.inputs?.length !== 3 || !(realism.default >= 0 && realism.default <= 1) || !(realism.lift_span > 0)) {
    throw new UnsafeWeightsError(`${manifest.name}: the manifest's realism decoder is malformed`);
  }
  return { synthesis: realism.synthesis, default: realism.default, lift_span: realism.lift_span };
}

export class Model {
  /** Built by loadModel: `manifest` (the JSON), `blob` (the .bin's bytes), `base` (the folder's URL). */
  constructor(manifest, blob, base, gemm) {
    if (manifest.format !== BUNDLE_FORMAT || manifest.version !== BUNDLE_VERSION) {
      throw new UnsafeWeightsError(`not a version-${BUNDLE_VERSION} model bundle: ${manifest.format} ${manifest.version}`);
    }
    if (blob.length !== manifest.blob.bytes) {
      throw new UnsafeWeightsError(`${manifest.blob.file} has ${blob.length} bytes, its manifest says ${manifest.blob.bytes}`);
    }
    this.manifest = manifest;
    this.base = base;
    this.name = manifest.name;
    this.config = manifest.config;
    this.constants = manifest.constants;
    this.minBits = manifest.min_bits;
    const arrays = arraysOf(blob, manifest.blob.arrays);
    const { tables } = manifest;
    const zShape = manifest.blob.arrays[tables.z_freqs].shape;
    this.zCoder = new TableCoder(arrays[tables.z_freqs], zShape[1], new Array(zShape[0]).fill(zShape[1]));
    this.zValueOffsets = Int32Array.from(arrays[tables.z_offsets], (o) => this.constants.z_half_width - o);
    const yShape = manifest.blob.arrays[tables.y_freqs].shape;
    this.yHalfWidths = arrays[tables.y_half_widths];
    this.yCoder = new TableCoder(arrays[tables.y_freqs], yShape[1], Array.from(this.yHalfWidths, (r) => 2 * r + 2));
    this.scaleThresholds = Float64Array.from(arrays[tables.y_scale_thresholds]);
    this.qualityMapTable = arrays[tables.quality_map];
    this.hyperSynthesis = new ExactNetwork(manifest.networks.hyper_synthesis, arrays, gemm);
    this.context = new ExactNetwork(manifest.networks.context, arrays, gemm);
    this.parameters = new ExactNetwork(manifest.networks.parameters, arrays, gemm);
    this.realism = realismOf(manifest);
    this.decoders = new Map();
  }

  /** The synthesis decoder `name` ("default", or another exported for these latents), fp32 or fp16 weights. */
  synthesis(name = 'default', precision = 'fp32') {
    const entry = this.manifest.synthesis[name];
    if (!entry) {
      throw new UnknownModelError(`model ${this.name} has no synthesis decoder ${name} (it has ${Object.keys(this.manifest.synthesis).join(', ')})`);
    }
    if (!entry[precision]) throw new ParameterError(`synthesis decoder ${name} has no ${precision} weights in this bundle`);
    const key = `${name}/${precision}`;
    if (!this.decoders.has(key)) {
      const load = (async () => {
        const ort = runtime();
        const bytes = await readBytes(new URL(entry[precision].file, this.base));
        if (bytes.length !== entry[precision].bytes) throw new UnsafeWeightsError(`${entry[precision].file} does not match its manifest`);
        const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
        return new SynthesisDecoder(ort, session, entry, this.config.latent_channels);
      })();
      load.catch(() => this.decoders.delete(key));
      this.decoders.set(key, load);
    }
    return this.decoders.get(key);
  }
}

const indexes = new Map();
const models = new Map();

function baseUrl(models) {
  if (models === undefined) return DEFAULT_MODELS;
  const url = models instanceof URL ? models : new URL(models, globalThis.location?.href ?? `file://${globalThis.process?.cwd?.() ?? ''}/`);
  return url.href.endsWith('/') ? url : new URL(`${url.href}/`);
}

async function cached(map, key, make) {
  if (!map.has(key)) {
    const promise = make();
    promise.catch(() => map.delete(key));
    map.set(key, promise);
  }
  return map.get(key);
}

/**
 * The model that decodes a stream's model id and weights hash, from the bundle folder `options.models`
 * (a URL or a path; default DEFAULT_MODELS). ModelMismatchError when the folder has no such model, or one
 * with other weights (the checks of the Python decoder, in its order).
 */
export async function loadModel(modelId, weightsHash, options = {}) {
  const base = baseUrl(options.models);
  const index = await cached(indexes, base.href, () => readJson(new URL('models.json', base)));
  const item = (index.models ?? []).find((m) => m.model_id === modelId);
  if (!item) throw new ModelMismatchError(`stream was made with model id ${modelId}, which this installation does not know`);
  if (item.weights_hash !== weightsHash) {
    throw new ModelMismatchError(`stream was made with other weights of model '${item.name}' (hash ${weightsHash}, ` +
      `installed ${item.weights_hash}); install the sdpic version that wrote it`);
  }
  return cached(models, `${base.href}#${item.name}`, async () => {
    const manifest = await readJson(new URL(item.manifest, base));
    const blob = await readBytes(new URL(manifest.blob.file, base));
    const gemm = await OrtGemm.create(runtime());
    return new Model(manifest, blob, base, gemm);
  });
}
