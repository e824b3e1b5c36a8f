-- A blocking call from a coroutine the script made itself: the scheduler did not start that
-- thread, so it must refuse (exit 2) rather than end the run early and pass unchecked.
local f = coroutine.wrap(function() sleep(10) end)
f()
sleep(100)
check(false, "never reached: the run must stop at the refused sleep")
