-- ring_disagreement.lua: data handed between nodes whose rings disagree is never dropped.
--
--   dynsim run scenarios/ring_disagreement.lua --seed 1
--
-- N=1, so each key has one copy, and gossip is slow (10 s), so the rings stay apart for long: node
-- 3 joins; once all follow that ring, 300 keys are written; then node 4 replaces node 1. Node 1
-- (on the new ring) moves its keys to node 4, which is still on the old ring, where node 1 is the
-- owner. Were node 4 to take them, it would move them straight back to node 1, and each could
-- delete its copy on the other's word: a receiver takes a set only for keys its own ring gives it,
-- so the sender keeps its copy until the rings agree. Regression scenario for a loss found in
-- review (9 to 77 of 300 writes lost per seed before the fix).

scenario { name = "ring_disagreement", description = "handoffs between nodes on different rings" }

local c = cluster.new {
  nodes = 2, spares = 2, n = 1, r = 1, w = 1, partitions = 16, sync_writes = "all",
  tombstone_grace = false, gossip_interval = 10000,
  latency = { dist = "mixture", components = {
    { weight = 0.8, dist = "lognormal", median = 0.4, sigma = 0.5 },
    { weight = 0.2, dist = "pareto", scale = 20, alpha = 1.2, max = 300 } } },
}
c:commit({ join = { 3 } }, 1)
while c:transfers().behind > 0 or c:transfers().moving > 0 do sleep(100) end
local cl = c:client { timeout = 1000, retries = 2 }
for i = 1, 300 do cl:put("k" .. i, "v" .. i) end
c:commit({ replace = { [1] = 4 } }, 1)
local q = c:quiesce { max_ms = 120000 }
check(q.converged, "not settled: " .. q.moving .. " moving, " .. q.divergent .. " divergent")
local lw = lost_writes()
check(lw.lost == 0, lw.lost .. " acknowledged writes lost")
local refused = 0
for id = 1, c:nodes() do refused = refused + c:node_stats(id).handoffs_refused end
report("handoffs_refused", refused)
report("node4_keys", c:node_stats(4).keys)
