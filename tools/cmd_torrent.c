/* cmd_torrent.c — `doppler torrent create|seed|pull`: a model as a BitTorrent torrent, through
 * libtorrent (src/store/torrent.h, docs/TORRENT.md). Built without libtorrent, the command says
 * how to get it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

#define TORRENT_USAGE                                                                                          \
    "torrent create <model> [--piece-size N] [--web-seed URL]... [--tracker URL]...\n"                        \
    "       doppler torrent seed <model> [--torrent FILE] [--listen IP:PORT] [--peer IP:PORT]... [--duration S]\n" \
    "       doppler torrent pull <file.torrent|magnet> <dir> [--shard SHA256]... [--peer IP:PORT]...\n"          \
    "                            [--listen IP:PORT] [--timeout S] [--stall S] [--seed S]"

#ifndef DP_HAVE_TORRENT

bool torrent_missing(const char *cmd) {
    fprintf(stderr, "doppler %s: this build has no BitTorrent support "
                    "(apt-get install libtorrent-rasterbar-dev, then rebuild)\n", cmd);
    return true;
}
int cmd_torrent(int argc, char **argv) {
    (void)argc;
    (void)argv;
    torrent_missing("torrent");
    return 1;
}
int cmd_torrent_create(int argc, char **argv) {
    (void)argc;
    (void)argv;
    torrent_missing("torrent");
    return 1;
}
int cmd_torrent_pull(int argc, char **argv) {
    return cmd_torrent_create(argc, argv);
}

#else

#include "store/torrent.h"

bool torrent_missing(const char *cmd) {
    (void)cmd;
    return false;
}

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void log_line(void *ud, const char *line) {
    fprintf(stderr, "doppler torrent %s: %s\n", (const char *)ud, line);
}

/* repeated options collect into a list of argv pointers (freed by the caller) */
typedef struct strs {
    const char **v;
    size_t n;
} strs;
static bool strs_add(strs *s, const char *x) {
    const char **v = realloc(s->v, (s->n + 1) * sizeof *v);
    if (!v) return false;
    v[s->n++] = x;
    s->v = v;
    return true;
}

/* the options seed and pull share; returns 1 when argv[*i] was one of them, -1 on a bad value */
static int net_opt(const char *cmd, int argc, char **argv, int *i, dp_torrent_net *n, strs *peers) {
    const char *a = argv[*i];
    if (*i + 1 >= argc) return 0;
    long v;
    if (!strcmp(a, "--listen")) n->listen = argv[++*i];
    else if (!strcmp(a, "--peer")) {
        if (!strs_add(peers, argv[++*i])) return -1;
    } else if (!strcmp(a, "--timeout") || !strcmp(a, "--duration")) {
        if (!cli_int(cmd, a, argv[++*i], 1, 86400 * 30, &v)) return -1;
        n->timeout_s = (int)v;
    } else if (!strcmp(a, "--stall")) {
        if (!cli_int(cmd, a, argv[++*i], 1, 86400, &v)) return -1;
        n->stall_s = (int)v;
    } else return 0;
    return 1;
}

static void catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cmd_torrent_create(int argc, char **argv) {
    dp_torrent_create_opts o = {0};
    strs seeds = {0}, trackers = {0};
    const char *dir = NULL;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        long v;
        if (!strcmp(argv[i], "--piece-size") && i + 1 < argc) {
            if (!cli_int("torrent create", "--piece-size", argv[++i], 16384, 64L << 20, &v)) goto out;
            o.piece_size = (uint32_t)v;
        } else if (!strcmp(argv[i], "--web-seed") && i + 1 < argc) {
            if (!strs_add(&seeds, argv[++i])) goto out;
        } else if (!strcmp(argv[i], "--tracker") && i + 1 < argc) {
            if (!strs_add(&trackers, argv[++i])) goto out;
        } else if (argv[i][0] != '-' && !dir) dir = argv[i];
        else goto usage;
    }
    if (!dir) goto usage;
    o.web_seeds = seeds.v;
    o.n_web_seeds = seeds.n;
    o.trackers = trackers.v;
    o.n_trackers = trackers.n;
    o.log = log_line;
    o.log_ud = "create";
    dp_torrent_created c;
    dp_error e = {0};
    if (dp_torrent_create(dir, &o, &c, &e) != DP_OK) {
        rc = cli_fail("torrent", &e);
        goto out;
    }
    printf("%s/model.torrent: infohash v1 %s v2 %s, piece %u bytes, model id %s (%u shards padded)\n", dir,
           c.infohash_v1, c.infohash_v2, c.piece_size, c.model_id, c.n_padded);
    rc = 0;
    goto out;
