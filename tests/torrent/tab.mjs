// tab.mjs — headless Chromium tabs that fetch a model's torrent with web/torrent.mjs into OPFS,
// for tests/torrent/browser.mjs and tests/torrent/swarm_tab.mjs. The page (PAGE_URL) serves
// index.html, torrent.mjs and webtorrent.min.js.
import fs from 'node:fs';
import path from 'node:path';

export async function launch(webDir) {
  const { chromium } = await import(path.join(webDir, 'node_modules/playwright-core/index.mjs'));
  const exe = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => fs.existsSync(p));
  if (!exe) throw new Error('no chromium');
  return chromium.launch({
    executablePath: exe, headless: true,
    args: ['--no-sandbox', '--disable-features=WebRtcHideLocalIpsWithMdns', '--allow-loopback-in-peer-connection',
           ...(process.env.DP_CHROMIUM_TRIALS ? ['--force-fieldtrials=' + process.env.DP_CHROMIUM_TRIALS] : [])],
  });
}

// Opens a tab in `context` (a browser profile: tabs of one profile share OPFS and so WebTorrent's
// piece store) and starts fetchModelTorrent there. Returns {page, result: Promise<stats>, progress()}:
// result resolves with the tab's stats (and the SHA-256 check of every committed shard read back
// from OPFS) or {error}; progress() is the bytes WebTorrent holds verified so far.
export async function openTab(context, { name, pageUrl, torrentUrl, mirrors, trackers, opfsPath, timeoutMs = 60000 }) {
  const page = await context.newPage();
  page.on('console', (m) => console.log(`[${name}] ${m.text()}`));
  page.on('pageerror', (e) => console.log(`[${name}] pageerror ${e.message}`));
  await page.goto(pageUrl);
  const result = page.evaluate(async ([torrentUrl, mirrors, trackers, opfsPath, timeoutMs]) => {
    const { fetchModelTorrent, verifyOpfsShard } = await import('./torrent.mjs');
    const { default: WebTorrent } = await import('./webtorrent.min.js');
    const bytes = new Uint8Array(await (await fetch(torrentUrl)).arrayBuffer());
    try {
      const r = await fetchModelTorrent(WebTorrent, { torrent: bytes, mirrors, trackers, opfsPath, timeoutMs,
        onTorrent: (t) => { window.dpTorrent = t; } });
      window.keep = r.client;  // keep seeding
      const shards = r.committed.filter((c) => c.startsWith('shards/')).map((c) => c.slice(7, 71));
      let verified = 0;
      for (const s of shards) if (await verifyOpfsShard(opfsPath, s)) verified++;
      return { seconds: r.seconds, fromMirrors: r.fromMirrors, fromPeers: r.fromPeers, peers: r.peers,
               banned: r.banned, hashFailures: r.hashFailures, resumed: r.resumed, kept: r.kept.length,
               fetchedByFile: r.fetchedByFile, sizes: Object.fromEntries(r.torrent.files.map((f) => [f.path, f.length])),
               committed: r.committed.length, shards: shards.length, verified };
    } catch (e) { return { error: String(e.message || e) }; }
  }, [torrentUrl, mirrors, trackers, opfsPath, timeoutMs]).catch((e) => ({ error: 'tab closed: ' + String(e.message || e).split('\n')[0] }));
  const progress = () => page.evaluate(() => (window.dpTorrent ? window.dpTorrent.downloaded : 0)).catch(() => 0);
  return { page, result, progress };
}

// Opens a tab like openTab and closes it (a tab killed mid-download) once WebTorrent holds
// `bytes` verified; fails when it does not get there in 30 s or finishes first. Returns the
// bytes it held.
export async function openTabAndClose(context, opts, bytes, fail) {
  const t = await openTab(context, opts);
  let held = 0;
  for (let i = 0; i < 300 && held < bytes; i++) {
    await new Promise((r) => setTimeout(r, 100));
    held = await t.progress();
  }
  if (held < bytes) fail(`${opts.name} held ${held} bytes after 30 s`);
  await t.page.close();
  const r = await t.result;
  console.log(`${opts.name} closed holding ${(held / 1048576).toFixed(2)} MiB verified (${r.error ? 'unfinished' : 'FINISHED before it was closed'})`);
  if (!r.error) fail(`${opts.name} finished before it was closed`);
  return held;
}

