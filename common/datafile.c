/* SPDX-License-Identifier: MIT */
/*
 * datafile: see datafile.h (agent and twctl).
 */
#include "datafile.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* ../share/tapwarden/policies serves an install under a DESTDIR or another
 * prefix, ../policies an uninstalled build in the source tree. */
const char *datafile_path(const char *file, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/policies/%s", TW_DATADIR, file);
	if (access(buf, R_OK) == 0)
		return buf;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(buf, cap, "%s/../share/tapwarden/policies/%s", exe, file);
			if (access(buf, R_OK) == 0)
				return buf;
			snprintf(buf, cap, "%s/../policies/%s", exe, file);
			if (access(buf, R_OK) == 0)
				return buf;
		}
	}
	return NULL;
}

/*
 * Load one host per line ('#' comments, blanks ignored) into a NULL-
 * terminated owned array.  Errors name file:line.  0 or -errno.
 */
int datafile_hosts(const char *path, char ***out, size_t *n_out)
{
	FILE *f = fopen(path, "r");
	char line[512];
	unsigned lineno = 0;
	size_t n = 0;
	int errors = 0;
	char **list;

	if (!f) {
		log_err("config: cannot open shortener list file=%s error=\"%s\"", path, strerror(errno));
		return -errno;
	}
	list = calloc(DATAFILE_MAX_HOSTS + 1, sizeof(*list));
	if (!list) {
		fclose(f);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *p = line, *e;
		while (*p == ' ' || *p == '\t')
			p++;
		e = p + strcspn(p, "#\r\n");
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		*e = '\0';
		if (!*p)
			continue;
		bool ok = strlen(p) < 254;
		for (char *q = p; ok && *q; q++) {
			*q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
			ok = (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-' || *q == '.';
		}
		if (!ok) {
			log_err("config: %s:%u: not a host name", path, lineno);
			errors++;
			continue;
		}
		if (n >= DATAFILE_MAX_HOSTS) {
			log_err("config: %s:%u: more than %d entries", path, lineno, DATAFILE_MAX_HOSTS);
			errors++;
			break;
		}
		list[n] = strdup(p);
		if (!list[n]) {
			errors++;
			break;
		}
		n++;
	}
	fclose(f);
	if (errors) {
		for (size_t i = 0; i < n; i++)
			free(list[i]);
		free(list);
		return -EINVAL;
	}
	*out = list;
	*n_out = n;
	return 0;
}

