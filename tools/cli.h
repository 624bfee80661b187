/* cli.h — helpers shared by the doppler subcommands. */
#ifndef DP_CLI_H
#define DP_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

#include "doppler.h"
#include "model/write.h"

/* Print "doppler <cmd>: <msg>" to stderr and return 1. */
int cli_fail(const char *cmd, const dp_error *e);
int cli_usage(const char *usage);
/* Parse an int option value; false (and a message) when it is not one in [lo, hi]. */
bool cli_int(const char *cmd, const char *opt, const char *v, long lo, long hi, long *out);
bool cli_float(const char *cmd, const char *opt, const char *v, double *out);
/* The library's check of sampling settings; false (and its reason) when they are unusable. */
bool cli_sampling(const char *cmd, const dp_sampling *s);
/* Parse whitespace-separated token ids; *ids is malloc'd. false on a bad token. */
bool cli_parse_ids(const char *text, int32_t **ids, int32_t *n, char *err, size_t errn);
/* --dtype / --quant value into a write recipe ("keep" is not a user choice); false and a
 * message when unknown. */
bool cli_recipe(const char *cmd, const char *opt, const char *v, dp_recipe *out);
/* dp_write_opts progress callback: "writing tensor i/n" on stderr. */
void cli_write_progress(void *ud, int64_t done, int64_t total);
/* Run the command argv[0..argc) on the WebAssembly build under Node: execs
 * `node web/doppler.mjs argv...` (DOPPLER_WEB: the web/ folder, DOPPLER_NODE: the node binary).
 * Returns only on failure (1, with a message). */
int cli_exec_web(int argc, char **argv);
/* Load a model with a progress line on stderr when stderr is a terminal. */
dp_status cli_load(const char *dir, int threads, dp_model **m, dp_error *e);

/* --gpu-mem BYTES, --ram-cache BYTES (a number with an optional K/M/G/T suffix, powers of 1024)
 * --expert-policy lfu|lru and --expert-in-place of run, chat, eval and bench: expert paging
 * (docs/PAGING.md). */
typedef struct cli_paging {
    uint64_t gpu_mem, ram_cache;
    const char *policy;
    bool in_place;
    int predict; /* --expert-predict K: experts per token predicted a layer ahead (0: none) */
} cli_paging;
#define CLI_PAGING_USAGE "[--gpu-mem BYTES] [--ram-cache BYTES] [--expert-policy lfu|lru] [--expert-in-place] " \
                         "[--expert-predict K]"
/* 1: argv[*i] was one of them (its value consumed, *i advanced); 0: it is not; -1: a bad value
 * (the message printed). */
int cli_paging_arg(cli_paging *p, const char *cmd, int argc, char **argv, int *i);
/* cli_load with the paging knobs (pg may be NULL). */
dp_status cli_load_paged(const char *dir, int threads, const cli_paging *pg, dp_model **m, dp_error *e);
/* "paging: ..." lines for a paged model (nothing for another): slots, hit rates per tier, bytes
 * read per token and time waiting, over `tokens` evaluated tokens. */
void cli_paging_report(const dp_model *m, int64_t tokens, FILE *f);
/* The same as a JSON member (",\"paging\":{...}") for bench --json; nothing when not paged. */
void cli_paging_json(const dp_model *m, int64_t tokens, FILE *f);

/* --lora DIR[:scale] of run, chat, eval and bench: an RDRR adapter and the scale to apply it at
 * (default 1: the adapter as trained). */
typedef struct cli_lora {
    char *dir;          /* NULL: no --lora given */
    float scale;
    dp_adapter *a;      /* loaded by cli_lora_use */
} cli_lora;
#define CLI_LORA_USAGE "[--lora DIR[:scale]]"
/* Parse the option's value (a suffix after the last ':' that reads as a number is the scale,
 * else the whole value is the directory); false and a message on a second --lora. */
bool cli_lora_parse(const char *cmd, const char *v, cli_lora *l);
/* Load the adapter onto m (first call) and set it on c; no-op without --lora. */
dp_status cli_lora_use(cli_lora *l, dp_model *m, dp_ctx *c, dp_error *e);
/* Free the adapter (after its contexts, before its model) and the parsed value. */
void cli_lora_free(cli_lora *l);

/* ---- fetching (tools/cli_fetch.c) ---- */
typedef struct dp_fetch_progress dp_fetch_progress;
typedef struct dp_fetcher dp_fetcher;
typedef struct cli_fetch_ui {
    const char *cmd;
    bool quiet;         /* only bans are told */
    double last;        /* when the last progress line was printed */
    bool live;          /* a progress line without newline is on the terminal */
} cli_fetch_ui;
/* dp_fetch_opts callbacks (ud: a cli_fetch_ui): "cmd: bytes / total  rate  ETA  files" on stderr,
 * in place on a terminal, every 2 s otherwise; events one per line. */
void cli_fetch_progress(void *ud, const dp_fetch_progress *p);
void cli_fetch_log(void *ud, const char *line);
/* One line per source: bytes, files delivered, failures, and the reason when banned. */
void cli_fetch_report(const cli_fetch_ui *ui, dp_fetcher *f);
bool cli_is_url(const char *s);
/* A model argument that is an http(s):// URL is mounted lazily: manifest and tokenizer files now
 * into the cache (--cache DIR, else $XDG_CACHE_HOME/doppler, else ~/.cache/doppler), each shard
 * when first read. Returns the folder to load (arg itself when it is not a URL), or NULL after
 * printing why. cli_load reads a mounted folder's shards through its mount. */
const char *cli_model_dir(const char *cmd, const char *arg);
/* The lazy shard source of a folder cli_model_dir mounted, else NULL. */
const dp_shard_source *cli_mount_source(const char *dir);
/* The RAM expert cache a mounted MoE model gets when --ram-cache is not given: a quarter of
 * physical memory (1 GiB when unknown). */
uint64_t cli_mount_ram_cache(void);

#endif
