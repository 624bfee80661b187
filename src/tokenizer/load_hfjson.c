/* load_hfjson.c — Hugging Face tokenizer.json (model.type "BPE") and tokenizer_config.json.
 *
 * Recognised shapes:
 *   byte-level:  pre_tokenizer ByteLevel (use_regex: GPT-2 regex), or Sequence[Split{Regex: the
 *                GPT-2 / Llama 3 / Qwen 2 pattern, Isolated}, ByteLevel{use_regex false}];
 *                vocab and merges spelled in GPT-2's byte alphabet.
 *   SentencePiece-ish: normalizer Replace(" " -> U+2581) and/or Prepend(U+2581), or
 *                pre_tokenizer Metaspace (prepend_scheme always/first/never, split); byte_fallback.
 *   normalizer NFC is accepted and not applied (as llama.cpp); other normalizers and
 *   pre-tokenizers are refused with a message naming them.
 * model.ignore_merges, model.unk_token, added_tokens (special -> control, else user-defined,
 * lstrip/rstrip) and post_processor TemplateProcessing (BOS/EOS) are honoured. Merges may be
 * "a b" strings or ["a", "b"] pairs. A Llama 3 vocabulary (128 000 tokens, Llama 3 regex) that
 * lists no added tokens gets Llama 3's 256 specials, as the tiktoken loader does.
 *
 * tokenizer_config.json: bos_token, eos_token (string or {content}), add_bos_token,
 * add_eos_token, chat_template (string or [{name, template}]), added_tokens_decoder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "tokenizer/tok_internal.h"

static const char RX_GPT2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char RX_LLAMA3[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                                "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RX_QWEN2[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                               "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RX_QWEN2_ASCII[] = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?"
                                     "\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RX_LLAMA3_ASCII[] = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]"
                                      "?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char METASPACE[] = "\xE2\x96\x81";

typedef struct hfcfg {
    bool byte_level;
    bool saw_split_space; /* Split{String " "}: harmless once spaces are escaped */
} hfcfg;

static bool jstr_is(const dp_json *v, const char *lit) {
    const char *s;
    return dp_json_str(v, &s) && v->len == strlen(lit) && !memcmp(s, lit, v->len);
}

static const char *jtype(const dp_json *v) {
    const char *s = NULL;
    return dp_json_str(dp_json_get(v, "type"), &s) ? s : "";
}

static bool jbool(const dp_json *obj, const char *key, bool dflt) {
    bool b;
    return dp_json_bool(dp_json_get(obj, key), &b) ? b : dflt;
}

