/* cmd_pull.c — `doppler pull <url> [<url>...] <dir>`: a model from HTTP mirrors and peers (each URL
 * a folder holding manifest.json and shards/<sha256>.bin, e.g. `doppler serve --shards`) into dir,
 * every file checked against the manifest before it takes its name (src/store/store.h).
 * `pull --torrent <file.torrent|magnet> <dir> ...` is `torrent pull` (docs/TORRENT.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "store/store.h"

static const char USAGE[] =
    "pull <url> [<url>...] <dir> [--id MODEL_ID] [--jobs N] [--per-source N] [--stall SECONDS]\n"
    "            [--connect-timeout MS] [--strikes N] [--quiet]\n"
    "       pull --torrent <file.torrent|magnet> <dir> [--shard SHA256]... [--peer IP:PORT]... [--timeout S]\n"
    "            [--stall S] [--seed S] [--listen IP:PORT]   (BitTorrent: as `torrent pull`)";

int cmd_pull(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--torrent")) continue;
        /* `torrent pull` with the same arguments, --torrent left out */
        char **targv = malloc((size_t)argc * sizeof *targv);
        if (!targv) {
            fprintf(stderr, "doppler pull: out of memory\n");
            return 1;
        }
        int n = 0;
        static char verb[] = "pull --torrent";
        targv[n++] = verb;
        for (int j = 1; j < argc; j++)
            if (j != i) targv[n++] = argv[j];
        int rc = cmd_torrent_pull(n, targv);
        free(targv);
        return rc;
    }
    const char *id = NULL, *pos[65];
    int n = 0;
    long jobs = 8, per = 2, stall = 10, connect = 5000, strikes = 3;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--id") && v) id = argv[++i];
        else if (!strcmp(a, "--jobs") && v) { if (!cli_int("pull", a, argv[++i], 1, 64, &jobs)) return 2; }
        else if (!strcmp(a, "--per-source") && v) { if (!cli_int("pull", a, argv[++i], 1, 64, &per)) return 2; }
        else if (!strcmp(a, "--stall") && v) { if (!cli_int("pull", a, argv[++i], 1, 3600, &stall)) return 2; }
        else if (!strcmp(a, "--connect-timeout") && v) { if (!cli_int("pull", a, argv[++i], 1, 600000, &connect)) return 2; }
        else if (!strcmp(a, "--strikes") && v) { if (!cli_int("pull", a, argv[++i], 1, 100, &strikes)) return 2; }
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) quiet = true;
        else if (a[0] == '-' || n == 65) return cli_usage(USAGE);
        else pos[n++] = a;
    }
    if (n < 2) return cli_usage(USAGE);
    const char *dir = pos[n - 1];
    if (cli_is_url(dir)) {
        fprintf(stderr, "doppler pull: the last argument is the folder to pull into, not a URL\n");
        return 2;
    }
    if (id && (strlen(id) != 64 || strspn(id, "0123456789abcdef") != 64)) {
        fprintf(stderr, "doppler pull: --id is a model id: 64 lowercase hex digits (the SHA-256 of manifest.json)\n");
        return 2;
    }
    cli_fetch_ui ui = {"pull", quiet, 0, false};
    dp_fetch_opts o = {(int)jobs, (int)per, connect, stall, (int)strikes, cli_fetch_progress, cli_fetch_log, &ui};
    dp_fetcher *f = NULL;
    dp_error e = {0};
    double t0 = dp_time_now();
    if (dp_fetcher_new(pos, n - 1, &o, &f, &e) != DP_OK) return cli_fail("pull", &e);
    dp_status st = dp_pull_model(f, dir, id, NULL, &e);
    cli_fetch_report(&ui, f);
    double dt = dp_time_now() - t0;
    int rc = 0;
    if (st != DP_OK) {
        rc = cli_fail("pull", &e);
    } else {
        fprintf(stderr, "pull: %s complete: %llu bytes (%.1f MiB) fetched in %.2f s\n", dir,
                (unsigned long long)dp_fetcher_bytes(f), (double)dp_fetcher_bytes(f) / (1024.0 * 1024.0), dt);
    }
    dp_fetcher_free(f);
    return rc;
}
