/* cmd_export_gguf.c — `doppler export-gguf <model> <out.gguf>`: an RDRR model (llama, mixtral or
 * gemma3 family) as a GGUF file for llama.cpp ("llama" or "gemma3" architecture), tensors copied
 * byte for byte (Gemma's norms as 1 + w). */
#include <stdio.h>

#include "cli.h"
#include "commands.h"
#include "model/gguf_out.h"

int cmd_export_gguf(int argc, char **argv) {
    if (argc != 3 || argv[1][0] == '-' || argv[2][0] == '-') return cli_usage("export-gguf <model> <out.gguf>");
    dp_error e = {0};
    if (dp_export_gguf(argv[1], argv[2], &e) != DP_OK) return cli_fail("export-gguf", &e);
    fprintf(stderr, "wrote %s\n", argv[2]);
    return 0;
}
