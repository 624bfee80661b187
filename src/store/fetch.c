/* fetch.c — fetching a model's files from several HTTP sources at once with libcurl's multi
 * interface (store.h). Native only.
 *
 * Every request asks for `Range: bytes=<have>-` (resume; have is 0 for a fresh file) and accepts
 * only: 206 whose Content-Range is exactly "bytes <have>-<size-1>/<size>", or 200 whose
 * Content-Length (when sent) is the size (the file is then written from its start). A source is
 * struck for a failed attempt (connection refused, bad status, stalled below 1 KiB/s for stall_s,
 * short body) and banned after max_strikes; it is banned at once for what only a wrong source
 * does: HTML for data, a wrong Content-Range, a 200 of the wrong length, more bytes than the
 * file, or bytes that fail the SHA-256 check. 404/410 is not a strike (a peer holds only some
 * shards): that source is not asked for that file again in this round.
 *
 * Who lied: each attempt streams from one source. When the SHA-256 check fails after an attempt
 * that sent the whole file, that source is banned; when the attempt resumed bytes from an
 * earlier attempt (possibly another source) nobody is blamed, the partial file is dropped and
 * the next attempt fetches it whole from one source, which settles it. A file is not split
 * across sources at once: parallelism is across files. */
#if !defined(__wasm__)
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

#define MAX_SOURCES 64
#define MAX_ACTIVE 64

typedef struct source {
    char *base;
    uint64_t bytes;
    int ok, failed, strikes, active;
    bool banned;
    double rate;        /* bytes/s of its last whole transfer; 0: not measured yet */
    char why[160];
} source;

struct dp_fetcher {
    source src[MAX_SOURCES];
    int n;
    dp_fetch_opts o;
    uint64_t fetched;   /* bytes received, all runs */
};

typedef enum { V_NONE, V_MISSING, V_STRIKE, V_BAN, V_FATAL } verdict;

typedef struct item_st {
    uint64_t tried;     /* sources that failed it this round */
    int attempts;
    int lock_fd;        /* the part file, flock'ed while a transfer of ours writes it */
    uint64_t have;      /* bytes of it on disk */
    bool done, active;
    double retry_at;    /* busy in another process: look again then */
} item_st;

typedef struct xfer {
    dp_fetcher *f;
    CURL *h;
    struct curl_slist *hdrs;
    int src;
    size_t item;
    int fd;
    uint64_t off0, off, expect; /* expect 0: unknown */
    /* the current response's headers */
    char content_range[128];
    char content_type[128];
    int64_t content_length;
    bool checked;
    verdict v;
    char why[160];
    /* memory mode (dp_fetcher_get) */
    dp_buf *mem;
    size_t max;
    uint64_t *have;     /* where progress is counted (the item's have) */
    double t0;
} xfer;

static void say(dp_fetcher *f, const char *fmt, ...) DP_PRINTF(2, 3);
static void say(dp_fetcher *f, const char *fmt, ...) {
    if (!f->o.log) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    f->o.log(f->o.ud, line);
}

static void fail_x(xfer *x, verdict v, const char *fmt, ...) DP_PRINTF(3, 4);
static void fail_x(xfer *x, verdict v, const char *fmt, ...) {
    if (x->v >= v) return; /* keep the worst */
    x->v = v;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->why, sizeof x->why, fmt, ap);
    va_end(ap);
}

/* ---- libcurl callbacks ---- */

