/* test_support.c: the assertion hook for test binaries: report and abort, so cmocka sees it. */
#include <stdio.h>
#include <stdlib.h>

#include "core/status.h"

_Noreturn void dyn_assert_fail(const char *file, int line, const char *expression)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expression);
    abort();
}
