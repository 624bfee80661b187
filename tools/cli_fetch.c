/* cli_fetch.c — what the CLI shows while fetching (progress, events) and models given as URLs:
 * `doppler run https://host/model` mounts the model lazily in the cache (src/store/store.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "store/store.h"

static void human(double b, char *out, size_t cap) {
    if (b >= 1024.0 * 1024 * 1024) snprintf(out, cap, "%.2f GiB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024) snprintf(out, cap, "%.1f MiB", b / (1024.0 * 1024));
    else snprintf(out, cap, "%.0f KiB", b / 1024.0);
}

void cli_fetch_progress(void *ud, const dp_fetch_progress *p) {
    cli_fetch_ui *ui = ud;
    if (ui->quiet) return;
    bool tty = isatty(2);
    double now = dp_time_now();
    if (!tty && now - ui->last < 2.0) return; /* a log, not a live line */
    ui->last = now;
    char done[32], total[32], rate[32], eta[32] = "?";
    human((double)p->done, done, sizeof done);
    human((double)p->total, total, sizeof total);
    human(p->rate, rate, sizeof rate);
    if (p->rate > 0 && p->total >= p->done) snprintf(eta, sizeof eta, "%.0f s", (double)(p->total - p->done) / p->rate);
    fprintf(stderr, "%s%s: %s / %s  %s/s  ETA %s  files %d/%d  transfers %d%s", tty ? "\r\033[K" : "", ui->cmd, done,
            total, rate, eta, p->items_done, p->items_total, p->active, tty ? "" : "\n");
    ui->live = tty;
}

void cli_fetch_log(void *ud, const char *line) {
    cli_fetch_ui *ui = ud;
    if (ui->live) fprintf(stderr, "\r\033[K");
    ui->live = false;
    if (!ui->quiet || strstr(line, "banned")) fprintf(stderr, "%s: %s\n", ui->cmd, line);
}

void cli_fetch_report(const cli_fetch_ui *ui, dp_fetcher *f) {
    if (ui->live) fprintf(stderr, "\r\033[K");
    for (int i = 0; i < dp_fetcher_n_sources(f); i++) {
        dp_fetch_source_stats s;
        dp_fetcher_source_stats(f, i, &s);
        if (ui->quiet && !s.banned) continue;
        char b[32];
        human((double)s.bytes, b, sizeof b);
        fprintf(stderr, "%s: source %s: %s received, %d file%s delivered, %d failed%s%s\n", ui->cmd, s.url, b, s.ok,
                s.ok == 1 ? "" : "s", s.failed, s.banned ? "; BANNED: " : "", s.banned ? s.why : "");
    }
}

/* ---- models given as URLs ---- */

#define MAX_MOUNTS 4
static struct {
    dp_mount *m;
    cli_fetch_ui ui;
} mounts[MAX_MOUNTS];

/* --cache (doppler.c puts it in DOPPLER_CACHE), else $XDG_CACHE_HOME/doppler, else ~/.cache/doppler */
static bool cache_dir(char *out, size_t cap) {
    const char *c = getenv("DOPPLER_CACHE"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    int n;
    if (c && c[0]) n = snprintf(out, cap, "%s", c);
    else if (x && x[0] == '/') n = snprintf(out, cap, "%s/doppler", x);
    else if (h && h[0]) n = snprintf(out, cap, "%s/.cache/doppler", h);
    else return false;
    return n > 0 && (size_t)n < cap;
}

bool cli_is_url(const char *s) { return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8); }

const char *cli_model_dir(const char *cmd, const char *arg) {
    if (!arg || !cli_is_url(arg)) return arg;
    int k = 0;
    while (k < MAX_MOUNTS && mounts[k].m) k++;
    char cache[4096];
    if (k == MAX_MOUNTS || !cache_dir(cache, sizeof cache)) {
        fprintf(stderr, "doppler %s: %s\n", cmd, k == MAX_MOUNTS ? "too many models given as URLs" : "no cache folder: set --cache DIR or HOME");
        return NULL;
    }
    mounts[k].ui = (cli_fetch_ui){cmd, false, 0, false};
    dp_fetch_opts o = {0};
    o.progress = cli_fetch_progress;
    o.log = cli_fetch_log;
    o.ud = &mounts[k].ui;
    dp_error e = {0};
    const char *mib = getenv("DOPPLER_DISK_CACHE");
    long budget = 0;
    if (mib && mib[0] && !cli_int(cmd, "--disk-cache", mib, 1, 1L << 30, &budget)) return NULL;
    if (dp_mount_open(&arg, 1, cache, (uint64_t)budget << 20, &o, &mounts[k].m, &e) != DP_OK) {
        cli_fail(cmd, &e);
        return NULL;
    }
    return dp_mount_dir(mounts[k].m);
}

const dp_shard_source *cli_mount_source(const char *dir) {
    for (int k = 0; k < MAX_MOUNTS && mounts[k].m; k++)
        if (!strcmp(dp_mount_dir(mounts[k].m), dir)) return dp_mount_source(mounts[k].m);
    return NULL;
}

uint64_t cli_mount_ram_cache(void) {
    uint64_t total = dp_mem_total();
    return total ? total / 4 : (uint64_t)1 << 30;
}
