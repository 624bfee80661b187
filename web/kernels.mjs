// kernels.mjs — kernels as data on the JavaScript host (docs/KERNELS.md): admitting candidate
// kernels into a KernelRegistry (engine.mjs) and the parity gate that admits them.
//
// A candidate for an op (`--kernel op=file.wgsl`) runs only when
//   1. the registry takes it (entry points, override constants, binding layout: wg_registry.h),
//   2. the device's WGSL compiler compiles it (its messages are reported otherwise), and
//   3. a gate record beside it (`file.wgsl.gate.json`, written by `doppler kernels gate`) says
//      it passed on this device class, for this exact text.
// Otherwise the op keeps its built-in kernel and the engine goes on; `say` gets one line why.
// Runs in browsers and under Node: hashing is WebCrypto, files come through callbacks.

export const GATE_FORMAT = 'doppler-gate';
export const GATE_VERSION = 1;

const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');

export async function sha256hex(data) {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return hex(await globalThis.crypto.subtle.digest('SHA-256', bytes));
}

// The device class a gate record holds: what the adapter says it is (GPUAdapterInfo) and the
// features the device was created with.
export function deviceClass(info) {
  const i = info ?? {};
  return {
    vendor: i.vendor ?? '', architecture: i.architecture ?? '', device: i.device ?? '',
    driver: i.description ?? '', features: [...(i.features ?? [])].sort(),
  };
}

const classKey = (d) => JSON.stringify([d?.vendor, d?.architecture, d?.device, d?.driver, d?.features]);
export function sameDeviceClass(a, b) { return classKey(a) === classKey(b); }

// Why a gate record does not admit this candidate (null when it does).
export function gateRecordRefusal(rec, { op, textSha256, devClass }) {
  if (!rec || rec.format !== GATE_FORMAT || rec.version !== GATE_VERSION) return 'not a gate record';
  if (rec.op !== op) return `the gate record is for op ${rec.op}`;
  if (rec.candidate?.text_sha256 !== textSha256) return 'the gate record is for another text (the file changed since it was gated)';
  if (!sameDeviceClass(rec.device_class, devClass)) return 'the gate record is for another device class';
  if (rec.admitted !== true) return `it failed its gate: ${rec.reason}`;
  return null;
}

// "op=path" -> { op, path }
export function parseKernelSpec(spec) {
  const i = spec.indexOf('=');
  if (i <= 0 || i === spec.length - 1) return null;
  return { op: spec.slice(0, i), path: spec.slice(i + 1) };
}

// Admits candidates [{ op, path }] into reg one by one (paths as the module's file system sees
// them). readText(path) -> string | null. requireGate: step 3 above. Returns the admitted
// candidates with their entries ({ op, path, text_sha256, entries: [{entry, key}] }).
export async function admitCandidates(eng, reg, cands, { say, readText, requireGate = true, devClass = null }) {
  const admitted = [];
  for (const c of cands) {
    const label = `--kernel ${c.op}=${c.path}`;
    const stays = '; the built-in kernel stays';
    try { reg.override(c.op, c.path); } catch (e) { say(`${label}: ${e.message}${stays}`); continue; }
    const text = reg.text(c.op);
    const errs = eng.gpu ? await eng.gpu.compileErrors(text) : [];
    if (errs.length) {
      reg.revert(c.op);
      say(`${label}: does not compile: ${errs.slice(0, 3).join('; ')}${stays}`);
      continue;
    }
    const textSha256 = await sha256hex(text);
    if (requireGate) {
      const recText = readText(`${c.path}.gate.json`);
      let why;
      if (recText === null) why = `no gate record ${c.path}.gate.json (doppler kernels gate <model> --kernel ${c.op}=${c.path})`;
      else {
        try { why = gateRecordRefusal(JSON.parse(recText), { op: c.op, textSha256, devClass }); } catch (e) { why = `gate record: ${e.message}`; }
      }
      if (why) {
        reg.revert(c.op);
        say(`${label}: not admitted: ${why}${stays}`);
        continue;
      }
    }
    const entries = reg.entries().filter((e) => e.op === c.op).map(({ entry, key }) => ({ entry, key }));
    admitted.push({ op: c.op, path: c.path, text_sha256: textSha256, entries });
  }
  return admitted;
}

