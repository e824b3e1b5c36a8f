-- bench_membership.lua: a membership change in a large simulated cluster (speed and memory).
--
--   dynsim run scenarios/bench_membership.lua --seed 1
--
-- 1,024 nodes and 4,096 partitions (S3, N=3), with anti-entropy on as in every cluster. One node
-- changes a member's status and the run waits until gossip has brought the change to every node,
-- then plans a join of a new node (the claim of 4,096 partitions over 1,025 members). Prints the
-- figures as "name: value" lines, never fails on time. The change does not move data yet: key-range
-- transfer is still to come (issue 4), so this measures the cluster's size and its gossip.

scenario { name = "bench_membership", benchmark = true,
           description = "1,024 nodes, 4,096 partitions: a membership change" }

local P = params {
  nodes      = { 1024, "cluster size" },
  partitions = { 4096, "S3 partitions" },
  interval   = { 1000, "gossip period (ms)" },
}

local c = cluster.new { nodes = P.nodes, n = 3, r = 2, w = 2, partitions = P.partitions,
                        gossip_interval = P.interval }
check(c:gossip_converged(), "every node starts with the same view")
local t0 = now()
c:member_change(1, P.nodes, "leaving")
while not c:gossip_converged() do sleep(P.interval / 10) end
local rounds = (now() - t0) / P.interval
local plan = c:plan { join = { P.nodes + 1 } }
check(plan.moved > 0 and plan.moved <= P.partitions // P.nodes + 1,
      "a join moves no more than the joiner's share: " .. plan.moved)
report("gossip_rounds", rounds)
report("plan_moved_partitions", plan.moved)
report("plan_ranges_changed", plan.ranges_changed)
