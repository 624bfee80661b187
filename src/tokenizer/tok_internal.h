/* tok_internal.h — the tokenizer's private layout, shared by the files of src/tokenizer.
 *
 * Loaders fill a dp_tokenizer through dp_tok_* builders (vocab.c, merges.c) and then call
 * dp_tok_finish, which builds the lookup tables. Encoding is specials split (special.c) ->
 * per text fragment: pre-tokenizer (pretok.c) or SentencePiece normalisation (spm.c) -> BPE
 * merge loop (bpe.c). */
#ifndef DP_TOK_INTERNAL_H
#define DP_TOK_INTERNAL_H

#include "tokenizer/tokenizer.h"

/* Pre-tokenizers (exact hand-written versions of the regexes). */
typedef enum dp_pretok {
    DP_PRETOK_NONE = 0,  /* the fragment is one piece */
    DP_PRETOK_GPT2,      /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    DP_PRETOK_LLAMA3,    /* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
                            ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
    DP_PRETOK_QWEN2      /* as LLAMA3 with \p{N} (one digit per piece) */
} dp_pretok;

/* Dummy-prefix rules for SentencePiece-style text (prefix is a space, escaped to U+2581). */
typedef enum dp_prefix {
    DP_PREFIX_NONE = 0,
    DP_PREFIX_FIRST,     /* only the fragment at offset 0 (Metaspace prepend_scheme "first") */
    DP_PREFIX_ALWAYS     /* every text fragment (llama.cpp SPM, HF Prepend normalizer, "always") */
} dp_prefix;

enum { DP_TOKA_LSTRIP = 1, DP_TOKA_RSTRIP = 2 };

typedef struct dp_tok_entry {
    uint32_t off, len;   /* text bytes in t->blob (raw bytes; SPM texts keep U+2581) */
    float score;
    uint8_t type;        /* dp_toktype; 0 = hole (id never defined) */
    uint8_t attr;        /* DP_TOKA_* */
    uint8_t byte;        /* value of a BYTE token (<0xXX>) */
    uint8_t pad;
} dp_tok_entry;

/* text -> id, open addressing; slot holds id+1 (0 empty). */
typedef struct dp_tok_strmap {
    uint32_t *slot;
    uint32_t *hash;
    uint32_t mask;
} dp_tok_strmap;

/* (left id, right id) -> (rank, merged id), open addressing; key UINT64_MAX = empty. */
typedef struct dp_tok_pairmap {
    uint64_t *key;
    uint32_t *rank;
    int32_t *res;
    uint32_t mask;
    uint32_t n;
} dp_tok_pairmap;

struct dp_tokenizer {
    /* vocabulary */
    dp_tok_entry *tok;
    int32_t n_vocab;
    dp_buf blob;
    dp_tok_strmap map;       /* every token's text (first id wins) */
    dp_tok_pairmap pairs;
    int32_t byte_id[256];    /* byte-level: token of the single raw byte; SPM: <0xXX>; -1 none */
    int32_t ascii_id[128];   /* char units: token of the ASCII char (after escaping); -1 none */

    /* behaviour */
    bool byte_level;         /* units are bytes and texts are raw bytes (else UTF-8 chars) */
    dp_pretok pretok;
    bool fold_long_s;        /* LLAMA3/QWEN2 (?i:...) contractions also match U+017F (long s) */
    bool ignore_merges;      /* a piece that is a whole token is emitted as is */
    bool add_prefix_space;   /* byte-level: prepend ' ' to a fragment not starting with one */
    bool escape_spaces;      /* SPM: ' ' -> U+2581 */
    dp_prefix prefix;        /* SPM dummy prefix */
    bool prefix_if_missing;  /* Metaspace: prepend only if the fragment does not start with U+2581 */
    bool metaspace_split;    /* HF Metaspace split: BPE per U+2581-started word */
    bool spm_split_safe;     /* no normal token has U+2581 after another char: split there */
    bool byte_fallback;      /* unknown units become byte tokens */
    int32_t unk_id;

    /* specials */
    int32_t bos, eos, eot, pad;
    bool add_bos, add_eos;
    int32_t *eog;            /* end-of-generation ids */
    size_t n_eog;
    int32_t *special;        /* split candidates (control, unknown, user), longest text first */
    size_t n_special;
    dp_tok_strmap special_map;
    uint32_t *special_lens;     /* distinct lengths, descending */
    size_t n_special_lens;
    uint8_t special_first[32];  /* bitmap: first bytes of parseable specials */
    uint8_t user_first[32];     /* bitmap: first bytes of user-defined tokens */
    bool has_user;

    char *chat_template;
    char describe[160];
};

/* ---- hashing ---- */
uint32_t dp_tok_hash(const uint8_t *s, size_t n);

