// A static server for dist/ on this machine only, with the headers that make the page cross-origin isolated
// (so ONNX Runtime may use threads):  node scripts/serve.mjs [--port N] [--root DIR] [--mount /url/=DIR]...
// Also imported by the browser test (createServer).

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer as httpServer } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream',
  '.bin': 'application/octet-stream', '.sdpic': 'application/octet-stream', '.png': 'image/png',
};

/** An http.Server serving `root` at / and each mounts[prefix] (a folder) at its URL prefix. */
export function createServer(root, mounts = {}) {
  const folders = [...Object.entries(mounts), ['/', root]].map(([prefix, dir]) => [prefix, resolve(dir)]);
  return httpServer(async (request, response) => {
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store' };
    try {
      const path = decodeURIComponent(new URL(request.url, 'http://localhost').pathname);
      const [prefix, dir] = folders.find(([p]) => path.startsWith(p));
      let file = normalize(join(dir, path.slice(prefix.length)));
      if (!file.startsWith(dir)) throw new Error('outside the root');
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const info = await stat(file);
      response.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
        'Content-Length': info.size });
      createReadStream(file).pipe(response);
    } catch {
      response.writeHead(404, { ...headers, 'Content-Type': 'text/plain' });
      response.end('not found\n');
    }
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  let port = 8766;
  let root = fileURLToPath(new URL('../dist/', import.meta.url));
  const mounts = {};
  for (let i = 0; i < args.length; i += 2) {
    if (args[i] === '--port') port = Number(args[i + 1]);
    else if (args[i] === '--root') root = args[i + 1];
    else if (args[i] === '--mount') {
      const [prefix, dir] = args[i + 1].split('=');
      mounts[prefix] = dir;
    } else {
      console.error(`usage: node scripts/serve.mjs [--port N] [--root DIR] [--mount /url/=DIR]...`);
      process.exit(2);
    }
  }
  createServer(root, mounts).listen(port, '127.0.0.1', () => console.log(`sdpic web decoder: http://127.0.0.1:${port}/`));
}