// Per-op tolerance (max |gpu - cpu| / max |cpu|, tests/webgpu/ops_test.c): the floor of the
// model-level tolerance below.
export function opTolerance(op) {
  if (op === 'elementwise') return 2e-6;
  if (op === 'rms_norm') return 4e-6;
  if (op === 'sample') return 0;
  if (op.startsWith('weights_') || op === 'matmul_tiled') return 1e-5;
  return 2e-5;   // rope, attention, moe
}

// The reference prompts: token ids that depend only on the vocabulary size.
export function referencePrompts(vocab) {
  return [4, 11, 29].map((n, k) => Array.from({ length: n }, (_, i) => (7919 * i + 104729 * k + 13) % vocab));
}

const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

// The parity gate (docs/KERNELS.md). load(registry|null, backend) -> Model; cand = { op, path }.
// Returns the gate record (admitted or not, with the reason and every figure).
export async function runGate({ eng, load, cand, model, devClass, nGen = 16, reps = 3, speedMargin = 0.05 }) {
  const reg = eng.kernels();
  const rec = {
    format: GATE_FORMAT, version: GATE_VERSION, time: new Date().toISOString(), op: cand.op,
    admitted: false, reason: '', device_class: devClass, model,
  };
  try {
    const builtin = reg.entries().filter((e) => e.op === cand.op);
    if (!builtin.length) { rec.reason = `no op ${cand.op}`; return rec; }
    rec.builtin = { text_sha256: builtin[0].text_sha256, entries: builtin.map(({ entry, key }) => ({ entry, key })) };
    const got = await admitCandidates(eng, reg, [cand], { say: (m) => { rec.reason = m; }, readText: () => null, requireGate: false });
    if (!got.length) return rec;
    rec.candidate = { file: cand.path, text_sha256: got[0].text_sha256, entries: got[0].entries };

    const cpu = load(null, 'cpu'), base = load(null, 'webgpu'), cm = load(reg, 'webgpu');
    try {
      const cmp = await compareParity({ cpu, base, cand: cm, nGen, reps, opTol: opTolerance(cand.op), speedMargin });
      const ran = cm.kernelsUsed().filter((e) => e.op === cand.op);
      Object.assign(rec, { prompts: cmp.prompts, figures: cmp.figures, logits_sha256: cmp.logits_sha256, greedy_ids: cmp.greedy_ids });
      rec.kernels_ran = ran.map(({ entry, key }) => ({ entry, key }));
      if (!ran.length) rec.reason = `the model never ran op ${cand.op}, so the run compared nothing`;
      else if (cmp.refusal) rec.reason = cmp.refusal;
      else { rec.admitted = true; rec.reason = 'same logits within tolerance, same greedy ids, not slower'; }
    } finally { for (const m of [cpu, base, cm]) m.free(); }
    return rec;
  } finally { reg.free(); }
}

