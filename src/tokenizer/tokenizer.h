/* tokenizer.h — text <-> token ids, streaming detokenization and chat templates.
 *
 * Two tokenizer kinds cover the supported families:
 *   - byte-level BPE (GPT-2, Llama 3, Qwen 2): text is split by a hand-written, exact version of
 *     the model's pre-tokenizer regex, then each piece is BPE-merged over raw bytes;
 *   - SentencePiece-style BPE with byte fallback (Llama 2, Gemma, Phi-3): spaces become U+2581,
 *     an optional dummy prefix is added, merges run over UTF-8 characters, and characters with no
 *     token fall back to <0xXX> byte tokens.
 * Merging is heap-based (O(n log n) in the piece length), so hostile input encodes in roughly
 * linear time. Invalid UTF-8 is kept byte for byte (each bad byte is a unit of its own).
 *
 * Sources (dp_tokenizer_load picks by path and content): a Hugging Face tokenizer.json (with a
 * tokenizer_config.json beside it honoured), a tiktoken rank file (Llama 3's tokenizer.model; its
 * 256 special tokens are added when the file has Llama 3's 128 000 ranks), a GGUF file's
 * tokenizer.ggml.* vocabulary, or a model directory holding tokenizer.json / tokenizer.model /
 * tokenizer.gguf (RDRR or Hugging Face layout).
 *
 * Special tokens: control tokens (BOS, EOS, <|eot_id|>, ...) are recognised in text only when the
 * caller asks (parse_special); user-defined ("added", non-special) tokens are always split out
 * first, as llama.cpp and Hugging Face do. BOS/EOS are added only with add_special and only when
 * the model's rules say so (dp_tokenizer_add_bos).
 *
 * A dp_tokenizer is immutable after loading; encode/decode on one tokenizer may run from many
 * threads at once. Internal to the library (the public API wraps it). */
#ifndef DP_TOKENIZER_H
#define DP_TOKENIZER_H

#include "base/base.h"

typedef struct dp_tokenizer dp_tokenizer;
typedef struct dp_gguf dp_gguf;

/* Token types (the numbering of GGUF's tokenizer.ggml.token_type). */
typedef enum dp_toktype {
    DP_TOKT_NORMAL = 1, DP_TOKT_UNKNOWN = 2, DP_TOKT_CONTROL = 3,
    DP_TOKT_USER = 4, DP_TOKT_UNUSED = 5, DP_TOKT_BYTE = 6
} dp_toktype;

/* ---- loading (the caller owns *out; dp_tokenizer_free(NULL) is a no-op) ---- */

/* path: tokenizer.json, tiktoken file, GGUF file, or a directory (see above). */
dp_status dp_tokenizer_load(const char *path, dp_tokenizer **out, dp_error *e);
/* From memory. config (tokenizer_config.json text) may be NULL. */
dp_status dp_tokenizer_load_hfjson(const char *json, size_t n, const char *config, size_t config_n,
                                   dp_tokenizer **out, dp_error *e);
dp_status dp_tokenizer_load_tiktoken(const char *data, size_t n, dp_tokenizer **out, dp_error *e);
dp_status dp_tokenizer_load_gguf(const dp_gguf *g, dp_tokenizer **out, dp_error *e);
void dp_tokenizer_free(dp_tokenizer *t);

/* ---- facts ---- */
int32_t dp_tokenizer_n_vocab(const dp_tokenizer *t);
int32_t dp_tokenizer_bos(const dp_tokenizer *t);  /* -1 when the model has none */
int32_t dp_tokenizer_eos(const dp_tokenizer *t);  /* -1 when none */
int32_t dp_tokenizer_eot(const dp_tokenizer *t);  /* end of turn (<|eot_id|>, <|im_end|>, <end_of_turn>, <|end|>); -1 */
bool dp_tokenizer_add_bos(const dp_tokenizer *t); /* encode(add_special) prepends BOS */
/* True for every id that ends generation: EOS, EOT and the model's other end markers. */
int dp_tokenizer_is_eog(const dp_tokenizer *t, int32_t id);
/* The chat template text the source carried (Jinja), or NULL. Owned by t. */
const char *dp_tokenizer_chat_template(const dp_tokenizer *t);
/* Id of the token whose text is exactly s[0..n) (specials included), or -1. */
int32_t dp_tokenizer_find(const dp_tokenizer *t, const char *s, size_t n);
/* The token's bytes as decode emits them (SentencePiece U+2581 left as is, byte tokens as their
 * <0xXX> text); NULL for an id out of range. */
const char *dp_tokenizer_text(const dp_tokenizer *t, int32_t id, size_t *len);
dp_toktype dp_tokenizer_type(const dp_tokenizer *t, int32_t id); /* 0 when out of range */
/* One line describing the tokenizer ("bpe byte-level, pre-tokenizer llama3, 128256 tokens"). */
const char *dp_tokenizer_describe(const dp_tokenizer *t);

/* Writes a byte-level BPE tokenizer as GGUF tokenizer.* metadata (llama.cpp's "gpt2" model,
 * save_gguf.c); *written false (nothing added) for other kinds. */
struct dp_gguf_out;
dp_status dp_tokenizer_to_gguf(const dp_tokenizer *t, struct dp_gguf_out *o, bool *written, dp_error *e);

