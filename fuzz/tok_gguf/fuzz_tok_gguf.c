/* fuzz_tok_gguf.c — src/tokenizer: a GGUF file's vocabulary. The input is opened with
 * dp_gguf_open on a memory reader and, when that succeeds, dp_tokenizer_load_gguf reads the
 * tokenizer.ggml.* keys; a tokenizer that loads is put through fuzz_tok.h. */
#include "fuzz_tok.h"

#include "format/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_begin(size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) abort();
    if (size) memcpy(copy, data, size);
    dp_reader r;
    dp_reader_open_mem(&r, copy, size);
    dp_gguf *g = NULL;
    dp_error e = {0};
    if (dp_gguf_open(&r, &g, &e) == DP_OK) {
        dp_tokenizer *t = NULL;
        if (dp_tokenizer_load_gguf(g, &t, &e) == DP_OK) {
            fz_tok_use(t, NULL, 0);
            dp_tokenizer_free(t);
        } else if (!e.msg[0]) {
            abort();
        }
        dp_gguf_free(g);
    }
    free(copy);
    fz_end();
    return 0;
}
