// The drop-a-file page: decode an .sdpic file into the canvas and show its size, bpp, decode time and what
// it carries besides the pixels (alpha plane, ICC profile, EXIF, XMP); a realism slider where the file's
// model has a realism decoder. `?models=URL` reads the model bundles from another folder.

import { configureRuntime, drawToCanvas, iccDescription } from './sdpic.js';

const $ = (id) => document.getElementById(id);
const threads = globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
const models = new URLSearchParams(location.search).get('models') ?? undefined;
configureRuntime({ threads });
$('runtime').textContent = `WebAssembly, ${threads} thread${threads > 1 ? 's' : ''}` +
  (globalThis.crossOriginIsolated ? '' : ' (the page is not cross-origin isolated, so no threads)');

let current = null; // {name, bytes} of the file shown

/** What a decoded file carries besides its colour pixels, in words. */
function carried(image) {
  const parts = [];
  if (image.alpha) parts.push('alpha');
  if (image.icc_profile) {
    const name = iccDescription(image.icc_profile);
    parts.push(`ICC profile${name ? ` “${name}”` : ''} (${image.icc_profile.length.toLocaleString('en')} B)`);
  }
  if (image.exif) parts.push(`EXIF (${image.exif.length.toLocaleString('en')} B)`);
  if (image.xmp) parts.push(`XMP (${image.xmp.length.toLocaleString('en')} B)`);
  return parts.length ? parts.join(', ') : 'pixels only';
}

async function show(name, bytes, realism) {
  document.body.dataset.state = 'decoding';
  $('error').hidden = true;
  $('realism').disabled = true;
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
  try {
    const start = performance.now();
    const image = await drawToCanvas($('canvas'), bytes, { models, realism });
    const seconds = (performance.now() - start) / 1000;
    current = { name, bytes };
    $('name').textContent = name;
    $('dims').textContent = `${image.width} × ${image.height}${image.greyscale ? ' (grey)' : ''}`;
    $('bytes').textContent = image.bytes.toLocaleString('en');
    $('bpp').textContent = image.bpp.toFixed(4);
    $('time').textContent = `${seconds.toFixed(2)} s`;
    $('model').textContent = image.model;
    $('carries').textContent = carried(image);
    $('realism-control').hidden = !image.realism_decoder;
    $('realism').value = String(image.realism);
    $('realism-value').textContent = image.realism.toFixed(2);
    $('realism').disabled = false;
    $('result').hidden = false;
    document.body.dataset.state = 'done';
  } catch (error) {
    $('error').textContent = `${name}: ${error.name === 'Error' ? 'error' : error.name}: ${error.message}`;
    $('error').hidden = false;
    $('realism').disabled = false;
    document.body.dataset.state = 'error';
  }
}

async function open(file) {
  show(file.name, new Uint8Array(await file.arrayBuffer()));
}

$('file').addEventListener('change', () => $('file').files[0] && open($('file').files[0]));
$('realism').addEventListener('input', () => {
  $('realism-value').textContent = Number($('realism').value).toFixed(2);
});
$('realism').addEventListener('change', () => {
  if (current) show(current.name, current.bytes, Number($('realism').value));
});
const drop = $('drop');
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  const file = event.dataTransfer.files[0];
  if (file) open(file);
});
