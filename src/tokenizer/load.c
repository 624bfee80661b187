/* load.c — dp_tokenizer_load: picks the loader by path and content; helpers the loaders share
 * (GPT-2 byte-level alphabet, Llama 3 special tokens). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "format/gguf.h"
#include "format/rdrr.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

#define TOKENIZER_FILE_MAX ((size_t)512 << 20)

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the 68 others to
 * U+0100.. in byte order. */
int dp_bytelevel_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return (int)cp;
    if (cp < 0x100 || cp >= 0x100 + 68) return -1;
    uint32_t k = cp - 0x100;
    if (k < 33) return (int)k;            /* 0x00..0x20 */
    if (k < 67) return (int)(0x7F + k - 33); /* 0x7F..0xA0 */
    return 0xAD;
}

bool dp_bytelevel_decode(const char *str, size_t n, dp_buf *tmp) {
    const uint8_t *s = (const uint8_t *)str;
    tmp->len = 0;
    for (size_t i = 0; i < n;) {
        size_t len;
        uint32_t cp = dp_utf8_decode(s + i, n - i, &len);
        int b = cp == DP_UTF8_INVALID ? -1 : dp_bytelevel_byte(cp);
        if (b < 0) return false;
        uint8_t c = (uint8_t)b;
        dp_buf_append(tmp, &c, 1);
        i += len;
    }
    if (!tmp->data) dp_buf_append(tmp, "", 0);
    return true;
}

static const char *const LLAMA3_NAMED[] = {
    "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>", "<|end_header_id|>",
    "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"};
#define LLAMA3_N_NAMED (sizeof LLAMA3_NAMED / sizeof LLAMA3_NAMED[0])

const char *dp_tok_llama3_special_name(int i, char *buf, size_t n) {
    if (i < 0 || i >= 256) return NULL;
    if ((size_t)i < LLAMA3_N_NAMED) return LLAMA3_NAMED[i];
    /* ids 128011.. are <|reserved_special_token_2|> .. <|reserved_special_token_247|> */
    snprintf(buf, n, "<|reserved_special_token_%d|>", i - (int)LLAMA3_N_NAMED + 2);
    return buf;
}

dp_status dp_tok_llama3_specials(dp_tokenizer *t, int32_t base, dp_error *e) {
    if (base < 0 || base + 256 > t->n_vocab) return dp_err_set(e, DP_ERR_INTERNAL, "no room for Llama 3 specials");
    for (int i = 0; i < 256; i++) {
        char buf[64];
        const char *name = dp_tok_llama3_special_name(i, buf, sizeof buf);
        dp_status st = dp_tok_set(t, base + i, name, strlen(name), 0.0f, DP_TOKT_CONTROL, e);
        if (st != DP_OK) return st;
    }
    t->bos = base;
    t->eos = base + 1;
    t->eot = base + 9;
    t->add_bos = true;
    return DP_OK;
}

/* ---- dispatch ---- */

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Looks like a tiktoken rank file: "<base64> <digits>\n" lines. */
static bool looks_tiktoken(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && s[i] != ' ') {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
              c == '='))
            return false;
        i++;
    }
    if (i == 0 || i >= n) return false;
    i++;
    size_t d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    return i > d && (i == n || s[i] == '\n' || s[i] == '\r');
}

static dp_status load_gguf_file(const char *path, dp_tokenizer **out, dp_error *e) {
    dp_reader r;
    dp_status st = dp_reader_open_file(&r, path, e);
    if (st != DP_OK) return st;
    dp_gguf *g = NULL;
    st = dp_gguf_open(&r, &g, e);
    if (st == DP_OK) st = dp_tokenizer_load_gguf(g, out, e);
    dp_gguf_free(g);
    dp_reader_close(&r);
    return st;
}

/* chat_template.jinja beside a tokenizer.json (transformers 5 writes the template there instead
 * of into tokenizer_config.json); it wins over a template in tokenizer_config.json, as there. */
static dp_status load_jinja(const char *dir, dp_tokenizer *t, dp_error *e) {
    char *path = dp_path_join(dir, "chat_template.jinja"), *text = NULL;
    size_t len = 0;
    dp_status st = path ? DP_OK : dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    if (st == DP_OK && dp_file_exists(path) && (st = dp_file_read_all(path, TOKENIZER_FILE_MAX, &text, &len, e)) == DP_OK) {
        dp_free(t->chat_template);
        t->chat_template = text;
    }
    dp_free(path);
    return st;
}

