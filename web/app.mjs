// app.mjs — the chat page (index.html) over the JS API (index.mjs): model picker, download and
// load progress, the OPFS cache panel, streamed chat with tok/s and a stop button, and clear
// messages for GPU loss, out-of-memory and storage quota. The engine runs in a Web Worker.
// Query parameters: ?model=URL picks the model (default: the project's trained model when the
// page is served from the repository on this machine); a cached model loads at once.
// State for tests: body[data-state] is idle | loading | ready | generating | error | lost.
import { createEngine, fmtBytes, modelKey, opfsStore } from './index.mjs';

const $ = (id) => document.getElementById(id);
const store = opfsStore();
let engine = null;
let history = [];
let generating = false;

const setState = (s) => { document.body.dataset.state = s; };
const fmtRate = (r) => `${r < 10 ? r.toPrecision(2) : r.toFixed(0)} tok/s`;

function showError(e) {
  const box = $('error');
  if (!e) { box.hidden = true; box.textContent = ''; return; }
  box.hidden = false;
  box.textContent = e.message ?? String(e);
  box.dataset.code = e.code ?? '';
}

function defaultModel() {
  const q = new URLSearchParams(location.search).get('model');
  if (q) return new URL(q, location.href).href;
  if (['localhost', '127.0.0.1', '[::1]'].includes(location.hostname))
    return new URL('../models/fable-21m-q4_k_m/', location.href).href;
  return '';
}

function enableChat(on) {
  $('prompt').disabled = !on;
  $('send').disabled = !on || generating;
  $('stop').disabled = !generating;
}

async function refreshCache() {
  const tbody = $('cache').querySelector('tbody');
  let list = [];
  try { list = await store.list(); } catch (e) { $('quota').textContent = `Storage unavailable: ${e.message}`; return; }
  tbody.replaceChildren(...list.map((m) => {
    const tr = document.createElement('tr');
    tr.dataset.key = m.key;
    const name = document.createElement('td');
    name.textContent = m.url ?? m.key;
    name.title = m.key;
    if (!m.complete) name.textContent += ' (incomplete)';
    const size = document.createElement('td');
    size.textContent = fmtBytes(m.bytes);
    const del = document.createElement('button');
    del.className = 'secondary delete';
    del.textContent = 'Delete';
    del.addEventListener('click', () => removeModel(m.key));
    const act = document.createElement('td');
    act.append(del);
    tr.append(name, size, act);
    return tr;
  }));
  if (!list.length) {
    const tr = document.createElement('tr');
    tr.innerHTML = '<td colspan="3" class="muted">Nothing cached yet.</td>';
    tbody.append(tr);
  }
  try {
    const est = await navigator.storage.estimate();
    const persisted = await navigator.storage.persisted?.();
    $('quota').textContent = `This site uses ${fmtBytes(est.usage)} of ${fmtBytes(est.quota)} available to it` +
      (persisted ? ' (persistent).' : '. The browser may evict it under storage pressure.');
  } catch { $('quota').textContent = ''; }
}

async function removeModel(key) {
  showError(null);
  try {
    if (engine && engine.info?.key === key) await unload();
    await store.remove(key);
  } catch (e) {
    showError(new Error(`Could not delete ${key}: ${e.message}`));
  }
  await refreshCache();
}

async function unload() {
  const e = engine;
  engine = null;
  enableChat(false);
  if (e) await e.unload();
  $('model-status').textContent = 'No model loaded.';
  setState('idle');
}