static dp_status parse_pre(dp_tokenizer *t, hfcfg *c, const dp_json *p, int depth, dp_error *e) {
    if (!p || p->type == DP_JSON_NULL) return DP_OK;
    if (depth > 8) return dp_err_set(e, DP_ERR_UNSUPPORTED, "pre_tokenizer nests too deeply");
    const char *type = jtype(p);
    if (!strcmp(type, "Sequence")) {
        const dp_json *list = dp_json_get(p, "pretokenizers");
        for (size_t i = 0; list && i < list->len; i++) {
            dp_status st = parse_pre(t, c, dp_json_at(list, i), depth + 1, e);
            if (st != DP_OK) return st;
        }
        return DP_OK;
    }
    if (!strcmp(type, "ByteLevel")) {
        c->byte_level = true;
        t->add_prefix_space = jbool(p, "add_prefix_space", false);
        if (jbool(p, "use_regex", true)) {
            if (t->pretok != DP_PRETOK_NONE)
                return dp_err_set(e, DP_ERR_UNSUPPORTED, "ByteLevel regex after a Split pre-tokenizer is not supported");
            t->pretok = DP_PRETOK_GPT2;
        }
        return DP_OK;
    }
    if (!strcmp(type, "Split")) {
        const dp_json *pat = dp_json_get(p, "pattern");
        const dp_json *rx = dp_json_get(pat, "Regex"), *str = dp_json_get(pat, "String");
        if (jbool(p, "invert", false)) return dp_err_set(e, DP_ERR_UNSUPPORTED, "inverted Split pre-tokenizer");
        if (jstr_is(str, " ")) {
            c->saw_split_space = true;
            return DP_OK;
        }
        dp_pretok k = DP_PRETOK_NONE;
        bool fold = false;
        if (jstr_is(rx, RX_GPT2)) k = DP_PRETOK_GPT2;
        else if (jstr_is(rx, RX_LLAMA3)) k = DP_PRETOK_LLAMA3, fold = true;
        else if (jstr_is(rx, RX_LLAMA3_ASCII)) k = DP_PRETOK_LLAMA3;
        else if (jstr_is(rx, RX_QWEN2)) k = DP_PRETOK_QWEN2, fold = true;
        else if (jstr_is(rx, RX_QWEN2_ASCII)) k = DP_PRETOK_QWEN2;
        if (k == DP_PRETOK_NONE) {
            const char *s = "?";
            (void)(dp_json_str(rx, &s) || dp_json_str(str, &s));
            return dp_err_set(e, DP_ERR_UNSUPPORTED, "Split pre-tokenizer pattern is not one of GPT-2 / Llama 3 / Qwen 2: %.80s", s);
        }
        if (!jstr_is(dp_json_get(p, "behavior"), "Isolated"))
            return dp_err_set(e, DP_ERR_UNSUPPORTED, "Split pre-tokenizer behavior other than Isolated");
        if (t->pretok != DP_PRETOK_NONE) return dp_err_set(e, DP_ERR_UNSUPPORTED, "two regex pre-tokenizers");
        t->pretok = k;
        t->fold_long_s = fold;
        return DP_OK;
    }
    if (!strcmp(type, "Metaspace")) {
        if (!jstr_is(dp_json_get(p, "replacement"), METASPACE))
            return dp_err_set(e, DP_ERR_UNSUPPORTED, "Metaspace replacement other than U+2581");
        t->escape_spaces = true;
        const dp_json *scheme = dp_json_get(p, "prepend_scheme");
        if (scheme) {
            if (jstr_is(scheme, "always")) t->prefix = DP_PREFIX_ALWAYS;
            else if (jstr_is(scheme, "first")) t->prefix = DP_PREFIX_FIRST;
            else if (jstr_is(scheme, "never")) t->prefix = DP_PREFIX_NONE;
            else return dp_err_set(e, DP_ERR_UNSUPPORTED, "Metaspace prepend_scheme is not always/first/never");
        } else {
            t->prefix = jbool(p, "add_prefix_space", true) ? DP_PREFIX_ALWAYS : DP_PREFIX_NONE;
        }
        t->prefix_if_missing = true;
        t->metaspace_split = jbool(p, "split", true);
        return DP_OK;
    }
    return dp_err_set(e, DP_ERR_UNSUPPORTED, "pre_tokenizer type '%.40s' is not supported", type);
}

static dp_status parse_norm(dp_tokenizer *t, const dp_json *p, int depth, dp_error *e) {
    if (!p || p->type == DP_JSON_NULL) return DP_OK;
    if (depth > 8) return dp_err_set(e, DP_ERR_UNSUPPORTED, "normalizer nests too deeply");
    const char *type = jtype(p);
    if (!strcmp(type, "Sequence")) {
        const dp_json *list = dp_json_get(p, "normalizers");
        for (size_t i = 0; list && i < list->len; i++) {
            dp_status st = parse_norm(t, dp_json_at(list, i), depth + 1, e);
            if (st != DP_OK) return st;
        }
        return DP_OK;
    }
    if (!strcmp(type, "Prepend") && jstr_is(dp_json_get(p, "prepend"), METASPACE)) {
        t->prefix = DP_PREFIX_ALWAYS;
        t->prefix_if_missing = false;
        return DP_OK;
    }
    if (!strcmp(type, "Replace") && jstr_is(dp_json_get(dp_json_get(p, "pattern"), "String"), " ") &&
        jstr_is(dp_json_get(p, "content"), METASPACE)) {
        t->escape_spaces = true;
        return DP_OK;
    }
    if (!strcmp(type, "NFC")) return DP_OK; /* not applied, as llama.cpp */
    return dp_err_set(e, DP_ERR_UNSUPPORTED, "normalizer '%.40s' is not supported", type);
}

static bool decoder_bytelevel(const dp_json *d, int depth) {
    if (!d || depth > 8) return false;
    if (!strcmp(jtype(d), "ByteLevel")) return true;
    const dp_json *list = dp_json_get(d, "decoders");
    for (size_t i = 0; list && i < list->len; i++)
        if (decoder_bytelevel(dp_json_at(list, i), depth + 1)) return true;
    return false;
}

/* id of a JSON number that must be an integer in [0, bound) */
static bool json_id(const dp_json *v, int64_t bound, int64_t *out) {
    int64_t id;
    if (!dp_json_i64(v, &id) || id < 0 || id >= bound) return false;
    *out = id;
    return true;
}