// The checks every tab must pass: `shards` shards committed and read back verified, the bad
// mirrors (urls containing the strings in `mirrorsBanned`) banned; with `liar` (a peer id
// prefix, hex), no other peer banned, and with `liarBanned` the liar banned. Returns the failures.
export function checkTab(name, t, { shards, mirrorsBanned = [], liar, liarBanned = false }) {
  if (t.error) return [`${name}: ${t.error}`];
  const out = [];
  if (t.shards !== shards || t.verified !== shards) out.push(`${name}: ${t.verified}/${t.shards} shards verified, ${shards} expected`);
  for (const m of mirrorsBanned)
    if (!t.banned.some((b) => b.url && b.url.includes(m))) out.push(`${name}: mirror ${m} was not banned`);
  if (liar) {
    if (t.banned.some((b) => b.peer && !b.peer.startsWith(liar))) out.push(`${name}: banned a good peer`);
    if (liarBanned && !t.banned.some((b) => b.peer && b.peer.startsWith(liar))) out.push(`${name}: the lying WebRTC peer was not banned`);
  }
  return out;
}

// Runs `scenario(browser, fail)` in a headless Chromium and exits: 0 when nothing called fail(msg).
export async function runScenario(webDir, scenario) {
  const browser = await launch(webDir);
  let rc = 0;
  const fail = (msg) => { console.log('FAIL: ' + msg); rc = 1; };
  try {
    await scenario(browser, fail);
  } catch (e) {
    fail(String(e.stack || e));
  } finally {
    await browser.close();
  }
  process.exit(rc);
}

// A lying WebRTC peer: a tab whose WebTorrent seeds the model with one byte in every 16 KiB
// flipped (the bytes come from `mirror`, a good mirror; a store of its own serves them spoiled,
// and skipVerify makes WebTorrent believe it holds every piece). Its peer id starts with
// `peerIdPrefix`. Resolves once it is seeding; the tab keeps seeding until the context closes.
export async function openLiar(context, { name, pageUrl, torrentUrl, mirror, trackers, peerIdPrefix }) {
  const page = await context.newPage();
  page.on('console', (m) => console.log(`[${name}] ${m.text()}`));
  page.on('pageerror', (e) => console.log(`[${name}] pageerror ${e.message}`));
  await page.goto(pageUrl);
  const id = await page.evaluate(async ([torrentUrl, mirror, trackers, prefix]) => {
    const { withoutUrlList } = await import('./torrent.mjs');
    const { default: WebTorrent } = await import('./webtorrent.min.js');
    const bytes = withoutUrlList(new Uint8Array(await (await fetch(torrentUrl)).arrayBuffer()));
    class SpoiledStore {
      constructor(chunkLength, opts) {
        this.chunkLength = chunkLength;
        this.length = opts.length;
        this.data = (async () => {
          const all = new Uint8Array(opts.length);
          for (const f of opts.files) {
            if (/(^|\/)\.pad\//.test(f.path)) continue;
            const r = await fetch(mirror + f.path.split('/').slice(1).join('/'));
            all.set(new Uint8Array(await r.arrayBuffer()), f.offset);
          }
          for (let i = 100; i < all.length; i += 16384) all[i] ^= 0x5a;
          return all;
        })();
      }
      get(index, opts, cb) {
        if (typeof opts === 'function') { cb = opts; opts = {}; }
        const start = index * this.chunkLength + ((opts && opts.offset) || 0);
        const end = Math.min(index * this.chunkLength + this.chunkLength, this.length);
        const len = (opts && opts.length) || end - start;
        this.data.then((d) => cb(null, d.slice(start, start + len)), cb);
      }
      put(index, buf, cb) { cb?.(null); }
      close(cb) { cb?.(null); }
      destroy(cb) { cb?.(null); }
    }
    const hexOf = (s) => [...new TextEncoder().encode(s)].map((b) => b.toString(16).padStart(2, '0')).join('');
    let peerId = hexOf(prefix);
    while (peerId.length < 40) peerId += Math.floor(Math.random() * 16).toString(16);
    const client = new WebTorrent({ peerId, dht: false, lsd: false, utp: false, tracker: { rtcConfig: { iceServers: [] } } });
    window.liar = client;
    const t = client.add(bytes, { announce: trackers, store: SpoiledStore, skipVerify: true });
    await new Promise((res) => t.on('ready', res));
    await t.store.get(0, () => {});
    return peerId;
  }, [torrentUrl, mirror, trackers, peerIdPrefix]);
  console.log(`[${name}] seeding corrupt pieces as peer ${id}`);
  return { page, peerId: id };
}
