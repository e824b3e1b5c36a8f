/*
 * sim_assert.c: the simulator's DYN_ASSERT hook. A broken invariant in a simulated run is a bug to
 * reproduce, so the hook prints the replay command registered by dynsim before aborting.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/status.h"
#include "sim/sim_assert.h"

static const char *replay_line;

void sim_assert_set_replay(const char *line) { replay_line = line; }

_Noreturn void dyn_assert_fail(const char *file, int line, const char *expression)
{
    fflush(stdout);
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expression);
    if (replay_line)
        fprintf(stderr, "replay: %s\n", replay_line);
    abort();
}
