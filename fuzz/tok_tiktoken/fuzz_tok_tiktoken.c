/* fuzz_tok_tiktoken.c — src/tokenizer: dp_tokenizer_load_tiktoken on arbitrary bytes (a tiktoken
 * rank file), then fuzz_tok.h over a tokenizer that loads. */
#include "fuzz_tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_begin(size);
    char *text = malloc(size ? size : 1);
    if (!text) abort();
    if (size) memcpy(text, data, size);
    dp_tokenizer *t = NULL;
    dp_error e = {0};
    if (dp_tokenizer_load_tiktoken(text, size, &t, &e) == DP_OK) {
        fz_tok_use(t, data, size < 256 ? size : 256);
        dp_tokenizer_free(t);
    } else if (!e.msg[0]) {
        abort();
    }
    free(text);
    fz_end();
    return 0;
}
