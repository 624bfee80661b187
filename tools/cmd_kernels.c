/* cmd_kernels.c — `doppler kernels list|show|verify|gate|tune`: the kernel registry (wg_registry.h).
 *
 * list, show and verify read the registry as data (no GPU): the built-in kernels embedded in
 * this tool, plus candidates given with --kernel op=file.wgsl or --kernels registry.json (their
 * keys, and whether they fit the op's entry points and binding layout). gate and tune need a GPU:
 * they run `node web/doppler.mjs kernels gate|tune ...` (docs/KERNELS.md). */
#include <stdio.h>
#include <string.h>

#include "backend/webgpu/wg_registry.h"
#include "base/sha256.h"
#include "cli.h"
#include "commands.h"

static const char USAGE[] =
    "kernels list|verify [--kernel op=file.wgsl]... [--kernels registry.json]\n"
    "       doppler kernels show <key-prefix|op> [--wgsl] [--kernel op=file.wgsl]...\n"
    "       doppler kernels gate <model> --kernel op=file.wgsl [-n N] [--out gate.json]\n"
    "       doppler kernels tune <model> [--cache FILE] [--grid k=v;k=v]";

static void variants(const dp_kentry *en, char *buf, size_t cap) {
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < en->info->n_overrides && at + 1 < cap; i++) {
        int w = snprintf(buf + at, cap - at, "%s%s", i ? "," : "", en->info->overrides[i]);
        if (w < 0) break;
        at += (size_t)w;
    }
    if (!buf[0]) snprintf(buf, cap, "-");
}

static void print_entry(const dp_kentry *en) {
    char hex[65], var[256];
    dp_sha256_hex(en->key, hex);
    variants(en, var, sizeof var);
    printf("%-16s %-12s %s %s%s%s\n", en->op, en->entry, hex, var, en->builtin ? "" : "  candidate: ",
           en->builtin ? "" : en->source);
}

static void show_entry(const dp_kentry *en, bool wgsl) {
    char hex[65], thex[65], var[256];
    dp_sha256_hex(en->key, hex);
    dp_sha256_hex(en->text_sha256, thex);
    variants(en, var, sizeof var);
    printf("op:        %s\nentry:     %s\nkey:       sha256:%s\ntext:      sha256:%s (%u bytes)\n"
           "constants: %s\nvariants:  %s\nsource:    %s\nbindings: ",
           en->op, en->entry, hex, thex, en->len, en->constants[0] ? en->constants : "(declared defaults)",
           var, en->source);
    for (int i = 0; i < en->info->n_bindings; i++)
        printf(" %u/%u:%s", en->info->bindings[i].group, en->info->bindings[i].binding,
               dp_wgsl_kind_str(en->info->bindings[i].kind));
    printf("\n");
    if (wgsl) printf("\n%.*s%s", (int)en->len, en->text, en->len && en->text[en->len - 1] == '\n' ? "" : "\n");
}

static void refused(void *ud, const char *op, const dp_error *why) {
    fprintf(stderr, "doppler kernels: candidate for %s refused, the built-in kernel stays: %s\n", op, why->msg);
    *(int *)ud = 1;
}

int cmd_kernels(int argc, char **argv) {
    if (argc < 2) return cli_usage(USAGE);
    const char *sub = argv[1];
    if (!strcmp(sub, "gate") || !strcmp(sub, "tune")) return cli_exec_web(argc, argv);
    bool wgsl = false;
    const char *what = NULL;
    dp_error e = {0};
    dp_kreg *r = NULL;
    if (dp_kreg_new(&r, &e) != DP_OK) return cli_fail("kernels", &e);
    int rc = 0, any_refused = 0;
    for (int i = 2; i < argc && !rc; i++) {
        if (!strcmp(argv[i], "--wgsl")) wgsl = true;
        else if (!strcmp(argv[i], "--kernel") && i + 1 < argc) {
            const char *spec = argv[++i];
            if (!strchr(spec, '=')) rc = cli_usage(USAGE);
            else if (dp_kreg_override_spec(r, spec, &e) != DP_OK) refused(&any_refused, spec, &e);
        } else if (!strcmp(argv[i], "--kernels") && i + 1 < argc) {
            if (dp_kreg_apply_file(r, argv[++i], refused, &any_refused, &e) != DP_OK) rc = cli_fail("kernels", &e);
        } else if (argv[i][0] == '-' || what) rc = cli_usage(USAGE);
        else what = argv[i];
    }
    if (!rc && !strcmp(sub, "list") && !what && !wgsl) {
        printf("%-16s %-12s %-64s %s\n", "op", "entry", "key (sha256)", "variants");
        for (int i = 0; i < dp_kreg_count(r); i++) print_entry(dp_kreg_at(r, i));
    } else if (!rc && !strcmp(sub, "verify") && !what && !wgsl) {
        int n = 0;
        if (dp_kreg_verify(r, &n, &e) != DP_OK) rc = cli_fail("kernels verify", &e);
        else printf("%d kernel texts, %d entries ok\n", n, dp_kreg_count(r));
    } else if (!rc && !strcmp(sub, "show") && what) {
        const dp_kentry *hit = dp_kreg_find_key(r, what);
        int shown = 0;
        if (hit) {
            show_entry(hit, wgsl);
            shown = 1;
        } else {
            for (int i = 0; i < dp_kreg_count(r); i++) {
                const dp_kentry *en = dp_kreg_at(r, i);
                if (strcmp(en->op, what)) continue;
                if (shown) printf("\n");
                show_entry(en, wgsl && !shown); /* the op's entries share one text */
                shown++;
            }
        }
        if (!shown) {
            char esc[80];
            fprintf(stderr, "doppler kernels show: no kernel op or unique key prefix '%s' "
                            "(`doppler kernels list`)\n", dp_str_escape(esc, sizeof esc, what, strlen(what)));
            rc = 1;
        }
    } else if (!rc) {
        rc = cli_usage(USAGE);
    }
    dp_kreg_free(r);
    return rc ? rc : any_refused;
}
