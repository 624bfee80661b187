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
    dp_load_params p;
    dp_load_params_default(&p);
    p.n_threads = threads;
    p.shards = cli_mount_source(dir); /* a model given as a URL: shards fetched on first read */
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