/* ---- building (vocab.c) ---- */
/* New tokenizer with n_vocab holes; n_vocab must already be bounded by the input size. */
dp_status dp_tok_new(int32_t n_vocab, dp_tokenizer **out, dp_error *e);
/* Defines token id (copies text). */
dp_status dp_tok_set(dp_tokenizer *t, int32_t id, const void *text, size_t len, float score, dp_toktype type,
                     dp_error *e);
/* Builds the text map, byte/ASCII tables and the specials list. Call after every token is set
 * (and bos/eos chosen) and before merges are added. */
dp_status dp_tok_finish_vocab(dp_tokenizer *t, dp_error *e);
/* Last step of every loader (after tokenizer_config.json): guesses EOT, builds the EOG set. */
dp_status dp_tok_finish(dp_tokenizer *t, dp_error *e);
/* Looks up text among the special tokens (-1). */
int32_t dp_tok_special_find(const dp_tokenizer *t, const void *text, size_t len);
/* Looks up text among all tokens (-1). */
int32_t dp_tok_lookup(const dp_tokenizer *t, const void *text, size_t len);
static inline const uint8_t *dp_tok_bytes(const dp_tokenizer *t, int32_t id) {
    return (const uint8_t *)t->blob.data + t->tok[id].off;
}
/* Sets the EOT id / EOG set from token texts when the source did not say. */
void dp_tok_guess_specials(dp_tokenizer *t);

/* ---- merges (merges.c) ---- */
dp_status dp_tok_pairs_reserve(dp_tokenizer *t, size_t n, dp_error *e);
/* Adds merge (a, b) -> token whose text is text(a)+text(b) with rank; a missing result or an
 * existing pair is ignored (first rank wins). */
dp_status dp_tok_add_merge(dp_tokenizer *t, int32_t a, int32_t b, uint32_t rank, dp_error *e);
/* Derives merges from token ranks: every split of a normal token's text into two tokens becomes
 * a pair ranked by rank[token] (tiktoken: rank = id; SentencePiece: dense rank of -score). */
dp_status dp_tok_merges_from_ranks(dp_tokenizer *t, const uint32_t *rank, dp_error *e);
static inline uint64_t dp_tok_pair_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}
/* Rank of the pair (UINT32_MAX when it does not merge); *res gets the merged id. */
static inline uint32_t dp_tok_pair_find(const dp_tok_pairmap *p, int32_t a, int32_t b, int32_t *res) {
    if (!p->key || a < 0 || b < 0) return UINT32_MAX;
    uint64_t k = dp_tok_pair_key(a, b);
    uint64_t h = k * 0x9E3779B97F4A7C15ull;
    uint32_t i = (uint32_t)(h >> 32) & p->mask;
    for (;;) {
        uint64_t s = p->key[i];
        if (s == k) {
            *res = p->res[i];
            return p->rank[i];
        }
        if (s == UINT64_MAX) return UINT32_MAX;
        i = (i + 1) & p->mask;
    }
}

/* ---- encoding pieces ---- */
/* Pre-tokenizer: end (exclusive) of the piece that starts at pos (< n). */
size_t dp_pretok_next(dp_pretok kind, bool fold_long_s, const uint8_t *s, size_t n, size_t pos);

typedef struct dp_bpe_scratch {
    void *sym;
    size_t sym_cap;
    void *heap;
    size_t heap_cap;
} dp_bpe_scratch;
void dp_bpe_scratch_free(dp_bpe_scratch *sc);
/* BPE-merges one piece and appends its ids (unknown units: byte fallback / unk / dropped). */
dp_status dp_bpe_piece(const dp_tokenizer *t, const uint8_t *s, size_t n, dp_bpe_scratch *sc, dp_tokens *out,
                       dp_error *e);
/* SentencePiece-style text fragment: prefix, escaping, splitting, merging. first: the fragment
 * starts the input. */
dp_status dp_spm_fragment(const dp_tokenizer *t, const uint8_t *s, size_t n, bool first, dp_bpe_scratch *sc,
                          dp_buf *tmp, dp_tokens *out, dp_error *e);
/* Builds SentencePiece merges from scores (llama.cpp llm_tokenizer_spm semantics). */
dp_status dp_spm_build_merges(dp_tokenizer *t, dp_error *e);

/* ---- loaders' shared helpers (load.c) ---- */
/* GPT-2 byte-level alphabet: code point -> byte (-1 if not in it). */
int dp_bytelevel_byte(uint32_t cp);
/* Decodes a byte-level token text into raw bytes in tmp; false if a char is outside the alphabet
 * (then the text is kept as is). */
bool dp_bytelevel_decode(const char *s, size_t n, dp_buf *tmp);
/* Llama 3 special tokens (ids 128000..128255). */
dp_status dp_tok_llama3_specials(dp_tokenizer *t, int32_t base, dp_error *e);
const char *dp_tok_llama3_special_name(int i, char *buf, size_t n);

#endif /* DP_TOK_INTERNAL_H */
