// swarm_tab.mjs PAGE_URL TORRENT_URL WEB_DIR BAD_PEER_ID GOOD_MIRROR MIRROR_URL... — the browser
// side of tests/test_swarm.sh (tests/torrent/tab.mjs): a lying WebRTC peer (a tab of its own
// profile seeding spoiled pieces, peer id BAD_PEER_ID..., its bytes from GOOD_MIRROR), then the
// downloader, a tab fetching the model from the mirrors and the WebRTC peers the ws:// tracker
// names — closed once it holds 3 MiB, and a new tab of the same profile must resume. Prints the downloader's stats as one JSON line ("tab {...}"); exit 0 when every shard
// was verified, the mirrors that answer with bad bytes or pages (corrupt, HTML-200, 404-as-200:
// ports 8101-8103) and the lying peer were banned, and no other peer was.
import { runScenario, openTab, openTabAndClose, openLiar, checkTab } from './tab.mjs';

const [pageUrl, torrentUrl, webDir, badPeer, goodMirror, ...mirrors] = process.argv.slice(2);
await runScenario(webDir, async (browser, fail) => {
  await openLiar(await browser.newContext(), { name: 'liar', pageUrl, torrentUrl, mirror: goodMirror,
    trackers: ['ws://127.0.0.1:8100'], peerIdPrefix: badPeer });
  // killed mid-download (its tab closed at 3 MiB), then a new tab of the same profile resumes
  const ctx = await browser.newContext();
  const opts = { name: 'tab', pageUrl, torrentUrl, mirrors, trackers: ['ws://127.0.0.1:8100'], opfsPath: 'swarm/model', timeoutMs: 90000 };
  await openTabAndClose(ctx, { ...opts, name: 'tab-killed' }, 3 << 20, fail);
  const t = await (await openTab(ctx, opts)).result;
  console.log('tab ' + JSON.stringify({ ...t, sizes: undefined, fetchedByFile: undefined }));
  for (const f of checkTab('tab', t, { shards: 7, mirrorsBanned: [':8101/', ':8102/', ':8103/'],
                                        liar: Buffer.from(badPeer).toString('hex'), liarBanned: true })) fail(f);
  if (!t.error && !(t.resumed > 0)) fail('the tab did not resume from the pieces the killed one left in OPFS');
});
