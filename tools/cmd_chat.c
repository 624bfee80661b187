/* cmd_chat.c — `doppler chat <model> [--system TEXT]`: an interactive conversation on standard
 * input. Each turn renders the whole conversation with the model's chat template; the KV cache
 * keeps what it already holds of that rendering (dp_ctx_truncate to the common prefix) and
 * only the rest is evaluated. --verbose says on stderr how many tokens each turn reused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h" /* dp_err_set */
#include "cli.h"
#include "commands.h"
#include "generate.h"
#include "static_mode.h"

static const char USAGE[] =
    "chat <model> [--system TEXT] [--template NAME] [-n max-tokens-per-reply] [--temp T] [--top-k K] [--top-p P]\n"
    "             [--seed S] [-t threads] [-c n_ctx] [--verbose] [--static BUNDLE --pubkey KEY] [--audit FILE]\n"
    "             " CLI_LORA_USAGE " " CLI_PAGING_USAGE;

typedef struct history {
    dp_chat_msg *msgs;
    size_t n, cap;
} history;

static bool add_msg(history *h, const char *role, const char *content) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        dp_chat_msg *m = realloc(h->msgs, cap * sizeof *m);
        if (!m) return false;
        h->msgs = m;
        h->cap = cap;
    }
    char *copy = strdup(content);
    if (!copy) return false;
    h->msgs[h->n++] = (dp_chat_msg){role, copy};
    return true;
}

/* The conversation rendered with the chat template and tokenized into *ids (malloc'd). */
static dp_status render(const dp_tokenizer *tok, const char *family, const char *tmpl, const history *h, char **text,
                        size_t *text_cap, int32_t **ids, size_t *n, dp_error *e) {
    size_t len = 0;
    dp_status st = dp_chat_render(tok, family, tmpl, h->msgs, h->n, 1, *text, *text_cap, &len, e);
    if (st == DP_ERR_LIMIT) {
        char *t = realloc(*text, len + 1);
        if (!t) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        *text = t;
        *text_cap = len + 1;
        st = dp_chat_render(tok, family, tmpl, h->msgs, h->n, 1, *text, *text_cap, &len, e);
    }
    return st == DP_OK ? gen_tokenize(tok, *text, len, ids, n, e) : st;
}