static void trim_copy(char *dst, size_t cap, const char *v, size_t n) {
    while (n && (*v == ' ' || *v == '\t')) v++, n--;
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ')) n--;
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

static size_t on_header(char *b, size_t size, size_t nitems, void *ud) {
    xfer *x = ud;
    size_t n = size * nitems;
    if (n >= 5 && !strncmp(b, "HTTP/", 5)) { /* a new response (after a redirect or 100) */
        x->content_range[0] = x->content_type[0] = 0;
        x->content_length = -1;
    } else if (n > 14 && !strncasecmp(b, "content-range:", 14)) {
        trim_copy(x->content_range, sizeof x->content_range, b + 14, n - 14);
    } else if (n > 13 && !strncasecmp(b, "content-type:", 13)) {
        trim_copy(x->content_type, sizeof x->content_type, b + 13, n - 13);
    } else if (n > 15 && !strncasecmp(b, "content-length:", 15)) {
        char v[32];
        trim_copy(v, sizeof v, b + 15, n - 15);
        char *end;
        long long l = strtoll(v, &end, 10);
        x->content_length = end != v && !*end && l >= 0 ? l : -1;
    }
    return n;
}

/* The response's status and headers against what was asked; false when rejected. */
static bool check_response(xfer *x) {
    x->checked = true;
    long status = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    if (status == 404 || status == 410) {
        fail_x(x, V_MISSING, "HTTP %ld", status);
        return false;
    }
    if (status != 200 && status != 206) {
        fail_x(x, V_STRIKE, "HTTP %ld", status);
        return false;
    }
    if (!strncasecmp(x->content_type, "text/html", 9)) {
        fail_x(x, V_BAN, "HTML for data (HTTP %ld, Content-Type %s)", status, x->content_type);
        return false;
    }
    if (x->mem) return status == 200 || (fail_x(x, V_STRIKE, "HTTP %ld for a whole-file request", status), false);
    if (status == 206) {
        unsigned long long a, b, t;
        char tail;
        int k = sscanf(x->content_range, "bytes %llu-%llu/%llu%c", &a, &b, &t, &tail);
        bool ok = k == 3 && a == x->off0 && b + 1 == t && (!x->expect || t == x->expect) && b >= a;
        if (!ok) {
            fail_x(x, V_BAN, "206 with Content-Range '%s' for bytes %" PRIu64 "- of %" PRIu64, x->content_range[0] ? x->content_range : "(none)",
                   x->off0, x->expect);
            return false;
        }
        if (!x->expect) x->expect = t;
        return true;
    }
    /* 200: the whole file, from its first byte */
    if (x->expect && x->content_length >= 0 && (uint64_t)x->content_length != x->expect) {
        fail_x(x, V_BAN, "200 with %" PRId64 " bytes for a file of %" PRIu64, x->content_length, x->expect);
        return false;
    }
    if (x->off0) {
        if (ftruncate(x->fd, 0) != 0) {
            fail_x(x, V_FATAL, "truncate: %s", strerror(errno));
            return false;
        }
        *x->have = 0;
        x->off0 = x->off = 0;
    }
    return true;
}

static size_t on_body(char *b, size_t size, size_t nmemb, void *ud) {
    xfer *x = ud;
    size_t n = size * nmemb;
    if (!x->checked && !check_response(x)) return CURL_WRITEFUNC_ERROR;
    if (x->v >= V_STRIKE) return CURL_WRITEFUNC_ERROR;
    x->f->fetched += n;
    x->f->src[x->src].bytes += n;
    if (x->mem) {
        if (x->mem->len + n > x->max) {
            fail_x(x, V_STRIKE, "more than %zu bytes", x->max);
            return CURL_WRITEFUNC_ERROR;
        }
        dp_buf_append(x->mem, b, n);
        if (x->mem->oom) {
            fail_x(x, V_FATAL, "out of memory");
            return CURL_WRITEFUNC_ERROR;
        }
        return n;
    }
    if (x->expect && x->off + n > x->expect) {
        fail_x(x, V_BAN, "more than the file's %" PRIu64 " bytes", x->expect);
        return CURL_WRITEFUNC_ERROR;
    }
    for (size_t done = 0; done < n;) {
        ssize_t k = pwrite(x->fd, b + done, n - done, (off_t)(x->off + done));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            fail_x(x, V_FATAL, "writing %s: %s", "a part file", k < 0 ? strerror(errno) : "nothing written");
            return CURL_WRITEFUNC_ERROR;
        }
        done += (size_t)k;
    }
    x->off += n;
    *x->have = x->off;
    return n;
}

