-- A read quorum larger than the key's replicas is a scenario error that names the number.
local c = cluster.new { nodes = 5, n = 3 }
c:client{}:get("k", { r = 4 })
