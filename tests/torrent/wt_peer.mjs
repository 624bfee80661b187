// wt_peer.mjs WEB_DIR MODEL.torrent MODEL_DIR WORK_DIR [--corrupt] [--peer-id TEXT] [--port N]
//            [--upload-limit BYTES_PER_S]
// A WebTorrent 3 peer in Node that seeds a model over TCP (tests/test_swarm.sh): another
// BitTorrent implementation for libtorrent to meet. --corrupt: it serves a copy of the model
// with one byte in every 16 KiB flipped, and believes every piece is good (skipVerify) — a lying
// peer. --peer-id: the peer id starts with TEXT. Prints "seeding <peer id hex>" once ready; runs
// until killed. No WebRTC: with node-datachannel 0.33 (its polyfill or webrtc-polyfill) the ICE
// checks with Chromium 156 succeed but the DTLS handshake never completes, so no data channel
// opens (measured here); browsers meet liars of their own kind (tests/torrent/tab.mjs openLiar).
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [webDir, torrentFile, modelDir, work, ...rest] = process.argv.slice(2);
const opt = (k) => { const i = rest.indexOf(k); return i >= 0 ? rest[i + 1] : undefined; };
const corrupt = rest.includes('--corrupt');
const mod = (p) => import(pathToFileURL(path.join(webDir, 'node_modules', p)).href);
const { default: WebTorrent } = await mod('webtorrent/index.js');

// the files as the torrent names them: <work>/<name>/..., pad files (BEP 47) as zeros
const bytes = fs.readFileSync(torrentFile);
const name = path.basename(path.resolve(modelDir));
fs.rmSync(path.join(work, name), { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });
fs.cpSync(modelDir, path.join(work, name), { recursive: true });
if (corrupt) {
  for (const f of fs.readdirSync(path.join(work, name, 'shards'))) {
    const p = path.join(work, name, 'shards', f), b = fs.readFileSync(p);
    for (let i = 100; i < b.length; i += 16384) b[i] ^= 0x5a;
    fs.writeFileSync(p, b);
  }
}
const prefix = Buffer.from((opt('--peer-id') || '-DPWT0-').slice(0, 12));
const peerId = Buffer.concat([prefix, crypto.getRandomValues(Buffer.alloc(20 - prefix.length))]);

const client = new WebTorrent({
  peerId, dht: false, lsd: false, utp: false, natUpnp: false, natPmp: false,
  torrentPort: Number(opt('--port') || 0), uploadLimit: Number(opt('--upload-limit') || -1),
  tracker: { wrtc: false },
});
client.on('error', (e) => { console.error('wt_peer:', e.message || e); process.exit(1); });
const torrent = client.add(bytes, { path: work, skipVerify: corrupt });
torrent.on('metadata', () => {
  for (const f of torrent.files) {
    if (!/(^|\/)\.pad\//.test(f.path)) continue;
    fs.mkdirSync(path.dirname(path.join(work, f.path)), { recursive: true });
    fs.writeFileSync(path.join(work, f.path), Buffer.alloc(f.length));
  }
});
torrent.on('warning', (e) => console.error('wt_peer warning:', e.message || e));
torrent.on('wire', (w) => console.error(`wt_peer: wire ${w.type} ${w.remoteAddress || '?'}`));
torrent.on('ready', () => {
  const have = torrent.bitfield ? torrent.pieces.filter((_, i) => torrent.bitfield.get(i)).length : 0;
  console.log(`seeding ${peerId.toString('hex')} (${have}/${torrent.pieces.length} pieces${corrupt ? ', corrupt' : ''})`);
  setInterval(() => console.error(`wt_peer: uploaded ${torrent.uploaded} bytes to ${torrent.numPeers} peers`), 5000).unref();
});
