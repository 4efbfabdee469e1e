/* migrate.c — placeholder until implemented. */
#include <stdio.h>

#include "processor/cli.h"

/* TODO: migrate_main is not implemented yet; it exits 2. */
int migrate_main(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "sluice %s: not implemented yet\n", argv[0]);
	return 2;
}