// The gate's comparison (docs/KERNELS.md) of model `cand` against the built-in `base`, both
// against the CPU reference `cpu`: logits on the reference prompts, greedy ids, decode speed.
// Returns { prompts, figures, logits_sha256, greedy_ids, refusal } (refusal: null when it passes).
export async function compareParity({ cpu, base, cand, nGen, reps, opTol, speedMargin }) {
  const prompts = referencePrompts(cpu.vocab);
  const logitsOf = async (m, ids) => {
    const c = m.newContext({ nCtx: ids.length, logitsAll: true });
    try { return await c.eval(ids, { logits: true }); } finally { c.free(); }
  };
  const greedyOf = async (m, ids) => {
    const c = m.newContext({ nCtx: ids.length + nGen });
    const out = [];
    try {
      await c.generate(ids, { nMax: nGen, ignoreEos: true, temperature: 0, topK: 0, topP: 1, seed: 0 }, (t) => {
        if (t.id >= 0) out.push(t.id);
      });
    } finally { c.free(); }
    return out;
  };
  let maxRef = 0, errB = 0, errC = 0, same = true;
  const ids = { cpu: [], builtin: [], candidate: [] };
  const lhash = { cpu: [], builtin: [], candidate: [] };
  for (const p of prompts) {
    const r = await logitsOf(cpu, p), b = await logitsOf(base, p), c = await logitsOf(cand, p);
    for (const [k, v] of [['cpu', r], ['builtin', b], ['candidate', c]]) lhash[k].push(await sha256hex(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)));
    for (let i = 0; i < r.length; i++) {
      maxRef = Math.max(maxRef, Math.abs(r[i]));
      errB = Math.max(errB, Math.abs(b[i] - r[i]));
      errC = Math.max(errC, Number.isFinite(c[i]) ? Math.abs(c[i] - r[i]) : Infinity);
    }
    const gb = await greedyOf(base, p), gc = await greedyOf(cand, p);
    ids.cpu.push(await greedyOf(cpu, p));
    ids.builtin.push(gb);
    ids.candidate.push(gc);
    if (gb.join() !== gc.join()) same = false;
  }
  // speed: decode tok/s of the two, interleaved, median of reps
  const tps = async (m) => {
    const c = m.newContext({ nCtx: prompts[1].length + nGen });
    try { // the prompt (a few tokens) is inside the timing: the same for both kernels
      const t0 = performance.now();
      await c.generate(prompts[1], { nMax: nGen, ignoreEos: true, temperature: 0, topK: 0, topP: 1, seed: 0 }, () => {});
      return nGen / ((performance.now() - t0) / 1000);
    } finally { c.free(); }
  };
  await tps(base); await tps(cand);   // warm-up (pipelines)
  const tb = [], tc = [];
  for (let r = 0; r < reps; r++) { tb.push(await tps(base)); tc.push(await tps(cand)); }
  const tol = Math.max(2 * errB, opTol * maxRef);
  const figures = {
    max_abs_cpu_logit: maxRef, max_err_builtin: errB, max_err_candidate: errC, tolerance: tol,
    op_tolerance: opTol, greedy_tokens: nGen, greedy_identical: same,
    decode_tps_builtin: median(tb), decode_tps_candidate: median(tc), speed_ratio: median(tc) / median(tb),
    speed_margin: speedMargin, reps,
  };
  let refusal = null;
  if (!(errC <= tol)) refusal = `logits differ from the CPU reference by ${errC.toExponential(3)} (tolerance ${tol.toExponential(3)}: 2 x the built-in kernel's ${errB.toExponential(3)}, at least ${opTol.toExponential(0)} x max |logit|)`;
  else if (!same) refusal = 'greedy ids differ from the built-in kernel\'s';
  else if (!(median(tc) >= median(tb) * (1 - speedMargin))) refusal = `slower: ${median(tc).toFixed(2)} tok/s against the built-in kernel's ${median(tb).toFixed(2)} (margin ${speedMargin})`;
  const prom = await Promise.all(prompts.map(async (p) => ({ n: p.length, ids_sha256: await sha256hex(p.join(' ')) })));
  return { prompts: prom, figures, logits_sha256: lhash, greedy_ids: ids, refusal };
}

// ---- autotune: the backend's tunables (override constants of the matrix-vector kernels) ----

// Settings tried by `kernels tune` (dp_backend_webgpu_tune keys), each against the defaults.
// the matrix-vector shapes, and the decode fusions that are opt-in (slower on the H200; docs/WEBGPU.md),
// and the 8-bit products packing their own x (not measured on a GPU yet)
export const TUNE_GRID = ['matvec_rows=2', 'matvec_rows=8', 'matvec_unroll=2', 'matvec_unroll=8', 'matvec_tpr=64',
                          'attn_one_slice=256', 'fold_norm=1,attn_one_slice=256', 'matvec_pack=1'];

// SHA-256 of a device class's fields (vendor, architecture, device, driver, features), the
// tune cache's key with the model id: "<class hash>:<model id>".
export async function deviceClassHash(devClass) { return sha256hex(classKey(devClass)); }

// Every setting of grid through the gate's comparison (op tolerance of the weights kernels);
// the fastest that passes and beats the defaults by more than the speed margin is `best` (''
// keeps the defaults). load(tune, backend) -> Model with the setting applied.
export async function runTune({ load, model, devClass, grid = TUNE_GRID, nGen = 16, reps = 3, speedMargin = 0.05 }) {
  const rec = { format: 'doppler-tune', version: 1, time: new Date().toISOString(), device_class: devClass, model, results: [], best: '' };
  const cpu = load('', 'cpu'), base = load('', 'webgpu');
  try {
    let bestRatio = 1 + speedMargin;
    for (const setting of grid) {
      const m = load(setting, 'webgpu');
      try {
        const cmp = await compareParity({ cpu, base, cand: m, nGen, reps, opTol: opTolerance('weights_'), speedMargin });
        rec.results.push({ tune: setting, admitted: !cmp.refusal, reason: cmp.refusal ?? 'passes the gate', figures: cmp.figures });
        if (!cmp.refusal && cmp.figures.speed_ratio > bestRatio) { bestRatio = cmp.figures.speed_ratio; rec.best = setting; }
      } finally { m.free(); }
    }
  } finally { cpu.free(); base.free(); }
  rec.key = `${await deviceClassHash(devClass)}:${model.id}`;
  return rec;
}

