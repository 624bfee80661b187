/* test_public_header.c — include/doppler.h compiles on its own as plain C11 and its basic
 * contracts hold (status strings, NULL-safe frees, argument checks). */
#include "doppler.h"

#include <string.h>

#include "testutil.h"

int main(void) {
    CHECK(strcmp(dp_status_str(DP_OK), dp_status_str(DP_ERR_NOMEM)) != 0);
    CHECK(dp_status_str((dp_status)12345) != NULL);
    dp_model_free(NULL);
    dp_ctx_free(NULL);
    dp_error e = {0};
    dp_model *m = NULL;
    CHECK(dp_model_load(NULL, NULL, &m, &e) == DP_ERR_INVALID_ARG && e.msg[0] && !m);
    CHECK(dp_model_load("/nonexistent/model", NULL, &m, &e) != DP_OK && e.msg[0] && !m);
    return t_done("test_public_header");
}
