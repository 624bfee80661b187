/* store.h — the shard store, HTTP fetching from mirrors and peers, and lazy mounts
 * (docs/HOSTING.md says how they fit). Native only: the browser's store is OPFS (web/).
 *
 * Store layout (one folder, content-addressed):
 *   <dir>/<hex>.bin     a verified shard, <hex> = the lowercase SHA-256 of its bytes. Nothing
 *                       reaches this name without its size and SHA-256 checked (dp_store_commit)
 *   <dir>/<hex>.part    a download in progress (resumable; locked with flock while written)
 *   A model directory's shards/ folder is a store; so is the cache's shared shards/ folder.
 *   The store's byte budget counts the .bin files; the least recently used ones (a shard's
 *   mtime is set when it is opened or committed) that are not pinned are evicted to make room.
 *
 * Every function returns a dp_status with a one-line reason in e; nothing here exits. */
#ifndef DP_STORE_H
#define DP_STORE_H

#include "base/base.h"

/* ---- the store ---- */

typedef struct dp_store dp_store;

/* Open (creating it) the store folder dir. budget: bytes of shards kept, 0 = no limit. */
dp_status dp_store_open(const char *dir, uint64_t budget, dp_store **out, dp_error *e);
void dp_store_free(dp_store *s);
const char *dp_store_dir(const dp_store *s);
/* Bytes of .bin files now held (as counted at open and kept up to date by this handle). */
uint64_t dp_store_used(const dp_store *s);
/* true (and *size) when <hex>.bin is there; not a verification. */
bool dp_store_has(const dp_store *s, const char *hex, uint64_t *size);
/* 64 lowercase hex digits into 32 bytes; false when hex is not that. */
bool dp_store_hex_digest(const char *hex, uint8_t out[32]);
/* <dir>/<hex>.bin or <dir>/<hex>.part into buf; false when hex is not 64 lowercase hex digits
 * or buf is too short. */
bool dp_store_path(const dp_store *s, const char *hex, const char *ext, char *buf, size_t cap);

/* THE commit: the one way bytes enter the store (HTTP downloads and the torrent side alike).
 * part is a finished file anywhere on the store's file system (usually <dir>/<hex>.part). It is
 * fsynced, its size compared with size (0: not checked) and its SHA-256 with hex; room is made
 * (eviction); it is renamed to <dir>/<hex>.bin and the folder fsynced. Results:
 *   DP_OK          the shard is in the store, part is gone;
 *   DP_ERR_HASH    the bytes are wrong (size or digest): part has been deleted, the store is
 *                  unchanged — the caller blames whoever sent them;
 *   DP_ERR_LIMIT   no room within the budget even after evicting every unpinned shard (part
 *                  is kept);
 *   DP_ERR_IO      fsync / rename failed (disk full, ...): part is kept, no <hex>.bin is made.
 * When <hex>.bin already exists (another process committed it), part is removed and DP_OK. */
dp_status dp_store_commit(dp_store *s, const char *part, const char *hex, uint64_t size, dp_error *e);
/* Re-hash <hex>.bin. DP_ERR_HASH when it does not match (drop: the file is deleted, so the next
 * use fetches it again); DP_ERR_NOT_FOUND when absent. */
dp_status dp_store_verify(dp_store *s, const char *hex, bool drop, dp_error *e);
/* Pinned shards are never evicted by this handle (a mounted model's open shards). */
dp_status dp_store_pin(dp_store *s, const char *hex, dp_error *e);
/* Mark a shard used now (its LRU position); ignored when absent. */
void dp_store_touch(dp_store *s, const char *hex);
/* Evict least recently used unpinned shards until need more bytes fit in the budget;
 * DP_ERR_LIMIT when they cannot. */
dp_status dp_store_make_room(dp_store *s, uint64_t need, dp_error *e);
/* A read-only shard source over the store (has: a stat, open: a mappable file reader that marks
 * the shard used); valid while s lives. */
void dp_store_source(dp_store *s, dp_shard_source *out);

/* Write-then-rename for a named file (tokenizer files beside a manifest): fsync part, check its
 * SHA-256 against digest (when not NULL), rename to final, fsync the folder. DP_ERR_HASH deletes
 * part. */
dp_status dp_file_commit(const char *part, const char *final, const uint8_t *digest, uint64_t size,
                         dp_error *e);

/* ---- fetching over HTTP (libcurl) from several sources of one model ---- */

typedef struct dp_fetcher dp_fetcher;

typedef struct dp_fetch_progress {
    uint64_t done, total;    /* bytes of the items of this run (already on disk counted) */
    uint64_t fetched;        /* bytes received from the network in this run */
    double rate;             /* bytes per second, recent */
    int items_done, items_total;
    int active;              /* transfers running */
} dp_fetch_progress;