/* ---- encoding ---- */

typedef struct dp_tokens {
    int32_t *ids;
    size_t n, cap;
} dp_tokens;
void dp_tokens_free(dp_tokens *v); /* frees ids, zeroes v */
bool dp_tokens_push(dp_tokens *v, int32_t id); /* false when out of memory (v unchanged) */

/* Appends the ids of text[0..n) to out (any bytes allowed, NUL included).
 * add_special: add BOS/EOS as the model's rules say; parse_special: recognise control-token text
 * (e.g. "<|eot_id|>") as those tokens. On failure out keeps its length from before the call. */
dp_status dp_tokenizer_encode(const dp_tokenizer *t, const char *text, size_t n, bool add_special,
                              bool parse_special, dp_tokens *out, dp_error *e);

/* ---- decoding ---- */

enum {
    DP_DECODE_SPECIAL = 1,      /* render control/unknown tokens' text (otherwise they vanish) */
    DP_DECODE_STRIP_PREFIX = 2  /* stream only: drop the SentencePiece dummy-prefix space from the
                                   first piece (dp_tokenizer_decode always does this) */
};

/* Appends the bytes of ids to out: raw bytes, so decode(encode(x)) == x for lossless tokenizers,
 * even for invalid UTF-8. An id out of range is DP_ERR_INVALID_ARG. */
dp_status dp_tokenizer_decode(const dp_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                              dp_buf *out, dp_error *e);

/* Streaming: feed ids one by one; only whole UTF-8 sequences are appended, incomplete tails are
 * held back (at most 3 bytes) until they complete. Bytes that can never form a valid sequence are
 * emitted as U+FFFD, so the stream's output is always valid UTF-8. Plain struct, no allocation;
 * the tokenizer must outlive it. */
typedef struct dp_detok {
    const dp_tokenizer *t;
    unsigned flags;
    uint8_t pend[4];
    uint8_t npend;
    bool started;   /* the first piece has gone by (DP_DECODE_STRIP_PREFIX applies only to it) */
} dp_detok;
void dp_detok_init(dp_detok *d, const dp_tokenizer *t, unsigned flags);
dp_status dp_detok_push(dp_detok *d, int32_t id, dp_buf *out, dp_error *e);
/* End of stream: a held-back incomplete tail becomes U+FFFD. The stream may be reused after. */
void dp_detok_flush(dp_detok *d, dp_buf *out);

/* ---- chat templates ---- */

typedef enum dp_chat_kind {
    DP_CHAT_NONE = 0,
    DP_CHAT_CHATML,           /* Qwen and others: <|im_start|>role\n...<|im_end|>\n */
    DP_CHAT_LLAMA3,           /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
    DP_CHAT_GEMMA,            /* <start_of_turn>user\n...<end_of_turn>\n (system merged into user) */
    DP_CHAT_PHI3,             /* <|role|>\n...<|end|>\n */
    DP_CHAT_MISTRAL,          /* "[INST] u [/INST]a</s>" — Llama 2 form without <<SYS>>, as
                                 Mistral 7B / Mixtral v0.1 templates render ("llama2") */
    DP_CHAT_LLAMA2_SYS,       /* Llama 2 with <<SYS>> */
    DP_CHAT_LLAMA2_SYS_BOS,   /* ... and <s> before each later [INST] */
    DP_CHAT_LLAMA2_SYS_STRIP, /* ... and contents trimmed */
    DP_CHAT_MISTRAL_V1,       /* " [INST] u [/INST] a</s>" */
    DP_CHAT_MISTRAL_V3,       /* "[INST] u[/INST] a</s>" */
    DP_CHAT_MISTRAL_V3_TEKKEN,/* "[INST]u[/INST]a</s>" */
    DP_CHAT_MISTRAL_V7        /* "[SYSTEM_PROMPT] s[/SYSTEM_PROMPT][INST] u[/INST] a</s>" */
} dp_chat_kind;

/* dp_chat_msg (role, content) is declared in doppler.h. */

/* Picks a template from a name (dp_chat_name's, plus "qwen" and "llama2" aliases) or from Jinja
 * template text (llama.cpp's substring rules). Unrecognised text is DP_ERR_UNSUPPORTED. */
dp_status dp_chat_detect(const char *name_or_template, dp_chat_kind *out, dp_error *e);
/* Template for a model family name ("llama", "gemma3", "qwen2", "phi3", "mixtral", ...). */
dp_status dp_chat_from_family(const char *family, dp_chat_kind *out, dp_error *e);
/* The tokenizer's own template text when it has one, else the family's (family may be NULL). */
dp_status dp_tokenizer_chat_kind(const dp_tokenizer *t, const char *family, dp_chat_kind *out, dp_error *e);
const char *dp_chat_name(dp_chat_kind kind);
/* Renders messages as the prompt text (without BOS: encode it with add_special and
 * parse_special). add_generation_prompt appends the assistant header. */
dp_status dp_chat_apply(dp_chat_kind kind, const dp_chat_msg *msgs, size_t n, bool add_generation_prompt,
                        dp_buf *out, dp_error *e);

#endif /* DP_TOKENIZER_H */
