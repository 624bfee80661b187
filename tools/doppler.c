/* doppler.c — the command-line tool: dispatches to tools/cmd_<name>.c.
 * `--backend webgpu` (eval, run, bench): the command runs on the WebAssembly build under Node,
 * `node web/doppler.mjs <command> ...`, which takes the same arguments and prints the same output
 * (DOPPLER_WEB: the web/ directory, DOPPLER_NODE: the node binary). `--backend cpu` is this tool. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} command;

static const command COMMANDS[] = {
    {"synth", cmd_synth, "synth --family F --shape NAME|--config FILE <out-dir>   random-weight model"},
    {"convert", cmd_convert, "convert <hf-dir|file.gguf> <out-dir> [--dtype f32|f16|bf16] [--quant q4_k_m|q8_0|f16] [--torrent [--web-seed URL]...]"},
    {"eval", cmd_eval, "eval <model> --ids-file F --logits OUT   one forward pass, raw f32 logits"},
    {"run", cmd_run, "run <model> (--ids \"1 2 3\" | --prompt TEXT) [-n N] [--greedy] [--print-ids]"},
    {"chat", cmd_chat, "chat <model>   interactive chat on standard input"},
    {"perplexity", cmd_perplexity, "perplexity <model> -f text.txt [--ctx 512] [--kl-divergence-base F [--kl-divergence]]   llama.cpp's method"},
    {"serve", cmd_serve, "serve <model> [--host H] [--port N] [--api-key K] [--slots N] [--ctx N] [--queue N]   OpenAI-compatible HTTP API"},
    {"bench", cmd_bench, "bench <model> [-p 512] [-n 128] [-t threads] [-r reps] [--seqs N] [--json]"},
    {"tokenize", cmd_tokenize, "tokenize <source> [--special]   text on stdin -> ids"},
    {"detokenize", cmd_detokenize, "detokenize <source>   ids on stdin -> text"},
    {"pull", cmd_pull, "pull <url> [<url>...] <dir> [--id ID] [--quiet]   a model from HTTP mirrors/peers, every file verified;\n"
              "    pull --torrent <file.torrent|magnet> <dir>   the same over BitTorrent (= torrent pull)"},
    {"verify", cmd_verify, "verify <model>   check every shard's SHA-256"},
    {"info", cmd_info, "info <model>   print the model description"},
    {"kernels", cmd_kernels, "kernels list|show|verify|gate   the WebGPU kernel registry (docs/KERNELS.md)"},
    {"bundle", cmd_bundle, "bundle keygen|create|sign|verify   static-mode bundles (docs/KERNELS.md)"},
    {"torrent", cmd_torrent, "torrent create|seed|pull   a model as a BitTorrent torrent (docs/TORRENT.md)"},
    {"export-gguf", cmd_export_gguf, "export-gguf <model> <out.gguf>   GGUF for llama.cpp (llama, mixtral, gemma3)"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: doppler <command> [args]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(f, "  %s\n", COMMANDS[i].help);
    fprintf(f, "\n--backend cpu|webgpu: eval, run and bench on WebGPU run `node web/doppler.mjs` "
               "(the WebAssembly build; see docs/WEBGPU.md)\n");
    fprintf(f, "A <model> of run, chat, eval, bench and info may be an http(s):// URL: it is mounted lazily, shards "
               "fetched when first read, into --cache DIR (default $XDG_CACHE_HOME/doppler) holding at most --disk-cache MIB of "
               "shards (default: no limit; docs/HOSTING.md)\n");
}

/* argv[0] is the command; hands it to web/doppler.mjs (returns only on failure) */
static int run_webgpu(int argc, char **argv) {
    const char *cmd = argv[0];
    if (strcmp(cmd, "eval") && strcmp(cmd, "run") && strcmp(cmd, "bench")) {
        fprintf(stderr, "doppler %s: --backend webgpu is available for eval, run and bench\n", cmd);
        return 2;
    }
    return cli_exec_web(argc, argv);
}

/* `--cache DIR` and `--disk-cache MIB` (where models given as URLs are mounted, and the byte
 * budget of its shard store) go to DOPPLER_CACHE / DOPPLER_DISK_CACHE for tools/cli_fetch.c. */
static int take_cache(const char *opt, const char *v) {
    if (!v) return 0;
    if (!strcmp(opt, "--cache")) return setenv("DOPPLER_CACHE", v, 1) == 0;
    if (!strcmp(opt, "--disk-cache")) return setenv("DOPPLER_DISK_CACHE", v, 1) == 0;
    return 0;
}

/* Takes `--backend X` / `--backend=X` out of argv[1..] (the commands do not know it): *webgpu
 * when X is webgpu; -1 for a value other than cpu / webgpu; takes --cache / --disk-cache too
 * (after `kernels`, --cache stays: it names the tune cache there).
 * Returns the new argc. */
static int take_backend(int argc, char **argv, int *webgpu) {
    int n = 1;
    *webgpu = 0;
    bool own_cache = !strcmp(argv[0], "kernels"); /* `kernels tune --cache FILE`: the tune cache */
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (!own_cache && take_cache(argv[i], i + 1 < argc ? argv[i + 1] : NULL)) {
            i++;
            continue;
        }
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) v = argv[++i];
        else if (!strncmp(argv[i], "--backend=", 10)) v = argv[i] + 10;
        else {
            argv[n++] = argv[i];
            continue;
        }
        if (!strcmp(v, "webgpu")) *webgpu = 1;
        else if (strcmp(v, "cpu")) {
            fprintf(stderr, "doppler %s: unknown backend '%s' (cpu or webgpu)\n", argv[0], v);
            return -1;
        }
    }
    argv[n] = NULL;
    return n;
}

int main(int argc, char **argv) {
    while (argc > 2 && take_cache(argv[1], argv[2])) { /* also before the command */
        argv[2] = argv[0];
        argv += 2;
        argc -= 2;
    }
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    int webgpu = 0, n = take_backend(argc - 1, argv + 1, &webgpu);
    if (n < 0) return 2;
    if (webgpu) {
        /* the Node host takes --backend too; give it back */
        char **a = calloc((size_t)n + 3, sizeof *a);
        if (!a) return 1;
        for (int i = 0; i < n; i++) a[i] = argv[1 + i];
        a[n] = "--backend";
        a[n + 1] = "webgpu";
        int rc = run_webgpu(n + 2, a);
        free(a);
        return rc;
    }
    argc = n + 1;
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "doppler: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
