/* serve_lora.c — the server's LoRA adapters and their scales (serve_lora.h). */
#include "serve_lora.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"

typedef struct entry {
    dp_adapter *a;
    char *path;
    char name[SRV_LORA_NAME]; /* the directory's last component */
    float scale;              /* the server's, under mu */
} entry;

struct srv_lora {
    pthread_mutex_t mu;
    entry *v;
    int n;
};

dp_status srv_lora_new(dp_model *m, char *const *dirs, const float *scales, int n, srv_lora **out, dp_error *e) {
    srv_lora *l = calloc(1, sizeof *l);
    if (!l || (n > 0 && !(l->v = calloc((size_t)n, sizeof *l->v)))) {
        free(l);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&l->mu, NULL);
    dp_status st = DP_OK;
    int active = -1;
    for (int i = 0; i < n && st == DP_OK; i++) {
        entry *x = &l->v[i];
        if (!isfinite(scales[i]) || fabs(scales[i]) > SRV_MAX_LORA_SCALE)
            st = dp_err_set(e, DP_ERR_INVALID_ARG, "--lora %s: the scale is not a number in [-%g, %g]", dirs[i],
                            SRV_MAX_LORA_SCALE, SRV_MAX_LORA_SCALE);
        else if (scales[i] != 0 && active >= 0)
            st = dp_err_set(e, DP_ERR_INVALID_ARG, "--lora %s: %s already has a non-zero scale (one adapter per "
                            "sequence: give the others :0 and choose per request)", dirs[i], dirs[active]);
        else if ((st = dp_adapter_load(m, dirs[i], &x->a, e)) != DP_OK) dp_err_prefix(e, "--lora %s", dirs[i]);
        else if (!(x->path = strdup(dirs[i]))) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        if (st != DP_OK) break;
        srv_dir_name(dirs[i], x->name, sizeof x->name);
        x->scale = scales[i];
        if (scales[i] != 0) active = i;
        l->n++;
    }
    if (st != DP_OK) {
        srv_lora_free(l);
        return st;
    }
    *out = l;
    return DP_OK;
}

void srv_lora_free(srv_lora *l) {
    if (!l) return;
    for (int i = 0; i < l->n; i++) {
        dp_adapter_free(l->v[i].a);
        free(l->v[i].path);
    }
    free(l->v);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

void srv_lora_json(srv_lora *l, dp_buf *b) {
    pthread_mutex_lock(&l->mu);
    dp_buf_puts(b, "[");
    for (int i = 0; i < l->n; i++) {
        const entry *x = &l->v[i];
        dp_buf_printf(b, "%s{\"id\":%d,\"name\":", i ? "," : "", i);
        dp_json_write_str(b, x->name, strlen(x->name));
        dp_buf_puts(b, ",\"path\":");
        dp_json_write_str(b, x->path, strlen(x->path));
        dp_buf_printf(b, ",\"scale\":%.9g,\"rank\":%d}", (double)x->scale, dp_adapter_rank(x->a));
    }
    dp_buf_puts(b, "]");
    pthread_mutex_unlock(&l->mu);
}

/* scales[0..n) from a list (unlisted: 0); false with err on an unknown adapter or two non-zero. */
static bool resolve(const srv_lora *l, const srv_lora_ref *refs, int n, float *scales, int *active, srv_err *err) {
    for (int i = 0; i < l->n; i++) scales[i] = 0;
    *active = -1;
    for (int k = 0; k < n; k++) {
        int id = refs[k].id;
        if (id < 0)
            for (int i = 0; i < l->n && id < 0; i++)
                if (!strcmp(l->v[i].name, refs[k].name)) id = i;
        if (id < 0 || id >= l->n) {
            char what[SRV_LORA_NAME + 16];
            if (refs[k].id >= 0) snprintf(what, sizeof what, "id %d", refs[k].id);
            else snprintf(what, sizeof what, "name '%s'", refs[k].name);
            return srv_fail(err, 400, "invalid_request_error", "invalid_value", "lora",
                            "'lora': no adapter with %s (this server has %d: GET /lora-adapters lists them)", what, l->n);
        }
        scales[id] = refs[k].scale;
    }
    for (int i = 0; i < l->n; i++) {
        if (scales[i] == 0) continue;
        if (*active >= 0)
            return srv_fail(err, 400, "invalid_request_error", "invalid_value", "lora",
                            "'lora': adapters %d and %d both have a non-zero scale; Doppler applies one adapter per "
                            "sequence", *active, i);
        *active = i;
    }
    return true;
}

bool srv_lora_set(srv_lora *l, const srv_lora_ref *refs, int n, srv_err *err) {
    float *scales = calloc((size_t)(l->n > 0 ? l->n : 1), sizeof *scales);
    int active;
    if (!scales) return srv_fail(err, 500, "server_error", NULL, NULL, "out of memory");
    bool ok = resolve(l, refs, n, scales, &active, err);
    if (ok) {
        pthread_mutex_lock(&l->mu);
        for (int i = 0; i < l->n; i++) l->v[i].scale = scales[i];
        pthread_mutex_unlock(&l->mu);
    }
    free(scales);
    return ok;
}

bool srv_lora_choose(srv_lora *l, bool has_list, const srv_lora_ref *refs, int n, dp_adapter **a, float *scale,
                     srv_err *err) {
    *a = NULL;
    *scale = 1.0f;
    if (!has_list) {
        pthread_mutex_lock(&l->mu);
        for (int i = 0; i < l->n; i++)
            if (l->v[i].scale != 0) {
                *a = l->v[i].a;
                *scale = l->v[i].scale;
            }
        pthread_mutex_unlock(&l->mu);
        return true;
    }
    float *scales = calloc((size_t)(l->n > 0 ? l->n : 1), sizeof *scales);
    int active;
    if (!scales) return srv_fail(err, 500, "server_error", NULL, NULL, "out of memory");
    bool ok = resolve(l, refs, n, scales, &active, err);
    if (ok && active >= 0) {
        *a = l->v[active].a;
        *scale = scales[active];
    }
    free(scales);
    return ok;
}
