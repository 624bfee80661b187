/* cli.c — helpers shared by the doppler subcommands. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_fail(const char *cmd, const dp_error *e) {
    fprintf(stderr, "doppler %s: %s\n", cmd, e->msg[0] ? e->msg : dp_status_str(e->status));
    return 1;
}

int cli_usage(const char *usage) {
    fprintf(stderr, "usage: doppler %s\n", usage);
    return 2;
}

bool cli_int(const char *cmd, const char *opt, const char *v, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "doppler %s: %s needs an integer in [%ld, %ld]\n", cmd, opt, lo, hi);
        return false;
    }
    *out = x;
    return true;
}

bool cli_float(const char *cmd, const char *opt, const char *v, double *out) {
    char *end = NULL;
    double x = v ? strtod(v, &end) : 0;
    if (!v || !*v || *end) {
        fprintf(stderr, "doppler %s: %s needs a number\n", cmd, opt);
        return false;
    }
    *out = x;
    return true;
}

bool cli_sampling(const char *cmd, const dp_sampling *s) {
    dp_error e = {0};
    if (dp_sampling_check(s, &e) == DP_OK) return true;
    cli_fail(cmd, &e);
    return false;
}

bool cli_parse_ids(const char *text, int32_t **ids, int32_t *n, char *err, size_t errn) {
    size_t cap = 16, len = 0;
    int32_t *v = malloc(cap * sizeof *v);
    const char *p = text;
    if (!v) { snprintf(err, errn, "out of memory"); return false; }
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < 0 || x > INT32_MAX || (*end && !strchr(" \t\r\n,", *end))) {
            snprintf(err, errn, "bad token id near '%.16s'", p);
            free(v);
            return false;
        }
        if (len == cap) {
            int32_t *nv = cap < ((size_t)1 << 28) ? realloc(v, (cap *= 2) * sizeof *v) : NULL;
            if (!nv) { free(v); snprintf(err, errn, "too many ids"); return false; }
            v = nv;
        }
        v[len++] = (int32_t)x;
        p = end;
    }
    *ids = v;
    *n = (int32_t)len;
    return true;
}

bool cli_recipe(const char *cmd, const char *opt, const char *v, dp_recipe *out) {
    if (!dp_recipe_parse(v, out) || *out == DP_RECIPE_KEEP) {
        fprintf(stderr, "doppler %s: unknown %s '%s'\n", cmd, opt, v);
        return false;
    }
    return true;
}

void cli_write_progress(void *ud, int64_t done, int64_t total) {
    (void)ud;
    fprintf(stderr, "\rwriting tensor %lld/%lld", (long long)done, (long long)total);
    if (done == total) fprintf(stderr, "\n");
}

static void progress(void *ud, uint64_t done, uint64_t total) {
    (void)ud;
    if (total) fprintf(stderr, "\rloading %5.1f%% (%llu MiB)", 100.0 * (double)done / (double)total,
                       (unsigned long long)(done >> 20));
}

dp_status cli_load(const char *dir, int threads, dp_model **m, dp_error *e) {
    return cli_load_paged(dir, threads, NULL, m, e);
}

/* "8G", "512M", "1.5G", "123456" into bytes; false when it is not one */
static bool parse_bytes(const char *v, uint64_t *out) {
    char *end = NULL;
    double x = strtod(v, &end);
    if (!end || end == v || x < 0) return false;
    double mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1024.0; end++; break;
    case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'I') end++;
    if (*end == 'b' || *end == 'B') end++;
    if (*end || x * mul >= 1.8e19) return false;
    *out = (uint64_t)(x * mul);
    return true;
}

