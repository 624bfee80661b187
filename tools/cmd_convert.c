/* cmd_convert.c — `doppler convert <hf-dir|file.gguf> <out-dir> [--dtype D] [--quant Q]`, or a LoRA
 * adapter (PEFT directory or llama.cpp GGUF LoRA file) with --base <model-dir>. `--torrent` then
 * runs `torrent create` on the model written (its options --piece-size, --web-seed, --tracker). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "model/write.h"

static const char USAGE[] =
    "convert <hf-dir|file.gguf> <out-dir> [--dtype f32|f16|bf16] [--quant q4_k_m|q8_0|q6_k|f16] [--shard-mb N]\n"
    "               [--torrent [--piece-size N] [--web-seed URL]... [--tracker URL]...]   (also `torrent create`)\n"
    "       convert <peft-adapter-dir|lora.gguf> <out-dir> --base <model-dir>   (a LoRA adapter for that RDRR model)";

static int convert(int argc, char **argv, char **targv, int *targc);

int cmd_convert(int argc, char **argv) {
    /* `torrent create <out-dir> <the torrent options>`, run after a successful conversion */
    char **targv = calloc((size_t)argc + 2, sizeof *targv);
    if (!targv) {
        fprintf(stderr, "doppler convert: out of memory\n");
        return 1;
    }
    int targc = 0;
    int rc = convert(argc, argv, targv, &targc);
    if (rc == 0 && targc) rc = cmd_torrent_create(targc, targv);
    free(targv);
    return rc;
}

static int convert(int argc, char **argv, char **targv, int *targc) {
    const char *src = NULL, *dst = NULL, *base = NULL;
    dp_write_opts o = {0};
    o.recipe = DP_RECIPE_F32;
    bool chose = false, torrent = false;
    int nt = 2; /* targv: "torrent create", <out-dir>, then the torrent options */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--torrent")) {
            torrent = true;
        } else if ((!strcmp(argv[i], "--piece-size") || !strcmp(argv[i], "--web-seed") || !strcmp(argv[i], "--tracker")) &&
                   i + 1 < argc) {
            targv[nt++] = argv[i];
            targv[nt++] = argv[++i];
        } else if ((!strcmp(argv[i], "--dtype") || !strcmp(argv[i], "--quant")) && i + 1 < argc) {
            if (!cli_recipe("convert", argv[i], argv[i + 1], &o.recipe)) return 2;
            i++;
            chose = true;
        } else if (!strcmp(argv[i], "--shard-mb") && i + 1 < argc) {
            long mb;
            if (!cli_int("convert", "--shard-mb", argv[++i], 1, 4096, &mb)) return 2;
            o.shard_max = (uint64_t)mb << 20;
        } else if (!strcmp(argv[i], "--base") && i + 1 < argc) {
            base = argv[++i];
        } else if (argv[i][0] == '-') {
            return cli_usage(USAGE);
        } else if (!src) src = argv[i];
        else if (!dst) dst = argv[i];
        else return cli_usage(USAGE);
    }
    if (!src || !dst) return cli_usage(USAGE);
    if (nt > 2 && !torrent) {
        fprintf(stderr, "doppler convert: --piece-size, --web-seed and --tracker go with --torrent\n");
        return 2;
    }
    if (torrent && base) {
        fprintf(stderr, "doppler convert: --torrent is for a model, not a LoRA adapter\n");
        return 2;
    }
    if (torrent && torrent_missing("convert --torrent")) return 1;
    if (isatty(2)) o.progress = cli_write_progress;
    dp_error e = {0};
    size_t n = strlen(src);
    dp_status st;
    if (base) {
        if (chose) {
            fprintf(stderr, "doppler convert: an adapter is stored as f32 (--dtype/--quant do not apply)\n");
            return 2;
        }
        st = dp_convert_lora(src, dst, base, &o, &e);
    } else if (n > 5 && !strcmp(src + n - 5, ".gguf")) {
        if (!chose) o.recipe = DP_RECIPE_KEEP;
        st = dp_convert_gguf(src, dst, &o, &e);
    } else {
        st = dp_convert_hf(src, dst, &o, &e);
    }
    if (st != DP_OK) return cli_fail("convert", &e);
    fprintf(stderr, "wrote %s\n", dst);
    if (torrent) {
        static char verb[] = "torrent create";
        targv[0] = verb;
        targv[1] = (char *)dst;
        *targc = nt;
    }
    return 0;
}
