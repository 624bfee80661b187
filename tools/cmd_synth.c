/* cmd_synth.c — `doppler synth --family F --shape NAME|--config FILE <out-dir> [--quant Q]`, or
 * `doppler synth --lora-for <model-dir> [--rank R] <out-dir>`: a random LoRA adapter. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "model/write.h"

static const char USAGE[] =
    "synth [--family F] [--shape NAME | --config config.json] [--dtype f32|f16|bf16 | --quant q4_k_m|q8_0|q6_k]\n"
    "             [--tokenizer tokenizer.json|tokenizer.model|file.gguf] [--shard-mb N] [--router-skew S]\n"
    "             <out-dir>\n"
    "       synth --lora-for <model-dir> [--rank 16] <out-dir>   (a random adapter on every projection)";

int cmd_synth(int argc, char **argv) {
    const char *family = NULL, *shape = NULL, *config = NULL, *dst = NULL, *lora_for = NULL;
    long rank = 16;
    dp_write_opts o = {0};
    o.recipe = DP_RECIPE_F32;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--family") && i + 1 < argc) family = argv[++i];
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc) shape = argv[++i];
        else if (!strcmp(argv[i], "--config") && i + 1 < argc) config = argv[++i];
        else if (!strcmp(argv[i], "--lora-for") && i + 1 < argc) lora_for = argv[++i];
        else if (!strcmp(argv[i], "--rank") && i + 1 < argc) {
            if (!cli_int("synth", "--rank", argv[++i], 1, 1024, &rank)) return 2;
        }
        else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) o.tokenizer_file = argv[++i];
        else if (!strcmp(argv[i], "--shard-mb") && i + 1 < argc) { /* as convert's */
            long mb;
            if (!cli_int("synth", "--shard-mb", argv[++i], 1, 4096, &mb)) return 2;
            o.shard_max = (uint64_t)mb << 20;
        }
        else if (!strcmp(argv[i], "--router-skew") && i + 1 < argc) { /* MoE: 0 = even routing */
            double sk;
            if (!cli_float("synth", "--router-skew", argv[++i], &sk)) return 2;
            if (sk < 0 || sk > 100) {
                fprintf(stderr, "doppler synth: --router-skew %g is not in [0, 100]\n", sk);
                return 2;
            }
            o.router_skew = sk > 0 ? sk : -1;
        }
        else if ((!strcmp(argv[i], "--dtype") || !strcmp(argv[i], "--quant")) && i + 1 < argc) {
            if (!cli_recipe("synth", argv[i], argv[i + 1], &o.recipe)) return 2;
            i++;
        } else if (!strcmp(argv[i], "--list")) {
            for (const char *const *s = dp_synth_shapes(); *s; s++) printf("%s\n", *s);
            return 0;
        } else if (argv[i][0] == '-' || dst) return cli_usage(USAGE);
        else dst = argv[i];
    }
    if (!dst || (shape && config)) return cli_usage(USAGE);
    if (isatty(2)) o.progress = cli_write_progress;
    dp_error e = {0};
    if (lora_for) {
        if (family || shape || config) return cli_usage(USAGE);
        if (dp_synth_lora(lora_for, dst, (int)rank, &o, &e) != DP_OK) return cli_fail("synth", &e);
        fprintf(stderr, "wrote %s\n", dst);
        return 0;
    }
    if (dp_synth(family, shape, config, dst, &o, &e) != DP_OK) return cli_fail("synth", &e);
    fprintf(stderr, "wrote %s\n", dst);
    return 0;
}
