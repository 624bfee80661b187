#!/usr/bin/env node
// doppler.mjs — the `doppler` command line on the WebAssembly build under Node, WebGPU backend
// by default (Dawn from the `webgpu` package; SwiftShader when the machine has no GPU).
// Same arguments and output as the native tool for: eval, run, bench.
//
//   node web/doppler.mjs eval <model> --ids-file F --logits OUT
//   node web/doppler.mjs run <model> --ids "2 17 9" -n 16 --greedy --print-ids
//   node web/doppler.mjs bench <model> [-p 512] [-n 128] [-r 3] [--json]
//   node web/doppler.mjs run|bench <model> ... --draft DIR | --lookup N [--draft-max K] [--sweep]
//     (speculative decoding, greedy or sampled: the draft loads on the target's backend)
// Extra options (any command): --backend webgpu|cpu (default webgpu), --wasm FILE
// (default web/dist/doppler.wasm; `web/build.sh` makes it), --tune key=value[,key=value]
// (WebGPU experiment knobs: matvec_rows, matvec_tpr, matvec_unroll, fuse, act_quant, matvec_i8,
// matvec_sg, prefill_sgmat, prefill_tile, attn_flash, and the opt-in decode fusions fold_norm=1, attn_one_slice=256),
// --kernel op=file.wgsl (repeatable) / --kernels registry.json (candidate kernels, admitted only
// with a passing gate record beside them; docs/KERNELS.md).
//   node web/doppler.mjs kernels gate <model> --kernel op=file.wgsl [-n N] [-r R] [--out F]
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from './engine.mjs';
import { nodeWasi } from './wasi-host.mjs';
import { requestDevice } from './gpu.mjs';
import { modelWeightBytes, nativeCpuModel } from './native-ref.mjs';
import { gpuFromNode } from './node-gpu.mjs';
import { admitCandidates, auditLine, deviceClass, deviceClassHash, loadPolicy, parseKernelSpec, runGate, runTune, TUNE_GRID } from './kernels.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = (t) => fs.writeSync(1, t);
const err = (t) => fs.writeSync(2, t);

class Exit extends Error { constructor(code) { super(`exit ${code}`); this.code = code; } }
const usage = (u) => { err(`usage: doppler ${u}\n`); throw new Exit(2); };
const fail = (cmd, e) => { err(`doppler ${cmd}: ${e.message ?? e}\n`); throw new Exit(1); };

function intArg(cmd, opt, v, lo, hi) {
  const x = /^[+-]?\d+$/.test(v ?? '') ? Number(v) : NaN;
  if (!(x >= lo && x <= hi)) { err(`doppler ${cmd}: ${opt} needs an integer in [${lo}, ${hi}]\n`); throw new Exit(2); }
  return x;
}
function floatArg(cmd, opt, v) {
  const x = v !== undefined && v.trim() !== '' ? Number(v) : NaN;
  if (Number.isNaN(x)) { err(`doppler ${cmd}: ${opt} needs a number\n`); throw new Exit(2); }
  return x;
}

// as cli_parse_ids: non-negative decimal ids separated by spaces, tabs, newlines or commas
function parseIds(text) {
  const ids = [];
  for (const tok of text.split(/[ \t\r\n,]+/).filter(Boolean)) {
    if (!/^\+?\d+$/.test(tok) || Number(tok) > 0x7fffffff) return { error: `bad token id near '${tok.slice(0, 16)}'` };
    ids.push(Number(tok));
  }
  return { ids };
}

// a size as the native tool's --gpu-mem / --ram-cache take it: a number with an optional K/M/G/T
// suffix (powers of 1024, an optional "iB"/"B"); null when it is not one or is 0
function parseBytes(v) {
  const m = /^(\d+(?:\.\d+)?)([kmgt]?)(i?b)?$/i.exec(String(v).trim());
  if (!m) return null;
  const n = Number(m[1]) * 1024 ** ' kmgt'.indexOf(m[2].toLowerCase() || ' ');
  return n >= 1 && n < 1.8e19 ? Math.floor(n) : null;
}

// The paging lines of `run --verbose` and `bench` (the native tool's cli_paging_report), and the
// "paging" member of bench --json (cli_paging_json); tokens: positions evaluated.
function pagingLines(s, tokens) {
  const t = tokens > 0 ? tokens : 1, u = s.uses || 1, mib = (b) => (b / 1048576).toFixed(1);
  return `paging: ${s.policy}, ${s.ramSlots} RAM slots of ${mib(s.slotBytes)} MiB, ${s.deviceSlots} device slots\n` +
    `paging: ${s.uses} expert uses over ${tokens} tokens: device hits ${(100 * s.deviceHits / u).toFixed(1)} %, RAM hits ${(100 * s.ramHits / u).toFixed(1)} %, read from source ${(100 * s.sourceReads / u).toFixed(1)} %\n` +
    `paging: per token ${mib(s.sourceBytes / t)} MiB read from source, ${mib(s.deviceBytes / t)} MiB paged to the device, ${(1e3 * s.waitS / t).toFixed(1)} ms waiting for pages; top-2 expert share ${s.top2Share.toFixed(2)}\n`;
}
function pagingJson(s, tokens) {
  const t = tokens > 0 ? tokens : 1;
  return `,"paging":{"policy":"${s.policy}","ram_slots":${s.ramSlots},"slot_bytes":${s.slotBytes},"device_slots":${s.deviceSlots},` +
    `"uses":${s.uses},"device_hits":${s.deviceHits},"ram_hits":${s.ramHits},"source_reads":${s.sourceReads},"tokens":${tokens},` +
    `"source_bytes_per_token":${(s.sourceBytes / t).toFixed(0)},"device_bytes_per_token":${(s.deviceBytes / t).toFixed(0)},` +
    `"wait_ms_per_token":${(1e3 * s.waitS / t).toFixed(3)},"top2_share":${s.top2Share.toFixed(3)}}`;
}

