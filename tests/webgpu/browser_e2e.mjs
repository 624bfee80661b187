// browser_e2e.mjs — headless Chromium (Debian's chromium, driven by playwright-core) on
// SwiftShader WebGPU loads a converted model through the token-id page (web/ids.html), generates
// greedily, and must get the same ids as the native CPU path (`doppler run --greedy`).
// Usage: node tests/webgpu/browser_e2e.mjs <doppler tool> <model dir> <web dir with dist/>
// Exit: 0 same ids, 1 different / error, 77 no chromium or playwright-core.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './chromium.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const [tool, modelDir, distDir] = process.argv.slice(2);
const webDir = path.join(here, '../../web');
const out = (t) => fs.writeSync(1, t + '\n');
const ids = '1 5 9 13 2 7';
const n = 12;

// native CPU reference
const want = execFileSync(tool, ['run', modelDir, '--ids', ids, '-n', String(n), '--greedy', '--print-ids', '--ignore-eos'], { encoding: 'utf8' }).trim();

// static files: the page from web/, doppler.wasm from distDir, the model under /models/m/
const types = { '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
const server = http.createServer((req, res) => {
  const u = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  let file = null;
  if (u.startsWith('/models/m/')) file = path.join(modelDir, u.slice('/models/m/'.length));
  else if (u.startsWith('/dist/')) file = path.join(distDir, u.slice('/dist/'.length));
  else if (!u.includes('..')) file = path.join(webDir, u === '/' ? 'index.html' : u);
  if (!file || u.includes('..') || !fs.existsSync(file) || !fs.statSync(file).isFile()) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
  fs.createReadStream(file).pipe(res);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const port = server.address().port;

let code = 1;
const browser = await launchChromium(out);
try {
  const page = await browser.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  const q = new URLSearchParams({ model: 'models/m/', ids: ids.replace(/ /g, ','), n: String(n), auto: '1' });
  await page.goto(`http://127.0.0.1:${port}/ids.html?${q}`);
  await page.waitForSelector('#result[data-done], #result[data-error]', { timeout: 240000 });
  const text = (await page.textContent('#result')).trim();
  const log = (await page.textContent('#log')).trim();
  out(log);
  const got = text.replace(/^ids: /, '');
  out(`browser: ${got}\nnative:  ${want}`);
  code = got === want ? 0 : 1;
  out(code ? 'FAIL: ids differ' : 'ok: same ids');
  if (code) out(logs.join('\n'));
} catch (e) {
  out(`FAIL: ${e.message}`);
} finally {
  await browser.close();
  server.close();
}
process.exit(code);
