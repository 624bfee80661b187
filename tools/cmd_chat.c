/* cmd_chat.c — `doppler chat <model> [--system TEXT]`: an interactive conversation on standard
 * input. Each turn is rendered with the model's chat template; the KV cache keeps the
 * conversation, so only the new turn's tokens are evaluated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "cli.h"
#include "commands.h"
#include "generate.h"

static const char USAGE[] =
    "chat <model> [--system TEXT] [--template NAME] [-n max-tokens-per-reply] [--temp T] [--top-k K] [--top-p P]\n"
    "             [--seed S] [-t threads] [-c n_ctx] " CLI_LORA_USAGE;

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

int cmd_chat(int argc, char **argv) {
    const char *model = NULL, *system = NULL, *tmpl = NULL;
    long n_gen = 512, threads = 0, n_ctx = 0, top_k = 40, seed = 0;
    double temp = 0.7, top_p = 0.95;
    cli_lora lora = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--system") && v) system = argv[++i];
        else if (!strcmp(a, "--template") && v) tmpl = argv[++i];
        else if (!strcmp(a, "-n") && v) { if (!cli_int("chat", a, argv[++i], 1, 1 << 24, &n_gen)) return 2; }
        else if (!strcmp(a, "-t") && v) { if (!cli_int("chat", a, argv[++i], 0, 1024, &threads)) return 2; }
        else if (!strcmp(a, "-c") && v) { if (!cli_int("chat", a, argv[++i], 16, 1 << 24, &n_ctx)) return 2; }
        else if (!strcmp(a, "--top-k") && v) { if (!cli_int("chat", a, argv[++i], 0, 1 << 24, &top_k)) return 2; }
        else if (!strcmp(a, "--seed") && v) { if (!cli_int("chat", a, argv[++i], 0, 0x7fffffff, &seed)) return 2; }
        else if (!strcmp(a, "--temp") && v) { if (!cli_float("chat", a, argv[++i], &temp)) return 2; }
        else if (!strcmp(a, "--top-p") && v) { if (!cli_float("chat", a, argv[++i], &top_p)) return 2; }
        else if (!strcmp(a, "--lora") && v) { if (!cli_lora_parse("chat", argv[++i], &lora)) { cli_lora_free(&lora); return 2; } }
        else if (a[0] == '-' || model) { cli_lora_free(&lora); return cli_usage(USAGE); }
        else model = a;
    }
    dp_sampling sp = {(float)temp, (int32_t)top_k, (float)top_p, (uint64_t)seed};
    if (!model || !cli_sampling("chat", &sp)) {
        cli_lora_free(&lora);
        return model ? 2 : cli_usage(USAGE);
    }
    dp_error e = {0};
    dp_model *m = NULL;
    dp_ctx *c = NULL;
    dp_tokenizer *tok = NULL;
    dp_chat_kind kind = DP_CHAT_NONE;
    history h = {0};
    dp_buf rendered = {0};
    dp_tokens all = {0}, reply = {0}, cached = {0}; /* cached: the ids in the KV cache, in order */
    int rc = 0;
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = (int32_t)n_ctx;
    dp_status st = cli_load(model, (int)threads, &m, &e);
    if (st == DP_OK) st = dp_tokenizer_load(model, &tok, &e);
    if (st == DP_OK) st = tmpl ? dp_chat_detect(tmpl, &kind, &e) : dp_tokenizer_chat_kind(tok, dp_model_family(m), &kind, &e);
    if (st == DP_OK) st = dp_ctx_new(m, &cp, &c, &e);
    if (st == DP_OK) st = cli_lora_use(&lora, m, c, &e);
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
        rendered.len = 0;
        dp_tokens_free(&all);
        if ((st = dp_chat_apply(kind, h.msgs, h.n, true, &rendered, &e)) != DP_OK ||
            (st = dp_tokenizer_encode(tok, rendered.data, rendered.len, true, true, &all, &e)) != DP_OK)
            break;
        /* the cache cannot rewind: keep it only when it is a prefix of the new rendering */
        size_t same = 0;
        while (same < cached.n && same < all.n && cached.ids[same] == all.ids[same]) same++;
        if (same < cached.n) {
            dp_ctx_reset(c);
            cached.n = 0;
        }
        size_t evaluated = cached.n;
        if ((int64_t)all.n + n_gen > dp_ctx_n_ctx(c)) {
            st = dp_err_set(&e, DP_ERR_LIMIT, "the conversation (%zu tokens, and %ld for a reply) no longer fits the context of %d tokens (raise -c)",
                            all.n, n_gen, dp_ctx_n_ctx(c));
            break;
        }
        dp_tokens_free(&reply);
        gen_opts o = {sp, n_gen, false, false, stdout};
        st = gen_run(c, m, tok, all.ids + evaluated, (int32_t)(all.n - evaluated), &o, &reply, &e);
        printf("\n");
        if (st != DP_OK) break;
        dp_buf text = {0};
        size_t keep = reply.n;
        while (keep > 0 && (dp_model_is_eos(m, reply.ids[keep - 1]) || dp_tokenizer_is_eog(tok, reply.ids[keep - 1]))) keep--;
        st = dp_tokenizer_decode(tok, reply.ids, keep, 0, &text, &e);
        if (st == DP_OK && !add_msg(&h, "assistant", text.data ? text.data : "")) st = dp_err_set(&e, DP_ERR_NOMEM, "out of memory");
        dp_buf_free(&text);
        if (st != DP_OK) break;
        /* the cache now holds the rendered prompt and the reply tokens it evaluated */
        bool ok = true;
        for (size_t i = cached.n; i < all.n && ok; i++) ok = dp_tokens_push(&cached, all.ids[i]);
        for (size_t i = 0; i < reply.n && ok && cached.n < (size_t)dp_ctx_pos(c); i++) ok = dp_tokens_push(&cached, reply.ids[i]);
        if (!ok) goto oom;
    }
    if (st != DP_OK) rc = cli_fail("chat", &e);
    goto done;
oom:
    fprintf(stderr, "doppler chat: out of memory\n");
    rc = 1;
done:
    for (size_t i = 0; i < h.n; i++) free((char *)h.msgs[i].content);
    free(h.msgs);
    dp_buf_free(&rendered);
    dp_tokens_free(&all);
    dp_tokens_free(&reply);
    dp_tokens_free(&cached);
    dp_tokenizer_free(tok);
    dp_ctx_free(c);
    cli_lora_free(&lora);
    dp_model_free(m);
    return rc;
}