static const char *token_content(const dp_json *v) {
    const char *s = NULL;
    if (dp_json_str(v, &s)) return s;
    if (dp_json_str(dp_json_get(v, "content"), &s)) return s;
    return NULL;
}

typedef struct load {
    dp_tokenizer *t;
    const dp_json *root, *model, *vocab, *added, *cfg, *cfg_added;
    dp_buf tmp;
} load;

static dp_status set_vocab(load *L, dp_error *e) {
    dp_tokenizer *t = L->t;
    for (size_t i = 0; i < L->vocab->len; i++) {
        const dp_json *it = &L->vocab->u.items[i];
        int64_t id;
        if (!json_id(it, t->n_vocab, &id))
            return dp_err_set(e, DP_ERR_FORMAT, "vocab entry %zu has a bad id", i);
        const char *text = it->key;
        size_t len = it->key_len;
        if (t->byte_level && dp_bytelevel_decode(it->key, it->key_len, &L->tmp)) {
            if (L->tmp.oom) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
            text = L->tmp.data;
            len = L->tmp.len;
        }
        dp_toktype type = DP_TOKT_NORMAL;
        if (t->byte_fallback && len == 6 && !memcmp(text, "<0x", 3) && text[5] == '>') type = DP_TOKT_BYTE;
        dp_status st = dp_tok_set(t, (int32_t)id, text, len, 0.0f, type, e);
        if (st != DP_OK) return st;
    }
    return DP_OK;
}

/* added_tokens (array of {id, content, special, lstrip, rstrip}) or added_tokens_decoder
 * (object keyed by id). */
static dp_status set_added(load *L, const dp_json *list, bool keyed, dp_error *e) {
    dp_tokenizer *t = L->t;
    for (size_t i = 0; list && i < list->len; i++) {
        const dp_json *it = &list->u.items[i];
        int64_t id = -1;
        if (keyed) {
            char buf[24];
            if (it->key_len == 0 || it->key_len >= sizeof buf) continue;
            memcpy(buf, it->key, it->key_len);
            buf[it->key_len] = 0;
            char *end;
            long long v = strtoll(buf, &end, 10);
            if (*end || v < 0 || v >= t->n_vocab) continue;
            id = v;
        } else if (!json_id(dp_json_get(it, "id"), t->n_vocab, &id)) {
            return dp_err_set(e, DP_ERR_FORMAT, "added_tokens[%zu] has a bad id", i);
        }
        const dp_json *content = dp_json_get(it, "content");
        const char *s;
        if (!dp_json_str(content, &s)) return dp_err_set(e, DP_ERR_FORMAT, "added token %lld has no content", (long long)id);
        dp_toktype type = jbool(it, "special", false) ? DP_TOKT_CONTROL : DP_TOKT_USER;
        dp_status st = dp_tok_set(t, (int32_t)id, s, content->len, 0.0f, type, e);
        if (st != DP_OK) return st;
        if (jbool(it, "lstrip", false)) t->tok[id].attr |= DP_TOKA_LSTRIP;
        if (jbool(it, "rstrip", false)) t->tok[id].attr |= DP_TOKA_RSTRIP;
    }
    return DP_OK;
}

static dp_status add_merges(load *L, const dp_json *merges, dp_error *e) {
    dp_tokenizer *t = L->t;
    dp_buf l = {0}, r = {0};
    dp_status st = dp_tok_pairs_reserve(t, merges->len, e);
    for (size_t i = 0; i < merges->len && st == DP_OK; i++) {
        const dp_json *m = &merges->u.items[i];
        const char *ls, *rs, *s;
        size_t ll, rl;
        int32_t a = -1, b = -1;
        if (dp_json_str(m, &s)) {
            /* "a b": split at a space where both sides are tokens. Each try hashes the whole
             * string, so tries are bounded (a long run of spaces was quadratic): a byte-level side
             * cannot hold a raw space, so only the first space can split those; other vocabularies
             * get 32 tries. */
            int tries = 0, max_tries = t->byte_level ? 1 : 32;
            for (size_t k = 0; k < m->len && (a < 0 || b < 0) && tries < max_tries; k++) {
                if (s[k] != ' ') continue;
                tries++;
                ls = s, ll = k, rs = s + k + 1, rl = m->len - k - 1;
                if (t->byte_level && (!dp_bytelevel_decode(ls, ll, &l) || !dp_bytelevel_decode(rs, rl, &r))) continue;
                a = t->byte_level ? dp_tok_lookup(t, l.data, l.len) : dp_tok_lookup(t, ls, ll);
                b = t->byte_level ? dp_tok_lookup(t, r.data, r.len) : dp_tok_lookup(t, rs, rl);
            }
        } else if (m->type == DP_JSON_ARRAY && m->len == 2 && dp_json_str(&m->u.items[0], &ls) &&
                   dp_json_str(&m->u.items[1], &rs)) {
            ll = m->u.items[0].len, rl = m->u.items[1].len;
            if (!t->byte_level) {
                a = dp_tok_lookup(t, ls, ll), b = dp_tok_lookup(t, rs, rl);
            } else if (dp_bytelevel_decode(ls, ll, &l) && dp_bytelevel_decode(rs, rl, &r)) {
                a = dp_tok_lookup(t, l.data, l.len), b = dp_tok_lookup(t, r.data, r.len);
            }
        } else {
            st = dp_err_set(e, DP_ERR_FORMAT, "merges[%zu] is neither \"a b\" nor [a, b]", i);
            break;
        }
        if (l.oom || r.oom) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        else st = dp_tok_add_merge(t, a, b, (uint32_t)i, e);
    }
    dp_buf_free(&l);
    dp_buf_free(&r);
    return st;
}

