/* doppler.c — the command-line tool: dispatches to tools/cmd_<name>.c. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} command;

static const command COMMANDS[] = {
    {"synth", cmd_synth, "synth --family F --shape NAME|--config FILE <out-dir>   random-weight model"},
    {"convert", cmd_convert, "convert <hf-dir|file.gguf> <out-dir> [--dtype f32|f16|bf16] [--quant q4_k_m|q8_0|f16]"},
    {"eval", cmd_eval, "eval <model> --ids-file F --logits OUT   one forward pass, raw f32 logits"},
    {"run", cmd_run, "run <model> (--ids \"1 2 3\" | --prompt TEXT) [-n N] [--greedy] [--print-ids]"},
    {"chat", cmd_chat, "chat <model>   interactive chat on standard input"},
    {"bench", cmd_bench, "bench <model> [-p 512] [-n 128] [-t threads] [-r reps] [--json]"},
    {"tokenize", cmd_tokenize, "tokenize <source> [--special]   text on stdin -> ids"},
    {"detokenize", cmd_detokenize, "detokenize <source>   ids on stdin -> text"},
    {"verify", cmd_verify, "verify <model>   check every shard's SHA-256"},
    {"info", cmd_info, "info <model>   print the model description"},
    {"export-gguf", cmd_export_gguf, "export-gguf <model> <out.gguf>   llama-architecture GGUF for llama.cpp"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: doppler <command> [args]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(f, "  %s\n", COMMANDS[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "doppler: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