// pulls --backend / --wasm out of argv (they are this host's options, not the tool's)
function hostOptions(argv) {
  const o = { backend: 'webgpu', wasm: path.join(here, 'dist/doppler.wasm'), kernels: [], kernelErrors: [], paging: {}, verbose: false };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--backend' && i + 1 < argv.length) o.backend = argv[++i];
    else if (argv[i] === '--tune-cache' && i + 1 < argv.length) o.tuneCache = argv[++i];
    else if (argv[i] === '--static' && i + 1 < argv.length) o.static = argv[++i];
    else if (argv[i] === '--pubkey' && i + 1 < argv.length) o.pubkey = argv[++i];
    else if (argv[i] === '--audit' && i + 1 < argv.length) o.audit = argv[++i];
    else if (argv[i] === '--kernel' && i + 1 < argv.length) {
      const c = parseKernelSpec(argv[++i]);
      if (c) o.kernels.push({ op: c.op, path: path.resolve(c.path) });
      else o.kernelErrors.push(`--kernel needs op=file.wgsl, not '${argv[i]}'`);
    } else if (argv[i] === '--kernels' && i + 1 < argv.length) {
      // registry file: {"kernels": {"<op>": "<path.wgsl>"}}, paths relative to it
      const f = path.resolve(argv[++i]);
      try {
        const j = JSON.parse(fs.readFileSync(f, 'utf8'));
        if (!j || typeof j.kernels !== 'object' || Array.isArray(j.kernels)) throw new Error('no "kernels" object');
        for (const [op, p] of Object.entries(j.kernels)) {
          if (typeof p !== 'string') throw new Error(`kernels.${op} is not a file name`);
          o.kernels.push({ op, path: path.resolve(path.dirname(f), p) });
        }
      } catch (e) { o.kernelErrors.push(`${f}: ${e.message}`); }
    }
    else if ((argv[i] === '--gpu-mem' || argv[i] === '--ram-cache') && i + 1 < argv.length) {
      const n = parseBytes(argv[i + 1]);
      if (n === null) o.kernelErrors.push(`${argv[i]}: '${argv[i + 1]}' is not a size in bytes (e.g. 8G, 512M)`);
      else o.paging[argv[i] === '--gpu-mem' ? 'gpuMem' : 'ramCache'] = n;
      i++;
    } else if (argv[i] === '--expert-policy' && i + 1 < argv.length) {
      const v = argv[++i];
      if (v !== 'lfu' && v !== 'lru') o.kernelErrors.push(`--expert-policy: '${v}' is not lfu or lru`);
      else o.paging.expertPolicy = v;
    } else if (argv[i] === '--verbose') o.verbose = true;
    else if (argv[i] === '--wasm' && i + 1 < argv.length) o.wasm = argv[++i];
    else if (argv[i] === '--tune' && i + 1 < argv.length) o.tune = argv[++i];
    else rest.push(argv[i]);
  }
  return { o, rest };
}

async function engine(cmd, o) {
  let wasm;
  try { wasm = fs.readFileSync(o.wasm); } catch (e) { fail(cmd, `${o.wasm}: ${e.message} (build it with web/build.sh)`); }
  let device = null, info = null;
  if (o.backend === 'webgpu') {
    try {
      const d = await requestDevice(await gpuFromNode());
      device = d.device;
      info = d.info;
    } catch (e) { fail(cmd, `webgpu: ${e.message}`); }
  }
  const eng = await Engine.create({ wasm, wasi: await nodeWasi(), device });
  eng.adapterInfo = info;
  eng.deviceClass = deviceClass(info);
  for (const m of o.kernelErrors) fail(cmd, m);
  if (!o.static !== !o.pubkey) fail(cmd, '--static BUNDLE needs --pubkey KEY (and --pubkey needs --static)');
  if (Object.keys(o.paging).length) {   // --gpu-mem / --ram-cache / --expert-policy: every model this engine loads
    const load = eng.loadModel.bind(eng);
    eng.loadModel = (dir, backend, threads, opts) => load(dir, backend, threads, { ...o.paging, ...opts });
  }
  let policy = null;
  if (o.static) {   // static mode: nothing outside the signed bundle runs (docs/KERNELS.md)
    const bundle = readText(o.static), pk = readText(o.pubkey);
    if (bundle === null) fail(cmd, `refused before loading: ${o.static}: cannot read`);
    if (pk === null) fail(cmd, `refused before loading: ${o.pubkey}: cannot read`);
    try { policy = await loadPolicy(eng, bundle, pk); } catch (e) { fail(cmd, `refused before loading: ${o.static}: ${e.message}`); }
  }
  if ((o.kernels.length || policy) && !o.gate && o.backend === 'webgpu') {
    // candidates that are refused leave the built-in kernel in place; the run goes on
    const reg = eng.kernels();
    eng.admitted = await admitCandidates(eng, reg, o.kernels, {
      say: (m) => err(`doppler ${cmd}: ${m}\n`), readText, devClass: eng.deviceClass,
    });
    if (policy) { try { policy.checkKernels(reg); } catch (e) { fail(cmd, `refused before loading: ${e.message}`); } }
    const load = eng.loadModel.bind(eng);
    eng.loadModel = (...a) => { const m = load(...a); m.useKernels(reg); return m; };
  } else if (o.kernels.length && !o.gate) {
    fail(cmd, '--kernel / --kernels replace WebGPU kernels (--backend webgpu)');
  }
  if (policy) {
    const load = eng.loadModel.bind(eng);
    eng.loadModel = (dir, ...a) => {
      try { policy.checkModel(dir); } catch (e) { fail(cmd, `refused before loading: ${e.message}`); }
      const m = load(dir, ...a);
      // adapters are not checked against the bundle on this host yet: refuse them in static mode
      m.loadAdapter = () => fail(cmd, '--lora is not available with --static on this host (the native tool checks adapters)');
      return m;
    };
  }
  if (o.tuneCache && !o.tune && o.backend === 'webgpu') {
    // the setting `kernels tune` found for this device class and model (docs/KERNELS.md)
    const cache = readText(o.tuneCache);
    let entries = [];
    try { entries = cache === null ? [] : JSON.parse(cache).entries ?? []; } catch (e) { fail(cmd, `${o.tuneCache}: ${e.message}`); }
    const dc = await deviceClassHash(eng.deviceClass);
    const load0 = eng.loadModel.bind(eng);
    eng.loadModel = (dir, ...a) => {
      const m = load0(dir, ...a);
      const hit = entries.find((x) => x.key === `${dc}:${modelId(dir)}`);
      m.tuneSetting(hit?.best);
      err(`doppler ${cmd}: tune cache: ${hit ? hit.best || 'the defaults (nothing faster passed the gate)' : 'no entry for this device class and model, defaults'}\n`);
      return m;
    };
  }
  if (o.tune) {   // applied to every model this engine loads
    const load = eng.loadModel.bind(eng);
    eng.loadModel = (...a) => {
      const m = load(...a);
      m.tuneSetting(o.tune);
      return m;
    };
  }
  return eng;
}

