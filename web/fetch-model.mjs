// fetch-model.mjs — fetches an RDRR model (manifest.json + shards/<sha256>.bin, tokenizer.json
// when present) from a URL prefix into a Map of path -> bytes for the in-memory WASI file
// system (wasi.mjs memFs). The module verifies every shard's SHA-256 when it loads the model.
export async function fetchModel(url, files, mount = '/model', { onProgress = null, fetchFn = globalThis.fetch } = {}) {
  const base = url.endsWith('/') ? url : url + '/';
  const get = async (rel, optional = false) => {
    const r = await fetchFn(base + rel);
    if (!r.ok) {
      if (optional) return null;
      throw new Error(`${base + rel}: HTTP ${r.status}`);
    }
    return new Uint8Array(await r.arrayBuffer());
  };
  const manifest = await get('manifest.json');
  files.set(`${mount}/manifest.json`, manifest);
  const man = JSON.parse(new TextDecoder().decode(manifest));
  const total = man.shards.reduce((n, s) => n + s.size, 0);
  let done = 0;
  for (const s of man.shards) {
    const hex = String(s.hash).replace(/^sha256:/, '');
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`manifest: bad shard hash ${s.hash}`);
    const bytes = await get(`shards/${hex}.bin`);
    files.set(`${mount}/shards/${hex}.bin`, bytes);
    done += bytes.length;
    onProgress?.(done, total);
  }
  const tok = await get('tokenizer.json', true);
  if (tok) files.set(`${mount}/tokenizer.json`, tok);
  return { dir: mount, manifest: man };
}
