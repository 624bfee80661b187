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

/* SHA-256 of <dir>/manifest.json as hex: a model's or adapter's id */
static dp_status manifest_id(const char *dir, char *hex, dp_error *e) {
    char *path = dp_path_join(dir, "manifest.json");
    uint8_t id[32];
    dp_status st = path ? dp_sha256_file(path, id, e) : dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    if (st == DP_OK) dp_sha256_hex(id, hex);
    dp_free(path);
    return st;
}

int static_check(static_opts *s, const char *cmd, const char *model_dir, const char *adapter_dir) {
    if (!s->bundle != !s->pubkey) {
        fprintf(stderr, "doppler %s: --static BUNDLE needs --pubkey KEY (and --pubkey needs --static)\n", cmd);
        return 2;
    }
    dp_error e = {0};
    dp_policy *p = NULL;
    dp_status st = DP_OK;
    s->adapter_id[0] = '\0';
    if (s->bundle) {
        st = dp_policy_load(s->bundle, s->pubkey, &p, &e);
        if (st == DP_OK) st = dp_policy_check_model(p, model_dir, s->model_id, &e);
        if (st == DP_OK && adapter_dir) st = dp_policy_check_adapter(p, adapter_dir, s->adapter_id, &e);
        dp_policy_free(p);
    } else if (s->audit) { /* the audit log names the model (and adapter) either way */
        st = manifest_id(model_dir, s->model_id, &e);
        if (st == DP_OK && adapter_dir) st = manifest_id(adapter_dir, s->adapter_id, &e);
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
    const char *adapters[1] = {s->adapter_id};
    dp_audit_rec r = {s->model_id, NULL, 0, adapters, s->adapter_id[0] ? 1 : 0, *sp, prompt, n_prompt, out, n_out};
    dp_error e = {0};
    if (dp_audit_append(s->audit, &r, &e) == DP_OK) return 0;
    fprintf(stderr, "doppler %s: %s\n", cmd, e.msg);
    return 1;
}
