/* SPDX-License-Identifier: MIT */
/*
 * log: one-line logs, "subsystem: event key=value ...", to stderr (both
 * processes).  log_ratelimit() lets data-path code log at most a burst per
 * interval and count the rest.
 */
#ifndef TAPWARDEN_LOG_H
#define TAPWARDEN_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Messages above this level are dropped (default INFO). */
void log_set_level(enum log_level l);
void log_msg(enum log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

struct log_ratelimit {
	uint64_t window_start_s;
	uint32_t in_window;
	uint32_t burst;            /* lines allowed per interval */
	uint32_t interval_s;
	uint64_t suppressed;       /* lines not logged since the last logged one */
};

/* true: log now.  now_s is any monotonic seconds clock. */
bool log_ratelimit(struct log_ratelimit *rl, uint64_t now_s);

#endif