typedef struct dp_fetch_opts {
    int max_active;          /* transfers at once; <= 0: 8 */
    int per_source;          /* transfers at once from one source; <= 0: 2 */
    long connect_timeout_ms; /* <= 0: 5000 */
    long stall_s;            /* a transfer below 1 KiB/s for this long is abandoned; <= 0: 10 */
    int max_strikes;         /* failures (timeouts, bad status, short bodies) before a source is
                                banned; <= 0: 3. Wrong bytes, HTML for data and a wrong
                                Content-Range ban at once */
    /* may be NULL: called about twice a second while a run transfers */
    void (*progress)(void *ud, const dp_fetch_progress *p);
    /* may be NULL: one line per event worth telling (a source struck or banned, a shard retried) */
    void (*log)(void *ud, const char *line);
    void *ud;
} dp_fetch_opts;

/* One file to fetch: <source>/<rel> into part (resumed when part exists), then commit. */
typedef struct dp_fetch_item {
    const char *rel;         /* "shards/<hex>.bin", "tokenizer.json" */
    uint64_t size;           /* expected bytes; 0: unknown (no resume past a source change) */
    const char *part;        /* where the bytes go while they arrive */
    const char *final;       /* may be NULL: when this exists the item is done (committed by
                                another process meanwhile) */
} dp_fetch_item;

/* Called when item i's bytes are all in part: move them into place after checking them.
 * DP_ERR_HASH means the bytes are wrong (part already deleted): the fetcher blames the source
 * when one source sent them all, and fetches again; any other failure ends the run. */
typedef dp_status (*dp_fetch_commit_fn)(void *ud, size_t i, const char *part, dp_error *e);

/* urls: base URLs (a trailing '/' is ignored) of mirrors or peers holding one model; at most 64.
 * Copies what it keeps. */
dp_status dp_fetcher_new(const char *const *urls, int n, const dp_fetch_opts *o, dp_fetcher **out,
                         dp_error *e);
void dp_fetcher_free(dp_fetcher *f);
/* Fetch <source>/<rel> into memory (at most max bytes), trying sources in order until one sends a
 * 200 with a body that check (may be NULL) accepts; a source whose body check rejects is
 * struck. *data (dp_free) is NUL-terminated. */
dp_status dp_fetcher_get(dp_fetcher *f, const char *rel, size_t max,
                         dp_status (*check)(void *ud, const char *data, size_t n, dp_error *e), void *ud,
                         char **data, size_t *n, dp_error *e);
/* Fetch every item, several at once from different sources, committing each through commit.
 * Fails when an item cannot be had from any source that is not banned (the message names it),
 * or on the first commit failure other than DP_ERR_HASH. Items already committed stay. */
dp_status dp_fetcher_run(dp_fetcher *f, const dp_fetch_item *items, size_t n, dp_fetch_commit_fn commit,
                         void *ud, dp_error *e);

typedef struct dp_fetch_source_stats {
    const char *url;
    uint64_t bytes;          /* received, every attempt */
    int ok, failed;          /* files it finished that were then committed (the manifest
                                counted) / attempts that failed */
    int strikes;
    bool banned;
    const char *why;         /* the last failure or the reason for the ban ("" when none) */
} dp_fetch_source_stats;
int dp_fetcher_n_sources(const dp_fetcher *f);
void dp_fetcher_source_stats(const dp_fetcher *f, int i, dp_fetch_source_stats *out);
uint64_t dp_fetcher_bytes(const dp_fetcher *f); /* received from the network, all runs */

/* ---- pulling a model and mounting one lazily ---- */

/* Fetch manifest.json (first source that sends a valid one; when id is not NULL its SHA-256
 * must be id) and the files its tokenizer hashes into dir (created), replacing what is there
 * when it differs. Shards are not fetched. */
dp_status dp_pull_manifest(dp_fetcher *f, const char *dir, const char *id, dp_error *e);
/* Everything: the manifest and tokenizer files, then every shard into store (dir/shards when
 * store is NULL). Shards already in the store are re-verified first (a bad one is fetched
 * again). */
dp_status dp_pull_model(dp_fetcher *f, const char *dir, const char *id, dp_store *store, dp_error *e);

/* One shard into store (the lazy mount's miss). */
dp_status dp_pull_shard(dp_fetcher *f, dp_store *store, const char *hex, uint64_t size, dp_error *e);

typedef struct dp_mount dp_mount;
/* A model at urls (mirrors) mounted lazily under cache: the manifest and tokenizer files go to
 * <cache>/models/<sha256 of the first url>/ (its shards/ links to <cache>/shards, the store,
 * budget bytes, 0 = no limit), and the shard source fetches a shard the first time it is
 * opened; a cached shard is re-verified the first time it is opened in a process (a bad one is
 * dropped and fetched again). */
dp_status dp_mount_open(const char *const *urls, int n, const char *cache, uint64_t budget,
                        const dp_fetch_opts *o, dp_mount **out, dp_error *e);
void dp_mount_free(dp_mount *m);
const char *dp_mount_dir(const dp_mount *m);
const dp_shard_source *dp_mount_source(const dp_mount *m);
int dp_mount_n_fetched(const dp_mount *m);       /* shards fetched by this mount */
dp_fetcher *dp_mount_fetcher(dp_mount *m);

#endif /* DP_STORE_H */
