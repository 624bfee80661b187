/* template.c — chat templates: choose one from a name, Jinja text or family; render messages.
 *
 * No Jinja engine: the supported templates are written out here, rendering what the models'
 * own Jinja templates render (llama.cpp's llm_chat_apply_template is the reference), and a
 * template text is recognised by the marker strings it contains, in llama.cpp's order. BOS is
 * not rendered: the caller encodes the text with add_special (BOS when the model adds one) and
 * parse_special. */
#include <string.h>

#include "tokenizer/tok_internal.h"

static const struct {
    dp_chat_kind kind;
    const char *name;
} NAMES[] = {
    {DP_CHAT_CHATML, "chatml"},
    {DP_CHAT_LLAMA3, "llama3"},
    {DP_CHAT_GEMMA, "gemma"},
    {DP_CHAT_PHI3, "phi3"},
    {DP_CHAT_MISTRAL, "mistral"},
    {DP_CHAT_LLAMA2_SYS, "llama2-sys"},
    {DP_CHAT_LLAMA2_SYS_BOS, "llama2-sys-bos"},
    {DP_CHAT_LLAMA2_SYS_STRIP, "llama2-sys-strip"},
    {DP_CHAT_MISTRAL_V1, "mistral-v1"},
    {DP_CHAT_MISTRAL_V3, "mistral-v3"},
    {DP_CHAT_MISTRAL_V3_TEKKEN, "mistral-v3-tekken"},
    {DP_CHAT_MISTRAL_V7, "mistral-v7"},
    /* aliases */
    {DP_CHAT_CHATML, "qwen"},
    {DP_CHAT_MISTRAL, "llama2"},
};

const char *dp_chat_name(dp_chat_kind kind) {
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        if (NAMES[i].kind == kind) return NAMES[i].name;
    return "none";
}

static bool has(const char *s, const char *needle) { return strstr(s, needle) != NULL; }

static dp_chat_kind detect_text(const char *t) {
    if (has(t, "<|im_start|>")) return DP_CHAT_CHATML;
    if (!strncmp(t, "mistral", 7) || has(t, "[INST]")) {
        if (has(t, "[SYSTEM_PROMPT]")) return DP_CHAT_MISTRAL_V7;
        if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]")) {
            if (has(t, " [INST]")) return DP_CHAT_MISTRAL_V1;
            if (has(t, "\"[INST]\"")) return DP_CHAT_MISTRAL_V3_TEKKEN;
            return DP_CHAT_MISTRAL_V3;
        }
        if (has(t, "content.strip()")) return DP_CHAT_LLAMA2_SYS_STRIP;
        if (has(t, "bos_token + '[INST]")) return DP_CHAT_LLAMA2_SYS_BOS;
        if (has(t, "<<SYS>>")) return DP_CHAT_LLAMA2_SYS;
        return DP_CHAT_MISTRAL;
    }
    if (has(t, "<|assistant|>") && has(t, "<|end|>")) return DP_CHAT_PHI3;
    if (has(t, "<start_of_turn>")) return DP_CHAT_GEMMA;
    if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>")) return DP_CHAT_LLAMA3;
    return DP_CHAT_NONE;
}

dp_status dp_chat_detect(const char *s, dp_chat_kind *out, dp_error *e) {
    if (!s || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "chat template: missing argument");
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        if (!strcmp(s, NAMES[i].name)) {
            *out = NAMES[i].kind;
            return DP_OK;
        }
    dp_chat_kind k = detect_text(s);
    if (k == DP_CHAT_NONE) {
        size_t n = strlen(s);
        return dp_err_set(e, DP_ERR_UNSUPPORTED,
                          "unknown chat template %s%.48s%s (supported: chatml, llama3, gemma, phi3, mistral, "
                          "mistral-v1/v3/v3-tekken/v7, llama2-sys*)",
                          n > 48 ? "text \"" : "\"", s, n > 48 ? "...\"" : "\"");
    }
    *out = k;
    return DP_OK;
}