async function load(url) {
  showError(null);
  if (engine) await unload();
  setState('loading');
  $('load').disabled = true;
  $('progress-box').hidden = false;
  $('progress').value = 0;
  $('progress-text').textContent = 'Starting…';
  $('model-status').textContent = '';
  try {
    navigator.storage.persist?.().catch(() => {});
    engine = await createEngine(url, {
      onProgress: (p) => {
        $('progress').value = p.total ? p.loaded / p.total : 0;
        $('progress-text').textContent = p.text;
        $('progress-box').dataset.phase = p.phase;
      },
      onDeviceLost: (err) => {
        showError(err);
        setState('lost');
        enableChat(false);
        engine = null;
        $('model-status').textContent = 'The GPU device was lost: load the model again.';
      },
    });
    const i = engine.info;
    $('model-status').textContent = `${i.model}: ${i.family}, ${(i.params / 1e6).toFixed(0)} M parameters, ${i.dtype}, ` +
      `${fmtBytes(i.weightBytes)} on the GPU, context ${i.nCtx} tokens; ${i.fromCache ? 'loaded from this browser\'s cache' : 'downloaded and cached'}.`;
    $('model-status').dataset.fromCache = i.fromCache ? '1' : '0';
    $('progress-box').hidden = true;
    setState('ready');
    enableChat(true);
    $('prompt').focus();
  } catch (e) {
    engine = null;
    $('progress-box').hidden = true;
    showError(e);
    setState('error');
  } finally {
    $('load').disabled = false;
    await refreshCache();
  }
}

function bubble(role, text) {
  const d = document.createElement('div');
  d.className = `msg ${role}`;
  d.textContent = text;
  $('messages').append(d);
  d.scrollIntoView({ block: 'end' });
  return d;
}

async function send() {
  const text = $('prompt').value.trim();
  if (!text || !engine || generating) return;
  showError(null);
  $('prompt').value = '';
  history.push({ role: 'user', content: text });
  bubble('user', text);
  const out = bubble('assistant', '');
  out.classList.add('pending');
  const body = document.createTextNode('');
  out.append(body);
  generating = true;
  setState('generating');
  enableChat(true);
  let reply = '', n = 0, t0 = 0, finish = null, usage = null;
  try {
    const stream = await engine.chat.completions.create({
      messages: history, stream: true, max_tokens: Number($('max-tokens').value) || 128,
      temperature: Number($('temperature').value), top_p: 0.95,
    });
    for await (const c of stream) {
      const delta = c.choices[0]?.delta?.content;
      if (delta) {
        if (!n) t0 = performance.now();
        n++;
        reply += delta;
        body.data = reply;
        if (n > 1) $('tps').textContent = fmtRate((n - 1) / ((performance.now() - t0) / 1000));
        out.scrollIntoView({ block: 'end' });
      }
      if (c.choices[0]?.finish_reason) { finish = c.choices[0].finish_reason; usage = c.usage; }
    }
    history.push({ role: 'assistant', content: reply });
    const tps = usage?.extra?.decode_tokens_per_s;
    if (tps) $('tps').textContent = fmtRate(tps);
    const note = { length: 'stopped at the token limit', abort: 'stopped' }[finish];
    if (note) out.append(Object.assign(document.createElement('span'), { className: 'note', textContent: note }));
    out.dataset.done = '1';
  } catch (e) {
    history.pop();
    out.classList.add('failed');
    out.append(Object.assign(document.createElement('span'), { className: 'note', textContent: `error: ${e.code ?? ''} ${e.code === 'device_lost' ? '(output ended here)' : ''}` }));
    out.dataset.error = '1';
    showError(e);
    if (e.code === 'device_lost') { engine = null; setState('lost'); }
  } finally {
    out.classList.remove('pending');
    generating = false;
    if (document.body.dataset.state === 'generating') setState('ready');
    enableChat(!!engine);
  }
}

$('model-form').addEventListener('submit', (ev) => { ev.preventDefault(); load($('model-url').value.trim()); });
$('chat-form').addEventListener('submit', (ev) => { ev.preventDefault(); send(); });
$('prompt').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey) { ev.preventDefault(); send(); }
});
$('stop').addEventListener('click', () => engine?.interruptGenerate());
$('clear').addEventListener('click', () => { history = []; $('messages').replaceChildren(); $('tps').textContent = ''; });

if (!navigator.gpu) {
  showError(new Error('This browser has no WebGPU. Use a recent Chrome or Edge (or Firefox / Safari with WebGPU enabled).'));
}
$('model-url').value = defaultModel();
await refreshCache();
// a model this browser already keeps loads at once (no download)
const cached = (await store.list().catch(() => [])).find((m) => m.complete && m.key === modelKey($('model-url').value));
if (cached && navigator.gpu) load($('model-url').value);