static int32_t find_special_named(const dp_tokenizer *t, const char *const *names) {
    for (; *names; names++) {
        int32_t id = dp_tok_lookup(t, *names, strlen(*names));
        if (id >= 0 && t->tok[id].type == DP_TOKT_CONTROL) return id;
    }
    return -1;
}

/* post_processor TemplateProcessing: a SpecialToken first in "single" is BOS, last is EOS. */
static void template_processing(load *L, const dp_json *pp, int depth) {
    if (!pp || depth > 4) return;
    dp_tokenizer *t = L->t;
    if (!strcmp(jtype(pp), "Sequence")) {
        const dp_json *list = dp_json_get(pp, "processors");
        for (size_t i = 0; list && i < list->len; i++) template_processing(L, dp_json_at(list, i), depth + 1);
        return;
    }
    if (strcmp(jtype(pp), "TemplateProcessing")) return;
    const dp_json *single = dp_json_get(pp, "single");
    if (!single || single->type != DP_JSON_ARRAY || !single->len) return;
    const char *s;
    const dp_json *first = dp_json_get(dp_json_get(&single->u.items[0], "SpecialToken"), "id");
    const dp_json *last = dp_json_get(dp_json_get(&single->u.items[single->len - 1], "SpecialToken"), "id");
    if (dp_json_str(first, &s)) {
        int32_t id = dp_tok_lookup(t, s, first->len);
        if (id >= 0) t->bos = id, t->add_bos = true;
    }
    if (single->len > 1 && dp_json_str(last, &s)) {
        int32_t id = dp_tok_lookup(t, s, last->len);
        if (id >= 0) t->eos = id, t->add_eos = true;
    }
}