// ---- static mode (docs/KERNELS.md): a signed bundle of allowed kernel, model and adapter hashes ----

const hexBytes = (h) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));

// Parses a bundle (in the module: one parser, src/policy/bundle.c), verifies its Ed25519
// signature with WebCrypto against the public key the caller trusts (64 hex digits), and returns
// the policy: { checkModel(dir), checkKernels(reg), free() }, each check throwing why it refuses.
export async function loadPolicy(eng, bundleText, pubkeyText) {
  const x = eng.x;
  const pk = pubkeyText.trim();
  if (!/^[0-9a-f]{64}$/.test(pk)) throw new Error('--pubkey: not a public key (64 lowercase hex digits)');
  const bytes = new TextEncoder().encode(bundleText);
  const p = x.dpw_alloc(bytes.length);
  new Uint8Array(eng.mem, p, bytes.length).set(bytes);
  const b = x.dpw_bundle_parse(p, bytes.length);
  x.dpw_free(p);
  if (!b) throw new Error(eng.error());
  const take = (q) => { const s = eng.readStr(q); x.dpw_free(q); return s; };
  const msg = take(x.dpw_bundle_message(b)), sig = take(x.dpw_bundle_signature(b));
  let ok = false;
  if (sig) {
    const key = await globalThis.crypto.subtle.importKey('raw', hexBytes(pk), { name: 'Ed25519' }, false, ['verify']);
    ok = await globalThis.crypto.subtle.verify({ name: 'Ed25519' }, key, hexBytes(sig), new TextEncoder().encode(msg));
  }
  if (!ok) {
    x.dpw_bundle_free(b);
    throw new Error(sig ? "the bundle's signature does not verify with this key" : 'the bundle is not signed');
  }
  const pol = x.dpw_policy_new(b);
  if (!pol) throw new Error(eng.error());
  const check = (st) => { if (st) throw new Error(eng.error()); };
  return {
    checkModel(dir) { const d = eng.cstr(dir); try { check(x.dpw_policy_check_model(pol, d)); } finally { x.dpw_free(d); } },
    checkKernels(reg) { check(x.dpw_policy_check_kernels(pol, reg.ptr)); },
    free() { x.dpw_policy_free(pol); },
  };
}

// ---- the audit log: one JSON line per generation, the same bytes as src/policy/audit.c ----

const idsSha256 = (ids) => {
  const b = new Uint8Array(4 * ids.length), dv = new DataView(b.buffer);
  ids.forEach((v, i) => dv.setInt32(4 * i, v, true));
  return sha256hex(b);
};
const g6 = (v) => String(Number(Math.fround(v).toPrecision(6)));   // C's %g of a float

// kernels: [{op, entry, key}] (Model.kernelsUsed()); sampling: {temperature, topK, topP, seed}
export async function auditLine({ modelId, kernels, adapters = [], sampling, prompt, output, time = new Date() }) {
  const when = time.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const ks = kernels.map((k) => `{"op": ${JSON.stringify(k.op)}, "entry": ${JSON.stringify(k.entry)}, "key": "${k.key}"}`).join(', ');
  const s = sampling;
  return `{"time": "${when}", "model": ${JSON.stringify(modelId)}, "kernels": [${ks}], "adapters": [${adapters.map((a) => JSON.stringify(a)).join(', ')}], ` +
    `"sampling": {"temperature": ${g6(s.temperature)}, "top_k": ${s.topK}, "top_p": ${g6(s.topP)}, "seed": ${s.seed}}, ` +
    `"n_prompt": ${prompt.length}, "n_output": ${output.length}, "prompt_sha256": "${await idsSha256(prompt)}", "output_sha256": "${await idsSha256(output)}"}\n`;
}
