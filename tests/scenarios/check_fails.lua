-- A scenario whose check fails: dynsim must exit 1 and print a replay line.
local P = params { nodes = { 4, "cluster size" } }
local c = cluster.new { nodes = P.nodes }
local values = c:client{}:get("never-written")
check(#values == 1, "expected a value for a key nobody wrote")