const abs = (p) => path.resolve(p);
const readText = (p) => { try { return fs.readFileSync(p, 'utf8'); } catch { return null; } };
// a model's id: SHA-256 of its manifest.json (throws when it cannot be read)
const modelId = (dir) => crypto.createHash('sha256').update(fs.readFileSync(path.join(abs(dir), 'manifest.json'))).digest('hex');
const modelIdOr = (cmd, dir) => { try { return modelId(dir); } catch (e) { return fail(cmd, `${dir}: ${e.message}`); } };

// The gate's CPU reference: the module's CPU backend, or the native tool (`doppler eval` / `run`,
// web/native-ref.mjs) when the weights would not fit in wasm32's 4 GiB or DOPPLER_CPU_REF=native.
// The native tool sets DOPPLER_NATIVE to itself when it runs this script.
function cpuReference(cmd, eng, model) {
  const big = modelWeightBytes(abs(model)) > 3.5 * 2 ** 30;
  if (!big && process.env.DOPPLER_CPU_REF !== 'native') return eng.loadModel(abs(model), 'cpu', 0);
  const bin = process.env.DOPPLER_NATIVE;
  if (!bin) fail(cmd, `${model}: the weights do not fit in WebAssembly's 4 GiB; the CPU reference needs the native tool (run this as \`doppler ${cmd}\`, or set DOPPLER_NATIVE)`);
  err(`doppler ${cmd}: CPU reference from the native tool (${bin})\n`);
  return nativeCpuModel(bin, abs(model));
}

function defaultTuneCache() {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'doppler', 'tune.json');
}

async function cmdTune(argv, o, U) {
  let model = null, nGen = 16, reps = 3, margin = 0.05, cacheFile = defaultTuneCache(), grid = TUNE_GRID;
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i], has = i + 1 < argv.length;
    if (a === '-n' && has) nGen = intArg('kernels tune', a, argv[++i], 1, 4096);
    else if (a === '-r' && has) reps = intArg('kernels tune', a, argv[++i], 1, 100);
    else if (a === '--speed-margin' && has) margin = floatArg('kernels tune', a, argv[++i]);
    else if (a === '--cache' && has) cacheFile = argv[++i];
    else if (a === '--grid' && has) grid = argv[++i].split(';').filter(Boolean);
    else if (a.startsWith('-') || model) usage(U);
    else model = a;
  }
  if (!model || o.kernels.length || o.tune || o.backend !== 'webgpu' || !(margin >= 0 && margin < 1)) usage(U);
  o.gate = true;
  const eng = await engine('kernels tune', o);
  const id = modelIdOr('kernels tune', model);
  let rec;
  try {
    rec = await runTune({
      devClass: eng.deviceClass, grid, nGen, reps, speedMargin: margin,
      model: { dir: model, id },
      load: (setting, backend) => {
        if (backend === 'cpu') return cpuReference('kernels tune', eng, model);
        const m = eng.loadModel(abs(model), backend, 0);
        m.tuneSetting(setting);
        return m;
      },
    });
  } catch (e) { if (e instanceof Exit) throw e; fail('kernels tune', e); }
  // the cache: one entry per (device class, model), the newest wins
  let cache = { format: 'doppler-tune-cache', version: 1, entries: [] };
  const old = readText(cacheFile);
  if (old !== null) { try { cache = JSON.parse(old); } catch (e) { fail('kernels tune', `${cacheFile}: ${e.message}`); } }
  cache.entries = (cache.entries ?? []).filter((x) => x.key !== rec.key).concat([rec]);
  fs.mkdirSync(path.dirname(path.resolve(cacheFile)), { recursive: true });
  fs.writeFileSync(cacheFile, JSON.stringify(cache, null, 1) + '\n');
  for (const r of rec.results) {
    out(`${r.tune}: ${r.admitted ? 'passes' : 'refused'} (${r.reason}); decode ${r.figures.decode_tps_candidate.toFixed(2)} tok/s vs defaults ${r.figures.decode_tps_builtin.toFixed(2)}\n`);
  }
  out(`best: ${rec.best || 'the defaults'} (cache: ${cacheFile})\n`);
}

async function cmdKernels(argv, o) {
  const U = 'kernels gate <model> --kernel op=file.wgsl [-n N] [-r reps] [--speed-margin F] [--out gate.json]\n' +
            '       doppler kernels tune <model> [--cache F] [--grid k=v;k=v] [-n N] [-r reps] [--speed-margin F]\n' +
            '       (list, show and verify are the native tool\'s: doppler kernels list)';
  if (argv[1] === 'tune') return cmdTune(argv, o, U);
  if (argv[1] !== 'gate') usage(U);
  let model = null, nGen = 16, reps = 3, margin = 0.05, outFile = null;
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i], has = i + 1 < argv.length;
    if (a === '-n' && has) nGen = intArg('kernels gate', a, argv[++i], 1, 4096);
    else if (a === '-r' && has) reps = intArg('kernels gate', a, argv[++i], 1, 100);
    else if (a === '--speed-margin' && has) margin = floatArg('kernels gate', a, argv[++i]);
    else if (a === '--out' && has) outFile = argv[++i];
    else if (a.startsWith('-') || model) usage(U);
    else model = a;
  }
  if (!model || o.kernels.length !== 1 || !(margin >= 0 && margin < 1)) usage(U);
  if (o.backend !== 'webgpu') fail('kernels gate', 'the gate compares WebGPU kernels (--backend webgpu)');
  o.gate = true;
  const eng = await engine('kernels gate', o);
  const cand = o.kernels[0];
  const id = modelIdOr('kernels gate', model);
  let rec;
  try {
    rec = await runGate({
      eng, cand, devClass: eng.deviceClass, nGen, reps, speedMargin: margin,
      model: { dir: model, id },
      load: (reg, backend) => {
        if (backend === 'cpu') return cpuReference('kernels gate', eng, model);
        const m = eng.loadModel(abs(model), backend, 0); if (reg) m.useKernels(reg); return m;
      },
    });
  } catch (e) { if (e instanceof Exit) throw e; fail('kernels gate', e); }
  const dest = outFile ?? `${cand.path}.gate.json`;
  fs.writeFileSync(dest, JSON.stringify(rec, null, 1) + '\n');
  const f = rec.figures;
  if (f) out(`logits: max |candidate - cpu| ${f.max_err_candidate.toExponential(3)} (built-in ${f.max_err_builtin.toExponential(3)}, tolerance ${f.tolerance.toExponential(3)}); ` +
             `greedy ids ${f.greedy_identical ? 'identical' : 'differ'}; decode ${f.decode_tps_candidate.toFixed(2)} tok/s vs ${f.decode_tps_builtin.toFixed(2)}\n`);
  out(`${rec.admitted ? 'admitted' : 'refused'}: ${cand.op}=${cand.path}: ${rec.reason} (record: ${dest})\n`);
  if (!rec.admitted) throw new Exit(1);
}

