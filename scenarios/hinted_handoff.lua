-- hinted_handoff.lua: one replica down for ten minutes under writes, then every hint handed back.
--
--   dynsim run scenarios/hinted_handoff.lua --seed 1
--   dynsim run scenarios/hinted_handoff.lua --seed 1 -D hints_max=50   (the bound at work)
--
-- Node 4 crashes and stays down for P.outage_s simulated seconds while clients keep reading and
-- writing. Coordinators notice it through missed deadlines, stop asking it, and write its share
-- to the next nodes of each key's walk, which keep those versions as hints naming node 4 (a
-- sloppy quorum, paper 4.6). When node 4 restarts, the probes of the nodes that suspected it are
-- answered, and each hint holder hands its hints over in throttled rounds, deleting each only
-- once node 4 has made it durable and acknowledged it. Checked: writes stay available through
-- the outage, every hint is delivered, no hint store ever holds more than hints_max keys, nothing
-- acknowledged is lost, and the replicas end identical. Writes a hint store refused (past its
-- bound) or that were in flight when node 4 crashed are not in any hint: a final read sweep
-- (quiesce) repairs those, and the number of keys it had to repair is reported.

scenario { name = "hinted_handoff", description = "a replica down 10 minutes; hints handed back" }

local P = params {
  outage_s  = { 600, "how long node 4 stays down (simulated seconds)" },
  rate      = { 100, "client operations per simulated second" },
  keys      = { 3000, "distinct keys" },
  hints_max = { 100000, "keys each node may hold hints for" },
  batch     = { 64, "hint sets a node hands off per 200 ms tick" },
}

local down = 4
local c = cluster.new { nodes = 8, n = 3, r = 2, w = 2, timeout = 200, sync_writes = "all",
                        hints_max = P.hints_max, handoff_batch = P.batch,
                        latency = { dist = "lognormal", median = 0.5, sigma = 0.5 } }
local lead_s, tail_s = 30, 30
local load = c:workload { ops = P.rate * (lead_s + P.outage_s + tail_s), rate = P.rate,
                          clients = 8, keys = P.keys, read_fraction = 0.3, timeout = 400,
                          retries = 2 }
local restarted_at, drained_at
spawn(function()
  sleep(lead_s * 1000)
  c:crash(down)
  sleep(P.outage_s * 1000)
  c:restart(down)
  restarted_at = now()
  -- Every hint reaches node 4, within a bound.
  while c:hints() > 0 and now() < restarted_at + 120000 do sleep(10) end
  drained_at = now()
end)
load:wait()
while not drained_at do sleep(100) end
local stored, delivered, peak, refused, received = 0, 0, 0, 0, 0
for id = 1, c:nodes() do
  local s = c:node_stats(id)
  stored = stored + s.hinted_writes
  delivered = delivered + s.hints_delivered
  refused = refused + s.hints_refused
  received = received + s.handoffs_received
  if s.hints_peak > peak then peak = s.hints_peak end
end
check(c:hints() == 0, c:hints() .. " hints still held " .. (drained_at - restarted_at) ..
      " ms after node 4 restarted")
check(peak <= P.hints_max, "a hint store held " .. peak .. " keys, over its bound of " ..
      P.hints_max)
check(delivered > 0, "hints were delivered")
print(string.format("hints: %d versions stored as hints, %d hint sets delivered, peak %d keys on "
                    .. "one node (bound %d), %d refused; all handed off %.1f s after the restart",
                    stored, delivered, peak, P.hints_max, refused,
                    (drained_at - restarted_at) / 1000))

-- Writes stayed available while node 4 was down.
local av = availability(10)
check(av.fraction > 0.995, string.format("only %.2f%% of operations succeeded", av.fraction * 100))
local p = load:progress()
check(p.completed + p.rejected == p.issued, "every request ended")

-- Nothing acknowledged is lost, and the replicas end identical.
local lw = lost_writes()
check(lw.lost == 0, lw.lost .. " acknowledged writes lost")
local before = convergence().divergent
local q = c:quiesce { max_ms = 60000 }
check(q.converged, q.divergent .. " keys still divergent after quiesce")
report("hint_versions_stored", stored)
report("hint_sets_delivered", delivered)
report("hints_peak", peak)
report("hints_refused", refused)
report("handoff_s", (drained_at - restarted_at) / 1000)
report("divergent_before_sweep", before)
report("sweep_reads", q.reads)
