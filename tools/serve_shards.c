/* serve_shards.c — a model folder served as a mirror and web seed (serve_shards.h). Everything a
 * puller needs from a static host: byte ranges, exact Content-Range, CORS so a browser page on
 * another origin may read it, immutable caching for content-named shards. */
#define _GNU_SOURCE
#include "serve_shards.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "base/json.h"
#include "format/rdrr.h"

#define MAX_FILES 72

struct srv_shards {
    char *dir;
    char *files[MAX_FILES];  /* names beside the manifest that may be served */
    int n_files;
    struct MHD_Daemon *d;
    int port;
    atomic_ulong answered;
};

static const char *const KNOWN[] = {"manifest.json", "tokenizer.json", "tokenizer.model", "tokenizer.gguf",
                                    "tokenizer_config.json", "chat_template.jinja"};

static bool add_file(srv_shards *s, const char *name) {
    for (int i = 0; i < s->n_files; i++)
        if (!strcmp(s->files[i], name)) return true;
    if (s->n_files == MAX_FILES) return true;
    return (s->files[s->n_files++] = dp_strdup(name)) != NULL;
}

dp_status srv_shards_new(const char *dir, srv_shards **out, dp_error *e) {
    srv_shards *s = dp_calloc(1, sizeof *s);
    if (!s || !(s->dir = dp_strdup(dir))) {
        dp_free(s);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    struct stat sb;
    char *shards = dp_path_join(dir, "shards");
    bool ok = shards && stat(shards, &sb) == 0 && S_ISDIR(sb.st_mode);
    dp_free(shards);
    if (!ok) {
        srv_shards_free(s);
        return dp_err_set(e, DP_ERR_NOT_FOUND, "--shards %s: no shards/ folder there", dir);
    }
    /* the tokenizer files the manifest hashes, else the usual names */
    dp_rdrr *m = NULL;
    dp_error me = {0};
    const dp_json *h = NULL;
    if (dp_rdrr_open(dir, &m, &me) == DP_OK) h = dp_json_get(dp_rdrr_tokenizer(m), "hashes");
    else if (me.status != DP_ERR_NOT_FOUND) {
        srv_shards_free(s);
        return dp_err_set(e, me.status, "--shards: %s", me.msg);
    }
    bool mem = true;
    for (size_t i = 0; i < (h ? 1 : sizeof KNOWN / sizeof KNOWN[0]); i++) mem &= add_file(s, KNOWN[i]);
    for (uint32_t i = 0; h && i < h->len; i++) mem &= add_file(s, h->u.items[i].key);
    dp_rdrr_free(m);
    if (!mem) {
        srv_shards_free(s);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    *out = s;
    return DP_OK;
}

void srv_shards_free(srv_shards *s) {
    if (!s) return;
    if (s->d) MHD_stop_daemon(s->d);
    for (int i = 0; i < s->n_files; i++) dp_free(s->files[i]);
    dp_free(s->dir);
    dp_free(s);
}

/* "/shards/<64 hex>.bin" */
static bool shard_url(const char *url) {
    return strlen(url) == 8 + 64 + 4 && !strncmp(url, "/shards/", 8) && strspn(url + 8, "0123456789abcdef") == 64 &&
           !strcmp(url + 72, ".bin");
}

bool srv_shards_route(const srv_shards *s, const char *url) {
    if (shard_url(url)) return true;
    for (int i = 0; url[0] == '/' && i < s->n_files; i++)
        if (!strcmp(url + 1, s->files[i])) return true;
    return false;
}

static void cors(struct MHD_Response *r) {
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(r, "Access-Control-Expose-Headers", "Content-Length, Content-Range, Accept-Ranges, ETag");
}

static enum MHD_Result plain(struct MHD_Connection *c, unsigned status, const char *text, const char *content_range) {
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (content_range) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, content_range);
    if (status == 405) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD, OPTIONS");
    cors(r);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

/* One "bytes=a-b" / "bytes=a-" / "bytes=-n" range of a file of size bytes into [*a, *b]. 1: a
 * range, 0: answer the whole file (no header, or one that is not a single well-formed range,
 * which RFC 9110 lets a server ignore), -1: unsatisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *a, uint64_t *b) {
    if (!h || strncmp(h, "bytes=", 6) || strchr(h, ',')) return 0;
    const char *p = h + 6;
    char *end;
    if (*p == '-') { /* the last n bytes */
        if (p[1] < '0' || p[1] > '9') return 0;
        unsigned long long n = strtoull(p + 1, &end, 10);
        if (*end) return 0;
        if (n == 0) return -1;
        *a = n >= size ? 0 : size - n;
        *b = size - 1;
        return 1;
    }
    if (*p < '0' || *p > '9') return 0;
    unsigned long long x = strtoull(p, &end, 10), y = size ? size - 1 : 0;
    if (*end != '-') return 0;
    if (end[1]) {
        if (end[1] < '0' || end[1] > '9') return 0;
        y = strtoull(end + 1, &end, 10);
        if (*end || y < x) return 0;
    }
    if (x >= size) return -1;
    *a = x;
    *b = y >= size ? size - 1 : y;
    return 1;
}

