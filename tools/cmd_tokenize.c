/* cmd_tokenize.c — placeholder until the command lands. */
#include <stdio.h>

#include "commands.h"

int cmd_tokenize(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "doppler %s: not built yet\n", argv[0]);
    return 1;
}
