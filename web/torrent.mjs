// torrent.mjs — a model's shards over BitTorrent in the browser (docs/TORRENT.md): WebTorrent 3
// for the swarm (other tabs over WebRTC, found through a ws:// tracker), our own web-seed
// connection for the mirrors, and OPFS for what is verified.
//
//   import WebTorrent from './node_modules/webtorrent/dist/webtorrent.min.js'
//   const r = await fetchModelTorrent(WebTorrent, {torrent: bytes, mirrors: ['https://m/x/model/'],
//                                      trackers: ['wss://t/'], shards: null, timeoutMs: 120000})
//
// Why a web-seed connection of our own: WebTorrent's (webconn.js) accepts a 200 answer with an
// HTML page as data, waits 60 s on a mirror that stalls, and never bans a mirror whose bytes fail
// the piece hash. Ours asks for whole pieces, insists on 206 with the Content-Range it asked for,
// gives up after a timeout, checks the piece's SHA-1 before handing a byte to WebTorrent, and
// drops a mirror for good after one bad piece (it is the only sender of what it returns).
// The mirrors listed in the .torrent (url-list) are removed so WebTorrent does not open its own.
//
// WebRTC peers: WebTorrent re-downloads a piece that fails its SHA-1 but never says who sent it.
// Every wire's 'piece' events say which peer sent which block; a failed piece whose blocks came
// from one peer bans that peer at once (wire destroyed, peer id refused from then on); when
// several sent blocks, their blocks are kept until the piece verifies and whoever sent bytes that
// differ from the verified piece is banned (libtorrent's smart ban, block by block).
//
// Resume: WebTorrent's own piece store (OPFS, a file per piece, under '<name> - <infohash>') is
// hashed piece by piece when the torrent is added, so a tab closed or killed mid-shard starts
// again from the pieces it had; shards already committed under <opfsPath>/shards are re-hashed
// and not fetched again.
//
// Commit: a finished file is read back, its SHA-256 checked against its name (shards) or the
// manifest (tokenizer files), then written to OPFS as <dir>/.part-<name> and moved to its name.
// With no peer answering, the mirrors alone finish the download: that is the plain-HTTP fallback.

const PIECE_TIMEOUT_MS = 15000;

const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');

// ---- a bencoded .torrent without its url-list (so WebTorrent opens no web seed of its own) ----
function bskip(b, i) {
  const c = b[i];
  if (c === 0x69) return b.indexOf(0x65, i) + 1;                       // i...e
  if (c === 0x6c || c === 0x64) {                                       // l...e, d...e
    i++;
    while (b[i] !== 0x65) i = bskip(b, i);
    return i + 1;
  }
  const colon = b.indexOf(0x3a, i);                                     // <len>:<bytes>
  return colon + 1 + Number(new TextDecoder().decode(b.subarray(i, colon)));
}
export function withoutUrlList(bytes) {
  const b = new Uint8Array(bytes);
  if (b[0] !== 0x64) throw new Error('not a bencoded dictionary');
  let i = 1;
  while (b[i] !== 0x65) {
    const k0 = i, kEnd = bskip(b, i), vEnd = bskip(b, kEnd);
    const key = new TextDecoder().decode(b.subarray(b.indexOf(0x3a, k0) + 1, kEnd));
    if (key === 'url-list') return new Uint8Array([...b.subarray(0, k0), ...b.subarray(vEnd)]);
    i = vEnd;
  }
  return b;
}

