/*
 * main.c — `sluice`, one binary with subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "processor/cli.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "worker", worker_main, "run the campaign's topologies" },
	{ "api", api_main, "serve the screening HTTP API" },
	{ "migrate", migrate_main, "create PostgreSQL and ClickHouse schema" },
	{ "pincodes", pincodes_main, "load the pin code directory into Kafka" },
	{ "replay", replay_main, "re-run a topology's sinks over a range" },
	{ "reset", reset_main, "reset an application's offsets and state" },
	{ "state", state_main, "query a store through a worker" },
	{ "dev-broker", devbroker_main, "a zero-setup in-process Kafka" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: sluice <command> [options]\n\n"
		   "Sluice is a stream processor over Kafka topics.\n\n"
		   "commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n'sluice <command> --help' describes each one.\n"
		   "Configuration: --config FILE (key = value lines) and "
		   "SLUICE_* environment variables.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "sluice: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