// --lora DIR[:scale], as the native tool: a suffix after the last ':' that reads as a number is
// the scale (default 1)
function loraArg(cmd, v, prev) {
  if (prev) { err(`doppler ${cmd}: --lora given twice (one adapter per context)\n`); throw new Exit(2); }
  const i = v.lastIndexOf(':'), tail = i > 0 ? v.slice(i + 1) : '';
  const m = /^([+-]?)(?:(nan)|(inf|infinity)|((?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?))$/i.exec(tail);
  if (!m) return { dir: v, scale: 1 };
  const scale = m[2] ? NaN : m[3] ? (m[1] === '-' ? -Infinity : Infinity) : Number(m[1] + m[4]);
  return { dir: v.slice(0, i), scale };
}
function useLora(m, c, lora) {
  if (!lora) return;
  c.setAdapter(m.loadAdapter(abs(lora.dir)), lora.scale);
}

// --draft DIR / --lookup N / --draft-max K, as the native tool's (tools/spec.c): true when
// argv[i] was one of them (i is then past its value)
function specArg(cmd, argv, at, sp) {
  const a = argv[at.i];
  if (at.i + 1 >= argv.length) return false;
  if (a === '--draft') sp.draft = argv[++at.i];
  else if (a === '--lookup') sp.lookup = intArg(cmd, a, argv[++at.i], 1, 16);
  else if (a === '--draft-max') sp.draftMax = intArg(cmd, a, argv[++at.i], 1, 32);
  else return false;
  return true;
}
const specOn = (sp) => sp.draft !== null || sp.lookup > 0;

// The target model, on a backend the draft shares when there is one (WebGPU needs both on one
// device); sp.draftModel is loaded beside it.
function loadWithDraft(eng, o, model, sp, threads) {
  const be = sp.draft !== null && o.backend === 'webgpu' ? eng.newBackend('webgpu') : null;
  const m = eng.loadModel(abs(model), be ?? o.backend, threads);
  if (sp.draft !== null) {
    try { sp.draftModel = eng.loadModel(abs(sp.draft), be ?? o.backend, threads); } catch (e) { throw new Error(`draft ${sp.draft}: ${e.message}`); }
  }
  return m;
}

// A Speculative for the target context c (the draft gets a context of nCtx positions).
function openSpec(c, sp, nCtx, { draftMax = sp.draftMax, adaptive = true } = {}) {
  if (sp.draftModel && !sp.draftCtx) sp.draftCtx = sp.draftModel.newContext({ nCtx });
  return c.speculative(sp.draftCtx ?? null, { draftMax, lookup: sp.lookup, adaptive });
}

// "<n> tokens in <p> target passes (<t> per pass), <a>/<q> proposals accepted (<r> %)"
function specReport(st) {
  const per = st.steps ? st.emitted / st.steps : 0, rate = st.proposed ? 100 * st.accepted / st.proposed : 0;
  return `${st.emitted} tokens in ${st.steps} target passes (${per.toFixed(2)} per pass), ${st.accepted}/${st.proposed} proposals accepted (${rate.toFixed(1)} %)`;
}

async function cmdEval(argv, o) {
  const U = 'eval <model> --ids-file F --logits OUT [-t threads] [--lora DIR[:scale]]';
  let model = null, idsFile = null, outFile = null, threads = 0, lora = null;
  for (let i = 1; i < argv.length; i++) {
    if (argv[i] === '--lora' && i + 1 < argv.length) { lora = loraArg('eval', argv[++i], lora); continue; }
    if (argv[i] === '--ids-file' && i + 1 < argv.length) idsFile = argv[++i];
    else if (argv[i] === '--logits' && i + 1 < argv.length) outFile = argv[++i];
    else if (argv[i] === '-t' && i + 1 < argv.length) threads = intArg('eval', '-t', argv[++i], 0, 1024);
    else if (argv[i].startsWith('-') || model) usage(U);
    else model = argv[i];
  }
  if (!model || !idsFile || !outFile) usage(U);
  let text;
  try { text = fs.readFileSync(idsFile, 'utf8'); } catch (e) { fail('eval', `${idsFile}: ${e.message}`); }
  const { ids, error } = parseIds(text);
  if (error || !ids.length) { err(`doppler eval: ${idsFile}: ${error ?? 'no token ids'}\n`); throw new Exit(1); }
  const eng = await engine('eval', o);
  try {
    const m = eng.loadModel(abs(model), o.backend, threads);
    const c = m.newContext({ nCtx: ids.length, logitsAll: true });
    useLora(m, c, lora);
    const logits = await c.eval(ids, { logits: true });
    fs.writeFileSync(outFile, Buffer.from(logits.buffer, logits.byteOffset, logits.byteLength));
  } catch (e) { if (e instanceof Exit) throw e; fail('eval', e); }
}

async function cmdRun(argv, o) {
  const U = 'run <model> (--ids "1 2 3" | --prompt TEXT) [-n N] [--greedy] [--temp T] [--top-k K] [--top-p P]\n' +
            '            [--seed S] [--print-ids] [--ignore-eos] [-t threads] [-c n_ctx] [--lora DIR[:scale]]\n' +
            '            [--draft DIR [--draft-max K] | --lookup N [--draft-max K]]';
  let model = null, idsText = null, prompt = null, lora = null;
  let nGen = 16, threads = 0, nCtx = 0, topK = 40, seed = 0, temp = 0.8, topP = 0.95;
  let printIds = false, ignoreEos = false;
  const sp = { draft: null, lookup: 0, draftMax: 0 };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i], has = i + 1 < argv.length, at = { i };
    if (specArg('run', argv, at, sp)) { i = at.i; continue; }
    if (a === '--ids' && has) idsText = argv[++i];
    else if (a === '--prompt' && has) prompt = argv[++i];
    else if (a === '-n' && has) nGen = intArg('run', a, argv[++i], 0, 1 << 24);
    else if (a === '-t' && has) threads = intArg('run', a, argv[++i], 0, 1024);
    else if (a === '-c' && has) nCtx = intArg('run', a, argv[++i], 1, 1 << 24);
    else if (a === '--top-k' && has) topK = intArg('run', a, argv[++i], 0, 1 << 24);
    else if (a === '--seed' && has) seed = intArg('run', a, argv[++i], 0, 0x7fffffff);
    else if (a === '--temp' && has) temp = floatArg('run', a, argv[++i]);
    else if (a === '--top-p' && has) topP = floatArg('run', a, argv[++i]);
    else if (a === '--lora' && has) lora = loraArg('run', argv[++i], lora);
    else if (a === '--greedy') temp = 0;
    else if (a === '--print-ids') printIds = true;
    else if (a === '--ignore-eos') ignoreEos = true;
    else if (a.startsWith('-') || model) usage(U);
    else model = a;
  }
  if (!model || (idsText === null) === (prompt === null) || (sp.draft !== null && sp.lookup)) usage(U);
  let ids = null;
  if (idsText !== null) {
    const r = parseIds(idsText);
    if (r.error || !r.ids.length) { err(`doppler run: --ids: ${r.error ?? 'no token ids'}\n`); throw new Exit(2); }
    ids = r.ids;
  }
  const eng = await engine('run', o);
  try {
    const m = loadWithDraft(eng, o, model, sp, threads);
    let tok = null;
    if (prompt !== null || !printIds) {
      try { tok = eng.loadTokenizer(abs(model)); } catch (e) { if (prompt !== null) throw e; printIds = true; }
    }
    if (prompt !== null) {
      ids = tok.encode(prompt);
      if (!ids.length && m.bos < 0) fail('run', 'the prompt is empty and the model has no BOS token to start from');
      if (!ids.length) ids = [m.bos];
    }
    const nc = nCtx > 0 ? nCtx : ids.length + nGen;
    const c = m.newContext({ nCtx: nc });
    useLora(m, c, lora);
    const spec = specOn(sp) ? openSpec(c, sp, nc) : null;
    if (printIds) out(ids.join(' '));
    else if (prompt !== null) out(prompt);
    // the library's loop: each step's evaluation is queued on the GPU before its id is read back
    let n = 0;
    const gen = [];
    const stop = await c.generate(ids, { nMax: nGen, temperature: temp, topK, topP, seed, ignoreEos, tokenizer: tok, spec }, (t) => {
      if (printIds && t.id >= 0) out(` ${t.id}`);
      else if (!printIds && t.text) out(t.text);
      if (t.id >= 0) { n++; gen.push(t.id); }
    });
    out('\n');
    if (spec) err(`doppler run: speculative (${sp.draft !== null ? 'draft' : 'lookup'}): ${specReport(spec.stats())}\n`);
    if (o.verbose && m.pagingStats().paged) err(pagingLines(m.pagingStats(), c.nEvaluated));
    if (o.audit) {   // one JSON line per generation, naming the kernels that ran
      const kernels = o.backend === 'webgpu' ? m.kernelsUsed() : [];
      fs.appendFileSync(o.audit, await auditLine({ modelId: modelId(model), kernels, sampling: { temperature: temp, topK, topP, seed }, prompt: ids, output: gen }));
    }
    if (stop === 'ctx_full') fail('run', `stopped after ${n} of ${nGen} tokens: the context of ${nc} tokens is full (raise -c)`);
  } catch (e) { if (e instanceof Exit) throw e; out('\n'); fail('run', e); }
}