static dp_status apply_config(load *L, dp_error *e) {
    dp_tokenizer *t = L->t;
    const dp_json *cfg = L->cfg;
    if (!cfg) return DP_OK;
    const char *s;
    const dp_json *v;
    if ((s = token_content(v = dp_json_get(cfg, "bos_token")))) {
        const dp_json *sv = dp_json_is(v, DP_JSON_STRING) ? v : dp_json_get(v, "content");
        int32_t id = dp_tok_lookup(t, s, sv->len);
        if (id >= 0) t->bos = id;
    }
    if ((s = token_content(v = dp_json_get(cfg, "eos_token")))) {
        const dp_json *sv = dp_json_is(v, DP_JSON_STRING) ? v : dp_json_get(v, "content");
        int32_t id = dp_tok_lookup(t, s, sv->len);
        if (id >= 0) t->eos = id;
    }
    bool b;
    if (dp_json_bool(dp_json_get(cfg, "add_bos_token"), &b)) t->add_bos = b;
    if (dp_json_bool(dp_json_get(cfg, "add_eos_token"), &b)) t->add_eos = b;
    const dp_json *ct = dp_json_get(cfg, "chat_template");
    const dp_json *pick = NULL;
    if (dp_json_is(ct, DP_JSON_STRING)) pick = ct;
    else if (dp_json_is(ct, DP_JSON_ARRAY)) {
        for (size_t i = 0; i < ct->len && !pick; i++)
            if (jstr_is(dp_json_get(&ct->u.items[i], "name"), "default")) pick = dp_json_get(&ct->u.items[i], "template");
        if (!pick && ct->len) pick = dp_json_get(&ct->u.items[0], "template");
    }
    if (dp_json_str(pick, &s)) {
        dp_free(t->chat_template);
        t->chat_template = dp_strndup(s, pick->len);
        if (!t->chat_template) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    return DP_OK;
}

static int64_t max_id(const dp_json *list, bool keyed, bool values, int64_t bound) {
    int64_t m = -1, id;
    for (size_t i = 0; list && i < list->len; i++) {
        const dp_json *it = &list->u.items[i];
        if (values) {
            if (json_id(it, bound, &id) && id > m) m = id;
        } else if (keyed) {
            char buf[24];
            if (it->key_len == 0 || it->key_len >= sizeof buf) continue;
            memcpy(buf, it->key, it->key_len);
            buf[it->key_len] = 0;
            char *end;
            long long v = strtoll(buf, &end, 10);
            if (!*end && v >= 0 && v < bound && v > m) m = v;
        } else if (json_id(dp_json_get(it, "id"), bound, &id) && id > m) {
            m = id;
        }
    }
    return m;
}

static dp_status build(load *L, dp_error *e) {
    const dp_json *model = L->model;
    const char *type = jtype(model);
    if (*type && strcmp(type, "BPE"))
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "tokenizer.json model type '%.40s' is not supported (BPE only)", type);
    if (!dp_json_is(L->vocab, DP_JSON_OBJECT) || L->vocab->len == 0)
        return dp_err_set(e, DP_ERR_FORMAT, "tokenizer.json has no model.vocab object");
    const dp_json *merges = dp_json_get(model, "merges");
    if (merges && !dp_json_is(merges, DP_JSON_ARRAY)) return dp_err_set(e, DP_ERR_FORMAT, "model.merges is not an array");
    const dp_json *csp = dp_json_get(model, "continuing_subword_prefix"), *ews = dp_json_get(model, "end_of_word_suffix");
    if ((csp && csp->type != DP_JSON_NULL && csp->len) || (ews && ews->type != DP_JSON_NULL && ews->len))
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "BPE with continuing_subword_prefix / end_of_word_suffix");

    /* ids: integers, a table no bigger than twice the entries the file lists (plus slack) */
    int64_t entries = (int64_t)L->vocab->len + (L->added ? L->added->len : 0) + (L->cfg_added ? L->cfg_added->len : 0);
    int64_t bound = entries * 2 + 1024;
    int64_t m = max_id(L->vocab, false, true, bound);
    int64_t ma = max_id(L->added, false, false, bound), mc = max_id(L->cfg_added, true, false, bound);
    if (ma > m) m = ma;
    if (mc > m) m = mc;
    if (m < 0) return dp_err_set(e, DP_ERR_FORMAT, "tokenizer.json vocab has no valid ids");

    /* behaviour */
    dp_tokenizer probe = {0};
    hfcfg c = {0};
    dp_status st = parse_norm(&probe, dp_json_get(L->root, "normalizer"), 0, e);
    if (st == DP_OK) st = parse_pre(&probe, &c, dp_json_get(L->root, "pre_tokenizer"), 0, e);
    if (st != DP_OK) return st;
    if (decoder_bytelevel(dp_json_get(L->root, "decoder"), 0)) c.byte_level = true;
    if (c.byte_level && probe.escape_spaces)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "byte-level BPE combined with U+2581 space escaping");
    if (!c.byte_level && probe.pretok != DP_PRETOK_NONE)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "regex pre-tokenizer without ByteLevel");
    if (c.saw_split_space && !probe.escape_spaces)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "Split on \" \" without U+2581 escaping");

    bool llama3 = probe.pretok == DP_PRETOK_LLAMA3 && L->vocab->len == 128000 && m == 127999 &&
                  (!L->added || L->added->len == 0) && !L->cfg_added;
    int32_t n_vocab = (int32_t)m + 1 + (llama3 ? 256 : 0);
    if ((st = dp_tok_new(n_vocab, &L->t, e)) != DP_OK) return st;
    dp_tokenizer *t = L->t;
    t->byte_level = c.byte_level;
    t->pretok = probe.pretok;
    t->fold_long_s = probe.fold_long_s;
    t->add_prefix_space = probe.add_prefix_space;
    t->escape_spaces = probe.escape_spaces;
    t->prefix = probe.prefix;
    t->prefix_if_missing = probe.prefix_if_missing;
    t->metaspace_split = probe.metaspace_split;
    t->ignore_merges = jbool(model, "ignore_merges", false);
    t->byte_fallback = jbool(model, "byte_fallback", false);

    if ((st = set_vocab(L, e)) != DP_OK) return st;
    const char *unk;
    if (dp_json_str(dp_json_get(model, "unk_token"), &unk)) {
        t->unk_id = dp_tok_lookup(t, unk, dp_json_get(model, "unk_token")->len);
        if (t->unk_id < 0) {
            /* not built yet: linear scan */
            size_t ul = strlen(unk);
            for (int32_t id = 0; id < t->n_vocab && t->unk_id < 0; id++)
                if (t->tok[id].type && t->tok[id].len == ul && !memcmp(dp_tok_bytes(t, id), unk, ul)) t->unk_id = id;
        }
        if (t->unk_id >= 0) t->tok[t->unk_id].type = DP_TOKT_UNKNOWN;
    }
    if ((st = set_added(L, L->added, false, e)) != DP_OK) return st;
    if ((st = set_added(L, L->cfg_added, true, e)) != DP_OK) return st;
    if (llama3 && (st = dp_tok_llama3_specials(t, 128000, e)) != DP_OK) return st;
    if ((st = dp_tok_finish_vocab(t, e)) != DP_OK) return st;
    if (merges && (st = add_merges(L, merges, e)) != DP_OK) return st;

    template_processing(L, dp_json_get(L->root, "post_processor"), 0);
    if ((st = apply_config(L, e)) != DP_OK) return st;
    static const char *const bos_names[] = {"<|begin_of_text|>", "<s>", "<bos>", "<|startoftext|>", NULL};
    static const char *const eos_names[] = {"<|end_of_text|>", "</s>", "<eos>", "<|endoftext|>", "<|im_end|>", NULL};
    if (t->bos < 0) t->bos = find_special_named(t, bos_names);
    if (t->eos < 0) t->eos = find_special_named(t, eos_names);
    if ((st = dp_tok_finish(t, e)) != DP_OK) return st;
    static const char *const pre_names[] = {"none", "gpt2", "llama3", "qwen2"};
    if (t->byte_level)
        snprintf(t->describe, sizeof t->describe, "tokenizer.json byte-level BPE, pre-tokenizer %s, %d tokens%s",
                 pre_names[t->pretok], (int)n_vocab, llama3 ? " (Llama 3 specials added)" : "");
    else
        snprintf(t->describe, sizeof t->describe, "tokenizer.json SentencePiece-style BPE (%s%s), %d tokens",
                 t->byte_fallback ? "byte fallback" : "no byte fallback", t->prefix ? ", dummy prefix" : "",
                 (int)n_vocab);
    return DP_OK;
}