/* ---- the fetcher ---- */

dp_status dp_fetcher_new(const char *const *urls, int n, const dp_fetch_opts *o, dp_fetcher **out,
                         dp_error *e) {
    if (!urls || !out || n < 1) return dp_err_set(e, DP_ERR_INVALID_ARG, "fetch: no source URL");
    if (n > MAX_SOURCES) return dp_err_set(e, DP_ERR_LIMIT, "fetch: %d sources (max %d)", n, MAX_SOURCES);
    for (int i = 0; i < n; i++)
        if (!urls[i] || (strncmp(urls[i], "http://", 7) && strncmp(urls[i], "https://", 8)))
            return dp_err_set(e, DP_ERR_INVALID_ARG, "fetch: '%s' is not an http:// or https:// URL", urls[i] ? urls[i] : "");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return dp_err_set(e, DP_ERR_INTERNAL, "fetch: libcurl did not start");
    dp_fetcher *f = dp_calloc(1, sizeof *f);
    if (!f) return dp_err_set(e, DP_ERR_NOMEM, "fetch: out of memory");
    if (o) f->o = *o;
    if (f->o.max_active <= 0) f->o.max_active = 8;
    if (f->o.max_active > MAX_ACTIVE) f->o.max_active = MAX_ACTIVE;
    if (f->o.per_source <= 0) f->o.per_source = 2;
    if (f->o.connect_timeout_ms <= 0) f->o.connect_timeout_ms = 5000;
    if (f->o.stall_s <= 0) f->o.stall_s = 10;
    if (f->o.max_strikes <= 0) f->o.max_strikes = 3;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(urls[i]);
        while (len > 8 && urls[i][len - 1] == '/') len--;
        if (!(f->src[i].base = dp_strndup(urls[i], len))) {
            f->n = i;
            dp_fetcher_free(f);
            return dp_err_set(e, DP_ERR_NOMEM, "fetch: out of memory");
        }
    }
    f->n = n;
    *out = f;
    return DP_OK;
}

void dp_fetcher_free(dp_fetcher *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) dp_free(f->src[i].base);
    dp_free(f);
}

int dp_fetcher_n_sources(const dp_fetcher *f) { return f->n; }
uint64_t dp_fetcher_bytes(const dp_fetcher *f) { return f->fetched; }

void dp_fetcher_source_stats(const dp_fetcher *f, int i, dp_fetch_source_stats *out) {
    const source *s = &f->src[i];
    *out = (dp_fetch_source_stats){s->base, s->bytes, s->ok, s->failed, s->strikes, s->banned, s->why};
}