// ---- our web-seed connection: a subclass of WebTorrent's own, with httpRequest replaced ----
function webSeedClass(WebConn, stats, log, account) {
  return class StrictWebConn extends WebConn {
    constructor(modelUrl, torrent) {
      super(modelUrl, torrent);
      this.modelUrl = modelUrl.endsWith('/') ? modelUrl : modelUrl + '/';
      this.connId = 'strict:' + this.modelUrl;
      this.pieceCache = new Map();   // piece index -> Promise<Uint8Array> (verified)
      this.banned = false;
    }
    ban(why) {
      if (this.banned) return;
      this.banned = true;
      stats.banned.push({ url: this.modelUrl, why });
      log(`banned mirror ${this.modelUrl}: ${why}`);
      this.destroy();
    }
    // one byte range of one file: 206 and exactly the Content-Range asked for, within the timeout
    async httpRange(path, start, end, signal) {
      const url = this.modelUrl + path.split('/').slice(1).map(encodeURIComponent).join('/');
      const r = await fetch(url, { headers: { Range: `bytes=${start}-${end}` }, signal, cache: 'no-store' });
      if (r.status !== 206) throw Object.assign(new Error(`answered ${r.status}, not 206`), { bad: true });
      const cr = r.headers.get('Content-Range') || '';
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(cr.trim());
      if (!m || Number(m[1]) !== start || Number(m[2]) !== end)
        throw Object.assign(new Error(`Content-Range '${cr}' for bytes ${start}-${end}`), { bad: true });
      const body = new Uint8Array(await r.arrayBuffer());
      if (body.length !== end - start + 1) throw new Error(`short body: ${body.length} of ${end - start + 1} bytes`);
      return body;
    }
    // (not `piece`: that is the Wire method that sends a piece message)
    async fetchPiece(index) {
      const t = this._torrent;
      const len = index === t.pieces.length - 1 ? t.lastPieceLength : t.pieceLength;
      const p0 = index * t.pieceLength, out = new Uint8Array(len);
      const ctl = new AbortController();
      const timer = setTimeout(() => ctl.abort(), PIECE_TIMEOUT_MS);
      try {
        for (const f of t.files) {
          const a = Math.max(p0, f.offset), b = Math.min(p0 + len, f.offset + f.length);
          if (a >= b) continue;
          if (/(^|\/)\.pad\//.test(f.path)) continue;                    // BEP 47 pad file: zeros
          out.set(await this.httpRange(f.path, a - f.offset, b - f.offset - 1, ctl.signal), a - p0);
        }
      } catch (e) {
        if (e.name === 'AbortError') throw new Error(`no answer in ${PIECE_TIMEOUT_MS / 1000} s`);
        throw e;
      } finally {
        clearTimeout(timer);
      }
      const sha1 = hex(await crypto.subtle.digest('SHA-1', out));
      if (sha1 !== t._hashes[index]) throw Object.assign(new Error(`piece ${index} failed its hash`), { bad: true });
      stats.fromMirrors += len;
      account(p0, len);
      return out;
    }
    httpRequest(index, offset, length, cb) {
      if (this.banned) return cb(new Error("banned"));
      if (globalThis.DP_TORRENT_DEBUG) log(`request ${this.modelUrl} piece ${index} offset ${offset}`);
      let p = this.pieceCache.get(index);
      if (!p) {
        p = this.fetchPiece(index);
        this.pieceCache.set(index, p);
        p.then(() => setTimeout(() => this.pieceCache.delete(index), 5000), () => this.pieceCache.delete(index));
      }
      p.then((buf) => cb(null, buf.slice(offset, offset + length)), (e) => {
        if (e.bad) this.ban(e.message);
        else log(`mirror ${this.modelUrl}: ${e.message}`);
        cb(e);
      });
    }
  };
}

// ---- WebRTC peers that send bad pieces: found block by block, banned by peer id ----
// (exported for tests/torrent/judge_test.mjs; fetchModelTorrent calls it on its torrent)
const peerName = (w) => `${w.peerId ? w.peerId.slice(0, 16) : '?'}@${w.remoteAddress || '?'}`;
export function judgePeers(torrent, stats, log, account) {
  const sent = new Map();      // piece index -> [{wire, offset, buf}] since the piece was last reset
  const suspects = new Map();  // piece index -> the blocks of its failed attempts (several senders)
  const bannedIds = new Set();
  const drop = (wire) => {
    for (const [id, peer] of torrent._peers || []) if (peer.wire === wire) torrent.removePeer(id);
    wire.destroy();
  };
  const ban = (wire, why) => {
    if (bannedIds.has(wire.peerId)) return drop(wire);
    bannedIds.add(wire.peerId);
    stats.banned.push({ peer: wire.peerId, addr: wire.remoteAddress || null, why });
    log(`banned peer ${peerName(wire)}: ${why}`);
    drop(wire);
  };
  // a banned peer id is refused when the tracker offers it again
  const addPeer = torrent.addPeer.bind(torrent);
  torrent.addPeer = (peer, source) => {
    if (peer && typeof peer === 'object' && bannedIds.has(peer.id)) { peer.destroy?.(); return false; }
    return addPeer(peer, source);
  };
  torrent.on('wire', (wire) => {
    if (wire.type === 'webSeed') return;  // ours: every piece checked before WebTorrent sees it
    if (bannedIds.has(wire.peerId)) return drop(wire);
    wire.on('piece', (index, offset, buf) => {
      account(index * torrent.pieceLength + offset, buf.length);
      if (torrent.bitfield?.get(index)) return;
      let l = sent.get(index);
      if (!l) sent.set(index, (l = []));
      l.push({ wire, offset, buf });
    });
  });
  // WebTorrent 3 (torrent.js, _request's onChunk) reports a piece that failed its SHA-1 only as
  // this warning; judge_test.mjs pins the text
  torrent.on('warning', (e) => {
    const m = /^Piece (\d+) failed verification/.exec(e?.message || '');
    if (!m) return;
    const index = Number(m[1]);
    stats.hashFailures++;
    const blocks = sent.get(index) || [];
    sent.delete(index);
    const senders = new Set(blocks.map((b) => b.wire));
    if (senders.size === 1) return ban([...senders][0], `piece ${index} failed its SHA-1 (all of it from this peer)`);
    if (senders.size) suspects.set(index, [...(suspects.get(index) || []), ...blocks]);
  });
  torrent.on('verified', (index) => {
    sent.delete(index);
    const blocks = suspects.get(index);
    if (!blocks) return;
    suspects.delete(index);
    torrent.store.get(index, (err, good) => {
      if (err) return log(`torrent: piece ${index} verified but unreadable: ${err.message}`);
      for (const b of blocks) {
        const want = good.subarray(b.offset, b.offset + b.buf.length);
        if (want.length !== b.buf.length || want.some((x, i) => x !== b.buf[i]))
          ban(b.wire, `sent a wrong block of piece ${index} at ${b.offset} (the piece failed its SHA-1 with blocks of several peers)`);
      }
    });
  });
}

// ---- OPFS: <dir>/<name>, written under a temporary name and moved when complete ----
async function opfsDir(path) {
  let d = await navigator.storage.getDirectory();
  for (const part of path.split('/').filter(Boolean)) d = await d.getDirectoryHandle(part, { create: true });
  return d;
}
// the shards committed before that still hash to their names (a bad one, and a .part left by a
// killed tab, are removed)
async function opfsKeptShards(shardDir) {
  const kept = new Set();
  for await (const [name, h] of shardDir.entries()) {
    const m = /^([0-9a-f]{64})\.bin$/.exec(name);
    if (m && h.kind === 'file' && hex(await crypto.subtle.digest('SHA-256', await (await h.getFile()).arrayBuffer())) === m[1])
      kept.add(m[1]);
    else await shardDir.removeEntry(name).catch(() => {});
  }
  return kept;
}
async function opfsCommit(dir, name, bytes) {
  const tmp = await dir.getFileHandle('.part-' + name, { create: true });
  const w = await tmp.createWritable();
  await w.write(bytes);
  await w.close();
  await tmp.move(name);
}

// Fetch the model of `torrent` (the .torrent's bytes) into OPFS <opfsPath>/: manifest.json,
// tokenizer files, shards/<sha256>.bin (all, or the `shards` named). Resolves with stats
// {seconds, fromMirrors, fromPeers, peers, banned: [{url, why} | {peer, addr, why}], hashFailures,
// resumed (bytes of verified pieces found in WebTorrent's store at start), kept (shards already
// committed, re-hashed, not fetched), fetchedByFile {path: bytes received}, committed: [names]};
// rejects after timeoutMs. Keeps seeding (other tabs) until the returned `client` is destroyed.
// o.onTorrent(torrent), when given, is called once the torrent is added (progress, tests).
export async function fetchModelTorrent(WebTorrent, o) {
  const t0 = performance.now();
  const log = o.log || ((s) => console.log(s));
  const stats = { fromMirrors: 0, fromPeers: 0, peers: 0, banned: [], hashFailures: 0, resumed: 0, kept: [],
                  fetchedByFile: {}, committed: [] };
  const client = new WebTorrent({ dht: false, lsd: false, utp: false, tracker: { rtcConfig: { iceServers: [] } } });
  const dir = await opfsDir(o.opfsPath || 'model');
  const shardDir = await dir.getDirectoryHandle('shards', { create: true });
  const bytes = withoutUrlList(o.torrent);
  const keptNames = await opfsKeptShards(shardDir);
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { stop(); reject(new Error(`torrent: not done after ${o.timeoutMs / 1000} s`)); }, o.timeoutMs || 120000);
    client.on('error', (e) => { clearTimeout(timer); reject(e); });
    const torrent = client.add(bytes, { announce: o.trackers || [], store: undefined });
    o.onTorrent?.(torrent);
    // bytes received, by file (a piece of a padded shard lies in one file; the small files share)
    const account = (off, len) => {
      for (const f of torrent.files || []) {
        const n = Math.min(off + len, f.offset + f.length) - Math.max(off, f.offset);
        if (n > 0) stats.fetchedByFile[f.path] = (stats.fetchedByFile[f.path] || 0) + n;
      }
    };
    judgePeers(torrent, stats, log, account);
    torrent.on('wire', (wire) => {
      if (wire.type === 'webSeed') return;  // the mirrors: counted by fromMirrors
      stats.peers++;
      wire.on('download', (n) => { stats.fromPeers += n; });
    });
    torrent.on('warning', (e) => log(`torrent: ${e.message || e}`));
    const progress = setInterval(() => {
      const done = torrent.files ? torrent.files.filter((f) => f.done).length : 0;
      log(`torrent: ${(torrent.downloaded / 1048576).toFixed(1)}/${(torrent.length / 1048576 || 0).toFixed(1)} MiB, ` +
          `${torrent.numPeers} peers, ${done}/${torrent.files ? torrent.files.length : 0} files done` +
          (globalThis.DP_TORRENT_DEBUG ? ' ' + torrent.files.filter((f) => !f.done).map((f) => f.path).join(' ') : ''));
    }, 5000);
    const stop = () => clearInterval(progress);
    torrent.on('metadata', () => {
      // WebTorrent's own web-seed class, from a connection made and dropped at once
      const probe = 'http://0.0.0.0/probe';
      torrent.addWebSeed(probe);
      const WebConn = torrent._peers.get(probe).conn.constructor;
      torrent.removePeer(probe);
      const Strict = webSeedClass(WebConn, stats, log, account);
      for (const m of o.mirrors || []) torrent.addWebSeed(new Strict(m, torrent));
    });
    torrent.on('ready', async () => {
      const root = torrent.name + '/';
      const want = (f) => {
        const rel = f.path.slice(root.length);
        if (/(^|\/)\.pad\//.test(f.path)) return false;
        const m = /^shards\/([0-9a-f]{64})\.bin$/.exec(rel);
        return !m || !o.shards || o.shards.includes(m[1]);
      };
      // resume: what WebTorrent found verified in its store, and shards committed before
      for (let i = 0; i < torrent.pieces.length; i++)
        if (torrent.bitfield.get(i)) stats.resumed += i === torrent.pieces.length - 1 ? torrent.lastPieceLength : torrent.pieceLength;
      const kept = new Set(torrent.files.filter((f) => want(f) && keptNames.has(/shards\/([0-9a-f]{64})\.bin$/.exec(f.path)?.[1])));
      const files = torrent.files.filter((f) => want(f) && !kept.has(f));
      // deselect only shards not asked for or kept (whole pieces); a pad file shares its pieces
      // with the manifest or a tokenizer file, and deselecting it would drop those pieces too
      for (const f of torrent.files) if ((!want(f) || kept.has(f)) && !/(^|\/)\.pad\//.test(f.path)) f.deselect();
      for (const f of kept) stats.kept.push(f.path.slice(root.length)), stats.committed.push(f.path.slice(root.length));
      if (stats.resumed || kept.size)
        log(`torrent: resuming: ${(stats.resumed / 1048576).toFixed(2)} MiB of verified pieces in the piece store, ${kept.size} shards committed before`);
      let manifest = null;
      const commit = async (f) => {
        const rel = f.path.slice(root.length);
        const data = new Uint8Array(await f.arrayBuffer());
        const sha = hex(await crypto.subtle.digest('SHA-256', data));
        const m = /^shards\/([0-9a-f]{64})\.bin$/.exec(rel);
        if (m) {
          if (sha !== m[1]) throw new Error(`${rel}: SHA-256 ${sha} does not match its name`);
          await opfsCommit(shardDir, m[1] + '.bin', data);
        } else if (rel !== 'manifest.json') {
          const pin = manifest?.tokenizer?.hashes?.[rel];
          if (pin !== 'sha256:' + sha) throw new Error(`${rel} does not match the manifest's tokenizer.hashes`);
          await opfsCommit(dir, rel, data);
        }
        stats.committed.push(rel);
      };
      try {
        // the manifest first: it pins the tokenizer files; committed last
        const mf = files.find((f) => f.path === root + 'manifest.json');
        if (!mf) throw new Error('the torrent holds no manifest.json');
        await new Promise((res) => (mf.done ? res() : mf.once('done', res)));
        const mbytes = new Uint8Array(await mf.arrayBuffer());
        manifest = JSON.parse(new TextDecoder().decode(mbytes));
        const names = new Set((manifest.shards || []).map((s) => s.hash.replace('sha256:', '')));
        await Promise.all(files.filter((f) => f !== mf).map((f) => new Promise((res, rej) => {
          const go = () => {
            const m = /shards\/([0-9a-f]{64})\.bin$/.exec(f.path);
            if (m && !names.has(m[1])) return rej(new Error(`${f.path} is not in the manifest`));
            commit(f).then(res, rej);
          };
          f.done ? go() : f.once('done', go);
        })));
        await opfsCommit(dir, 'manifest.json', mbytes);
        stats.committed.push('manifest.json');
        stats.seconds = (performance.now() - t0) / 1000;
        clearTimeout(timer);
        stop();
        resolve({ ...stats, client, torrent, manifestSha256: hex(await crypto.subtle.digest('SHA-256', mbytes)) });
      } catch (e) {
        clearTimeout(timer);
        stop();
        reject(e);
      }
    });
  });
}

// Read back a committed shard and check it (the test's, and a loader's, last word).
export async function verifyOpfsShard(opfsPath, name) {
  const dir = await (await opfsDir(opfsPath)).getDirectoryHandle('shards');
  const f = await (await dir.getFileHandle(name + '.bin')).getFile();
  return hex(await crypto.subtle.digest('SHA-256', await f.arrayBuffer())) === name;
}
