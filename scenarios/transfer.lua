-- transfer.lua: a node joins a loaded cluster, and a crash interrupts the data moving to it.
--
--   dynsim run scenarios/transfer.lua --seed 1
--   dynsim run scenarios/transfer.lua --seed 1 -D crash=receiver
--
-- 8 nodes hold 4,000 keys (N=3). Node 9 joins: the plan moves the partitions it claims, and each
-- old owner streams the keys it no longer owns to the keys' owners, in throttled rounds, deleting
-- each only once all N owners have acknowledged it durable. At a random point of the move the
-- a sender still moving data (or, with -D crash=receiver, the joining node) crashes, stays
-- down a while, and restarts: the move resumes from what the sender still holds, not from zero.
-- Writes go on throughout. Checks: no acknowledged write lost, every key ends on exactly its N
-- owners, and the replicas agree. Reports how much was sent, how much of it twice, and how long
-- the move took.

scenario { name = "transfer", description = "a join's key-range transfer, interrupted by a crash" }

local P = params {
  keys  = { 4000, "keys written before the join" },
  crash = { "sender", "which side crashes mid-transfer: sender, receiver or none" },
  down_ms = { 2000, "how long the crashed node stays down" },
}

local c = cluster.new { nodes = 8, spares = 1, n = 3, r = 2, w = 2, partitions = 64,
                        sync_writes = "all", transfer_batch = 32,
                        latency = { dist = "lognormal", median = 0.5, sigma = 0.5 } }

local fill = c:workload { ops = 3 * P.keys, rate = 4000, clients = 8, keys = P.keys,
                          key_dist = "uniform", read_fraction = 0, value_size = 100 }
fill:wait()

-- Foreground load through the join and the crash.
local load = c:workload { ops = 6000, rate = 600, clients = 8, keys = P.keys, key_dist = "zipf",
                          read_fraction = 0.5, value_size = 100, timeout = 1000, retries = 2 }

local plan = c:commit { join = { 9 } }
local t0 = now()

-- Sums over incarnations: a crash resets a node's counters, so they are banked before it.
local banked_sent, banked_dropped = 0, 0
local function totals()
  local sent, dropped = banked_sent, banked_dropped
  for id = 1, c:nodes() do
    local s = c:node_stats(id)
    sent = sent + (s.transfer_sent or 0)
    dropped = dropped + (s.transfer_dropped or 0)
  end
  return sent, dropped
end

if P.crash ~= "none" then
  -- Once gossip has brought the new ring to every node, at a random point of the move.
  while c:transfers().behind > 0 do sleep(50) end
  sleep(random(0, 1500))
  local victim = 9
  if P.crash == "sender" then
    local busy = {}
    for id = 1, 8 do if not c:node_stats(id).transfer_idle then busy[#busy + 1] = id end end
    check(#busy > 0, "no sender was still moving data when the crash came")
    victim = busy[random(1, math.max(#busy, 1))] or 1
  end
  local s = c:node_stats(victim)
  banked_sent = banked_sent + (s.transfer_sent or 0)
  banked_dropped = banked_dropped + (s.transfer_dropped or 0)
  log("crash node " .. victim .. " mid-transfer (" .. (s.transfer_dropped or 0) .. " keys handed on so far)")
  c:crash(victim)
  sleep(P.down_ms)
  c:restart(victim)
end

local done_ms
while now() - t0 < 120000 do
  local t = c:transfers()
  if t.moving == 0 and t.behind == 0 and t.keys_misplaced == 0 then
    done_ms = now() - t0
    break
  end
  sleep(100)
end
load:wait()
check(done_ms ~= nil, "the transfer did not finish in 120 s")
local q = c:quiesce { max_ms = 30000 }
check(q.converged, q.divergent .. " keys divergent, " .. q.moving .. " still moving after quiesce")

local sent, dropped = totals()
local lw = lost_writes()
check(lw.lost == 0, lw.lost .. " acknowledged writes lost")
local p = load:progress()
check(p.completed + p.rejected == p.issued, "every request ended")
report("partitions_moved", plan.moved)
report("ring_version", plan.version)
report("transfer_ms", done_ms or -1)
report("sets_sent", sent)
report("keys_handed_on", dropped)
report("sets_resent", sent - dropped)
report("node9_keys", c:node_stats(9).keys)
report("acknowledged_writes", lw.checked)
