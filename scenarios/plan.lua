-- plan.lua: what membership changes would move, before anything moves (Riak's `cluster plan`).
--
--   dynsim run scenarios/plan.lua --seed 1
--
-- For an 8-node S3 cluster (64 partitions, N=3): a join moves only the partitions the new node
-- takes, a leave only the leaver's, and the shares stay within one partition of each other
-- (core/claim.c). With zones, the plan warns of key ranges whose replicas would share a zone.
-- Nothing is applied here: scenarios/churn.lua commits changes under load.

scenario { name = "plan", description = "membership plans: partitions moved, zone warnings" }

local c = cluster.new { nodes = 8, spares = 2, n = 3, r = 2, w = 2, partitions = 64 }

local join = c:plan { join = { 9 } }
check(join.moved == 7, "a ninth node takes 7 of 64 partitions, and only those move: " .. join.moved)
check(join.zone_warnings == 0, "no zones configured, no zone warnings")

local leave = c:plan { leave = { 3 } }
check(leave.moved == 8, "a leaver's 8 partitions move, and only those: " .. leave.moved)

local both = c:plan { join = { 9, 10 }, leave = { 1 } }
check(both.moved == 14, "8 from the leaver and 6 more for two joiners: " .. both.moved)

-- Three zones of 3, 3 and 2 nodes: ranges whose three replicas share a zone are warned of.
local zones = { [1] = 1, [2] = 1, [3] = 1, [4] = 2, [5] = 2, [6] = 2, [7] = 3, [8] = 3, [9] = 3 }
local zoned = c:plan { join = { 9 }, zones = zones }
check(zoned.zone_warnings > 0, "a zone-blind ring leaves some ranges in fewer than 3 zones")
report("join_moved", join.moved)
report("join_ranges_changed", join.ranges_changed)
report("leave_moved", leave.moved)
report("zone_warnings", zoned.zone_warnings)
