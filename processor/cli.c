/* cli.c — config loading and signal handling shared by subcommands. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "processor/cli.h"
#include "processor/log.h"

volatile sig_atomic_t sl_stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	if (sl_stop_requested)
		_exit(130);
	sl_stop_requested = 1;
}

void sl_signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

sl_config *sl_cli_config(const char *file)
{
	sl_errbuf eb = { { 0 } };
	sl_config *cfg = sl_config_new();
	const char *lvl;

	if (cfg == NULL) {
		SL_ERROR("config", "out of memory");
		return NULL;
	}
	if ((file != NULL && sl_config_load_file(cfg, file, &eb) != SL_OK) ||
	    sl_config_load_env(cfg, &eb) != SL_OK) {
		SL_ERROR("config", "cannot load configuration: %s", eb.msg);
		sl_config_free(cfg);
		return NULL;
	}
	lvl = sl_config_get(cfg, "log.level");
	if (lvl != NULL && sl_log_set_level(lvl) != 0)
		SL_WARN("config", "unknown log.level, keeping info value=%s",
			lvl);
	return cfg;
}

int sl_cli_no_operands(const char *cmd, int argc, char **argv)
{
	if (optind >= argc)
		return 0;
	fprintf(stderr,
		"sluice %s: unexpected argument '%s' (see sluice %s --help)\n",
		cmd, argv[optind], cmd);
	return 2;
}
