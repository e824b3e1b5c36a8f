-- bench_membership.lua: a membership change in a large simulated cluster (speed and memory).
--
--   dynsim run scenarios/bench_membership.lua --seed 1
--
-- 1,024 nodes and 4,096 partitions (S3, N=3), with anti-entropy on as in every cluster, holding
-- 50,000 keys. A spare node joins: the plan (the claim of 4,096 partitions over 1,025 members) is
-- committed at one node, gossip spreads the new ring, and the old owners move the keys of the
-- partitions the joiner claimed. The run ends when every node follows the new ring and no key
-- sits outside its N owners. Prints "name: value" lines (gossip rounds, transfer time, keys moved,
-- wall time and peak memory), never fails on time.

scenario { name = "bench_membership", benchmark = true,
           description = "1,024 nodes, 4,096 partitions: a join, with its data moved" }

local P = params {
  nodes      = { 1024, "cluster size" },
  partitions = { 4096, "S3 partitions" },
  interval   = { 1000, "gossip period (ms)" },
  keys       = { 50000, "keys stored before the join" },
}

track_writes(false) -- the figures are the change's; the checks below look at the stores
local c = cluster.new { nodes = P.nodes, spares = 1, n = 3, r = 2, w = 2,
                        partitions = P.partitions, gossip_interval = P.interval }
check(c:gossip_converged(), "every node starts with the same view")
local fill = c:workload { ops = P.keys, rate = 20000, clients = 32, keys = P.keys,
                          key_dist = "uniform", read_fraction = 0, value_size = 100 }
fill:wait()

local joiner = P.nodes + 1
local t0 = now()
local plan = c:commit { join = { joiner } }
check(plan.moved > 0 and plan.moved <= P.partitions // P.nodes + 1,
      "a join moves no more than the joiner's share: " .. plan.moved)
local rounds
while true do
  local t = c:transfers()
  if not rounds and t.behind == 0 then rounds = (now() - t0) / P.interval end
  if (t.behind == 0 and t.moving == 0 and t.keys_misplaced == 0) or now() - t0 > 600000 then
    check(t.behind == 0 and t.moving == 0 and t.keys_misplaced == 0,
          "the change did not complete in 600 s")
    break
  end
  sleep(P.interval / 10)
end
local moved = 0
for id = 1, P.nodes do moved = moved + c:node_stats(id).transfer_dropped end
check(c:node_stats(joiner).keys > 0, "the joiner holds data")
report("gossip_rounds", rounds)
report("change_ms", now() - t0)
report("plan_moved_partitions", plan.moved)
report("plan_ranges_changed", plan.ranges_changed)
report("keys_moved", moved)
report("joiner_keys", c:node_stats(joiner).keys)