/* tokenizer_config.json beside a tokenizer.json (optional). */
static dp_status load_json_file(const char *path, const char *dir, dp_tokenizer **out, dp_error *e) {
    char *json = NULL, *cfg = NULL;
    size_t n = 0, cn = 0;
    dp_status st = dp_file_read_all(path, TOKENIZER_FILE_MAX, &json, &n, e);
    if (st != DP_OK) return st;
    char *cfg_path = dir ? dp_path_join(dir, "tokenizer_config.json") : NULL;
    if (dir && !cfg_path) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    if (st == DP_OK && cfg_path && dp_file_exists(cfg_path))
        st = dp_file_read_all(cfg_path, TOKENIZER_FILE_MAX, &cfg, &cn, e);
    if (st == DP_OK) st = dp_tokenizer_load_hfjson(json, n, cfg, cn, out, e);
    if (st == DP_OK && dir) st = load_jinja(dir, *out, e);
    if (st != DP_OK && *out) {
        dp_tokenizer_free(*out);
        *out = NULL;
    }
    dp_free(cfg_path);
    dp_free(cfg);
    dp_free(json);
    return st;
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return dp_strdup(".");
    if (slash == path) return dp_strdup("/");
    return dp_strndup(path, (size_t)(slash - path));
}

static dp_status load_file(const char *path, dp_tokenizer **out, dp_error *e) {
    dp_reader r;
    dp_status st = dp_reader_open_file(&r, path, e);
    if (st != DP_OK) return st;
    char head[4] = {0};
    bool gguf = r.size >= 4 && dp_reader_read(&r, 0, head, 4, NULL) == DP_OK && !memcmp(head, "GGUF", 4);
    dp_reader_close(&r);
    if (gguf) return load_gguf_file(path, out, e);

    char *data = NULL;
    size_t n = 0;
    if ((st = dp_file_read_all(path, TOKENIZER_FILE_MAX, &data, &n, e)) != DP_OK) return st;
    size_t i = 0;
    while (i < n && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t')) i++;
    if (i < n && data[i] == '{') {
        dp_free(data);
        char *dir = dir_of(path);
        if (!dir) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        st = load_json_file(path, dir, out, e);
        dp_free(dir);
        return st;
    }
    if (looks_tiktoken(data, n)) {
        st = dp_tokenizer_load_tiktoken(data, n, out, e);
        dp_free(data);
        return st;
    }
    dp_free(data);
    return dp_err_set(e, DP_ERR_UNSUPPORTED,
                      "not a tokenizer.json, tiktoken rank file or GGUF file (a SentencePiece .model is not "
                      "supported: use the model's tokenizer.json or GGUF)");
}

/* In a model directory, the tokenizer files must match the hashes of its manifest.json
 * (dp_rdrr_check_file: manifests written before the hashes were recorded pass). */
static dp_status check_hashes(const char *dir, const char *name, dp_error *e) {
    char *mpath = dp_path_join(dir, "manifest.json"), *cfg = dp_path_join(dir, "tokenizer_config.json");
    char *jinja = dp_path_join(dir, "chat_template.jinja");
    dp_rdrr *m = NULL;
    dp_status st = !mpath || !cfg || !jinja ? dp_err_set(e, DP_ERR_NOMEM, "out of memory") : DP_OK;
    if (st == DP_OK && dp_file_exists(mpath)) {
        st = dp_rdrr_open(dir, &m, e);
        if (st == DP_OK) st = dp_rdrr_check_file(m, name, e);
        if (st == DP_OK && !strcmp(name, "tokenizer.json") && dp_file_exists(cfg))
            st = dp_rdrr_check_file(m, "tokenizer_config.json", e);
        if (st == DP_OK && !strcmp(name, "tokenizer.json") && dp_file_exists(jinja))
            st = dp_rdrr_check_file(m, "chat_template.jinja", e);
    }
    dp_rdrr_free(m);
    dp_free(mpath);
    dp_free(cfg);
    dp_free(jinja);
    return st;
}

static dp_status load_dir(const char *dir, dp_tokenizer **out, dp_error *e) {
    static const char *const names[] = {"tokenizer.json", "tokenizer.model", "tokenizer.gguf"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *p = dp_path_join(dir, names[i]);
        if (!p) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        if (!dp_file_exists(p)) {
            dp_free(p);
            continue;
        }
        dp_status st = check_hashes(dir, names[i], e);
        if (st == DP_OK) st = i == 0 ? load_json_file(p, dir, out, e) : load_file(p, out, e);
        else dp_err_prefix(e, "model tokenizer");
        if (st != DP_OK) dp_err_prefix(e, "%s", names[i]);
        dp_free(p);
        return st;
    }
    return dp_err_set(e, DP_ERR_NOT_FOUND, "no tokenizer.json, tokenizer.model or tokenizer.gguf in the directory");
}

dp_status dp_tokenizer_load(const char *path, dp_tokenizer **out, dp_error *e) {
    if (!path || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "tokenizer load: missing argument");
    dp_tokenizer *t = NULL;
    dp_status st = is_dir(path) ? load_dir(path, &t, e) : load_file(path, &t, e);
    if (st != DP_OK) {
        dp_err_prefix(e, "%s", path);
        return st;
    }
    *out = t;
    return DP_OK;
}
