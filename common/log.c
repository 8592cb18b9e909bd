/* SPDX-License-Identifier: MIT */
/* log: one-line stderr logging with a level and a rate limiter (both processes). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static enum log_level log_level_max = LOG_LVL_INFO;

void log_set_level(enum log_level l)
{
	log_level_max = l;
}

void log_msg(enum log_level l, const char *fmt, ...)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (l > log_level_max)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02dZ %s %s\n", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, names[l], line);
}

bool log_ratelimit(struct log_ratelimit *rl, uint64_t now_s)
{
	if (now_s >= rl->window_start_s + rl->interval_s) {
		rl->window_start_s = now_s;
		rl->in_window = 0;
	}
	if (rl->in_window < rl->burst) {
		rl->in_window++;
		return true;
	}
	rl->suppressed++;
	return false;
}
