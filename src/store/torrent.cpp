// torrent.cpp — torrent.h over libtorrent-rasterbar 2.0 (docs/TORRENT.md). C++ stays inside:
// every entry point catches, and a failure is one line in the caller's dp_error.
#include "store/torrent.h"

#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/alert_types.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/load_torrent.hpp>
#include <libtorrent/magnet_uri.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/posix_disk_io.hpp>
#include <libtorrent/extensions/smart_ban.hpp>
#include <libtorrent/extensions/ut_metadata.hpp>
#include <libtorrent/extensions/ut_pex.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>

extern "C" {
#include "base/base.h"
#include "base/sha256.h"
#include "format/rdrr.h"
}

namespace {

using clk = std::chrono::steady_clock;

struct fail {  // thrown inside, turned into a dp_error at the C boundary
    dp_status st;
    std::string msg;
};

[[noreturn]] void die(dp_status st, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    throw fail{st, buf};
}

template <class F> dp_status guard(dp_error *e, const char *what, F &&f) {
    try {
        f();
        return DP_OK;
    } catch (const fail &x) {
        return dp_err_set(e, x.st, "%s: %s", what, x.msg.c_str());
    } catch (const std::bad_alloc &) {
        return dp_err_set(e, DP_ERR_NOMEM, "%s: out of memory", what);
    } catch (const std::exception &x) {
        return dp_err_set(e, DP_ERR_IO, "%s: %s", what, x.what());
    }
}

void logf(dp_torrent_log_fn log, void *ud, const char *fmt, ...) {
    if (!log) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log(ud, buf);
}

bool is_hex64(const std::string &s) {
    return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string hex(const char *p, size_t n) {
    static const char d[] = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; i++) {
        s += d[(unsigned char)p[i] >> 4];
        s += d[(unsigned char)p[i] & 15];
    }
    return s;
}

std::string read_text(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) die(DP_ERR_NOT_FOUND, "cannot open %s: %s", path.c_str(), strerror(errno));
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void write_file(const std::string &path, const std::string &data) {
    dp_error e = {};
    if (dp_file_write_all(path.c_str(), data.data(), data.size(), &e) != DP_OK) die(e.status, "%s", e.msg);
}

// SHA-256 of a file's bytes (hex); its size in *size. Missing file: false.
bool sha256_file(const std::string &path, std::string *hex_out, uint64_t *size) {
    FILE *f = fopen(path.c_str(), "rb");
    if (!f) {
        if (errno == ENOENT) return false;
        die(DP_ERR_IO, "cannot open %s: %s", path.c_str(), strerror(errno));
    }
    dp_sha256_ctx c;
    dp_sha256_init(&c);
    std::vector<char> buf(1 << 20);
    uint64_t n = 0;
    size_t got;
    while ((got = fread(buf.data(), 1, buf.size(), f)) > 0) {
        dp_sha256_update(&c, buf.data(), got);
        n += got;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) die(DP_ERR_IO, "read error in %s", path.c_str());
    uint8_t d[32];
    char h[65];
    dp_sha256_final(&c, d);
    dp_sha256_hex(d, h);
    *hex_out = h;
    if (size) *size = n;
    return true;
}

struct manifest {
    dp_rdrr *r = nullptr;
    std::string text;
    manifest() = default;
    manifest(const manifest &) = delete;
    manifest &operator=(const manifest &) = delete;
    ~manifest() { dp_rdrr_free(r); }
    void parse(std::string t) {
        dp_rdrr_free(r);
        r = nullptr;
        text = std::move(t);
        dp_error e = {};
        if (dp_rdrr_parse_manifest(text.data(), text.size(), &r, &e) != DP_OK) die(e.status, "manifest.json: %s", e.msg);
    }
    // tokenizer.hashes: file name -> hex SHA-256
    std::map<std::string, std::string> tokenizer_hashes() const {
        std::map<std::string, std::string> out;
        const dp_json *h = dp_json_get(dp_rdrr_tokenizer(r), "hashes");
        if (!dp_json_is(h, DP_JSON_OBJECT)) return out;
        for (uint32_t i = 0; i < h->len; i++) {
            const dp_json *v = &h->u.items[i];
            const char *s;
            if (dp_json_str(v, &s) && strncmp(s, "sha256:", 7) == 0)
                out[std::string(v->key, v->key_len)] = s + 7;
        }
        return out;
    }
};

std::string model_id_of(const std::string &text) {
    uint8_t d[32];
    char h[65];
    dp_sha256(text.data(), text.size(), d);
    dp_sha256_hex(d, h);
    return h;
}

void fsync_path(const std::string &p) {
    int fd = open(p.c_str(), O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

// Copies src to <dir>/shards/<new sha256>.bin with zeros up to a multiple of piece; new hash.
std::string pad_shard(const std::string &dir, const std::string &src, uint64_t size, uint64_t piece) {
    std::string tmp = dir + "/shards/.pad.part";
    FILE *in = fopen(src.c_str(), "rb");
    if (!in) die(DP_ERR_NOT_FOUND, "cannot open %s: %s", src.c_str(), strerror(errno));
    FILE *out = fopen(tmp.c_str(), "wb");
    if (!out) {
        fclose(in);
        die(DP_ERR_IO, "cannot create %s: %s", tmp.c_str(), strerror(errno));
    }
    dp_sha256_ctx c;
    dp_sha256_init(&c);
    std::vector<char> buf(1 << 20);
    uint64_t n = 0, padded = (size + piece - 1) / piece * piece;
    bool ok = true;
    size_t got;
    while (ok && (got = fread(buf.data(), 1, buf.size(), in)) > 0) {
        dp_sha256_update(&c, buf.data(), got);
        ok = fwrite(buf.data(), 1, got, out) == got;
        n += got;
    }
    ok = ok && !ferror(in) && n == size;
    std::fill(buf.begin(), buf.end(), 0);
    while (ok && n < padded) {
        size_t k = (size_t)std::min<uint64_t>(buf.size(), padded - n);
        dp_sha256_update(&c, buf.data(), k);
        ok = fwrite(buf.data(), 1, k, out) == k;
        n += k;
    }
    fclose(in);
    ok = fflush(out) == 0 && fsync(fileno(out)) == 0 && ok;
    ok = fclose(out) == 0 && ok;
    uint8_t d[32];
    char h[65];
    dp_sha256_final(&c, d);
    dp_sha256_hex(d, h);
    std::string dst = dir + "/shards/" + h + ".bin";
    if (!ok || rename(tmp.c_str(), dst.c_str()) != 0) {
        unlink(tmp.c_str());
        die(DP_ERR_IO, "padding %s failed (a short file, or disk full)", src.c_str());
    }
    return h;
}

std::string basename_of(const std::string &dir) {
    char *rp = realpath(dir.c_str(), nullptr);
    if (!rp) die(DP_ERR_NOT_FOUND, "%s: %s", dir.c_str(), strerror(errno));
    std::string s = rp;
    free(rp);
    size_t k = s.find_last_of('/');
    return k == std::string::npos ? s : s.substr(k + 1);
}

// ---- the files of a model's torrent: <name>/manifest.json, <name>/shards/<hex>.bin, <name>/<tokenizer file> ----

enum class kind { pad, manifest, shard, other };

struct tfile {
    kind k = kind::pad;
    std::string rel;  // path under the model directory
    std::string hex;  // shards: the SHA-256 name
    int64_t size = 0;
};

std::vector<tfile> layout(const lt::torrent_info &ti) {
    const lt::file_storage &fs = ti.files();
    std::string root = ti.name() + "/";
    std::vector<tfile> out;
    bool have_manifest = false;
    for (lt::file_index_t i : fs.file_range()) {
        tfile f;
        f.size = fs.file_size(i);
        if (fs.pad_file_at(i)) {
            out.push_back(f);
            continue;
        }
        std::string p = fs.file_path(i);
        if (p.compare(0, root.size(), root) != 0) die(DP_ERR_FORMAT, "torrent file '%.200s' is not under '%s'", p.c_str(), root.c_str());
        f.rel = p.substr(root.size());
        if (f.rel == "manifest.json") {
            f.k = kind::manifest;
            have_manifest = true;
        } else if (f.rel.compare(0, 7, "shards/") == 0 && f.rel.size() == 7 + 64 + 4 &&
                   is_hex64(f.rel.substr(7, 64)) && f.rel.compare(71, 4, ".bin") == 0) {
            f.k = kind::shard;
            f.hex = f.rel.substr(7, 64);
        } else if (f.rel.find('/') == std::string::npos && f.rel[0] != '.') {
            f.k = kind::other;
        } else {
            die(DP_ERR_FORMAT, "torrent file '%.200s' is not a model file (manifest.json, shards/<sha256>.bin, tokenizer files)", p.c_str());
        }
        out.push_back(f);
    }
    if (!have_manifest) die(DP_ERR_FORMAT, "the torrent holds no manifest.json");
    return out;
}

// ---- sessions ----

lt::settings_pack settings(const dp_torrent_net *n) {
    lt::settings_pack s;
    using sp = lt::settings_pack;
    s.set_str(sp::listen_interfaces, n && n->listen ? n->listen : "0.0.0.0:0");
    s.set_int(sp::alert_mask, (lt::alert_category::error | lt::alert_category::status | lt::alert_category::storage |
                               lt::alert_category::peer | lt::alert_category::file_progress | lt::alert_category::tracker | lt::alert_category::block_progress |
                               lt::alert_category::piece_progress |
                               (getenv("DP_TORRENT_DEBUG") ? lt::alert_category::connect : lt::alert_category_t{})));
    s.set_bool(sp::enable_dht, false);
    s.set_bool(sp::enable_lsd, false);
    s.set_bool(sp::enable_upnp, false);
    s.set_bool(sp::enable_natpmp, false);
    s.set_bool(sp::enable_outgoing_utp, false);
    s.set_bool(sp::enable_incoming_utp, false);
    s.set_bool(sp::allow_multiple_connections_per_ip, true);
    s.set_bool(sp::ban_web_seeds, true);
    s.set_bool(sp::announce_to_all_trackers, true);
    s.set_bool(sp::announce_to_all_tiers, true);
    // libtorrent's default of 3 web seeds at a time lets a few bad mirrors (one that truncates
    // is retried at once, one that stalls holds its slot until the timeout) starve the good
    // ones: a model has a handful of mirrors, use them all
    s.set_int(sp::max_web_seed_connections, 32);
    // bounded: a silent or slow source is dropped in seconds, its requests go to others
    s.set_int(sp::peer_connect_timeout, 3);
    s.set_int(sp::handshake_timeout, 5);
    s.set_int(sp::request_timeout, 8);
    s.set_int(sp::piece_timeout, 5);
    s.set_int(sp::peer_timeout, 20);
    s.set_int(sp::urlseed_timeout, 5);
    s.set_int(sp::urlseed_wait_retry, 10);
    s.set_int(sp::inactivity_timeout, 30);
    s.set_int(sp::min_reconnect_time, 2);
    s.set_int(sp::tracker_completion_timeout, 10);
    s.set_int(sp::tracker_receive_timeout, 5);
    s.set_str(sp::user_agent, "doppler/libtorrent-" LIBTORRENT_VERSION);
    return s;
}

// the plugins, named: metadata exchange (magnet links), peer exchange, and smart_ban (a piece
// that failed its hash is compared block by block with the good copy to find who lied)
// Disk I/O through pread/pwrite, not libtorrent 2.0's default memory-mapped storage: with the
// mmap storage, about 1 pull in 15 against the test's 4 bad mirrors (tests/test_torrent.sh)
// left a piece whose one block was written but never hashed, and the pull stalled for good;
// with posix_disk_io, 0 in 60. It also writes each block before the piece counts as done.
lt::session_params params(const dp_torrent_net *n) {
    lt::session_params sp(settings(n), {});
    sp.disk_io_constructor = lt::posix_disk_io_constructor;
    return sp;
}

void add_plugins(lt::session &ses) {
    ses.add_extension(&lt::create_ut_metadata_plugin);
    ses.add_extension(&lt::create_ut_pex_plugin);
    ses.add_extension(&lt::create_smart_ban_plugin);
}

std::string ep_str(const lt::tcp::endpoint &ep) {
    std::ostringstream o;
    o << ep;
    return o.str();
}

lt::tcp::endpoint parse_ep(const char *s) {
    std::string v = s;
    size_t k = v.find_last_of(':');
    if (k == std::string::npos) die(DP_ERR_INVALID_ARG, "peer '%.80s' is not ip:port", s);
    std::string ip = v.substr(0, k);
    if (ip.size() > 1 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    lt::error_code ec;
    auto addr = lt::make_address(ip, ec);
    char *end = nullptr;
    long port = strtol(v.c_str() + k + 1, &end, 10);
    if (ec || !end || *end || port < 1 || port > 65535) die(DP_ERR_INVALID_ARG, "peer '%.80s' is not ip:port", s);
    return lt::tcp::endpoint(addr, (unsigned short)port);
}

// A peer id as a log shows it: its printable client prefix (e.g. "-LT2080-"), else hex
static std::string pid_str(const lt::peer_id &pid) {
    std::string out;
    for (int i = 0; i < 8 && pid[i] >= 0x20 && pid[i] < 0x7f; i++) out += (char)pid[i];
    if (out.size() >= 3) return out;
    static const char *const X = "0123456789abcdef";
    out.clear();
    for (int i = 0; i < 8; i++) out += std::string(1, X[(unsigned char)pid[i] >> 4]) + X[(unsigned char)pid[i] & 15];
    return out;
}

// What both seed and pull report from alerts; returns false when the alert is a fatal error.
struct events {
    dp_torrent_log_fn log;
    void *ud;
    events(dp_torrent_log_fn l, void *u) : log(l), ud(u) {}
    uint32_t banned = 0, dropped = 0, hash_failures = 0;
    std::set<std::string> dropped_urls, banned_eps;
    std::string fatal;
    int listen_port = 0;

    void on(lt::alert *a) {
        if (auto *b = lt::alert_cast<lt::peer_ban_alert>(a)) {
            banned_eps.insert(ep_str(b->endpoint));
            banned = (uint32_t)banned_eps.size();
            logf(log, ud, "banned peer %s, id %s (sent data that failed its hash)", ep_str(b->endpoint).c_str(),
                 pid_str(b->pid).c_str());
        } else if (auto *u = lt::alert_cast<lt::url_seed_alert>(a)) {
            std::string url = u->server_url();
            dropped_urls.insert(url);
            dropped = (uint32_t)dropped_urls.size();
            logf(log, ud, "web seed %s: %s", url.c_str(), u->error ? u->error.message().c_str() : u->error_message());
        } else if (auto *h = lt::alert_cast<lt::hash_failed_alert>(a)) {
            hash_failures++;
            logf(log, ud, "piece %d failed its hash: discarded, its senders lose trust", (int)h->piece_index);
        } else if (auto *l = lt::alert_cast<lt::listen_succeeded_alert>(a)) {
            if (l->socket_type == lt::socket_type_t::tcp) listen_port = l->port;
        } else if (auto *lf = lt::alert_cast<lt::listen_failed_alert>(a)) {
            fatal = std::string("cannot listen on ") + lf->listen_interface() + ": " + lf->error.message();
        } else if (auto *te = lt::alert_cast<lt::torrent_error_alert>(a)) {
            fatal = te->message();
        } else if (auto *fe = lt::alert_cast<lt::file_error_alert>(a)) {
            fatal = fe->message();
        } else if (auto *pd = lt::alert_cast<lt::peer_disconnected_alert>(a)) {
            if (getenv("DP_TORRENT_DEBUG")) logf(log, ud, "disconnected %s: %s", ep_str(pd->endpoint).c_str(), pd->message().c_str());
        } else if (auto *pe = lt::alert_cast<lt::peer_error_alert>(a)) {
            logf(log, ud, "dropped %s: %s", ep_str(pe->endpoint).c_str(), pe->error.message().c_str());
        } else if (auto *tr = lt::alert_cast<lt::tracker_error_alert>(a)) {
            logf(log, ud, "tracker %s: %s", tr->tracker_url(), tr->error.message().c_str());
        }
    }
};

bool stopped(const dp_torrent_net *n) { return n && n->stop && *n->stop; }

// renamed_files so that the torrent's <name>/x lands at <save_path>/x
void strip_root(lt::add_torrent_params &atp, const std::vector<tfile> &files, const std::string &prefix) {
    for (size_t i = 0; i < files.size(); i++)
        if (files[i].k != kind::pad) atp.renamed_files[lt::file_index_t((int)i)] = prefix + files[i].rel;
}

std::shared_ptr<lt::torrent_info> load_ti(const std::string &path) {
    lt::error_code ec;
    auto ti = std::make_shared<lt::torrent_info>(path, ec);
    if (ec) die(DP_ERR_FORMAT, "%s: %s", path.c_str(), ec.message().c_str());
    return ti;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

extern "C" dp_status dp_torrent_create(const char *model_dir, const dp_torrent_create_opts *o,
                                       dp_torrent_created *out, dp_error *e) {
    if (!model_dir || !o || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "torrent create: NULL argument");
    memset(out, 0, sizeof *out);
    return guard(e, "torrent create", [&] {
        std::string dir = model_dir;
        std::string name = basename_of(dir);
        manifest m;
        m.parse(read_text(dir + "/manifest.json"));
        size_t ns = dp_rdrr_n_shards(m.r);
        uint64_t total = 0;
        for (uint32_t i = 0; i < ns; i++) total += dp_rdrr_shard_size(m.r, i);
        uint64_t piece = o->piece_size;
        if (piece == 0) {
            piece = 16384;
            while (piece < (1u << 20) && total / piece > 2048) piece *= 2;
        }
        if (piece < 16384 || piece > (64u << 20) || (piece & (piece - 1)))
            die(DP_ERR_INVALID_ARG, "piece size %llu is not a power of two in [16 KiB, 64 MiB]", (unsigned long long)piece);
        for (size_t i = 0; i < o->n_web_seeds; i++) {
            std::string u = o->web_seeds[i];
            while (!u.empty() && u.back() == '/') u.pop_back();
            size_t k = u.find_last_of('/');
            if (u.compare(0, 7, "http://") != 0 && u.compare(0, 8, "https://") != 0)
                die(DP_ERR_INVALID_ARG, "web seed '%.200s' is not an http(s) URL", o->web_seeds[i]);
            if (k == std::string::npos || u.substr(k + 1) != name)
                die(DP_ERR_INVALID_ARG, "web seed '%.200s' must end in /%s/ (the model directory's name, as in the torrent)",
                    o->web_seeds[i], name.c_str());
        }

        // 1. pad every shard to whole pieces (new content, new name), then the manifest
        std::string text = m.text;
        std::vector<std::string> old_files;
        for (uint32_t i = 0; i < ns; i++) {
            uint64_t size = dp_rdrr_shard_size(m.r, i);
            if (size % piece == 0) continue;
            std::string h = dp_rdrr_shard_hash(m.r, i);
            std::string src = dir + "/shards/" + h + ".bin";
            std::string got;
            uint64_t got_size = 0;
            if (!sha256_file(src, &got, &got_size)) die(DP_ERR_NOT_FOUND, "shard %s is missing", src.c_str());
            if (got != h || got_size != size) die(DP_ERR_HASH, "shard %s does not match its name: run `doppler verify`", src.c_str());
            std::string nh = pad_shard(dir, src, size, piece);
            uint64_t nsz = (size + piece - 1) / piece * piece;
            char from[160], to[160];
            snprintf(from, sizeof from, "{\"hash\": \"sha256:%s\", \"size\": %llu}", h.c_str(), (unsigned long long)size);
            snprintf(to, sizeof to, "{\"hash\": \"sha256:%s\", \"size\": %llu}", nh.c_str(), (unsigned long long)nsz);
            size_t at = text.find(from);
            if (at == std::string::npos)
                die(DP_ERR_UNSUPPORTED, "manifest.json is not laid out as `doppler convert` writes it; convert the model again");
            // the same shard may be listed twice (identical bytes): patch every entry
            for (; at != std::string::npos; at = text.find(from, at + strlen(to))) text.replace(at, strlen(from), to);
            old_files.push_back(src);
            out->n_padded++;
        }
        if (out->n_padded) {
            manifest check;
            check.parse(text);  // the reader's own validator, and every shard now a whole number of pieces
            for (uint32_t i = 0; i < dp_rdrr_n_shards(check.r); i++)
                if (dp_rdrr_shard_size(check.r, i) % piece) die(DP_ERR_INTERNAL, "shard %u still unpadded", i);
            std::string tmp = dir + "/.manifest.json.tmp";
            write_file(tmp, text);
            if (rename(tmp.c_str(), (dir + "/manifest.json").c_str()) != 0) die(DP_ERR_IO, "rename manifest.json: %s", strerror(errno));
            fsync_path(dir);
            m.parse(text);
            std::set<std::string> keep;
            for (uint32_t i = 0; i < dp_rdrr_n_shards(m.r); i++) keep.insert(dir + "/shards/" + dp_rdrr_shard_hash(m.r, i) + ".bin");
            for (auto &f : old_files)
                if (!keep.count(f)) unlink(f.c_str());
            logf(o->log, o->log_ud, "padded %u shards to whole %llu-byte pieces (the model id changed)", out->n_padded,
                 (unsigned long long)piece);
        }
        snprintf(out->model_id, sizeof out->model_id, "%s", model_id_of(m.text).c_str());

        // 2. the torrent: manifest, shards (each once), the tokenizer files the manifest pins
        lt::file_storage fs;
        fs.set_name(name);
        fs.add_file(name + "/manifest.json", (int64_t)m.text.size());
        std::set<std::string> seen;
        for (uint32_t i = 0; i < dp_rdrr_n_shards(m.r); i++) {
            std::string h = dp_rdrr_shard_hash(m.r, i);
            if (seen.insert(h).second) fs.add_file(name + "/shards/" + h + ".bin", (int64_t)dp_rdrr_shard_size(m.r, i));
        }
        for (auto &kv : m.tokenizer_hashes()) {
            std::string got;
            uint64_t sz = 0;
            if (!sha256_file(dir + "/" + kv.first, &got, &sz)) die(DP_ERR_NOT_FOUND, "tokenizer file %s is missing", kv.first.c_str());
            if (got != kv.second) die(DP_ERR_HASH, "tokenizer file %s does not match the manifest", kv.first.c_str());
            fs.add_file(name + "/" + kv.first, (int64_t)sz);
        }
        lt::create_torrent ct(fs, (int)piece);
        for (size_t i = 0; i < o->n_trackers; i++) ct.add_tracker(o->trackers[i], (int)i);
        for (size_t i = 0; i < o->n_web_seeds; i++) {
            std::string u = o->web_seeds[i];
            while (!u.empty() && u.back() == '/') u.pop_back();
            ct.add_url_seed(u.substr(0, u.find_last_of('/') + 1));  // BEP 19: + <name>/<path>
        }
        ct.set_creator("doppler");
        lt::error_code ec;
        std::string parent = dir + "/..";
        lt::set_piece_hashes(ct, parent, ec);
        if (ec) die(DP_ERR_IO, "hashing the files: %s", ec.message().c_str());
        for (lt::file_index_t i : ct.files().file_range())
            if (!ct.files().pad_file_at(i) && ct.files().file_path(i).find("/shards/") != std::string::npos &&
                ct.files().file_offset(i) % (int64_t)piece)
                die(DP_ERR_INTERNAL, "shard %s does not start on a piece", ct.files().file_path(i).c_str());
        std::vector<char> buf;
        lt::bencode(std::back_inserter(buf), ct.generate());
        write_file(dir + "/model.torrent", std::string(buf.begin(), buf.end()));

        lt::torrent_info ti(buf, ec, lt::from_span);
        if (ec) die(DP_ERR_INTERNAL, "reading back model.torrent: %s", ec.message().c_str());
        lt::info_hash_t ih = ti.info_hashes();
        snprintf(out->infohash_v1, sizeof out->infohash_v1, "%s", hex(ih.v1.data(), 20).c_str());
        snprintf(out->infohash_v2, sizeof out->infohash_v2, "%s", hex(ih.v2.data(), 32).c_str());
        out->piece_size = (uint32_t)piece;
        dp_buf j = {};
        dp_buf_printf(&j, "{\n  \"infohash_v1\": \"%s\",\n  \"infohash_v2\": \"%s\",\n  \"model_id\": \"%s\",\n"
                          "  \"piece_size\": %u,\n  \"torrent\": \"model.torrent\",\n  \"magnet\": ",
                      out->infohash_v1, out->infohash_v2, out->model_id, out->piece_size);
        std::string mag = lt::make_magnet_uri(ti);
        dp_json_write_str(&j, mag.data(), mag.size());
        dp_buf_printf(&j, "\n}\n");
        bool oom = j.oom;
        std::string js = oom ? std::string() : std::string(j.data, j.len);
        dp_buf_free(&j);
        if (oom) die(DP_ERR_NOMEM, "out of memory");
        write_file(dir + "/torrent.json", js);
    });
}

extern "C" dp_status dp_torrent_seed(const char *model_dir, const char *torrent_file, const dp_torrent_net *net,
                                     dp_error *e) {
    if (!model_dir || !net) return dp_err_set(e, DP_ERR_INVALID_ARG, "torrent seed: NULL argument");
    return guard(e, "torrent seed", [&] {
        std::string dir = model_dir;
        auto ti = load_ti(torrent_file ? torrent_file : dir + "/model.torrent");
        auto files = layout(*ti);
        lt::add_torrent_params atp;
        atp.ti = ti;
        atp.save_path = dir;
        strip_root(atp, files, "");
        // serve what is here; a missing shard is not fetched
        atp.file_priorities.resize(files.size(), lt::default_priority);
        size_t have = 0, n = 0;
        for (size_t i = 0; i < files.size(); i++) {
            if (files[i].k == kind::pad) continue;
            n++;
            struct stat sb;
            if (stat((dir + "/" + files[i].rel).c_str(), &sb) == 0 && sb.st_size == files[i].size) have++;
            else atp.file_priorities[i] = lt::dont_download;
        }
        atp.flags &= ~(lt::torrent_flags::paused | lt::torrent_flags::auto_managed);
        lt::session ses(params(net));
        add_plugins(ses);
        lt::torrent_handle h = ses.add_torrent(std::move(atp));
        for (size_t i = 0; i < net->n_peers; i++) h.connect_peer(parse_ep(net->peers[i]));
        events ev(net->log, net->log_ud);
        auto t0 = clk::now();
        bool announced = false;
        while (!stopped(net)) {
            if (net->timeout_s > 0 && clk::now() - t0 > std::chrono::seconds(net->timeout_s)) break;
            ses.wait_for_alert(std::chrono::milliseconds(200));
            std::vector<lt::alert *> as;
            ses.pop_alerts(&as);
            for (auto *a : as) ev.on(a);
            if (!ev.fatal.empty()) die(DP_ERR_IO, "%s", ev.fatal.c_str());
            lt::torrent_status s = h.status();
            if (!announced && (s.state == lt::torrent_status::seeding || s.state == lt::torrent_status::finished)) {
                announced = true;
                logf(net->log, net->log_ud, "seeding %s (v2 %s) on port %d: %zu of %zu files, %lld bytes checked",
                     ti->name().c_str(), hex(ti->info_hashes().v2.data(), 32).c_str(), (int)ses.listen_port(), have, n,
                     (long long)s.total_wanted_done);
            }
        }
        lt::torrent_status s = h.status();
        logf(net->log, net->log_ud, "seeded: %lld bytes uploaded, %u peers banned", (long long)s.all_time_upload, ev.banned);
    });
}

namespace {

struct puller {
    const dp_torrent_pull_opts *o;
    std::string dest, part;
    lt::session ses;
    lt::torrent_handle h;
    std::vector<tfile> files;
    std::vector<bool> want, done;  // per file: selected; committed into dest
    std::set<int> renaming;             // files being committed
    std::map<int, std::set<std::string>> senders;  // piece -> endpoints that sent its blocks
    std::map<std::string, std::string> web_eps;   // "ip:port" -> the web seed URL there
    std::map<int, std::pair<clk::time_point, int>> pending;  // completed, to check again: when, tries
    events ev;
    std::map<std::string, int64_t> got_web;  // per web seed connection: payload bytes seen so far
    explicit puller(const dp_torrent_pull_opts *opts) : o(opts), ses(params(&opts->net)), ev(opts->net.log, opts->net.log_ud) {
        add_plugins(ses);
    }

    void log(const char *fmt, const std::string &a) { logf(o->net.log, o->net.log_ud, fmt, a.c_str()); }

    void pump(int ms) {
        ses.wait_for_alert(std::chrono::milliseconds(ms));
        std::vector<lt::alert *> as;
        ses.pop_alerts(&as);
        for (auto *a : as) {
            ev.on(a);
            if (auto *fc = lt::alert_cast<lt::file_completed_alert>(a)) completed((int)fc->index);
            else if (auto *bf = lt::alert_cast<lt::block_finished_alert>(a))
                senders[(int)bf->piece_index].insert(ep_str(bf->endpoint));
            else if (auto *pf = lt::alert_cast<lt::piece_finished_alert>(a))
                senders.erase((int)pf->piece_index);
            else if (auto *hf = lt::alert_cast<lt::hash_failed_alert>(a))
                blame((int)hf->piece_index);
            if (auto *fr = lt::alert_cast<lt::file_renamed_alert>(a)) {
                renaming.erase((int)fr->index);
                done[(size_t)(int)fr->index] = true;
            } else if (auto *ff = lt::alert_cast<lt::file_rename_failed_alert>(a))
                die(DP_ERR_IO, "committing %s: %s", files[(size_t)(int)ff->index].rel.c_str(), ff->error.message().c_str());
        }
        if (!ev.fatal.empty()) die(DP_ERR_IO, "%s", ev.fatal.c_str());
        for (auto it = pending.begin(); it != pending.end();) {
            auto cur = it++;
            if (cur->second.first <= clk::now()) completed(cur->first);
        }
        if (!h.is_valid()) return;
        std::vector<lt::peer_info> ps;
        h.get_peer_info(ps);
        for (auto &p : ps)
            if (p.connection_type != lt::peer_info::standard_bittorrent) {
                int64_t &v = got_web[ep_str(p.ip)];
                v = std::max<int64_t>(v, p.total_download);
            }
    }

    // a shard's last piece passed: check the whole file against its name, then rename it in.
    // libtorrent posts file_completed while the last blocks may still be in its store buffer
    // (the file reads short or with zeros for a moment; measured), so a mismatch is checked
    // again with a backoff (50 ms doubling, about 6 s in all) before it counts. (Flushing the
    // cache instead left a piece hashed but never marked had, now and then, in 2.0.8.)
    void completed(int i) {
        tfile &f = files[(size_t)i];
        if (f.k != kind::shard || done[(size_t)i] || renaming.count(i)) return;
        std::string got;
        uint64_t sz = 0;
        std::string at = part + "/" + f.rel;
        if (!sha256_file(at, &got, &sz) || got != f.hex || (int64_t)sz != f.size) {
            int tries = pending.count(i) ? pending[i].second + 1 : 0;
            if (tries < 7) {
                pending[i] = {clk::now() + std::chrono::milliseconds(50 << tries), tries};
                return;
            }
            unlink(at.c_str());
            die(DP_ERR_HASH, "shard %s: the torrent's pieces do not make the bytes its name promises (a torrent that does not match the model)",
                f.hex.c_str());
        }
        pending.erase(i);
        renaming.insert(i);
        h.rename_file(lt::file_index_t(i), f.rel);
    }

    // libtorrent lowers a web seed's trust for a failed piece but bans it only after several
    // (measured: a corrupt mirror sent 3 bad pieces and stayed); a piece whose every block came
    // from one web seed convicts that web seed at once
    void blame(int piece) {
        auto it = senders.find(piece);
        if (it == senders.end()) return;
        std::set<std::string> who = it->second;
        senders.erase(it);
        if (who.size() != 1) return;
        auto w = web_eps.find(*who.begin());
        if (w == web_eps.end()) return;  // a peer: libtorrent bans a lone sender itself
        logf(o->net.log, o->net.log_ud, "banned web seed %s: piece %d, which it alone sent, failed its hash", w->second.c_str(), piece);
        ev.dropped_urls.insert(w->second);
        ev.banned_eps.insert(w->first);
        ev.banned = (uint32_t)ev.banned_eps.size();
        ev.dropped = (uint32_t)ev.dropped_urls.size();
        h.remove_url_seed(w->second);
        web_eps.erase(w);
    }

    // the endpoints of the torrent's web seeds (numeric hosts as written, names resolved once)
    void map_web_seeds(const lt::torrent_info &ti) {
        for (auto &ws : ti.web_seeds()) {
            std::string u = ws.url, rest = u.substr(u.find("://") == std::string::npos ? 0 : u.find("://") + 3);
            std::string hostport = rest.substr(0, rest.find('/'));
            bool https = u.compare(0, 8, "https://") == 0;
            std::string host = hostport, port = https ? "443" : "80";
            size_t c = hostport.find_last_of(':');
            if (c != std::string::npos && hostport.find(']') == std::string::npos) {
                host = hostport.substr(0, c);
                port = hostport.substr(c + 1);
            }
            lt::error_code ec;
            auto addr = lt::make_address(host, ec);
            if (!ec) {
                web_eps[ep_str(lt::tcp::endpoint(addr, (unsigned short)atoi(port.c_str())))] = u;
                continue;
            }
            struct addrinfo hints = {}, *res = nullptr;
            hints.ai_socktype = SOCK_STREAM;
            if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) continue;
            for (auto *r = res; r; r = r->ai_next) {
                char ip[INET6_ADDRSTRLEN];
                void *sa = r->ai_family == AF_INET ? (void *)&((sockaddr_in *)r->ai_addr)->sin_addr
                                                   : (void *)&((sockaddr_in6 *)r->ai_addr)->sin6_addr;
                if (inet_ntop(r->ai_family, sa, ip, sizeof ip))
                    web_eps[ep_str(lt::tcp::endpoint(lt::make_address(ip, ec), (unsigned short)atoi(port.c_str())))] = u;
            }
            freeaddrinfo(res);
        }
    }

    int64_t sum(const std::map<std::string, int64_t> &m) {
        int64_t s = 0;
        for (auto &kv : m) s += kv.second;
        return s;
    }
};

std::shared_ptr<lt::torrent_info> magnet_metadata(puller &p, const char *uri) {
    lt::error_code ec;
    lt::add_torrent_params atp = lt::parse_magnet_uri(uri, ec);
    if (ec) die(DP_ERR_INVALID_ARG, "'%.200s' is not a magnet link: %s", uri, ec.message().c_str());
    atp.save_path = p.part + "/meta";
    atp.flags &= ~(lt::torrent_flags::paused | lt::torrent_flags::auto_managed);
    atp.flags |= lt::torrent_flags::upload_mode;  // metadata only
    lt::torrent_handle h = p.ses.add_torrent(std::move(atp), ec);
    if (ec) die(DP_ERR_INVALID_ARG, "magnet link: %s", ec.message().c_str());
    for (size_t i = 0; i < p.o->net.n_peers; i++) h.connect_peer(parse_ep(p.o->net.peers[i]));
    auto t0 = clk::now();
    int limit = p.o->net.stall_s > 0 ? p.o->net.stall_s : 60;
    while (!h.torrent_file()) {
        if (stopped(&p.o->net)) die(DP_ERR_IO, "interrupted");
        if (clk::now() - t0 > std::chrono::seconds(limit)) die(DP_ERR_IO, "no peer sent the torrent's metadata in %d s", limit);
        p.pump(200);
    }
    auto ti = std::make_shared<lt::torrent_info>(*h.torrent_file());
    p.ses.remove_torrent(h);
    for (auto t1 = clk::now(); clk::now() - t1 < std::chrono::seconds(5);) {
        std::vector<lt::alert *> as;
        p.ses.wait_for_alert(std::chrono::milliseconds(100));
        p.ses.pop_alerts(&as);
        bool gone = false;
        for (auto *a : as) gone = gone || lt::alert_cast<lt::torrent_removed_alert>(a);
        if (gone) break;
    }
    return ti;
}

}  // namespace

extern "C" dp_status dp_torrent_pull(const char *src, const char *dest, const dp_torrent_pull_opts *o,
                                     dp_torrent_pull_stats *stats, dp_error *e) {
    if (!src || !dest || !o) return dp_err_set(e, DP_ERR_INVALID_ARG, "torrent pull: NULL argument");
    dp_torrent_pull_stats st = {};
    auto t0 = clk::now();
    dp_status rc = guard(e, "torrent pull", [&] {
        puller p(o);
        p.dest = dest;
        p.part = p.dest + "/.torrent";
        dp_error me = {};
        if (dp_mkdir_p((p.dest + "/shards").c_str(), &me) != DP_OK || dp_mkdir_p(p.part.c_str(), &me) != DP_OK)
            die(me.status, "%s", me.msg);
        bool magnet = strncmp(src, "magnet:", 7) == 0;
        auto ti = magnet ? magnet_metadata(p, src) : load_ti(src);
        p.files = layout(*ti);
        size_t nf = p.files.size();
        p.want.assign(nf, false);
        p.done.assign(nf, false);
        std::set<std::string> sel;
        for (size_t i = 0; i < o->n_shards; i++) {
            if (!is_hex64(o->shards[i])) die(DP_ERR_INVALID_ARG, "'%.80s' is not a shard name (64 lowercase hex)", o->shards[i]);
            sel.insert(o->shards[i]);
        }
        p.map_web_seeds(*ti);
        lt::add_torrent_params atp;
        atp.ti = ti;
        atp.save_path = p.dest;
        atp.file_priorities.assign(nf, lt::dont_download);
        size_t found = 0;
        for (size_t i = 0; i < nf; i++) {
            tfile &f = p.files[i];
            if (f.k == kind::pad) continue;
            bool w = f.k != kind::shard || sel.empty() || sel.count(f.hex);
            if (f.k == kind::shard && sel.count(f.hex)) found++;
            std::string final_path = p.dest + "/" + f.rel, got;
            uint64_t sz = 0;
            // a committed shard that still matches its name is kept (and seeded); a bad one goes
            if (f.k == kind::shard && sha256_file(final_path, &got, &sz)) {
                if (got == f.hex && (int64_t)sz == f.size) {
                    atp.renamed_files[lt::file_index_t((int)i)] = f.rel;
                    p.done[i] = true;
                    st.bytes_resumed += (uint64_t)f.size;
                } else {
                    p.log("removed %s: it does not match its SHA-256 name", final_path);
                    unlink(final_path.c_str());
                }
            }
            if (!p.done[i]) atp.renamed_files[lt::file_index_t((int)i)] = ".torrent/" + f.rel;
            p.want[i] = w;
            if (w) {
                st.bytes_wanted += (uint64_t)f.size;
                atp.file_priorities[i] = f.k == kind::shard ? lt::default_priority : lt::top_priority;
            }
        }
        if (found != sel.size()) die(DP_ERR_NOT_FOUND, "%zu of the shards asked for are not in the torrent", sel.size() - found);
        atp.flags &= ~(lt::torrent_flags::paused | lt::torrent_flags::auto_managed);
        atp.flags |= lt::torrent_flags::stop_when_ready;  // count what is on disk before any source sends
        lt::error_code ec;
        p.h = p.ses.add_torrent(std::move(atp), ec);
        if (ec) die(DP_ERR_IO, "adding the torrent: %s", ec.message().c_str());
        for (size_t i = 0; i < o->net.n_peers; i++) p.h.connect_peer(parse_ep(o->net.peers[i]));

        int stall = o->net.stall_s > 0 ? o->net.stall_s : 60;
        auto last_progress = clk::now(), last_log = clk::now(), last_nudge = clk::now();
        int64_t last_done = -1;
        bool checked = false;
        std::vector<size_t> tail;  // manifest and tokenizer files: committed last
        for (size_t i = 0; i < nf; i++)
            if (p.want[i] && p.files[i].k != kind::shard) tail.push_back(i);
        auto all_shards_in = [&] {
            for (size_t i = 0; i < nf; i++)
                if (p.want[i] && p.files[i].k == kind::shard && !p.done[i]) return false;
            return true;
        };
        auto tail_ready = [&] {
            std::vector<int64_t> prog;
            p.h.file_progress(prog, lt::torrent_handle::piece_granularity);
            for (size_t i : tail)
                if (prog[i] != p.files[i].size) return false;
            return true;
        };
        for (;;) {
            if (stopped(&o->net)) die(DP_ERR_IO, "interrupted (what was verified stays; run again to resume)");
            p.pump(200);
            lt::torrent_status s = p.h.status();
            if (s.state == lt::torrent_status::checking_files || s.state == lt::torrent_status::checking_resume_data) continue;
            if (!checked) {
                if (!(s.flags & lt::torrent_flags::paused)) continue;
                checked = true;
                p.h.resume();
                int64_t on_disk = s.total_wanted_done;
                st.bytes_resumed = (uint64_t)on_disk;
                if (on_disk > 0) p.log("resuming: %s bytes already on disk passed their hashes", std::to_string(on_disk));
                // files that were complete on disk post no file_completed_alert: commit them now
                std::vector<int64_t> prog;
                p.h.file_progress(prog, lt::torrent_handle::piece_granularity);
                for (size_t i = 0; i < nf; i++)
                    if (p.want[i] && !p.done[i] && prog[i] == p.files[i].size) p.completed((int)i);  // on disk already
            }
            auto now = clk::now();
            if (s.total_wanted_done != last_done) {
                last_done = s.total_wanted_done;
                last_progress = now;
            }
            if (all_shards_in() && p.renaming.empty() && p.pending.empty() && tail_ready()) break;
            if (now - last_log >= std::chrono::seconds(1)) {
                last_log = now;
                double rate = s.download_payload_rate / 1048576.0;
                double left = (double)(s.total_wanted - s.total_wanted_done) / 1048576.0;
                char line[256];
                snprintf(line, sizeof line, "%.1f/%.1f MiB (%.0f%%) %.2f MiB/s ETA %s, %d peers",
                         (double)s.total_wanted_done / 1048576.0, (double)s.total_wanted / 1048576.0,
                         s.total_wanted ? 100.0 * (double)s.total_wanted_done / (double)s.total_wanted : 100.0, rate,
                         rate > 0 ? (std::to_string((int)(left / rate)) + " s").c_str() : "-", s.num_peers);
                p.log("%s", line);
            }
            // no verified piece for 5 s: drop every connection and start over (requests stuck
            // on a source that stopped answering go back to the picker)
            if (now - last_progress > std::chrono::seconds(5) && now - last_nudge > std::chrono::seconds(5) &&
                s.state == lt::torrent_status::downloading) {
                last_nudge = now;
                p.log("no verified piece for 5 s: %s", "reconnecting to the sources");
                p.h.pause();
                p.h.resume();
            }
            if (now - last_progress > std::chrono::seconds(stall) && getenv("DP_TORRENT_DEBUG")) {
                std::vector<int64_t> prog;
                p.h.file_progress(prog, lt::torrent_handle::piece_granularity);
                for (size_t i = 0; i < nf; i++)
                    if (p.want[i]) logf(o->net.log, o->net.log_ud, "file %zu %s want %d done %d progress %lld/%lld", i, p.files[i].rel.c_str(), (int)p.want[i], (int)p.done[i], (long long)prog[i], (long long)p.files[i].size);
                logf(o->net.log, o->net.log_ud, "renaming %zu pending %zu state %d", p.renaming.size(), p.pending.size(), (int)s.state);
                for (auto &q : p.h.get_download_queue())
                    logf(o->net.log, o->net.log_ud, "queue piece %d blocks %d finished %d writing %d requested %d", (int)q.piece_index, q.blocks_in_piece, q.finished, q.writing, q.requested);
                std::vector<int> av;
                p.h.piece_availability(av);
                for (size_t k = 0; k < av.size(); k++)
                    if (!p.h.have_piece(lt::piece_index_t((int)k)) && p.h.piece_priority(lt::piece_index_t((int)k)) != lt::dont_download)
                        logf(o->net.log, o->net.log_ud, "missing piece %zu availability %d", k, av[k]);
            }
            if (now - last_progress > std::chrono::seconds(stall)) die(DP_ERR_IO, "no source sent a verified piece for %d s", stall);
            if (o->net.timeout_s > 0 && now - t0 > std::chrono::seconds(o->net.timeout_s))
                die(DP_ERR_IO, "not done after %d s", o->net.timeout_s);
        }

        // the manifest: it must name exactly the torrent's shards; tokenizer files must match it
        manifest m;
        size_t mi = 0;
        for (size_t i : tail)
            if (p.files[i].k == kind::manifest) mi = i;
        m.parse(read_text(p.part + "/manifest.json"));
        std::map<std::string, int64_t> in_torrent;
        for (auto &f : p.files)
            if (f.k == kind::shard) in_torrent[f.hex] = f.size;
        for (uint32_t i = 0; i < dp_rdrr_n_shards(m.r); i++) {
            auto it = in_torrent.find(dp_rdrr_shard_hash(m.r, i));
            if (it == in_torrent.end() || (uint64_t)it->second != dp_rdrr_shard_size(m.r, i))
                die(DP_ERR_FORMAT, "the manifest's shard %u (%s) is not in the torrent with its size", i, dp_rdrr_shard_hash(m.r, i));
        }
        auto th = m.tokenizer_hashes();
        for (size_t i : tail) {
            if (p.files[i].k != kind::other) continue;
            auto it = th.find(p.files[i].rel);
            std::string got;
            if (it == th.end()) {
                p.log("left out %s: the manifest does not pin it", p.files[i].rel);
                continue;
            }
            if (!sha256_file(p.part + "/" + p.files[i].rel, &got, nullptr) || got != it->second)
                die(DP_ERR_HASH, "%s does not match the manifest's tokenizer.hashes", p.files[i].rel.c_str());
            p.renaming.insert((int)i);
            p.h.rename_file(lt::file_index_t((int)i), p.files[i].rel);
        }
        p.renaming.insert((int)mi);
        p.h.rename_file(lt::file_index_t((int)mi), p.files[mi].rel);
        while (!p.renaming.empty()) {
            if (clk::now() - t0 > std::chrono::seconds(o->net.timeout_s > 0 ? o->net.timeout_s + 30 : 3600))
                die(DP_ERR_IO, "committing the files timed out");
            p.pump(100);
        }
        for (size_t i = 0; i < nf; i++)
            if (p.done[i] && p.files[i].k == kind::shard && p.want[i]) st.shards_committed++;
        st.seconds = std::chrono::duration<double>(clk::now() - t0).count();
        // per-connection counts are sampled (a connection that closed between samples lost its
        // last bytes): web seeds from the samples, peers as the rest of the torrent's payload
        st.bytes_from_web_seeds = (uint64_t)p.sum(p.got_web);
        int64_t total = p.h.status().total_payload_download;
        st.bytes_from_peers = total > (int64_t)st.bytes_from_web_seeds ? (uint64_t)total - st.bytes_from_web_seeds : 0;
        st.peers_banned = p.ev.banned;
        st.web_seeds_dropped = p.ev.dropped;
        st.hash_failures = p.ev.hash_failures;
        p.log("complete: manifest %s committed", model_id_of(m.text));
        if (o->seed_s > 0) {
            p.log("seeding for %s s", std::to_string(o->seed_s));
            auto s0 = clk::now();
            while (!stopped(&o->net) && clk::now() - s0 < std::chrono::seconds(o->seed_s)) p.pump(200);
            st.peers_banned = p.ev.banned;
        }
        rmdir((p.part + "/shards").c_str());
        rmdir(p.part.c_str());
    });
    if (stats) {
        if (rc != DP_OK) st.seconds = std::chrono::duration<double>(clk::now() - t0).count();
        *stats = st;
    }
    return rc;
}