int cli_paging_arg(cli_paging *p, const char *cmd, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    bool gpu = !strcmp(a, "--gpu-mem"), ram = !strcmp(a, "--ram-cache"), pol = !strcmp(a, "--expert-policy"),
         pred = !strcmp(a, "--expert-predict");
    if (!strcmp(a, "--expert-in-place")) {
        p->in_place = true;
        return 1;
    }
    if (!gpu && !ram && !pol && !pred) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "doppler %s: %s needs a value\n", cmd, a);
        return -1;
    }
    const char *v = argv[++*i];
    if (pred) {
        char *end = NULL;
        long k = strtol(v, &end, 10);
        if (!v[0] || *end || k < 0 || k > 1024) {
            fprintf(stderr, "doppler %s: --expert-predict: '%s' is not a count of experts (0: off)\n", cmd, v);
            return -1;
        }
        p->predict = (int)k;
        return 1;
    }
    if (pol) {
        if (strcmp(v, "lfu") && strcmp(v, "lru")) {
            fprintf(stderr, "doppler %s: --expert-policy: '%s' is not lfu or lru\n", cmd, v);
            return -1;
        }
        p->policy = v;
        return 1;
    }
    uint64_t n = 0;
    if (!parse_bytes(v, &n) || n == 0) {
        fprintf(stderr, "doppler %s: %s: '%s' is not a size in bytes (e.g. 8G, 512M)\n", cmd, a, v);
        return -1;
    }
    *(gpu ? &p->gpu_mem : &p->ram_cache) = n;
    return 1;
}

void cli_paging_report(const dp_model *m, int64_t tokens, FILE *f) {
    dp_paging_stats s;
    dp_model_paging_stats(m, &s);
    if (!s.paged) return;
    double t = tokens > 0 ? (double)tokens : 1, u = s.uses ? (double)s.uses : 1;
    fprintf(f, "paging: %s, %llu RAM slots of %.1f MiB, %llu device slots\n", s.policy,
            (unsigned long long)s.ram_slots, (double)s.slot_bytes / 1048576.0, (unsigned long long)s.device_slots);
    fprintf(f, "paging: %llu expert uses over %lld tokens: device hits %.1f %%, RAM hits %.1f %%, read from source %.1f %%\n",
            (unsigned long long)s.uses, (long long)tokens, 100.0 * (double)s.device_hits / u, 100.0 * (double)s.ram_hits / u,
            100.0 * (double)s.source_reads / u);
    fprintf(f, "paging: per token %.1f MiB read from source, %.1f MiB paged to the device, %.1f ms waiting for pages; "
               "top-2 expert share %.2f\n",
            (double)s.source_bytes / 1048576.0 / t, (double)s.device_bytes / 1048576.0 / t, 1e3 * s.wait_s / t, s.top2_share);
    if (s.predicted || s.unused_bytes)
        fprintf(f, "paging: layer-ahead prediction %.1f %% of %llu selections (%llu predicted); read ahead and unused "
                   "%.1f MiB per token\n",
                s.predict_total ? 100.0 * (double)s.predict_hits / (double)s.predict_total : 0.0,
                (unsigned long long)s.predict_total, (unsigned long long)s.predicted,
                (double)s.unused_bytes / 1048576.0 / t);
}

void cli_paging_json(const dp_model *m, int64_t tokens, FILE *f) {
    dp_paging_stats s;
    dp_model_paging_stats(m, &s);
    if (!s.paged) return;
    double t = tokens > 0 ? (double)tokens : 1;
    fprintf(f, ",\"paging\":{\"policy\":\"%s\",\"ram_slots\":%llu,\"slot_bytes\":%llu,\"device_slots\":%llu,"
               "\"uses\":%llu,\"device_hits\":%llu,\"ram_hits\":%llu,\"source_reads\":%llu,\"tokens\":%lld,"
               "\"source_bytes_per_token\":%.0f,\"device_bytes_per_token\":%.0f,\"wait_ms_per_token\":%.3f,"
               "\"top2_share\":%.3f,\"predicted\":%llu,\"predict_total\":%llu,\"predict_hits\":%llu,"
               "\"unused_bytes_per_token\":%.0f}",
            s.policy, (unsigned long long)s.ram_slots, (unsigned long long)s.slot_bytes, (unsigned long long)s.device_slots,
            (unsigned long long)s.uses, (unsigned long long)s.device_hits, (unsigned long long)s.ram_hits,
            (unsigned long long)s.source_reads, (long long)tokens, (double)s.source_bytes / t, (double)s.device_bytes / t,
            1e3 * s.wait_s / t, s.top2_share, (unsigned long long)s.predicted, (unsigned long long)s.predict_total,
            (unsigned long long)s.predict_hits, (double)s.unused_bytes / t);
}

