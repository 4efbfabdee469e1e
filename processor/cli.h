/*
 * cli.h — the subcommands of the `sluice` binary and what they share.
 *
 * Each subcommand is `int <name>_main(int argc, char **argv)` with
 * argv[0] the subcommand's name; it returns the process exit code
 * (0 ok, 1 failure, 2 usage) and prints its own --help.
 */
#ifndef SL_CLI_H
#define SL_CLI_H

#include <signal.h>

#include "processor/config.h"

int worker_main(int argc, char **argv);	   /* processor/worker.c */
int api_main(int argc, char **argv);	   /* api/server.c */
int migrate_main(int argc, char **argv);   /* api/migrate.c */
int pincodes_main(int argc, char **argv);  /* topologies/pincodes.c */
int devbroker_main(int argc, char **argv); /* processor/devbroker.c */
int replay_main(int argc, char **argv);	   /* processor/admin_cmds.c */
int reset_main(int argc, char **argv);	   /* processor/admin_cmds.c */
int state_main(int argc, char **argv);	   /* processor/admin_cmds.c */

/*
 * The config for a subcommand: embedded defaults, then `file` if not
 * NULL, then the environment; also applies log.level.  On failure logs
 * why and returns NULL.  Free with sl_config_free.
 */
sl_config *sl_cli_config(const char *file);

/*
 * After getopt: 0 when no word is left over; else says which one on
 * stderr ("sluice <cmd>: unexpected argument ...") and returns 2, the
 * usage-error status (a forgotten --topologies must not run everything).
 */
int sl_cli_no_operands(const char *cmd, int argc, char **argv);

/*
 * SIGINT/SIGTERM handling: the first signal sets sl_stop_requested,
 * which loops poll; a second one exits at once with status 130.
 */
extern volatile sig_atomic_t sl_stop_requested;
void sl_signals_install(void);

#endif
