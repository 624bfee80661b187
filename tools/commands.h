/* commands.h — the doppler CLI's subcommands; each lives in tools/cmd_<name>.c. */
#ifndef DP_COMMANDS_H
#define DP_COMMANDS_H

#include <stdbool.h>

/* Each returns the process exit status (0 ok, 1 error, 2 usage). argv[0] is the command name. */
int cmd_convert(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_export_gguf(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_kernels(int argc, char **argv);
int cmd_bundle(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_torrent(int argc, char **argv);
/* `torrent create` and `torrent pull` (argv[0] is the verb), also reached as `convert --torrent`
 * and `pull --torrent`; torrent_missing(cmd) says (on stderr, as `doppler cmd`) that this build has
 * no BitTorrent support and returns true, or returns false when it has. */
int cmd_torrent_create(int argc, char **argv);
int cmd_torrent_pull(int argc, char **argv);
bool torrent_missing(const char *cmd);

#endif
