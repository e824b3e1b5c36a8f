-- gossip.lua: how many gossip rounds a membership change takes to reach every node.
--
--   dynsim run scenarios/gossip.lua --seed 1 -D nodes=256
--   sh plots/gossip_convergence.sh          (8 to 1,024 nodes, and the plot)
--
-- Every node starts with the same view. One at a time, a random node changes a random member's
-- status (the change an admin's join or leave makes); the run then waits until every node's view
-- has the same digest, and counts the time in gossip periods. Push-pull gossip with one random
-- peer a period should spread a change in O(log n) rounds.

scenario { name = "gossip", description = "membership gossip: rounds to converge" }

local P = params {
  nodes    = { 64, "cluster size" },
  changes  = { 20, "membership changes, one after another" },
  interval = { 1000, "gossip period (ms)" },
}

local c = cluster.new { nodes = P.nodes, n = 3, r = 2, w = 2, gossip_interval = P.interval,
                        anti_entropy = false }
check(c:gossip_converged(), "every node starts with the same view")
local step = P.interval / 20
local total, worst = 0, 0
for i = 1, P.changes do
  local via, id = random(1, P.nodes), random(1, P.nodes)
  c:member_change(via, id, (i % 2 == 1) and "leaving" or "valid")
  check(not c:gossip_converged() or P.nodes == 1, "the change starts at one node")
  local t0 = now()
  while not c:gossip_converged() do sleep(step) end
  local rounds = (now() - t0) / P.interval
  total = total + rounds
  if rounds > worst then worst = rounds end
  sleep(random(0, P.interval)) -- the next change starts at another point of the nodes' periods
end
local mean = total / P.changes
local log2n = math.log(P.nodes, 2)
check(worst <= 3 * log2n + 3, string.format("every change converged within 3 log2(n) + 3 rounds "
      .. "(worst %.2f, log2(n) %.1f)", worst, log2n))
report("nodes", P.nodes)
report("mean_rounds", mean)
report("worst_rounds", worst)
report("log2_nodes", log2n)
local sent, bytes = 0, 0
for id = 1, P.nodes do
  local s = c:node_stats(id)
  sent, bytes = sent + s.gossip_sent, bytes + s.gossip_bytes
end
report("gossip_bytes_per_node_per_round", bytes / P.nodes / (now() / P.interval))