int cmd_chat(int argc, char **argv) {
    const char *model = NULL, *system = NULL, *tmpl = NULL;
    long n_gen = 512, threads = 0, n_ctx = 0, top_k = 40, seed = 0;
    double temp = 0.7, top_p = 0.95;
    bool verbose = false;
    static_opts so = {0};
    cli_lora lora = {0};
    cli_paging paging = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (static_opt(&so, argc, argv, &i)) continue;
        int pa_ = cli_paging_arg(&paging, "chat", argc, argv, &i);
        if (pa_ < 0) return 2;
        if (pa_ > 0) continue;
        if (!strcmp(a, "--system") && v) system = argv[++i];
        else if (!strcmp(a, "--template") && v) tmpl = argv[++i];
        else if (!strcmp(a, "-n") && v) { if (!cli_int("chat", a, argv[++i], 1, 1 << 24, &n_gen)) return 2; }
        else if (!strcmp(a, "-t") && v) { if (!cli_int("chat", a, argv[++i], 0, 1024, &threads)) return 2; }
        else if (!strcmp(a, "-c") && v) { if (!cli_int("chat", a, argv[++i], 16, 1 << 24, &n_ctx)) return 2; }
        else if (!strcmp(a, "--top-k") && v) { if (!cli_int("chat", a, argv[++i], 0, 1 << 24, &top_k)) return 2; }
        else if (!strcmp(a, "--seed") && v) { if (!cli_int("chat", a, argv[++i], 0, 0x7fffffff, &seed)) return 2; }
        else if (!strcmp(a, "--temp") && v) { if (!cli_float("chat", a, argv[++i], &temp)) return 2; }
        else if (!strcmp(a, "--top-p") && v) { if (!cli_float("chat", a, argv[++i], &top_p)) return 2; }
        else if (!strcmp(a, "--verbose")) verbose = true;
        else if (!strcmp(a, "--lora") && v) { if (!cli_lora_parse("chat", argv[++i], &lora)) { cli_lora_free(&lora); return 2; } }
        else if (a[0] == '-' || model) { cli_lora_free(&lora); return cli_usage(USAGE); }
        else model = a;
    }
    dp_gen_params gp;
    dp_gen_params_default(&gp);
    gp.sampling = (dp_sampling){(float)temp, (int32_t)top_k, (float)top_p, (uint64_t)seed};
    gp.n_max = (int32_t)n_gen;
    if (model && !(model = cli_model_dir("chat", model))) {
        cli_lora_free(&lora);
        return 1;
    }
    int src = !model ? cli_usage(USAGE) : !cli_sampling("chat", &gp.sampling) ? 2 : static_check(&so, "chat", model, lora.dir);
    if (src) {
        cli_lora_free(&lora);
        return src;
    }
    dp_error e = {0};
    dp_model *m = NULL;
    dp_ctx *c = NULL;
    dp_gen *g = NULL;
    dp_tokenizer *tok = NULL;
    history h = {0};
    char *text = NULL;
    size_t text_cap = 0, n_all = 0, n_cached = 0, turn = 0;
    int32_t *all = NULL, *cached = NULL; /* cached: the ids in the KV cache, in order */
    gen_reply reply = {0};
    int rc = 0;
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = (int32_t)n_ctx;
    size_t len;
    dp_status st = cli_load_paged(model, (int)threads, &paging, &m, &e);
    if (st == DP_OK) st = dp_tokenizer_load(model, &tok, &e);
    const char *family = m ? dp_model_family(m) : NULL;
    if (st == DP_OK) st = dp_chat_render(tok, family, tmpl, NULL, 0, 0, NULL, 0, &len, &e); /* a known template? */
    if (st == DP_ERR_LIMIT) st = DP_OK;
    if (st == DP_OK) st = dp_ctx_new(m, &cp, &c, &e);
    if (st == DP_OK) st = cli_lora_use(&lora, m, c, &e);
    if (st == DP_OK) st = dp_gen_new(c, tok, &gp, &g, &e);
    if (st == DP_OK && !(cached = malloc((size_t)dp_ctx_n_ctx(c) * sizeof *cached))) goto oom;
    if (st != DP_OK) {
        rc = cli_fail("chat", &e);
        goto done;
    }
    if (system && !add_msg(&h, "system", system)) goto oom;
    bool tty = isatty(0);
    char line[16384];
    for (;;) {
        if (tty) fprintf(stderr, "> ");
        if (!fgets(line, sizeof line, stdin)) break;
        line[strcspn(line, "\n")] = 0;
        if (!line[0]) continue;
        if (!add_msg(&h, "user", line)) goto oom;
        if ((st = render(tok, family, tmpl, &h, &text, &text_cap, &all, &n_all, &e)) != DP_OK) break;
        if ((int64_t)n_all + n_gen > dp_ctx_n_ctx(c)) {
            st = dp_err_set(&e, DP_ERR_LIMIT, "the conversation (%zu tokens, and %ld for a reply) no longer fits the context of %d tokens (raise -c)",
                            n_all, n_gen, dp_ctx_n_ctx(c));
            break;
        }
        /* keep the cache's longest prefix of the new rendering; evaluate only the rest (at least
         * one token, to sample from) */
        size_t same = 0;
        while (same < n_cached && same < n_all && cached[same] == all[same]) same++;
        if (same == n_all && same > 0) same--;
        if ((st = dp_ctx_truncate(c, (int32_t)same, &e)) != DP_OK) break;
        int64_t before = dp_ctx_n_evaluated(c);
        memcpy(cached + same, all + same, (n_all - same) * sizeof *cached);
        reply.n = reply.len = 0;
        st = gen_print(g, c, gp.n_max, all + same, (int32_t)(n_all - same), false, stdout, &reply, NULL, &e);
        printf("\n");
        if (verbose) { /* the library's count of evaluated positions, less the reply's */
            int64_t reply_evaluated = dp_ctx_pos(c) - (int64_t)n_all;
            fprintf(stderr, "chat: turn %zu: prompt %zu tokens, %zu from the cache, %lld evaluated; reply %zu tokens\n",
                    ++turn, n_all, same, (long long)(dp_ctx_n_evaluated(c) - before - reply_evaluated), reply.n);
        }
        if (st != DP_OK) break;
        if (!add_msg(&h, "assistant", reply.text ? reply.text : "")) goto oom;
        /* audit: the whole conversation as the prompt of this reply */
        if (static_audit(&so, "chat", model, &gp.sampling, all, (int32_t)n_all, reply.ids, (int64_t)reply.n)) {
            rc = 1;
            goto done;
        }
        /* the cache now holds the rendered prompt and the reply tokens it evaluated */
        n_cached = (size_t)dp_ctx_pos(c);
        memcpy(cached + n_all, reply.ids, (n_cached - n_all) * sizeof *cached);
    }
    if (st != DP_OK) rc = cli_fail("chat", &e);
    goto done;
oom:
    fprintf(stderr, "doppler chat: out of memory\n");
    rc = 1;
done:
    for (size_t i = 0; i < h.n; i++) free((char *)h.msgs[i].content);
    free(h.msgs);
    free(text);
    free(all);
    free(cached);
    gen_reply_free(&reply);
    dp_gen_free(g);
    dp_tokenizer_free(tok);
    dp_ctx_free(c);
    cli_lora_free(&lora);
    dp_model_free(m);
    return rc;
}
