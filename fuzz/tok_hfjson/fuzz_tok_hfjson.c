/* fuzz_tok_hfjson.c — src/tokenizer: dp_tokenizer_load_hfjson on arbitrary bytes. An input that
 * holds the line "#config" is split there: the text before is tokenizer.json, the text after is
 * tokenizer_config.json. A tokenizer that loads is put through fuzz_tok.h (every accessor,
 * encode/decode, chat templates). */
#include "fuzz_tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_begin(size);
    static const char marker[] = "\n#config\n";
    const uint8_t *cut = NULL;
    for (size_t i = 0; i + sizeof marker - 1 <= size && !cut; i++)
        if (!memcmp(data + i, marker, sizeof marker - 1)) cut = data + i;
    size_t n = cut ? (size_t)(cut - data) : size;
    char *json = malloc(n ? n : 1), *cfg = NULL;
    size_t cn = 0;
    if (!json) abort();
    if (n) memcpy(json, data, n);
    if (cut) {
        cn = size - n - (sizeof marker - 1);
        cfg = malloc(cn ? cn : 1);
        if (!cfg) abort();
        if (cn) memcpy(cfg, cut + sizeof marker - 1, cn);
    }
    dp_tokenizer *t = NULL;
    dp_error e = {0};
    if (dp_tokenizer_load_hfjson(json, n, cfg, cn, &t, &e) == DP_OK) {
        fz_tok_use(t, data, size < 256 ? size : 256);
        dp_tokenizer_free(t);
    } else if (!e.msg[0]) {
        abort();
    }
    free(json);
    free(cfg);
    fz_end();
    return 0;
}
