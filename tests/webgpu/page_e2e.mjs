// page_e2e.mjs — headless Chromium (Debian's chromium, driven by playwright-core) on SwiftShader
// WebGPU uses the chat page (web/index.html) as a person would: it loads the project's trained
// model (models/fable-21m-q4_k_m) from a local HTTP server with download progress, chats (types
// a message, gets readable streamed text, tok/s shown), keeps a screenshot of the chat, reloads
// and gets the model from OPFS with zero shard requests (counted here, in the server), and
// deletes the model from the cache panel; web/README.md's JS API example also runs in the page. One chat only: SwiftShader compiles every pipeline
// on first use on each new device, which dominates the test's time.
// Usage: node tests/webgpu/page_e2e.mjs <wasm dist dir> <artifact dir>
// Exit: 0 pass, 1 fail, 77 no chromium or playwright-core.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './chromium.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '../..');
const [distDir, artDir] = process.argv.slice(2);
const out = (t) => fs.writeSync(1, t + '\n');
const MODEL = 'models/fable-21m-q4_k_m';
const WAIT = Number(process.env.DP_PAGE_WAIT_S ?? 600) * 1000;   // SwiftShader compiles each pipeline on first use: slow on a loaded machine
let fails = 0;
const check = (ok, what) => { out(`${ok ? 'ok' : 'FAIL'}: ${what}`); if (!ok) fails++; };
const readable = (t) => t.trim().length >= 4 && (t.match(/[A-Za-z .,;:'"!?\n-]/g) ?? []).length / t.length > 0.85 && /[A-Za-z]{2,}/.test(t);

// the repository root, with /web/dist/ from distDir; every request to the model counted
const types = { '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json' };
const hits = { model: 0, shards: 0 };
const server = http.createServer((req, res) => {
  const u = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  if (u.startsWith(`/${MODEL}/`)) { hits.model++; if (u.includes('/shards/')) hits.shards++; }
  let file = null;
  if (u.startsWith('/web/dist/')) file = path.join(distDir, u.slice('/web/dist/'.length));
  else file = path.join(root, u);
  if (u.includes('..') || !fs.existsSync(file) || !fs.statSync(file).isFile()) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream', 'content-length': fs.statSync(file).size });
  fs.createReadStream(file).pipe(res);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;

const browser = await launchChromium(out);
const logs = [];
const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
try {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const page = await context.newPage();
  page.on('console', (m) => logs.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  // every progress line the page shows
  await page.addInitScript(() => {
    window.__progress = [];
    new MutationObserver(() => {
      const t = document.getElementById('progress-text')?.textContent;
      if (t && window.__progress.at(-1) !== t) window.__progress.push(t);
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
  const ready = async (what) => {
    await page.waitForSelector('body[data-state="ready"], body[data-state="error"], body[data-state="lost"]', { timeout: WAIT });
    const state = await page.getAttribute('body', 'data-state');
    const err = await page.textContent('#error');
    check(state === 'ready', `${what}: page ${state} at ${secs()} s ${state === 'ready' ? '' : err}`);
    return state === 'ready';
  };
  const chat = async (text, what) => {
    const before = await page.locator('.msg.assistant').count();
    await page.fill('#max-tokens', '6');
    await page.fill('#temperature', '0');
    await page.click('#prompt');
    await page.keyboard.type(text);
    await page.keyboard.press('Enter');
    const reply = page.locator('.msg.assistant').nth(before);
    // streamed: text shows while the reply is still pending
    const streamed = await page.waitForFunction((i) => {
      const el = document.querySelectorAll('.msg.assistant')[i];
      return el && (el.classList.contains('pending') && el.firstChild?.textContent?.length > 0 ? 'streaming' : el.dataset.done || el.dataset.error ? 'done' : false);
    }, before, { timeout: WAIT, polling: 20 });
    const how = await streamed.jsonValue();
    await page.waitForFunction((i) => { const el = document.querySelectorAll('.msg.assistant')[i]; return el?.dataset.done || el?.dataset.error; }, before, { timeout: WAIT });
    const got = (await reply.evaluate((el) => el.firstChild?.textContent ?? '')).trim();
    check(!(await reply.getAttribute('data-error')), `${what}: reply without error ${await page.textContent('#error')}`);
    check(readable(got), `${what}: readable reply ${JSON.stringify(got)} (seen ${how === 'streaming' ? 'while streaming' : 'only when done'})`);
    const tps = await page.textContent('#tps');
    check(/[\d.]+ tok\/s/.test(tps), `${what}: tok/s shown (${tps})`);
    return how;
  };

  // 0. a storage quota too small for the model: the page explains it
  await page.goto(`${base}/web/index.html`);
  const url = await page.inputValue('#model-url');
  check(url === `${base}/${MODEL}/`, `the default model is the trained one (${url})`);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: base, quotaSize: 2e6 });
  await page.click('#load');
  await page.waitForSelector('body[data-state="error"], body[data-state="ready"]', { timeout: WAIT });
  const qerr = await page.textContent('#error');
  check((await page.getAttribute('#error', 'data-code')) === 'quota' && /quota exceeded.*uses .* of .*Delete cached models/s.test(qerr),
        `a 2 MB quota: the page explains it (${qerr})`);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: base });   // the browser's own quota again
  hits.model = hits.shards = 0;

  // 1. first visit: download with progress, load
  await page.click('#load');
  if (await ready('first load')) {
    const prog = await page.evaluate(() => window.__progress);
    const dl = prog.filter((t) => /^Downloading: [\d.]+ [KMG]?B of [\d.]+ [KMG]?B/.test(t));
    check(dl.length > 0 && dl.some((t) => /\/s/.test(t)), `download progress with bytes and rate (${dl.length} updates; last ${JSON.stringify(dl.at(-1))})`);
    check(prog.some((t) => /^Loading onto the GPU/.test(t)), `load progress (${JSON.stringify(prog.filter((t) => /^Loading/.test(t)).at(-1))})`);
    check(hits.shards === 1, `the shard was downloaded once (${hits.shards} shard requests)`);
    check((await page.getAttribute('#model-status', 'data-from-cache')) === '0', 'first load came from the network');
    const rows = await page.locator('#cache tbody tr[data-key]').count();
    check(rows === 1, `the cache panel lists the model (${await page.textContent('#cache tbody')})`);
    check(/uses .* of .* available/.test(await page.textContent('#quota')), `quota shown (${await page.textContent('#quota')})`);

    // 2. chat; screenshot
    const how = await chat('Tell me a story about a cat.', 'chat');
    check(how === 'streaming', 'text appeared before the reply finished (streamed)');
    fs.mkdirSync(artDir, { recursive: true });
    const shot = path.join(artDir, 'page-chat.png');
    await page.screenshot({ path: shot, fullPage: true });
    out(`screenshot: ${shot}`);

    // 3. reload: from OPFS, no shard request
    hits.model = hits.shards = 0;
    const tr = Date.now();
    await page.reload();
    if (await ready('reload')) {
      out(`reload to ready from OPFS: ${((Date.now() - tr) / 1000).toFixed(1)} s`);
      check(hits.shards === 0, `reload loaded the model with ${hits.shards} shard requests (${hits.model} requests for the model's files)`);
      check((await page.getAttribute('#model-status', 'data-from-cache')) === '1', `reload says it came from the cache (${await page.textContent('#model-status')})`);
      check(!(await page.isDisabled('#prompt')), 'the chat is ready after the reload');

      // 3b. web/README.md's example, run in the page as written but for the page's differences the
      // README names (a URL for the model, text to the page instead of process.stdout)
      const readme = fs.readFileSync(path.join(root, 'web/README.md'), 'utf8');
      const m = /<!-- example[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme);
      check(!!m, 'web/README.md has the example block');
      if (m) {
        const code = m[1]
          .replace(/import \{ createEngine \} from 'doppler-web';/, "const { createEngine } = await import('/web/index.mjs');")
          .replace(`'${MODEL}'`, `'${base}/${MODEL}/'`)
          .replaceAll('process.stdout.write(', '__out.push(')
          .replaceAll('console.log(', '__out.push(')
          .replaceAll('console.error(', '__progress.push(');
        check(!/process\.|import /.test(code), 'the example needs no other change to run in a page');
        hits.shards = 0;
        const tx = Date.now();
        const r = await page.evaluate(async (src) => {
          const __out = [], __progress = [];
          const AsyncFunction = (async () => {}).constructor;
          try { await new AsyncFunction('__out', '__progress', src)(__out, __progress); } catch (e) { return { error: `${e.name}: ${e.message}` }; }
          return { out: __out.map((x) => typeof x === 'string' ? x : JSON.stringify(x)), progress: __progress };
        }, code);
        out(`README example in the page (${((Date.now() - tx) / 1000).toFixed(1)} s): ${JSON.stringify(r).slice(0, 400)}`);
        check(!r.error, `the example ran in the page ${r.error ?? ''}`);
        if (!r.error) {
          const [first, usage, ...rest] = r.out;
          check(readable(first), `the example's completion is readable text: ${JSON.stringify(first)}`);
          check(/"completion_tokens":\d+/.test(usage), `the example printed the usage (${usage})`);
          check(readable(rest.join('')), `the example's stream is readable text: ${JSON.stringify(rest.join(''))}`);
          check(r.progress.some((t) => /Ready/.test(t)), `onProgress reported the load (${JSON.stringify(r.progress.at(-1))})`);
          check(hits.shards === 0, `the example loaded the model from OPFS (${hits.shards} shard requests)`);
        }
      }
    }

    // 4. delete from the cache panel
    await page.click('#cache tbody tr[data-key] button.delete');
    await page.waitForFunction(() => !document.querySelector('#cache tbody tr[data-key]'), null, { timeout: 30000 });
    const left = await page.evaluate(async () => {
      const names = [];
      try {
        const d = await (await navigator.storage.getDirectory()).getDirectoryHandle('doppler-models');
        for await (const [k] of d.entries()) names.push(k);
      } catch { /* none */ }
      return names;
    });
    check(left.length === 0, `deleted from the cache panel: OPFS holds ${JSON.stringify(left)}`);
    check((await page.getAttribute('body', 'data-state')) === 'idle', 'the page unloaded the deleted model');
  }
} catch (e) {
  check(false, `${e.message} at ${secs()} s`);
} finally {
  if (fails) out(logs.slice(-30).join('\n'));
  await browser.close();
  server.close();
}
out(`${fails ? `FAIL: ${fails} checks` : 'ok: all checks passed'} (${secs()} s)`);
process.exit(fails ? 1 : 0);
