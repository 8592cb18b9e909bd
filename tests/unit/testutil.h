/* SPDX-License-Identifier: MIT */
/* Shared includes for the cmocka unit tests. */
#ifndef TAPWARDEN_TESTUTIL_H
#define TAPWARDEN_TESTUTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#endif
