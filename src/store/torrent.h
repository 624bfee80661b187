/* torrent.h — a model as a BitTorrent torrent, through libtorrent-rasterbar (docs/TORRENT.md).
 *
 * C API over C++ (src/store/torrent.cpp), built only when libtorrent-rasterbar is found
 * (DP_HAVE_TORRENT; Debian libtorrent-rasterbar-dev). No call throws or exits: every failure is
 * one line in a dp_error.
 *
 * The torrent of a model directory is hybrid (BitTorrent v1 + v2, BEP 52): its files are
 * manifest.json, shards/<sha256>.bin and the tokenizer files the manifest pins, under a root
 * named like the directory; the mirrors are web seeds (BEP 19 url-list) and trackers are
 * announced to. Every shard is a whole number of pieces long (create pads the shard bytes with
 * zeros and renames the shard to its new SHA-256), so no piece spans two shards and a client
 * that does not understand BEP 47 pad files (WebTorrent) still never needs one inside a shard.
 * create writes <dir>/model.torrent and <dir>/torrent.json (the infohashes and magnet link: the
 * manifest cannot hold the infohash of a torrent that contains the manifest). */
#ifndef DP_STORE_TORRENT_H
#define DP_STORE_TORRENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "doppler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One line of progress or a notable event ("banned peer ...", "web seed ... dropped: ..."),
 * without a newline. */
typedef void (*dp_torrent_log_fn)(void *ud, const char *line);

typedef struct dp_torrent_create_opts {
    uint32_t piece_size;            /* a power of two >= 16 KiB; 0: 16 KiB .. 1 MiB by size */
    const char *const *web_seeds;   /* mirror URLs of the model directory (their last path
                                       segment is the directory's name), n_web_seeds of them */
    size_t n_web_seeds;
    const char *const *trackers;    /* announce URLs (http://, udp://, ws://) */
    size_t n_trackers;
    dp_torrent_log_fn log;          /* optional */
    void *log_ud;
} dp_torrent_create_opts;

typedef struct dp_torrent_created {
    char infohash_v1[41];           /* hex SHA-1 of the info dictionary */
    char infohash_v2[65];           /* hex SHA-256 of the info dictionary */
    char model_id[65];              /* SHA-256 of manifest.json after padding */
    uint32_t piece_size;
    uint32_t n_padded;              /* shards that create padded (renamed) */
} dp_torrent_created;

/* Pads the shards of model_dir to whole pieces (rewriting manifest.json when any changes: the
 * model id changes; the unpadded shard files are removed), then writes model.torrent and
 * torrent.json. On failure the directory holds either the old model or the padded one, never
 * a manifest naming a missing shard. */
dp_status dp_torrent_create(const char *model_dir, const dp_torrent_create_opts *o,
                            dp_torrent_created *out, dp_error *e);

typedef struct dp_torrent_net {
    const char *listen;             /* libtorrent listen_interfaces ("0.0.0.0:6881"); NULL: any port */
    const char *const *peers;       /* "ip:port" to connect to besides the trackers' answers */
    size_t n_peers;
    int timeout_s;                  /* give up after this long (0: no limit) */
    int stall_s;                    /* give up when no byte arrived for this long (0: 60) */
    dp_torrent_log_fn log;
    void *log_ud;
    volatile sig_atomic_t *stop;    /* optional: stop when it becomes nonzero */
} dp_torrent_net;

/* Seeds model_dir (its model.torrent unless torrent_file is given) after checking every piece
 * it holds; shards the directory does not hold are not downloaded. Runs until *net->stop or
 * net->timeout_s, then returns DP_OK. */
dp_status dp_torrent_seed(const char *model_dir, const char *torrent_file, const dp_torrent_net *net,
                          dp_error *e);

typedef struct dp_torrent_pull_opts {
    dp_torrent_net net;
    const char *const *shards;      /* hex SHA-256 names to fetch; n_shards 0: every shard */
    size_t n_shards;
    int seed_s;                     /* keep seeding this long after the pull completes */
} dp_torrent_pull_opts;

typedef struct dp_torrent_pull_stats {
    uint64_t bytes_wanted;          /* bytes of the selected files */
    uint64_t bytes_resumed;         /* of those, already on disk when the pull started */
    uint64_t bytes_from_peers, bytes_from_web_seeds; /* payload received */
    uint32_t shards_committed;      /* verified and renamed into <dest>/shards */
    uint32_t hash_failures;         /* pieces that failed their hash (never written as done) */
    uint32_t peers_banned, web_seeds_dropped;
    double seconds;
} dp_torrent_pull_stats;

/* Downloads a model from a torrent (a .torrent file or a magnet link) into dest: the
 * selected shards, the manifest and the tokenizer files. Files download under
 * <dest>/.torrent/ and each is committed (renamed into place) only after its SHA-256 matches
 * its name (shards) or the manifest (tokenizer files); manifest.json is committed last, after
 * the files it names that were asked for. A shard already in <dest>/shards is verified and
 * kept (or removed when it does not match). Interrupted pulls resume from the pieces on disk.
 * stats may be NULL. */
dp_status dp_torrent_pull(const char *torrent_or_magnet, const char *dest, const dp_torrent_pull_opts *o,
                          dp_torrent_pull_stats *stats, dp_error *e);

#ifdef __cplusplus
}
#endif

#endif /* DP_STORE_TORRENT_H */
