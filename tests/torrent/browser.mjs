// browser.mjs PAGE_URL TORRENT_URL WEB_DIR MIRROR_BASE — two headless Chromium tabs (two profiles) (Debian's chromium through
// playwright-core) fetch a model's torrent with web/torrent.mjs into OPFS. Tab 1 has a good
// mirror among bad ones; tab 2, started once tab 1 is done and seeding, has only bad mirrors, so
// its shards must come from tab 1 over WebRTC. Prints one JSON line per tab; exit 0 when both
// verified every shard, the bad mirrors were banned and tab 2 got bytes from its peer.
import fs from 'node:fs';
import path from 'node:path';

const [pageUrl, torrentUrl, webDir, mirrorsBase] = process.argv.slice(2);
const { chromium } = await import(path.join(webDir, 'node_modules/playwright-core/index.mjs'));
const exe = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => fs.existsSync(p));
const browser = await chromium.launch({
  executablePath: exe, headless: true,
  args: ['--no-sandbox', '--disable-features=WebRtcHideLocalIpsWithMdns', '--allow-loopback-in-peer-connection'],
});
let rc = 0;
const fail = (m) => { console.log('FAIL: ' + m); rc = 1; };
try {
  // one context each: two profiles, as two people's browsers (tabs of one profile share
  // WebTorrent's piece store, so the second would need nobody)
  const tab = async (name, mirrors) => {
    const page = await (await browser.newContext()).newPage();
    page.on('console', (m) => console.log(`[${name}] ${m.text()}`));
    page.on('pageerror', (e) => console.log(`[${name}] pageerror ${e.message}`));
    await page.goto(pageUrl);
    const r = await page.evaluate(async ([torrentUrl, mirrors, name]) => {
      const { fetchModelTorrent, verifyOpfsShard } = await import('./torrent.mjs');
      const { default: WebTorrent } = await import('./webtorrent.min.js');
      const bytes = new Uint8Array(await (await fetch(torrentUrl)).arrayBuffer());
      try {
        const r = await fetchModelTorrent(WebTorrent, { torrent: bytes, mirrors, trackers: ['ws://127.0.0.1:8100'],
          opfsPath: name + '/model', timeoutMs: 60000 });
        window.keep = r.client;  // keep seeding
        const shards = r.committed.filter((c) => c.startsWith('shards/')).map((c) => c.slice(7, 71));
        const ok = [];
        for (const s of shards) ok.push(await verifyOpfsShard(name + '/model', s));
        return { seconds: r.seconds, fromMirrors: r.fromMirrors, fromPeers: r.fromPeers, peers: r.peers,
                 banned: r.banned, committed: r.committed.length, shards: shards.length, verified: ok.filter(Boolean).length };
      } catch (e) { return { error: String(e.message || e) }; }
    }, [torrentUrl, mirrors, name]);
    console.log(JSON.stringify({ tab: name, ...r }));
    return r;
  };
  const m = (p) => `${mirrorsBase}:${p}/model/`;
  const t1 = await tab('tab1', [m(8101), m(8102), m(8105), m(8106)]);
  if (t1.error) fail('tab1: ' + t1.error);
  const t2 = await tab('tab2', [m(8101), m(8102)]);
  if (t2.error) fail('tab2: ' + t2.error);
  for (const [n, t] of [['tab1', t1], ['tab2', t2]]) {
    if (t.error) continue;
    if (t.shards !== 7 || t.verified !== 7) fail(`${n}: ${t.verified}/${t.shards} shards verified`);
    const banned = t.banned.map((b) => b.url);
    if (!banned.some((u) => u.includes(':8102/'))) fail(`${n}: the HTML-200 mirror was not banned`);
  }
  if (!t2.error) {
    if (!(t2.fromPeers > 0)) fail('tab2 got nothing from its peer (tab1) over WebRTC');
    if (!t2.banned.some((b) => b.url.includes(':8101/'))) fail('tab2: the corrupt mirror was not banned');
  }
} catch (e) {
  fail(String(e.stack || e));
} finally {
  await browser.close();
}
process.exit(rc);
