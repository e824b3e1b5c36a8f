-- A parameter long enough that the replay line cannot hold it: the run goes on, and says so.
local P = params { text = { "", "any string" } }
check(#P.text > 0, "the parameter arrived whole")
