// The drop-a-file page: decode an .sdpic file into the canvas and show its size, bpp and decode time.

import { configureRuntime, drawToCanvas } from './sdpic.js';

const $ = (id) => document.getElementById(id);
const threads = globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
configureRuntime({ threads });
$('runtime').textContent = `WebAssembly, ${threads} thread${threads > 1 ? 's' : ''}` +
  (globalThis.crossOriginIsolated ? '' : ' (the page is not cross-origin isolated, so no threads)');

async function show(file) {
  document.body.dataset.state = 'decoding';
  $('error').hidden = true;
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const start = performance.now();
    const image = await drawToCanvas($('canvas'), bytes);
    const seconds = (performance.now() - start) / 1000;
    $('name').textContent = file.name;
    $('dims').textContent = `${image.width} × ${image.height}${image.greyscale ? ' (grey)' : ''}`;
    $('bytes').textContent = image.bytes.toLocaleString('en');
    $('bpp').textContent = image.bpp.toFixed(4);
    $('time').textContent = `${seconds.toFixed(2)} s`;
    $('model').textContent = image.model;
    $('result').hidden = false;
    document.body.dataset.state = 'done';
  } catch (error) {
    $('error').textContent = `${file.name}: ${error.name === 'Error' ? 'error' : error.name}: ${error.message}`;
    $('error').hidden = false;
    document.body.dataset.state = 'error';
  }
}

$('file').addEventListener('change', () => $('file').files[0] && show($('file').files[0]));
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
  if (file) show(file);
});
