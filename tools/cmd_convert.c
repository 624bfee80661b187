/* cmd_convert.c — `doppler convert <hf-dir|file.gguf> <out-dir> [--dtype D] [--quant Q]`, or a LoRA
 * adapter (PEFT directory or llama.cpp GGUF LoRA file) with --base <model-dir>. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "model/write.h"

static const char USAGE[] =
    "convert <hf-dir|file.gguf> <out-dir> [--dtype f32|f16|bf16] [--quant q4_k_m|q8_0|q6_k|f16] [--shard-mb N]\n"
    "       convert <peft-adapter-dir|lora.gguf> <out-dir> --base <model-dir>   (a LoRA adapter for that RDRR model)";

int cmd_convert(int argc, char **argv) {
    const char *src = NULL, *dst = NULL, *base = NULL;
    dp_write_opts o = {0};
    o.recipe = DP_RECIPE_F32;
    bool chose = false;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "--dtype") || !strcmp(argv[i], "--quant")) && i + 1 < argc) {
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
    return 0;
}