usage:
    rc = cli_usage(TORRENT_USAGE);
out:
    free(seeds.v);
    free(trackers.v);
    return rc;
}

static int t_seed(int argc, char **argv) {
    dp_torrent_net n = {0};
    strs peers = {0};
    const char *dir = NULL, *tfile = NULL;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        int k = net_opt("torrent seed", argc, argv, &i, &n, &peers);
        if (k < 0) goto out;
        if (k) continue;
        if (!strcmp(argv[i], "--torrent") && i + 1 < argc) tfile = argv[++i];
        else if (argv[i][0] != '-' && !dir) dir = argv[i];
        else goto usage;
    }
    if (!dir) goto usage;
    n.peers = peers.v;
    n.n_peers = peers.n;
    n.log = log_line;
    n.log_ud = "seed";
    n.stop = &g_stop;
    catch_signals();
    dp_error e = {0};
    rc = dp_torrent_seed(dir, tfile, &n, &e) == DP_OK ? 0 : cli_fail("torrent", &e);
    goto out;
usage:
    rc = cli_usage(TORRENT_USAGE);
out:
    free(peers.v);
    return rc;
}

int cmd_torrent_pull(int argc, char **argv) {
    dp_torrent_pull_opts o = {0};
    strs peers = {0}, shards = {0};
    const char *src = NULL, *dir = NULL;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        int k = net_opt("torrent pull", argc, argv, &i, &o.net, &peers);
        if (k < 0) goto out;
        if (k) continue;
        long v;
        if (!strcmp(argv[i], "--shard") && i + 1 < argc) {
            if (!strs_add(&shards, argv[++i])) goto out;
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            if (!cli_int("torrent pull", "--seed", argv[++i], 0, 86400 * 30, &v)) goto out;
            o.seed_s = (int)v;
        } else if (argv[i][0] != '-' && !src) src = argv[i];
        else if (argv[i][0] != '-' && !dir) dir = argv[i];
        else goto usage;
    }
    if (!src || !dir) goto usage;
    o.net.peers = peers.v;
    o.net.n_peers = peers.n;
    o.net.log = log_line;
    o.net.log_ud = "pull";
    o.net.stop = &g_stop;
    o.shards = shards.v;
    o.n_shards = shards.n;
    catch_signals();
    dp_torrent_pull_stats s;
    dp_error e = {0};
    if (dp_torrent_pull(src, dir, &o, &s, &e) != DP_OK) {
        rc = cli_fail("torrent", &e);
        goto out;
    }
    /* one line, key=value, for people and scripts */
    printf("pulled shards=%u bytes=%llu resumed=%llu from_peers=%llu from_web_seeds=%llu hash_failures=%u "
           "peers_banned=%u web_seeds_dropped=%u seconds=%.2f\n",
           s.shards_committed, (unsigned long long)s.bytes_wanted, (unsigned long long)s.bytes_resumed,
           (unsigned long long)s.bytes_from_peers, (unsigned long long)s.bytes_from_web_seeds, s.hash_failures,
           s.peers_banned, s.web_seeds_dropped, s.seconds);
    rc = 0;
    goto out;
usage:
    rc = cli_usage(TORRENT_USAGE);
out:
    free(peers.v);
    free(shards.v);
    return rc;
}

int cmd_torrent(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "create")) return cmd_torrent_create(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "seed")) return t_seed(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "pull")) return cmd_torrent_pull(argc - 1, argv + 1);
    return cli_usage(TORRENT_USAGE);
}

#endif
