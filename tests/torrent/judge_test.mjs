// judge_test.mjs WEB_DIR — web/torrent.mjs's judgePeers (who sent a bad piece) against a stand-in
// for WebTorrent's torrent and wires (EventEmitters with the fields judgePeers reads), under
// Node: the cases a 16 KiB-piece swarm never shows (a piece of 4 blocks from several peers).
// Exit 0 when every case held.
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const { judgePeers } = await import(pathToFileURL(path.join(process.argv[2], 'torrent.mjs')).href);
const BLOCK = 16384, PIECE = 4 * BLOCK;
let rc = 0;
const check = (ok, what) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) rc = 1; };

function swarm() {
  const good = new Uint8Array(8 * PIECE).map((_, i) => (i * 7) & 255);
  const t = new EventEmitter();
  Object.assign(t, {
    pieceLength: PIECE, files: [], _peers: new Map(), bitfield: { have: new Set(), get(i) { return this.have.has(i); } },
    store: { get: (i, cb) => queueMicrotask(() => cb(null, good.subarray(i * PIECE, (i + 1) * PIECE))) },
    removePeer(id) { this._peers.delete(id); },
    addPeer(p) { this._peers.set(p.id, { wire: null }); return true; },
  });
  const stats = { banned: [], hashFailures: 0 };
  judgePeers(t, stats, () => {}, () => {});
  const wire = (id) => {
    const w = new EventEmitter();
    Object.assign(w, { peerId: id, type: 'webrtc', destroyed: false, destroy() { this.destroyed = true; } });
    t._peers.set(id, { wire: w });
    t.emit('wire', w);
    return w;
  };
  const block = (w, piece, b, lie) => {
    const bytes = good.slice(piece * PIECE + b * BLOCK, piece * PIECE + (b + 1) * BLOCK);
    if (lie) bytes[5] ^= 1;
    w.emit('piece', piece, b * BLOCK, bytes);
  };
  const fail = (piece) => t.emit('warning', new Error(`Piece ${piece} failed verification`));
  const verify = (piece) => { t.bitfield.have.add(piece); t.emit('verified', piece); };
  return { t, stats, wire, block, fail, verify };
}
const tick = () => new Promise((r) => setTimeout(r, 10));

{ // one sender of a bad piece: banned at once, and refused when offered again
  const s = swarm(), liar = s.wire('aa'), honest = s.wire('bb');
  for (let b = 0; b < 4; b++) s.block(liar, 1, b, b === 2);
  for (let b = 0; b < 4; b++) s.block(honest, 2, b, false);
  s.fail(1); s.verify(2);
  check(s.stats.banned.length === 1 && s.stats.banned[0].peer === 'aa' && liar.destroyed && !honest.destroyed,
        'a piece all from one peer fails: that peer is banned, the other is not');
  let destroyed = false;
  const accepted = s.t.addPeer({ id: 'aa', destroy() { destroyed = true; } });
  check(accepted === false && destroyed, 'the banned peer id is refused when the tracker offers it again');
  check(s.t.addPeer({ id: 'cc', destroy() {} }) === true, 'another peer id is still accepted');
}
{ // several senders: nobody banned until the piece verifies, then only the one whose block differs
  const s = swarm(), a = s.wire('aa'), b = s.wire('bb'), c = s.wire('cc');
  s.block(a, 3, 0, false); s.block(b, 3, 1, true); s.block(a, 3, 2, false); s.block(b, 3, 3, false);
  s.fail(3);
  check(s.stats.banned.length === 0, 'a piece from two peers fails: nobody is banned yet');
  for (let k = 0; k < 4; k++) s.block(c, 3, k, false);
  s.block(a, 3, 1, false);  // a late duplicate from an honest peer
  s.verify(3);
  await tick();
  check(s.stats.banned.length === 1 && s.stats.banned[0].peer === 'bb' && b.destroyed && !a.destroyed && !c.destroyed,
        'once it verifies, the peer whose block differs is banned, the honest ones are not');
}
{ // a good piece leaves nothing behind; a block of a piece already held is ignored
  const s = swarm(), a = s.wire('aa');
  for (let k = 0; k < 4; k++) s.block(a, 4, k, false);
  s.verify(4);
  s.block(a, 4, 0, true); s.fail(4);
  check(s.stats.banned.length === 0 && s.stats.hashFailures === 1, 'a block of a piece already verified is not held against anyone');
}
{ // the warning judgePeers reads is the one the browser bundle emits
  const fs = await import('node:fs');
  const bundle = fs.readFileSync(path.join(process.argv[2], 'node_modules/webtorrent/dist/webtorrent.min.js'), 'utf8');
  check(/Piece \$\{[a-zA-Z_$][\w$]*\} failed verification/.test(bundle),
        "webtorrent.min.js emits 'Piece N failed verification' (the text judgePeers parses)");
}
process.exit(rc);