dp_status dp_chat_from_family(const char *family, dp_chat_kind *out, dp_error *e) {
    static const struct {
        const char *prefix;
        dp_chat_kind kind;
    } FAM[] = {
        {"llama", DP_CHAT_LLAMA3}, {"gemma", DP_CHAT_GEMMA},     {"phi3", DP_CHAT_PHI3},
        {"qwen", DP_CHAT_CHATML},  {"mixtral", DP_CHAT_MISTRAL}, {"mistral", DP_CHAT_MISTRAL},
    };
    if (!family || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "chat template: missing family");
    for (size_t i = 0; i < sizeof FAM / sizeof FAM[0]; i++)
        if (!strncmp(family, FAM[i].prefix, strlen(FAM[i].prefix))) {
            *out = FAM[i].kind;
            return DP_OK;
        }
    return dp_err_set(e, DP_ERR_UNSUPPORTED, "no chat template known for model family '%.40s'", family);
}

dp_status dp_tokenizer_chat_kind(const dp_tokenizer *t, const char *family, dp_chat_kind *out, dp_error *e) {
    const char *tmpl = t ? t->chat_template : NULL;
    if (tmpl) {
        dp_status st = dp_chat_detect(tmpl, out, e);
        if (st == DP_OK || !family) return st;
        dp_chat_kind k;
        if (dp_chat_from_family(family, &k, NULL) == DP_OK) {
            *out = k;
            return DP_OK;
        }
        return st;
    }
    if (!family) return dp_err_set(e, DP_ERR_NOT_FOUND, "the model has no chat template and no family was given");
    return dp_chat_from_family(family, out, e);
}

/* ---- rendering ---- */

static bool is_ws(char c) { return c == ' ' || (c >= 9 && c <= 13); }

static void put_trim(dp_buf *b, const char *s) {
    size_t n = strlen(s), i = 0;
    while (i < n && is_ws(s[i])) i++;
    while (n > i && is_ws(s[n - 1])) n--;
    dp_buf_append(b, s + i, n - i);
}

static void put_maybe_trim(dp_buf *b, const char *s, bool trim) {
    if (trim) put_trim(b, s);
    else dp_buf_puts(b, s);
}

static void render_llama2(dp_chat_kind k, const dp_chat_msg *m, size_t n, dp_buf *b) {
    bool sys_ok = k != DP_CHAT_MISTRAL, bos_inside = k == DP_CHAT_LLAMA2_SYS_BOS, strip = k == DP_CHAT_LLAMA2_SYS_STRIP;
    bool inside = true;
    dp_buf_puts(b, "[INST] ");
    for (size_t i = 0; i < n; i++) {
        if (!inside) {
            inside = true;
            dp_buf_puts(b, bos_inside ? "<s>[INST] " : "[INST] ");
        }
        if (!strcmp(m[i].role, "system")) {
            if (sys_ok) {
                dp_buf_puts(b, "<<SYS>>\n");
                put_maybe_trim(b, m[i].content, strip);
                dp_buf_puts(b, "\n<</SYS>>\n\n");
            } else {
                put_maybe_trim(b, m[i].content, strip);
                dp_buf_puts(b, "\n");
            }
        } else if (!strcmp(m[i].role, "user")) {
            put_maybe_trim(b, m[i].content, strip);
            dp_buf_puts(b, " [/INST]");
        } else {
            put_maybe_trim(b, m[i].content, strip);
            dp_buf_puts(b, "</s>");
            inside = false;
        }
    }
}

static void render_mistral(dp_chat_kind k, const dp_chat_msg *m, size_t n, dp_buf *b) {
    if (k == DP_CHAT_MISTRAL_V7) {
        for (size_t i = 0; i < n; i++) {
            if (!strcmp(m[i].role, "system")) {
                dp_buf_puts(b, "[SYSTEM_PROMPT] ");
                dp_buf_puts(b, m[i].content);
                dp_buf_puts(b, "[/SYSTEM_PROMPT]");
            } else if (!strcmp(m[i].role, "user")) {
                dp_buf_puts(b, "[INST] ");
                dp_buf_puts(b, m[i].content);
                dp_buf_puts(b, "[/INST]");
            } else {
                dp_buf_puts(b, " ");
                dp_buf_puts(b, m[i].content);
                dp_buf_puts(b, "</s>");
            }
        }
        return;
    }
    const char *lead = k == DP_CHAT_MISTRAL_V1 ? " " : "";
    const char *trail = k == DP_CHAT_MISTRAL_V3_TEKKEN ? "" : " ";
    bool trim_assistant = k == DP_CHAT_MISTRAL_V3, inside = false;
    for (size_t i = 0; i < n; i++) {
        if (!inside) {
            dp_buf_puts(b, lead);
            dp_buf_puts(b, "[INST]");
            dp_buf_puts(b, trail);
            inside = true;
        }
        if (!strcmp(m[i].role, "system")) {
            dp_buf_puts(b, m[i].content);
            dp_buf_puts(b, "\n\n");
        } else if (!strcmp(m[i].role, "user")) {
            dp_buf_puts(b, m[i].content);
            dp_buf_puts(b, lead);
            dp_buf_puts(b, "[/INST]");
        } else {
            dp_buf_puts(b, trail);
            put_maybe_trim(b, m[i].content, trim_assistant);
            dp_buf_puts(b, "</s>");
            inside = false;
        }
    }
}