dp_status dp_tokenizer_load_hfjson(const char *json, size_t n, const char *config, size_t config_n,
                                   dp_tokenizer **out, dp_error *e) {
    if (!json || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "tokenizer.json: missing argument");
    dp_json_doc *doc = NULL, *cdoc = NULL;
    dp_status st = dp_json_parse(json, n, &doc, e);
    if (st != DP_OK) {
        dp_err_prefix(e, "tokenizer.json");
        return st;
    }
    if (config && (st = dp_json_parse(config, config_n, &cdoc, e)) != DP_OK) {
        dp_err_prefix(e, "tokenizer_config.json");
        dp_json_free(doc);
        return st;
    }
    load L = {0};
    L.root = dp_json_root(doc);
    L.model = dp_json_get(L.root, "model");
    L.vocab = dp_json_get(L.model, "vocab");
    L.added = dp_json_get(L.root, "added_tokens");
    if (L.added && !dp_json_is(L.added, DP_JSON_ARRAY)) L.added = NULL;
    L.cfg = cdoc ? dp_json_root(cdoc) : NULL;
    if (!dp_json_is(L.cfg, DP_JSON_OBJECT)) L.cfg = NULL;
    L.cfg_added = dp_json_get(L.cfg, "added_tokens_decoder");
    if (!dp_json_is(L.cfg_added, DP_JSON_OBJECT)) L.cfg_added = NULL;
    if (!dp_json_is(L.model, DP_JSON_OBJECT)) st = dp_err_set(e, DP_ERR_FORMAT, "tokenizer.json has no model object");
    else st = build(&L, e);
    dp_buf_free(&L.tmp);
    dp_json_free(doc);
    dp_json_free(cdoc);
    if (st != DP_OK) {
        dp_tokenizer_free(L.t);
        return st;
    }
    *out = L.t;
    return DP_OK;
}