/* A configured easy handle for <base>/<rel> with the range from off (off < 0: no Range). */
static bool x_setup(dp_fetcher *f, xfer *x, int src, const char *rel, int64_t off) {
    char url[4400];
    if (snprintf(url, sizeof url, "%s/%s", f->src[src].base, rel) >= (int)sizeof url) return false;
    x->f = f;
    x->src = src;
    x->content_length = -1;
    x->t0 = dp_time_now();
    if (!(x->h = curl_easy_init())) return false;
    curl_easy_setopt(x->h, CURLOPT_URL, url);
    curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(x->h, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(x->h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, f->o.connect_timeout_ms);
    curl_easy_setopt(x->h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(x->h, CURLOPT_LOW_SPEED_TIME, f->o.stall_s);
    curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->h, CURLOPT_USERAGENT, "doppler-pull/1");
    /* no Accept-Encoding: bytes must arrive as they are stored */
    if (off >= 0) {
        char range[64];
        snprintf(range, sizeof range, "Range: bytes=%" PRId64 "-", off);
        if (!(x->hdrs = curl_slist_append(NULL, range))) return false;
        curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
    }
    return true;
}

static void x_cleanup(xfer *x) {
    if (x->h) curl_easy_cleanup(x->h);
    curl_slist_free_all(x->hdrs);
    x->h = NULL;
    x->hdrs = NULL;
}

/* After a transfer ended with code rc: its verdict (V_NONE: all bytes are there). */
static void x_finish(xfer *x, CURLcode rc) {
    if (x->v == V_NONE && rc == CURLE_OK && !x->checked) check_response(x); /* an empty body */
    if (x->v != V_NONE) return;
    if (rc == CURLE_OPERATION_TIMEDOUT) fail_x(x, V_STRIKE, "stalled (below 1 KiB/s for %ld s)", x->f->o.stall_s);
    else if (rc == CURLE_PARTIAL_FILE) fail_x(x, V_STRIKE, "short body (connection closed after %" PRIu64 " of %" PRIu64 " bytes)", x->off, x->expect);
    else if (rc != CURLE_OK) fail_x(x, V_STRIKE, "%s", curl_easy_strerror(rc));
    else if (!x->mem && x->expect && x->off != x->expect)
        fail_x(x, V_STRIKE, "short body (%" PRIu64 " of %" PRIu64 " bytes)", x->off, x->expect);
}

/* Count a failed attempt against its source. */
static void blame(dp_fetcher *f, int si, verdict v, const char *what, const char *why) {
    source *s = &f->src[si];
    if (v == V_MISSING) {
        say(f, "%s: %s: %s (skipped for this file)", s->base, what, why);
        return;
    }
    s->failed++;
    snprintf(s->why, sizeof s->why, "%s", why);
    if (v == V_BAN || ++s->strikes >= f->o.max_strikes) {
        if (!s->banned) say(f, "%s: banned: %s (%s)", s->base, why, what);
        s->banned = true;
    } else {
        say(f, "%s: strike %d/%d: %s (%s)", s->base, s->strikes, f->o.max_strikes, why, what);
    }
}

dp_status dp_fetcher_get(dp_fetcher *f, const char *rel, size_t max,
                         dp_status (*check)(void *ud, const char *data, size_t n, dp_error *e), void *ud,
                         char **data, size_t *n, dp_error *e) {
    char last[300] = "no source to ask";
    for (int i = 0; i < f->n; i++) {
        if (f->src[i].banned) continue;
        dp_buf b = {0};
        uint64_t have = 0;
        xfer x = {0};
        x.mem = &b;
        x.max = max;
        x.have = &have;
        if (!x_setup(f, &x, i, rel, -1)) {
            x_cleanup(&x);
            return dp_err_set(e, DP_ERR_NOMEM, "fetch: cannot set up a request for %s", rel);
        }
        x_finish(&x, curl_easy_perform(x.h));
        x_cleanup(&x);
        if (x.v == V_FATAL) {
            dp_buf_free(&b);
            return dp_err_set(e, DP_ERR_NOMEM, "fetch %s: %s", rel, x.why);
        }
        dp_error ce = {0};
        if (x.v == V_NONE && b.len == 0) fail_x(&x, V_STRIKE, "empty body");
        if (x.v == V_NONE && check && check(ud, b.data, b.len, &ce) != DP_OK) fail_x(&x, V_BAN, "%s", ce.msg);
        if (x.v != V_NONE) {
            blame(f, i, x.v, rel, x.why);
            snprintf(last, sizeof last, "%s: %s", f->src[i].base, x.why);
            dp_buf_free(&b);
            continue;
        }
        f->src[i].ok++;
        dp_buf_puts(&b, ""); /* NUL-terminated */
        *data = b.data;
        *n = b.len;
        return DP_OK;
    }
    return dp_err_set(e, DP_ERR_NOT_FOUND, "fetch %s: no source has it (last: %s)", rel, last);
}

/* ---- a run over many items ---- */

typedef struct run {
    dp_fetcher *f;
    const dp_fetch_item *items;
    item_st *st;
    size_t n;
    dp_fetch_commit_fn commit;
    void *ud;
    CURLM *multi;
    int active;
    xfer *live[MAX_ACTIVE];
} run;

static int n_usable(const dp_fetcher *f) {
    int k = 0;
    for (int i = 0; i < f->n; i++) k += !f->src[i].banned;
    return k;
}

/* The best source for item i now: not banned, not tried this round, with room; -1 when none. */
static int pick(run *r, size_t i) {
    dp_fetcher *f = r->f;
    int best = -1;
    double best_score = -1;
    for (int s = 0; s < f->n; s++) {
        const source *src = &f->src[s];
        if (src->banned || src->active >= f->o.per_source || (r->st[i].tried >> s & 1)) continue;
        double score = (src->rate > 0 ? src->rate : 1e15) / (1.0 + src->active) / (1.0 + src->strikes);
        if (score > best_score) best = s, best_score = score;
    }
    return best;
}

/* Open (and lock) item i's part file; false with busy when another process holds it. */
static dp_status open_part(run *r, size_t i, bool *busy, dp_error *e) {
    const dp_fetch_item *it = &r->items[i];
    item_st *st = &r->st[i];
    *busy = false;
    if (st->lock_fd >= 0) return DP_OK;
    int fd = open(it->part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return dp_err_set(e, DP_ERR_IO, "%s: %s", it->part, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        *busy = true;
        return DP_OK;
    }
    struct stat sb, now;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return dp_err_set(e, DP_ERR_IO, "%s: %s", it->part, strerror(err));
    }
    if (stat(it->part, &now) != 0 || now.st_ino != sb.st_ino || now.st_dev != sb.st_dev) {
        close(fd); /* locked a file the other process renamed into place meanwhile: look again */
        *busy = true;
        return DP_OK;
    }
    st->have = (uint64_t)sb.st_size;
    if (it->size && st->have > it->size) {
        if (ftruncate(fd, 0) != 0) {
            int err = errno;
            close(fd);
            return dp_err_set(e, DP_ERR_IO, "%s: %s", it->part, strerror(err));
        }
        st->have = 0;
    }
    st->lock_fd = fd;
    return DP_OK;
}

static void release_part(item_st *st) {
    if (st->lock_fd >= 0) close(st->lock_fd);
    st->lock_fd = -1;
}

/* Bytes of item i are all in its part: commit them. src >= 0: the source whose transfer ended
 * it (credited when they are right), whole: that transfer sent every byte (the source is
 * blamed when they are wrong). */
static dp_status settle(run *r, size_t i, int src, bool whole, dp_error *e) {
    item_st *st = &r->st[i];
    dp_error ce = {0};
    dp_status s = r->commit(r->ud, i, r->items[i].part, &ce);
    release_part(st);
    if (s == DP_OK) {
        st->done = true;
        if (src >= 0) r->f->src[src].ok++;
        return DP_OK;
    }
    if (s != DP_ERR_HASH) return dp_err_set(e, s, "%s", ce.msg); /* it names the file */
    st->have = 0;
    if (src >= 0 && whole) {
        char why[300];
        snprintf(why, sizeof why, "sent wrong bytes: %s", ce.msg);
        blame(r->f, src, V_BAN, r->items[i].rel, why);
        st->tried |= (uint64_t)1 << src;
    } else {
        say(r->f, "%s: %s after resuming; fetching it whole from one source", r->items[i].rel, ce.msg);
    }
    return DP_OK;
}

static dp_status start(run *r, size_t i, int s, dp_error *e) {
    item_st *st = &r->st[i];
    const dp_fetch_item *it = &r->items[i];
    xfer *x = dp_calloc(1, sizeof *x);
    if (!x) return dp_err_set(e, DP_ERR_NOMEM, "fetch: out of memory");
    x->item = i;
    x->fd = st->lock_fd;
    x->off0 = x->off = st->have;
    x->expect = it->size;
    x->have = &st->have;
    if (!x_setup(r->f, x, s, it->rel, (int64_t)st->have) || curl_multi_add_handle(r->multi, x->h) != CURLM_OK) {
        x_cleanup(x);
        dp_free(x);
        return dp_err_set(e, DP_ERR_NOMEM, "fetch: cannot set up a request for %s", it->rel);
    }
    for (int k = 0; k < MAX_ACTIVE; k++)
        if (!r->live[k]) {
            r->live[k] = x;
            break;
        }
    st->active = true;
    st->attempts++;
    r->f->src[s].active++;
    r->active++;
    return DP_OK;
}

/* Start transfers while there is room; *stuck when nothing can start and nothing runs. */
static dp_status fill(run *r, bool *waiting, dp_error *e) {
    dp_fetcher *f = r->f;
    double now = dp_time_now();
    *waiting = false;
    for (size_t i = 0; i < r->n && r->active < f->o.max_active; i++) {
        item_st *st = &r->st[i];
        const dp_fetch_item *it = &r->items[i];
        if (st->done || st->active) continue;
        if (st->retry_at > now) {
            *waiting = true;
            continue;
        }
        struct stat sb;
        if (it->final && stat(it->final, &sb) == 0) { /* committed by another process */
            release_part(st);
            st->done = true;
            st->have = it->size ? it->size : (uint64_t)sb.st_size;
            continue;
        }
        bool busy;
        dp_status s = open_part(r, i, &busy, e);
        if (s) return s;
        if (busy) {
            st->retry_at = now + 0.2;
            *waiting = true;
            continue;
        }
        if (it->size && st->have == it->size) { /* all there from before (a crash before rename) */
            if ((s = settle(r, i, -1, false, e))) return s;
            if (st->done) continue;
            if ((s = open_part(r, i, &busy, e))) return s;
        }
        int src = pick(r, i);
        if (src < 0 && n_usable(f) > 0) {
            bool someone_busy = false;
            for (int k = 0; k < f->n; k++)
                if (!f->src[k].banned && !(st->tried >> k & 1)) someone_busy = true;
            if (!someone_busy) { /* every usable source failed it once: another round */
                if (st->attempts >= 3 * f->n)
                    return dp_err_set(e, DP_ERR_NOT_FOUND, "%s: no source delivered it in %d attempts", it->rel, st->attempts);
                uint64_t banned = 0;
                for (int k = 0; k < f->n; k++) banned |= (uint64_t)f->src[k].banned << k;
                st->tried = banned;
                src = pick(r, i);
            }
        }
        if (src < 0) {
            if (n_usable(f) == 0) return DP_OK; /* reported by the caller's loop */
            continue; /* every usable source is busy: later */
        }
        if ((s = start(r, i, src, e))) return s;
    }
    return DP_OK;
}

static dp_status done_one(run *r, CURLMsg *msg, dp_error *e) {
    xfer *x = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    CURLcode rc = msg->data.result;
    curl_multi_remove_handle(r->multi, x->h);
    for (int k = 0; k < MAX_ACTIVE; k++)
        if (r->live[k] == x) r->live[k] = NULL;
    x_finish(x, rc);
    x_cleanup(x);
    dp_fetcher *f = r->f;
    item_st *st = &r->st[x->item];
    source *src = &f->src[x->src];
    src->active--;
    r->active--;
    st->active = false;
    dp_status s = DP_OK;
    if (x->v == V_FATAL) {
        s = dp_err_set(e, DP_ERR_IO, "%s: %s", r->items[x->item].rel, x->why);
    } else if (x->v != V_NONE) {
        blame(f, x->src, x->v, r->items[x->item].rel, x->why);
        st->tried |= (uint64_t)1 << x->src;
        if (x->v == V_BAN && x->off > x->off0) { /* drop what a banned source wrote */
            if (ftruncate(x->fd, (off_t)x->off0) == 0) st->have = x->off0;
        }
    } else {
        double dt = dp_time_now() - x->t0;
        if (dt > 0 && x->off > x->off0) src->rate = (double)(x->off - x->off0) / dt;
        if (src->strikes > 0) src->strikes--; /* a delivery earns back a strike */
        s = settle(r, x->item, x->src, x->off0 == 0, e);
    }
    dp_free(x);
    return s;
}

static void report(run *r, double *last_t, uint64_t *last_b, double *rate) {
    dp_fetcher *f = r->f;
    double now = dp_time_now();
    if (!f->o.progress || now - *last_t < 0.5) return;
    dp_fetch_progress p = {0};
    for (size_t i = 0; i < r->n; i++) {
        p.total += r->items[i].size;
        p.done += r->st[i].done ? r->items[i].size : r->st[i].have;
        p.items_done += r->st[i].done;
    }
    double inst = (double)(f->fetched - *last_b) / (now - *last_t);
    *rate = *rate > 0 ? 0.6 * *rate + 0.4 * inst : inst;
    *last_t = now;
    *last_b = f->fetched;
    p.fetched = f->fetched;
    p.rate = *rate;
    p.items_total = (int)r->n;
    p.active = r->active;
    f->o.progress(f->o.ud, &p);
}

dp_status dp_fetcher_run(dp_fetcher *f, const dp_fetch_item *items, size_t n, dp_fetch_commit_fn commit,
                         void *ud, dp_error *e) {
    if (!f || (!items && n) || !commit) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_fetcher_run: bad argument");
    run r = {f, items, dp_calloc(n ? n : 1, sizeof(item_st)), n, commit, ud, curl_multi_init(), 0, {0}};
    if (!r.st || !r.multi) {
        dp_free(r.st);
        if (r.multi) curl_multi_cleanup(r.multi);
        return dp_err_set(e, DP_ERR_NOMEM, "fetch: out of memory");
    }
    for (size_t i = 0; i < n; i++) r.st[i].lock_fd = -1;
    dp_status s = DP_OK;
    double last_t = dp_time_now(), rate = 0;
    uint64_t last_b = f->fetched;
    for (;;) {
        bool waiting = false;
        if ((s = fill(&r, &waiting, e))) break;
        size_t left = 0;
        for (size_t i = 0; i < n; i++) left += !r.st[i].done;
        if (!left) break;
        if (r.active == 0 && !waiting) {
            if (n_usable(f) == 0) {
                s = dp_err_set(e, DP_ERR_NOT_FOUND, "every source is banned or unreachable; %zu file%s missing", left,
                               left == 1 ? "" : "s");
                break;
            }
            continue; /* a new round was opened for some item */
        }
        int running = 0;
        curl_multi_perform(r.multi, &running);
        CURLMsg *msg;
        int q;
        while (!s && (msg = curl_multi_info_read(r.multi, &q)))
            if (msg->msg == CURLMSG_DONE) s = done_one(&r, msg, e);
        if (s) break;
        report(&r, &last_t, &last_b, &rate);
        curl_multi_poll(r.multi, NULL, 0, 100, NULL);
    }
    /* abandon what still runs (after a failure): its part files stay for the next run */
    for (int k = 0; k < MAX_ACTIVE; k++) {
        if (!r.live[k]) continue;
        curl_multi_remove_handle(r.multi, r.live[k]->h);
        f->src[r.live[k]->src].active--;
        x_cleanup(r.live[k]);
        dp_free(r.live[k]);
    }
    for (size_t i = 0; i < n; i++) release_part(&r.st[i]);
    curl_multi_cleanup(r.multi);
    dp_free(r.st);
    return s;
}

#endif /* !__wasm__ */