static void render_gemma(const dp_chat_msg *m, size_t n, bool gen, dp_buf *b) {
    dp_buf sys = {0};
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(m[i].role, "system")) {
            put_trim(&sys, m[i].content);
            continue;
        }
        bool model = !strcmp(m[i].role, "assistant") || !strcmp(m[i].role, "model");
        dp_buf_puts(b, "<start_of_turn>");
        dp_buf_puts(b, model ? "model" : m[i].role);
        dp_buf_puts(b, "\n");
        if (sys.len && !model) {
            dp_buf_append(b, sys.data, sys.len);
            dp_buf_puts(b, "\n\n");
            sys.len = 0;
        }
        put_trim(b, m[i].content);
        dp_buf_puts(b, "<end_of_turn>\n");
    }
    if (sys.oom) b->oom = true;
    dp_buf_free(&sys);
    if (gen) dp_buf_puts(b, "<start_of_turn>model\n");
}

dp_status dp_chat_apply(dp_chat_kind kind, const dp_chat_msg *m, size_t n, bool gen, dp_buf *b, dp_error *e) {
    if (!b || (!m && n)) return dp_err_set(e, DP_ERR_INVALID_ARG, "chat template: missing argument");
    for (size_t i = 0; i < n; i++)
        if (!m[i].role || !m[i].content)
            return dp_err_set(e, DP_ERR_INVALID_ARG, "chat message %zu has no role or content", i);
    size_t start = b->len;
    switch (kind) {
    case DP_CHAT_CHATML:
        for (size_t i = 0; i < n; i++) {
            dp_buf_puts(b, "<|im_start|>");
            dp_buf_puts(b, m[i].role);
            dp_buf_puts(b, "\n");
            dp_buf_puts(b, m[i].content);
            dp_buf_puts(b, "<|im_end|>\n");
        }
        if (gen) dp_buf_puts(b, "<|im_start|>assistant\n");
        break;
    case DP_CHAT_LLAMA3:
        for (size_t i = 0; i < n; i++) {
            dp_buf_puts(b, "<|start_header_id|>");
            dp_buf_puts(b, m[i].role);
            dp_buf_puts(b, "<|end_header_id|>\n\n");
            put_trim(b, m[i].content);
            dp_buf_puts(b, "<|eot_id|>");
        }
        if (gen) dp_buf_puts(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case DP_CHAT_GEMMA: render_gemma(m, n, gen, b); break;
    case DP_CHAT_PHI3:
        for (size_t i = 0; i < n; i++) {
            dp_buf_puts(b, "<|");
            dp_buf_puts(b, m[i].role);
            dp_buf_puts(b, "|>\n");
            dp_buf_puts(b, m[i].content);
            dp_buf_puts(b, "<|end|>\n");
        }
        if (gen) dp_buf_puts(b, "<|assistant|>\n");
        break;
    case DP_CHAT_MISTRAL:
    case DP_CHAT_LLAMA2_SYS:
    case DP_CHAT_LLAMA2_SYS_BOS:
    case DP_CHAT_LLAMA2_SYS_STRIP: render_llama2(kind, m, n, b); break;
    case DP_CHAT_MISTRAL_V1:
    case DP_CHAT_MISTRAL_V3:
    case DP_CHAT_MISTRAL_V3_TEKKEN:
    case DP_CHAT_MISTRAL_V7: render_mistral(kind, m, n, b); break;
    default: return dp_err_set(e, DP_ERR_UNSUPPORTED, "chat template %d is not known", (int)kind);
    }
    if (b->oom) {
        b->len = start;
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    if (!b->data) dp_buf_append(b, "", 0);
    return DP_OK;
}
