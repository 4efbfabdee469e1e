/*
 * fuzz_config.c — libFuzzer harness for the key = value config file
 * parser (processor/config.c) and the typed getters run on whatever it
 * loaded (integers, numbers, durations, times of day, instants, the
 * redacted dump).  The input is written to a memory file opened by its
 * /proc path, since sl_config_load_file reads a path.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "processor/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];
static int fd = -1;
static FILE *devnull;

static int each(const char *key, const char *value, void *ud)
{
	const sl_config *cfg = ud;
	sl_errbuf eb = { { 0 } };
	int64_t i;
	double d;
	int m;

	(void)value;
	(void)sl_config_int(cfg, key, &i, &eb);
	(void)sl_config_double(cfg, key, &d, &eb);
	(void)sl_config_duration_ms(cfg, key, &i, &eb);
	(void)sl_config_time_of_day(cfg, key, &m, &eb);
	(void)sl_config_instant_ms(cfg, key, &i, &eb);
	(void)sl_config_is_secret(key);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sl_errbuf eb = { { 0 } };
	sl_config *cfg;

	if (fd < 0) {
		fd = memfd_create("sluice-fuzz-config", 0);
		devnull = fopen("/dev/null", "w");
		if (fd < 0 || devnull == NULL)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	cfg = sl_config_new();
	if (cfg == NULL)
		return 0;
	if (sl_config_load_file(cfg, path, &eb) == SL_OK) {
		sl_config_each(cfg, "", each, cfg);
		sl_config_dump(cfg, devnull);
	}
	sl_config_free(cfg);
	return 0;
}
