/*
 * standin_common.h — what the local stand-ins for outside APIs
 * (tests/tools/meta_standin.c, wa_standin.c) share: stopping on a
 * signal, their log files of JSON lines, and serving on a loopback
 * port until told to stop.
 *
 * Header-only, because each .c in tests/tools is a program of its own;
 * the functions are static inline, so a program that leaves one unused
 * gets no warning.  Files opened here belong to the caller (fclose).
 */
#ifndef SL_STANDIN_COMMON_H
#define SL_STANDIN_COMMON_H

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "api/http.h"

/* Set by SIGINT and SIGTERM once standin_trap_signals has run. */
static volatile sig_atomic_t standin_stop __attribute__((unused));

static inline void standin_on_signal(int sig)
{
	(void)sig;
	standin_stop = 1;
}

/* SIGINT and SIGTERM set standin_stop; SIGPIPE is ignored. */
static inline void standin_trap_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = standin_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* `path` opened for appending, or NULL after saying why on stderr. */
static inline FILE *standin_open_append(const char *path)
{
	FILE *f = fopen(path, "a");

	if (f == NULL)
		perror(path);
	return f;
}

/* Append `o` to f as one line and flush it; a NULL f is a no-op. */
static inline void standin_append_json(FILE *f, const cJSON *o)
{
	char *line;

	if (f == NULL)
		return;
	line = cJSON_PrintUnformatted(o);
	if (line != NULL) {
		fprintf(f, "%s\n", line);
		fflush(f);
	}
	cJSON_free(line);
}

/* `port` and a newline in `path`, which readers never see partial. */
static inline int standin_write_port(const char *path, unsigned port)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

/*
 * 0 when `listen` is a 127.0.0.1 address; else -1, said on stderr as
 * `prog`: the stand-ins never listen beyond this host.
 */
static inline int standin_check_listen(const char *prog, const char *listen)
{
	if (strncmp(listen, "127.0.0.1:", 10) == 0)
		return 0;
	fprintf(stderr, "%s: listens on 127.0.0.1 only\n", prog);
	return -1;
}

/* A stand-in's own option: 0, or -1 when unknown or bad. */
typedef int (*standin_opt_fn)(void *ud, const char *name, const char *value);

/*
 * Read argv: --listen H:P and --port-file F into *listen and
 * *port_file, every other "--name value" through opt(ud, name, value),
 * and a name in `flags` (NULL-terminated, or NULL) as opt(ud, name,
 * NULL), taking no value.  0, or -1 at the first bad option.
 */
static inline int standin_parse(int argc, char **argv, const char *const *flags,
				standin_opt_fn opt, void *ud,
				const char **listen, const char **port_file)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int flag = 0;

		for (size_t k = 0; flags != NULL && flags[k] != NULL; k++)
			flag |= strcmp(a, flags[k]) == 0;
		if (flag) {
			if (opt(ud, a, NULL) != 0)
				return -1;
			continue;
		}
		if (v == NULL)
			return -1;
		i++;
		if (strcmp(a, "--listen") == 0)
			*listen = v;
		else if (strcmp(a, "--port-file") == 0)
			*port_file = v;
		else if (opt(ud, a, v) != 0)
			return -1;
	}
	return 0;
}

/*
 * With `srv` started: print "listening port=N" on stdout, write the
 * port to `port_file` (unless NULL), then wait until standin_stop is
 * set.  0, or -1 when the port file cannot be written.
 */
static inline int standin_serve(http_server *srv, const char *port_file)
{
	unsigned port = (unsigned)http_server_port(srv);

	printf("listening port=%u\n", port);
	fflush(stdout);
	if (port_file != NULL && standin_write_port(port_file, port) != 0) {
		perror(port_file);
		return -1;
	}
	while (!standin_stop)
		usleep(50 * 1000);
	return 0;
}

/* One route of a stand-in; its handler gets the ud of standin_run. */
typedef struct standin_route {
	const char *method, *pattern;
	http_handler_fn fn;
} standin_route;

/*
 * The life of a stand-in's server: check that o->listen is loopback,
 * trap the signals, serve the `n` routes (each handler called with
 * `ud`) and the port as standin_serve does, until SIGINT or SIGTERM;
 * then stop the server.  0, or 1 after saying why on stderr as `prog`.
 */
static inline int standin_run(const char *prog, const http_opts *o,
			      const standin_route *routes, size_t n, void *ud,
			      const char *port_file)
{
	sl_errbuf eb = { { 0 } };
	http_server *srv = NULL;
	int rc = 1;

	if (standin_check_listen(prog, o->listen) != 0)
		return 1;
	standin_trap_signals();
	srv = http_server_new(o, &eb);
	if (srv == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (http_route(srv, routes[i].method, routes[i].pattern,
			       routes[i].fn, ud) != SL_OK) {
			sl_errbuf_set(&eb, SL_EINVAL, "cannot route %s",
				      routes[i].pattern);
			goto fail;
		}
	if (http_server_start(srv, &eb) != SL_OK)
		goto fail;
	rc = standin_serve(srv, port_file) != 0;
	goto out;
fail:
	fprintf(stderr, "%s: %s\n", prog, eb.msg);
out:
	http_server_free(srv);
	return rc;
}

#endif
