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
  join  = { 1, "1: node 9 joins; 0: no change (the foreground latency baseline)" },
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

local plan = P.join == 1 and c:commit { join = { 9 } } or { moved = 0, version = 0 }
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

if P.crash ~= "none" and P.join == 1 then
  -- At a random point of the move: once a sender is under way, within the next 200 ms.
  -- A sender mid-move: it has handed some keys on and still has some to go.
  local function busy()
    local ids = {}
    for id = 1, 8 do
      local s = c:node_stats(id)
      if s.transfer_dropped > 0 and not s.transfer_idle then ids[#ids + 1] = id end
    end
    return ids
  end
  local first
  repeat sleep(10); first = busy() until #first > 0 or now() - t0 > 60000
  check(#first > 0, "no sender ever started moving data")
  sleep(random(0, 200))
  local victim = 9
  if P.crash == "sender" then
    local still = busy()
    victim = #still > 0 and still[random(1, #still)] or first[1]
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
local st = stats()
report("foreground_get_p99_ms", st.get.p99)
report("foreground_put_p99_ms", st.put.p99)
