// browser.mjs PAGE_URL TORRENT_URL WEB_DIR MIRROR_BASE BAD_PEER_ID — the browser side of the swarm
// (tests/test_torrent_browser.sh), in headless Chromium through tests/torrent/tab.mjs:
//  1. profile 1, a tab fetching from a slow mirror alone is closed mid-download; a new tab of the
//     same profile (mirrors good, corrupt, HTML-200, stalled) must resume from the pieces the
//     first left in OPFS — fewer bytes fetched than the model, a shard finished from where it
//     stopped — and verify every shard;
//  2. profile 2 (mirrors corrupt and HTML-200 only) must get its pieces from the first profile's
//     tab over WebRTC and verify every shard. A lying peer (profile 3: WebTorrent seeding spoiled
//     pieces, peer id BAD_PEER_ID..., tab.mjs openLiar) is up before tab 1b starts: tab 1b must
//     ban it (and no other peer) once it has met a peer (the liar is the only one then: tab 1b
//     usually meets it within its ~9 s, but under load its WebRTC handshake can come after the
//     mirrors have served everything); tab 2 bans it too when it meets it before it is done; and
//     at least one of the two tabs must have banned it.
// Prints one JSON line per tab; exit 0 when all of it held.
import { runScenario, openTab, openTabAndClose, openLiar, checkTab } from './tab.mjs';

const [pageUrl, torrentUrl, webDir, mirrorsBase, badPeer] = process.argv.slice(2);
const badHex = Buffer.from(badPeer).toString('hex');
const m = (p) => `${mirrorsBase}:${p}/model/`;
const trackers = ['ws://127.0.0.1:8100'];
const show = (name, t) => console.log(JSON.stringify({ tab: name, ...t, sizes: undefined }));
await runScenario(webDir, async (browser, fail) => {
  // 1. killed mid-download, resumed
  const ctx1 = await browser.newContext();
  const base = { pageUrl, torrentUrl, trackers, opfsPath: 'p1/model' };
  await openTabAndClose(ctx1, { ...base, name: 'tab1a', mirrors: [m(8108)] }, 3 << 20, fail);
  await openLiar(await browser.newContext(), { name: 'liar', pageUrl, torrentUrl, mirror: m(8106), trackers, peerIdPrefix: badPeer });
  const b = await openTab(ctx1, { ...base, name: 'tab1b', mirrors: [m(8101), m(8102), m(8105), m(8106)] });
  const tb = await b.result;
  show('tab1b', tb);
  const met1 = tb.peers > 0 || tb.fromPeers > 0;
  for (const f of checkTab('tab1b', tb, { shards: 7, mirrorsBanned: [':8102/'], liar: badHex, liarBanned: met1 })) fail(f);
  if (!tb.error) {
    const fetched = Object.entries(tb.fetchedByFile).filter(([p]) => !p.includes('/.pad/')).reduce((x, [, n]) => x + n, 0);
    const total = Object.entries(tb.sizes).filter(([p]) => !p.includes('/.pad/')).reduce((x, [, n]) => x + n, 0);
    const partial = Object.entries(tb.fetchedByFile).filter(([p, n]) => /shards\//.test(p) && n > 0 && n < tb.sizes[p]);
    console.log(`tab1b resumed ${(tb.resumed / 1048576).toFixed(2)} MiB + ${tb.kept} committed shards, fetched ` +
                `${(fetched / 1048576).toFixed(2)} of ${(total / 1048576).toFixed(2)} MiB; shards finished from where they stopped: ` +
                partial.map(([p, n]) => `${p.slice(-12)} ${n}/${tb.sizes[p]} B`).join(', '));
    if (!(tb.resumed > 0)) fail('tab1b did not resume from the pieces in OPFS');
    if (!(fetched < total)) fail(`tab1b fetched ${fetched} bytes, the whole model is ${total}: it started from zero`);
    if (!partial.length && !tb.kept) fail('tab1b finished no shard from where tab1a stopped');
    const ban1 = tb.banned.find((x) => x.peer && x.peer.startsWith(badHex));
    console.log(ban1 ? `tab1b banned the corrupt WebRTC peer: ${ban1.why}` : `tab1b met no peer before the mirrors had served it all`);
  }
  // 2. a second profile from tab1b over WebRTC, beside a corrupt WebRTC peer
  const c = await openTab(await browser.newContext(), { pageUrl, torrentUrl, trackers, opfsPath: 'p2/model', name: 'tab2',
                                                         mirrors: [m(8101), m(8102)] });
  const tc = await c.result;
  show('tab2', tc);
  for (const f of checkTab('tab2', tc, { shards: 7, mirrorsBanned: [':8101/', ':8102/'], liar: badHex })) fail(f);
  if (!tc.error) {
    if (!(tc.fromPeers > 0)) fail('tab2 got nothing from its peers over WebRTC');
    // (tab 2, done in about 4 s from tab 1b, meets the liar most of the time, not always)
    const ban = tc.banned.find((x) => x.peer && x.peer.startsWith(badHex));
    console.log(ban ? `tab2 banned the corrupt WebRTC peer: ${ban.why}` : `tab2 did not meet the corrupt WebRTC peer (${tc.peers} peer)`);
  }
  const banned = (t) => !t.error && t.banned.some((x) => x.peer && x.peer.startsWith(badHex));
  if (!banned(tb) && !banned(tc)) fail('neither tab banned the lying WebRTC peer');
});
