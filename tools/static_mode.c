/* static_mode.c — static mode and the audit log for the native commands (static_mode.h). */
#include "static_mode.h"

#include <stdio.h>
#include <string.h>

#include "base/sha256.h"
#include "policy/audit.h"
#include "policy/policy.h"

bool static_opt(static_opts *s, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    const char **slot = !strcmp(a, "--static") ? &s->bundle : !strcmp(a, "--pubkey") ? &s->pubkey
                      : !strcmp(a, "--audit") ? &s->audit : NULL;
    if (!slot || *i + 1 >= argc) return false;
    *slot = argv[++*i];
    return true;
}

int static_check(static_opts *s, const char *cmd, const char *model_dir) {
    if (!s->bundle != !s->pubkey) {
        fprintf(stderr, "doppler %s: --static BUNDLE needs --pubkey KEY (and --pubkey needs --static)\n", cmd);
        return 2;
    }
    dp_error e = {0};
    dp_policy *p = NULL;
    dp_status st = DP_OK;
    if (s->bundle) {
        st = dp_policy_load(s->bundle, s->pubkey, &p, &e);
        if (st == DP_OK) st = dp_policy_check_model(p, model_dir, s->model_id, &e);
        dp_policy_free(p);
    } else if (s->audit) { /* the audit log names the model either way */
        char *path = dp_path_join(model_dir, "manifest.json");
        uint8_t id[32];
        st = path ? dp_sha256_file(path, id, &e) : dp_err_set(&e, DP_ERR_NOMEM, "out of memory");
        if (st == DP_OK) dp_sha256_hex(id, s->model_id);
        dp_free(path);
    }
    if (st != DP_OK) {
        fprintf(stderr, "doppler %s: refused before loading: %s\n", cmd, e.msg);
        return 1;
    }
    return 0;
}

int static_audit(const static_opts *s, const char *cmd, const char *model_dir, const dp_sampling *sp,
                 const int32_t *prompt, int32_t n_prompt, const int32_t *out, int64_t n_out) {
    (void)model_dir;
    if (!s->audit) return 0;
    dp_audit_rec r = {s->model_id, NULL, 0, NULL, 0, *sp, prompt, n_prompt, out, n_out};
    dp_error e = {0};
    if (dp_audit_append(s->audit, &r, &e) == DP_OK) return 0;
    fprintf(stderr, "doppler %s: %s\n", cmd, e.msg);
    return 1;
}
