/* sim_assert.h: tell the assertion hook which command replays the current run. */
#ifndef SIM_ASSERT_H
#define SIM_ASSERT_H

/* `line` must stay valid for the life of the process (or until replaced). */
void sim_assert_set_replay(const char *line);

#endif