const summarize = (v) => {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0;
  return { mean, sd };
};

async function cmdBench(argv, o) {
  const U = 'bench <model> [-p 512] [-n 128] [-t threads] [-r 3] [--json] [--profile] [--lora DIR[:scale]]\n' +
            '              [--draft DIR | --lookup N] [--draft-max K] [--sweep] [--prompt TEXT] [--configs "k=v,..;k=v,.."]';
  let model = null, nP = 512, nG = 128, threads = 0, reps = 3, json = false, profile = false, lora = null;
  let sweep = false, prompt = null;
  let configs = [null];   // --configs: the whole measurement once per --tune setting, one model load
  const sp = { draft: null, lookup: 0, draftMax: 0 };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i], has = i + 1 < argv.length, at = { i };
    if (specArg('bench', argv, at, sp)) { i = at.i; continue; }
    if (a === '--sweep') sweep = true;
    else if (a === '--prompt' && has) prompt = argv[++i];
    else if (a === '-p' && has) nP = intArg('bench', a, argv[++i], 0, 1 << 20);
    else if (a === '-n' && has) nG = intArg('bench', a, argv[++i], 0, 1 << 20);
    else if (a === '-t' && has) threads = intArg('bench', a, argv[++i], 0, 1024);
    else if (a === '-r' && has) reps = intArg('bench', a, argv[++i], 1, 1000);
    else if (a === '--json') json = true;
    else if (a === '--profile') profile = true;
    else if (a === '--lora' && has) lora = loraArg('bench', argv[++i], lora);
    else if (a === '--configs' && has) configs = argv[++i].split(';');
    else if (a.startsWith('-') || model) usage(U);
    else model = a;
  }
  if (!model || (sp.draft !== null && sp.lookup) || ((sweep || prompt !== null) && !specOn(sp)) || (specOn(sp) && lora)) usage(U);
  const eng = await engine('bench', o);
  if (specOn(sp)) return benchSpec(eng, o, { model, sp, nG, reps, threads, json, sweep, prompt });
  const now = () => performance.now() / 1000;
  try {
    const m = eng.loadModel(abs(model), o.backend, threads);
    const c = m.newContext({ nCtx: Math.max(nP, nG) + 1, nBatch: nP > 0 ? nP : 1 });
    const vocab = m.vocab;
    const ids = Array.from({ length: nP }, (_, i) => (i * 7919 + 13) % vocab);
    const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };
    const runPP = async (n) => {
      c.reset();
      const t0 = now();
      await c.eval(ids.slice(0, n), { wait: false });
      await c.sample(greedy);   // waits for the GPU
      return n / (now() - t0);
    };
    let hostS = 0, waitS = 0;   // decode: time in the module (recording) vs awaiting the GPU
    const runTG = async (n) => {   // n decode steps through the library's loop, as `run` does
      c.reset();
      const g = c.generator({ nMax: n, ignoreEos: true });
      const t0 = now();
      await g.prompt([1 % vocab]);
      for (let i = 0; i < n; i++) {
        let t = now();
        await g.begin();   // sampler, then the next step queued on the GPU (a paged model waits for its routing)
        hostS += now() - t;
        t = now();
        await eng.settle();
        waitS += now() - t;
        g.end();
      }
      const r = n / (now() - t0);
      g.free();
      return r;
    };
    // with --lora every rep runs without and then with the adapter (same load for both)
    const ad = lora ? m.loadAdapter(abs(lora.dir)) : null;
    const modes = ad ? [null, ad] : [null];
    const measure = async (cfg) => {
      m.tuneSetting(cfg);
      for (const mode of modes) {   // warm-up
        c.setAdapter(mode, lora ? lora.scale : 1);
        if (nP > 0) await runPP(Math.min(nP, 32));
        if (nG > 0) await runTG(Math.min(nG, 8));
      }
      hostS = waitS = 0;
      const pp = [], tg = [], lpp = [], ltg = [];
      const s0 = o.backend === 'webgpu' ? m.gpuStats() : null;
      let tgTokens = 0;
      for (let r = 0; r < reps; r++) {
        for (const mode of modes) {
          c.setAdapter(mode, lora ? lora.scale : 1);
          const h = hostS, w = waitS;
          if (nP > 0) (mode ? lpp : pp).push(await runPP(nP));
          if (nG > 0) (mode ? ltg : tg).push(await runTG(nG));
          if (mode) { hostS = h; waitS = w; } else if (nG > 0) tgTokens += nG;
        }
      }
      c.setAdapter(null);
      const s1 = o.backend === 'webgpu' ? m.gpuStats() : null;
      const hostMs = tgTokens ? hostS / tgTokens * 1000 : 0, waitMs = tgTokens ? waitS / tgTokens * 1000 : 0;
      // per-kernel GPU time over one more decode run (every dispatch in its own timed pass)
      // and over one more prompt (pp_profile: ms per prompt, not per token)
      let prof = null, ppProf = null;
      if (profile && o.backend === 'webgpu' && (nG > 0 || nP > 0)) {
        if (eng.gpu.setProfile(true)) {
          if (nG > 0) {
            eng.gpu.profileReset();
            await runTG(Math.min(nG, 32));
            await eng.settle();
            const toks = Math.min(nG, 32);
            prof = eng.gpu.profileReport().map((r) => ({ ...r, ms_per_token: r.ms / toks }));
          }
          if (nP > 0) {
            eng.gpu.profileReset();
            await runPP(nP);
            await eng.settle();
            ppProf = eng.gpu.profileReport();
          }
          eng.gpu.setProfile(false);
        } else {
          err('doppler bench: --profile needs the timestamp-query feature\n');
        }
      }
      const paging = m.pagingStats();   // since the load, warm-up included, over c.nEvaluated tokens
      const sp = summarize(pp.length ? pp : [0]), sg = summarize(tg.length ? tg : [0]);
      const lsp = summarize(lpp.length ? lpp : [0]), lsg = summarize(ltg.length ? ltg : [0]);
      const cost = (base, with_) => 100 * (base / with_ - 1);   // extra time per token, % of the base
      const gib = m.weightBytes / 1024 ** 3, paramsB = m.nParams / 1e9;
      const hw = o.backend === 'webgpu' && eng.adapterInfo
        ? [eng.adapterInfo.vendor, eng.adapterInfo.architecture, eng.adapterInfo.description].filter(Boolean).join(' ')
        : (os.cpus()[0]?.model ?? 'unknown cpu');
      const nthreads = threads > 0 ? threads : 1;
      // dispatches per generated token: measured over a separate short run of single steps
      let perTok = null, perTokLora = null;
      const countStep = async () => {
        c.reset();
        await c.eval([1 % vocab], { wait: false });
        await c.sample(greedy);
        const a = m.gpuStats(), xa = eng.gpu.stats.crossings;
        await c.eval([1 % vocab], { wait: false });
        await c.sample(greedy);
        const b = m.gpuStats();
        return { dispatches: b.dispatches - a.dispatches, submits: b.submits - a.submits, copies: b.copies - a.copies,
                 crossings: eng.gpu.stats.crossings - xa };
      };
      if (o.backend === 'webgpu' && nG > 0) {
        perTok = await countStep();
        if (ad) {   // and with the adapter
          c.setAdapter(ad, lora.scale);
          perTokLora = await countStep();
          c.setAdapter(null);
        }
      }
      if (json) {
        let j = `{"model":"${model}",${cfg !== null ? `"config":"${cfg}",` : ''}"family":"${m.family}","dtype":"${m.dtype}","params_b":${paramsB.toFixed(3)},"size_gib":${gib.toFixed(3)},` +
          `"backend":"${o.backend}","hardware":"${hw}","threads":${nthreads},"reps":${reps}`;
        if (nP > 0) j += `,"pp":{"n":${nP},"tps_mean":${sp.mean.toFixed(3)},"tps_sd":${sp.sd.toFixed(3)}}`;
        if (nG > 0) j += `,"tg":{"n":${nG},"tps_mean":${sg.mean.toFixed(3)},"tps_sd":${sg.sd.toFixed(3)}}`;
        if (perTok) j += `,"per_token":{"dispatches":${perTok.dispatches},"submits":${perTok.submits},"copies":${perTok.copies},"host_calls":${perTok.crossings}}`;
        if (nG > 0) j += `,"tg_weight_gbps":${(m.weightBytes * sg.mean / 1e9).toFixed(1)},"tg_host_ms_per_token":${hostMs.toFixed(3)},"tg_wait_ms_per_token":${waitMs.toFixed(3)}`;
        if (ad) {
          j += `,"lora":{"dir":"${lora.dir}","scale":${lora.scale}`;
          if (nP > 0) j += `,"pp":{"n":${nP},"tps_mean":${lsp.mean.toFixed(3)},"tps_sd":${lsp.sd.toFixed(3)},"cost_pct":${cost(sp.mean, lsp.mean).toFixed(2)}}`;
          if (nG > 0) j += `,"tg":{"n":${nG},"tps_mean":${lsg.mean.toFixed(3)},"tps_sd":${lsg.sd.toFixed(3)},"cost_pct":${cost(sg.mean, lsg.mean).toFixed(2)}}`;
          if (perTokLora) j += `,"per_token":{"dispatches":${perTokLora.dispatches},"submits":${perTokLora.submits},"copies":${perTokLora.copies},"host_calls":${perTokLora.crossings}}`;
          j += '}';
        }
        if (paging?.paged) j += pagingJson(paging, c.nEvaluated);
        if (prof) j += `,"profile":[${prof.map((r) => `{"kernel":"${r.name}","calls":${r.calls},"ms_per_token":${r.ms_per_token.toFixed(4)},"us_per_call":${r.us_per_call.toFixed(2)}}`).join(',')}]`;
        if (ppProf) j += `,"pp_profile":[${ppProf.map((r) => `{"kernel":"${r.name}","calls":${r.calls},"ms":${r.ms.toFixed(4)},"us_per_call":${r.us_per_call.toFixed(2)}}`).join(',')}]`;
        out(j + '}\n');
      } else {
        out(`model: ${model} (${m.family}, ${m.dtype}, ${paramsB.toFixed(3)} B params, ${gib.toFixed(2)} GiB)\n` +
            `hardware: ${hw}, backend ${o.backend}, ${nthreads} threads, ${reps} reps\n`);
        if (ad) out(`lora: ${lora.dir} (scale ${lora.scale})\n`);
        out('| test        |            t/s |\n|-------------|----------------|\n');
        const row = (name, s) => out(`| ${name.padEnd(11)} | ${s.mean.toFixed(2).padStart(8)} ± ${s.sd.toFixed(2).padStart(5)} |\n`);
        if (nP > 0) row(`pp${nP}`, sp);
        if (nG > 0) row(`tg${nG}`, sg);
        if (ad && nP > 0) row(`pp${nP} +lora`, lsp);
        if (ad && nG > 0) row(`tg${nG} +lora`, lsg);
        if (ad && nG > 0) out(`lora cost per generated token: ${cost(sg.mean, lsg.mean) >= 0 ? '+' : ''}${cost(sg.mean, lsg.mean).toFixed(1)} % time\n`);
        if (ad && nP > 0) out(`lora cost per prompt token: ${cost(sp.mean, lsp.mean) >= 0 ? '+' : ''}${cost(sp.mean, lsp.mean).toFixed(1)} % time\n`);
        if (perTok) out(`per token: ${perTok.dispatches} dispatches, ${perTok.submits} submits, ${perTok.copies} copies, ${perTok.crossings} calls into the host\n`);
        if (perTokLora) out(`per token +lora: ${perTokLora.dispatches} dispatches, ${perTokLora.submits} submits, ${perTokLora.copies} copies, ${perTokLora.crossings} calls into the host\n`);
        if (nG > 0) out(`tg weight bandwidth: ${(m.weightBytes * sg.mean / 1e9).toFixed(1)} GB/s (weights read once per token)\n` +
                        `tg per token: ${hostMs.toFixed(3)} ms recording in the module, ${waitMs.toFixed(3)} ms awaiting the GPU\n`);
        if (paging?.paged) out(pagingLines(paging, c.nEvaluated));
        if (prof) {
          out('| kernel (GPU time, each dispatch in its own pass) | calls/token | ms/token | us/call |\n|---|---:|---:|---:|\n');
          const toks = Math.min(nG, 32);
          for (const r of prof) out(`| ${r.name} | ${(r.calls / toks).toFixed(1)} | ${r.ms_per_token.toFixed(3)} | ${r.us_per_call.toFixed(1)} |\n`);
        }
        if (ppProf) {
          out(`| kernel (GPU time over one pp${nP}, each dispatch in its own pass) | calls | ms | us/call |\n|---|---:|---:|---:|\n`);
          for (const r of ppProf) out(`| ${r.name} | ${r.calls} | ${r.ms.toFixed(3)} | ${r.us_per_call.toFixed(1)} |\n`);
        }
      }
      void s0; void s1; void tgTokens;
    };
    for (const cfg of configs) {
      // each setting's keys stay set for the next ones: give every key each setting changes
      if (cfg !== null && configs.length > 1) {   // one setting failing leaves the others measured
        try { await measure(cfg); } catch (e) {
          if (e instanceof Exit) throw e;
          const msg = String(e.message ?? e).replace(/["\\]/g, "'").split('\n')[0];
          out(json ? `{"model":"${model}","config":"${cfg}","error":"${msg}"}\n` : `config ${cfg}: FAILED ${msg}\n`);
          c.reset();
        }
      } else {
        await measure(cfg);
      }
    }
    if (ad) ad.free();
  } catch (e) { if (e instanceof Exit) throw e; fail('bench', e); }
}

