/* serve_shards.h — `doppler serve --shards DIR`: a model folder over HTTP as a mirror / web seed
 * (serve_shards.c): GET/HEAD /manifest.json, /shards/<sha256>.bin and the tokenizer files the
 * manifest hashes, with single byte ranges (206 + Content-Range, 416), CORS for browsers, OPTIONS.
 * Built only with libmicrohttpd (DP_HAVE_MHD). */
#ifndef DP_SERVE_SHARDS_H
#define DP_SERVE_SHARDS_H

#include <stdbool.h>

#include <microhttpd.h>

#include "doppler.h"

typedef struct srv_shards srv_shards;

/* dir: a model folder (manifest.json may be absent: then only shards/ is served). */
dp_status srv_shards_new(const char *dir, srv_shards **out, dp_error *e);
void srv_shards_free(srv_shards *s);
/* true when url is one of the served paths (then srv_shards_answer answers it) */
bool srv_shards_route(const srv_shards *s, const char *url);
enum MHD_Result srv_shards_answer(srv_shards *s, struct MHD_Connection *c, const char *url, const char *method);
/* Its own daemon (serve without a model). port 0: a free one (srv_shards_port). */
dp_status srv_shards_start(srv_shards *s, const char *host, int port, dp_error *e);
int srv_shards_port(const srv_shards *s);
/* Files answered so far (whole or in part). */
unsigned long srv_shards_count(const srv_shards *s);

#endif
