/* admin_cmds.c — placeholder until implemented. */
#include <stdio.h>

#include "processor/cli.h"

/* TODO: replay_main is not implemented yet; it exits 2. */
int replay_main(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "sluice %s: not implemented yet\n", argv[0]);
	return 2;
}

/* TODO: reset_main is not implemented yet; it exits 2. */
int reset_main(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "sluice %s: not implemented yet\n", argv[0]);
	return 2;
}

/* TODO: state_main is not implemented yet; it exits 2. */
int state_main(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "sluice %s: not implemented yet\n", argv[0]);
	return 2;
}