const SPEC_PROMPT = 'NAME\n       ls - list directory contents\n\nSYNOPSIS\n       ls [OPTION]... [FILE]...\n\nDESCRIPTION\n' +
  '       List information about the FILEs (the current directory by default).';

// bench --draft / --lookup: plain greedy decode of the target and speculative decoding side by
// side (as the native tools/bench_spec.c): n tokens after the same prompt, generation timed (the
// prompt evaluated first, untimed; one untimed warm-up per row). Rows: plain, then with --sweep
// K = 1..draft-max fixed, then adaptive. Each row reports acceptance, tokens per target pass,
// tokens/s, the speedup, whether the ids equal plain decode's, and (WebGPU) readbacks per pass.
async function benchSpec(eng, o, { model, sp, nG, reps, threads, json, sweep, prompt }) {
  const now = () => performance.now() / 1000;
  try {
    const m = loadWithDraft(eng, o, model, sp, threads);
    let ids;
    try { ids = eng.loadTokenizer(abs(model)).encode(prompt ?? SPEC_PROMPT); } catch (e) {
      if (prompt !== null) throw e;
      ids = Array.from({ length: 64 }, (_, i) => (i * 7919 + 13) % m.vocab);
    }
    if (!ids.length) throw new Error('the prompt has no tokens');
    const nCtx = ids.length + nG + 1;
    const c = m.newContext({ nCtx });
    const gpu = o.backend === 'webgpu';
    const runOnce = async (spec) => {   // one timed generation: [tok/s, ids, reads]
      c.reset();
      const g = c.generator({ nMax: nG, ignoreEos: true, spec });
      const got = [];
      try {
        await g.prompt(ids);
        await eng.settle();
        if (spec) spec.resetStats();
        const r0 = gpu ? m.gpuStats().reads : 0, t0 = now();
        for (;;) {
          const t = await g.step();
          if (t.id >= 0) got.push(t.id);
          if (t.stop !== 'running') break;
        }
        const dt = now() - t0;
        return [got.length / dt, got, gpu ? m.gpuStats().reads - r0 : 0];
      } finally { g.free(); }
    };
    const rows = [];
    const row = async (k, adaptive) => {
      const spec = k ? openSpec(c, sp, nCtx, { draftMax: k, adaptive }) : null;
      try {
        const tps = [];
        let got = null, reads = 0;
        for (let r = 0; r <= reps; r++) {
          const [t, g, rd] = await runOnce(spec);
          if (r > 0) { tps.push(t); got = g; reads = rd; }
        }
        const st = spec ? spec.stats() : { steps: got.length, proposed: 0, accepted: 0, emitted: got.length };
        rows.push({ k, adaptive, tps: summarize(tps), ids: got, accept: st.proposed ? st.accepted / st.proposed : 0,
                    perPass: st.steps ? st.emitted / st.steps : 1, readsPerPass: st.steps ? reads / st.steps : 0 });
      } finally { if (spec) spec.free(); }
    };
    const kmax = sp.draftMax > 0 ? sp.draftMax : 8;
    await row(0, false);
    if (sweep) for (let k = 1; k <= kmax; k++) await row(k, false);
    await row(kmax, true);
    const plain = rows[0], same = (r) => r.ids.length === plain.ids.length && r.ids.every((v, i) => v === plain.ids[i]);
    const hw = gpu && eng.adapterInfo
      ? [eng.adapterInfo.vendor, eng.adapterInfo.architecture, eng.adapterInfo.description].filter(Boolean).join(' ')
      : (os.cpus()[0]?.model ?? 'unknown cpu');
    const d = sp.draftModel;
    if (json) {
      let j = `{"model":"${model}","family":"${m.family}","dtype":"${m.dtype}","params_b":${(m.nParams / 1e9).toFixed(3)},`;
      j += d ? `"draft":"${sp.draft}","draft_family":"${d.family}","draft_dtype":"${d.dtype}","draft_params_b":${(d.nParams / 1e9).toFixed(3)},`
             : `"lookup":${sp.lookup},`;
      j += `"backend":"${o.backend}","hardware":"${hw}","reps":${reps},"prompt_tokens":${ids.length},"n":${nG},"temperature":0,` +
           `"plain":{"tps_mean":${plain.tps.mean.toFixed(3)},"tps_sd":${plain.tps.sd.toFixed(3)}},"speculative":[`;
      j += rows.slice(1).map((r) => `{"k":${r.k},"adaptive":${r.adaptive},"acceptance":${r.accept.toFixed(4)},"tokens_per_pass":${r.perPass.toFixed(3)},` +
        `"tps_mean":${r.tps.mean.toFixed(3)},"tps_sd":${r.tps.sd.toFixed(3)},"speedup":${(r.tps.mean / plain.tps.mean).toFixed(3)},` +
        `"identical":${same(r)}${gpu ? `,"readbacks_per_pass":${r.readsPerPass.toFixed(3)}` : ''}}`).join(',');
      out(j + ']}\n');
      return;
    }
    out(`target: ${model} (${m.family}, ${m.dtype}, ${(m.nParams / 1e9).toFixed(3)} B params)\n` +
        (d ? `draft:  ${sp.draft} (${d.family}, ${d.dtype}, ${(d.nParams / 1e9).toFixed(3)} B params)\n`
           : `draft:  prompt lookup, n-grams of up to ${sp.lookup} tokens\n`) +
        `hardware: ${hw}, backend ${o.backend}, ${reps} reps; ${ids.length} prompt tokens, ${nG} generated, greedy\n` +
        `| decode      |   K | accepted | tokens/pass |            t/s | speedup | output    |${gpu ? ' readbacks/pass |' : ''}\n` +
        `|-------------|-----|----------|-------------|----------------|---------|-----------|${gpu ? '----------------|' : ''}\n`);
    for (const r of rows) {
      const k = r.k ? `${r.adaptive ? '<=' : ''}${r.k}` : '-', acc = r.k ? `${(100 * r.accept).toFixed(1)} %` : '-';
      out(`| ${(!r.k ? 'plain' : r.adaptive ? 'adaptive' : 'fixed').padEnd(11)} | ${k.padStart(3)} | ${acc.padStart(8)} | ${r.perPass.toFixed(2).padStart(11)} | ` +
          `${r.tps.mean.toFixed(2).padStart(8)} ± ${r.tps.sd.toFixed(2).padStart(5)} | ${(r.tps.mean / plain.tps.mean).toFixed(2).padStart(7)} | ` +
          `${!r.k ? 'reference' : same(r) ? 'identical' : 'DIFFERENT'} |${gpu ? ` ${r.readsPerPass.toFixed(2).padStart(14)} |` : ''}\n`);
    }
  } catch (e) { if (e instanceof Exit) throw e; fail('bench', e); }
}