enum MHD_Result srv_shards_answer(srv_shards *s, struct MHD_Connection *c, const char *url, const char *method) {
    atomic_fetch_add(&s->answered, 1);
    if (!strcmp(method, "OPTIONS")) { /* CORS preflight (a Range header is not "simple") */
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        cors(r);
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "Range");
        MHD_add_response_header(r, "Access-Control-Max-Age", "86400");
        enum MHD_Result ok = MHD_queue_response(c, 204, r);
        MHD_destroy_response(r);
        return ok;
    }
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) return plain(c, 405, "GET, HEAD or OPTIONS\n", NULL);
    char path[4400];
    if (snprintf(path, sizeof path, "%s%s", s->dir, url) >= (int)sizeof path) return plain(c, 404, "not found\n", NULL);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0) close(fd);
        return plain(c, 404, "not found\n", NULL);
    }
    uint64_t size = (uint64_t)sb.st_size, a = 0, b = size ? size - 1 : 0;
    char cr[96];
    int rk = parse_range(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE), size, &a, &b);
    if (rk < 0) {
        close(fd);
        snprintf(cr, sizeof cr, "bytes */%" PRIu64, size);
        return plain(c, 416, "range not satisfiable\n", cr);
    }
    uint64_t len = rk ? b - a + 1 : size;
    struct MHD_Response *r = MHD_create_response_from_fd_at_offset64(len, fd, a);
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    bool shard = shard_url(url);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            strstr(url, ".json") ? "application/json" : "application/octet-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    /* a shard's name is its content: it never changes; the manifest may */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, shard ? "public, max-age=31536000, immutable" : "no-cache");
    if (shard) {
        char etag[80];
        snprintf(etag, sizeof etag, "\"%.64s\"", url + 8);
        MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
    }
    if (rk) {
        snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, a, b, size);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    }
    cors(r);
    enum MHD_Result ok = MHD_queue_response(c, rk ? 206 : 200, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    (void)upload;
    (void)con_cls;
    srv_shards *s = cls;
    if (*upload_size) { /* no request here has a body */
        *upload_size = 0;
        return MHD_YES;
    }
    if (!srv_shards_route(s, url)) return plain(c, 404, "not found\n", NULL);
    return srv_shards_answer(s, c, url, method);
}

dp_status srv_shards_start(srv_shards *s, const char *host, int port, dp_error *e) {
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(host, NULL, &hints, &ai);
    if (rc != 0) return dp_err_set(e, DP_ERR_INVALID_ARG, "cannot resolve --host %s: %s", host, gai_strerror(rc));
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    bool v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (v6) ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
    else ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | (v6 ? MHD_USE_IPv6 : 0);
    s->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                            MHD_OPTION_END);
    if (!s->d) return dp_err_set(e, DP_ERR_IO, "cannot listen on %s port %d (in use?)", host, port);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : port;
    return DP_OK;
}

int srv_shards_port(const srv_shards *s) { return s->port; }
unsigned long srv_shards_count(const srv_shards *s) { return atomic_load(&s->answered); }
