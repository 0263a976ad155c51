/*
 * Included by every cmocka driver: the cmocka headers in the order they need,
 * and the directory fixtures are read from (tests are run from the top).
 */
#ifndef CF_UNIT_H
#define CF_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define FIXTURES "tests/fixtures"

#endif