const COMMANDS = {
  eval: [cmdEval, 'eval <model> --ids-file F --logits OUT   one forward pass, raw f32 logits'],
  run: [cmdRun, 'run <model> (--ids "1 2 3" | --prompt TEXT) [-n N] [--greedy] [--print-ids] [--draft DIR | --lookup N]'],
  bench: [cmdBench, 'bench <model> [-p 512] [-n 128] [-t threads] [-r reps] [--json] [--draft DIR | --lookup N] [--sweep]'],
  kernels: [cmdKernels, 'kernels gate <model> --kernel op=file.wgsl   the parity gate (docs/KERNELS.md)'],
};

function printUsage(write) {
  write('usage: doppler <command> [args]   (WebAssembly + WebGPU host; --backend webgpu|cpu, --wasm FILE)\n\ncommands:\n');
  for (const [, [, h]] of Object.entries(COMMANDS)) write(`  ${h}\n`);
  write('\nMoE expert paging (run, bench, eval, chat; docs/PAGING.md): --gpu-mem BYTES (below the model\'s size: dense weights +\n' +
        'a pool of expert slots on the GPU), --ram-cache BYTES, --expert-policy lfu|lru; run --verbose prints the figures\n');
}

async function main(argvIn) {
  const { o, rest: argv } = hostOptions(argvIn);   // --backend / --wasm may come anywhere
  if (!argv.length || argv[0] === '-h' || argv[0] === '--help') {
    printUsage(argv.length ? out : err);
    return argv.length ? 0 : 2;
  }
  const cmd = COMMANDS[argv[0]];
  if (!cmd) { err(`doppler: unknown command '${argv[0]}'\n`); printUsage(err); return 2; }
  try {
    await cmd[0](argv, o);
    return 0;
  } catch (e) {
    if (e instanceof Exit) return e.code;
    err(`doppler ${argv[0]}: ${e.stack ?? e}\n`);
    return 1;
  }
}

process.exit(await main(process.argv.slice(2)));
