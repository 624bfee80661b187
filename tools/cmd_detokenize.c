/* cmd_detokenize.c — `doppler detokenize <source> [--no-special]`: token ids (white-space or comma
 * separated) on standard input -> the text on standard output, byte for byte, no newline added.
 * Control tokens (BOS, <|eot_id|>, ...) are written as their text unless --no-special. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "tokenizer/tokenizer.h"

#define USAGE "detokenize <source> [--no-special]"

int cmd_detokenize(int argc, char **argv) {
    const char *source = NULL;
    unsigned flags = DP_DECODE_SPECIAL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-special")) flags &= ~(unsigned)DP_DECODE_SPECIAL;
        else if (argv[i][0] == '-' || source) return cli_usage(USAGE);
        else source = argv[i];
    }
    if (!source) return cli_usage(USAGE);
    dp_error e = {0};
    dp_tokenizer *t = NULL;
    if (dp_tokenizer_load(source, &t, &e) != DP_OK) return cli_fail(argv[0], &e);

    dp_tokens ids = {0};
    int rc = 0;
    char word[32];
    size_t wl = 0;
    bool too_long = false;
    for (;;) {
        int c = getchar();
        bool sep = c == EOF || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',';
        if (!sep) {
            if (wl + 1 < sizeof word) word[wl++] = (char)c;
            else too_long = true;
            continue;
        }
        if (wl || too_long) {
            word[wl] = 0;
            char *end;
            errno = 0;
            long v = strtol(word, &end, 10);
            if (too_long || *end || errno || v < 0 || v > INT32_MAX) {
                fprintf(stderr, "doppler %s: bad token id '%s'\n", argv[0], word);
                rc = 1;
                break;
            }
            /* dp_tokens is freed with dp_free: grow it through the library allocator */
            if (ids.n == ids.cap) {
                size_t cap = ids.cap ? ids.cap * 2 : 256;
                int32_t *nv = dp_realloc(ids.ids, cap * sizeof *nv);
                if (!nv) {
                    fprintf(stderr, "doppler %s: out of memory\n", argv[0]);
                    rc = 1;
                    break;
                }
                ids.ids = nv;
                ids.cap = cap;
            }
            ids.ids[ids.n++] = (int32_t)v;
            wl = 0;
        }
        if (c == EOF) break;
    }
    if (!rc) {
        dp_buf out = {0};
        if (dp_tokenizer_decode(t, ids.ids, ids.n, flags, &out, &e) != DP_OK) rc = cli_fail(argv[0], &e);
        else if (out.len && fwrite(out.data, 1, out.len, stdout) != out.len) rc = 1;
        if (fflush(stdout) != 0) rc = 1;
        dp_buf_free(&out);
    }
    dp_tokens_free(&ids);
    dp_tokenizer_free(t);
    return rc;
}