dp_status cli_load_paged(const char *dir, int threads, const cli_paging *pg, dp_model **m, dp_error *e) {
    dp_load_params p;
    dp_load_params_default(&p);
    p.n_threads = threads;
    p.shards = cli_mount_source(dir); /* a model given as a URL: shards fetched on first read */
    if (pg) {
        p.gpu_mem = pg->gpu_mem;
        p.ram_cache = pg->ram_cache;
        p.expert_policy = pg->policy;
        p.expert_in_place = pg->in_place;
        p.expert_predict = pg->predict;
    }
    /* A lazy mount pages a MoE model's experts by default (a dense model ignores ram_cache), so
     * the shards of experts no token routes to are never fetched. */
    if (p.shards && !p.ram_cache) p.ram_cache = cli_mount_ram_cache();
    bool tty = isatty(2);
    if (tty) p.progress = progress;
    dp_status st = dp_model_load(dir, &p, m, e);
    if (tty) fprintf(stderr, "\r\033[K");
    return st;
}

#ifndef DP_WEB_DIR
#define DP_WEB_DIR "web"
#endif

int cli_exec_web(int argc, char **argv) {
    const char *cmd = argv[0];
    const char *web = getenv("DOPPLER_WEB"), *node = getenv("DOPPLER_NODE");
    if (!web || !web[0]) web = DP_WEB_DIR;
    if (!node || !node[0]) node = "node";
    char script[4096];
    if (snprintf(script, sizeof script, "%s/doppler.mjs", web) >= (int)sizeof script) {
        fprintf(stderr, "doppler %s: DOPPLER_WEB is too long\n", cmd);
        return 1;
    }
    char **args = calloc((size_t)argc + 3, sizeof *args);
    if (!args) {
        fprintf(stderr, "doppler %s: out of memory\n", cmd);
        return 1;
    }
    args[0] = (char *)node;
    args[1] = script;
    for (int i = 0; i < argc; i++) args[i + 2] = argv[i];
    /* the script runs this binary for what the module cannot (the gate's CPU reference of a model
     * larger than wasm32's 4 GiB: web/native-ref.mjs) */
    char self[4096];
    ssize_t n_self = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n_self > 0) {
        self[n_self] = 0;
        setenv("DOPPLER_NATIVE", self, 0);
    }
    fflush(stdout);
    execvp(node, args);
    fprintf(stderr, "doppler %s: this runs `%s %s` (the WebAssembly build): %s (install Node, or set DOPPLER_NODE)\n",
            cmd, node, script, strerror(errno));
    free(args);
    return 1;
}

bool cli_lora_parse(const char *cmd, const char *v, cli_lora *l) {
    if (l->dir) {
        fprintf(stderr, "doppler %s: --lora given twice (one adapter per context)\n", cmd);
        return false;
    }
    const char *colon = strrchr(v, ':');
    char *end = NULL;
    double scale = 1.0;
    size_t n = strlen(v);
    if (colon && colon[1] && colon > v) {
        double x = strtod(colon + 1, &end);
        if (end && *end == '\0') {
            scale = x;
            n = (size_t)(colon - v);
        }
    }
    l->dir = malloc(n + 1);
    if (!l->dir) {
        fprintf(stderr, "doppler %s: out of memory\n", cmd);
        return false;
    }
    memcpy(l->dir, v, n);
    l->dir[n] = '\0';
    l->scale = (float)scale;
    return true;
}

dp_status cli_lora_use(cli_lora *l, dp_model *m, dp_ctx *c, dp_error *e) {
    if (!l->dir) return DP_OK;
    dp_status st = l->a ? DP_OK : dp_adapter_load(m, l->dir, &l->a, e);
    if (st == DP_OK) st = dp_ctx_set_adapter(c, l->a, l->scale, 0, e);
    return st;
}

void cli_lora_free(cli_lora *l) {
    dp_adapter_free(l->a);
    free(l->dir);
    l->a = NULL;
    l->dir = NULL;
}
