-- mixed_faults.lua: random faults under load, for swarm testing.
--
--   dynsim fuzz scenarios/mixed_faults.lua --seeds 1..1000
--   dynsim fuzz scenarios/mixed_faults.lua --seeds 1..1000 --profile liveness
--
-- Every seed draws its own cluster size (5 to 9 nodes), whether the SWIM-style detector runs,
-- and its own schedule of partitions, isolations, one-way blocks, loss, duplication, clogs,
-- crashes and restarts, pauses, clock skew and at most one disk wipe (so no key loses more than N-W = 1 of its replicas), under a load of
-- reads and writes at N=3 R=2 W=2 with every replica syncing before it acknowledges. Safety
-- profile (the default): faults run to the end, then nothing acknowledged may have been lost.
-- Liveness profile: faults stop, everything heals and restarts, a read of every key repairs the
-- replicas it finds stale, and then every key's replicas must hold the same versions.
--
--   dynsim fuzz scenarios/mixed_faults.lua --seeds 1..1000 -D sync=one
--
-- is the paper's buffered mode, where only the coordinator's copy is durable when the client is
-- told: crashes then lose acknowledged writes, and the seeds that lost any fail.

scenario { name = "mixed_faults", description = "random faults under load (swarm testing)" }

local P = params {
  nodes     = { 0, "cluster size; 0 draws 5..9 from the seed" },
  ops       = { 3000, "client operations" },
  keys      = { 200, "distinct keys" },
  fault_ms  = { 3000, "length of the fault phase (simulated ms)" },
  sync      = { "all", "replicas that sync before acknowledging: all, or one (the paper's "
                .. "buffered mode: the coordinator only), or none" },
  deletes   = { 0.1, "fraction of writes that are deletes" },
  grace     = { 600, "tombstone grace (ms): longer than any datagram is held up (clogs: 300)" },
}

local profile = FUZZ and FUZZ.profile or "safety"
local nodes = P.nodes > 0 and P.nodes or random(5, 9)
-- Half the seeds also run the SWIM-style detector (swarm testing: features on and off).
local fd_interval = random() < 0.5 and 300 or 0
local c = cluster.new {
  nodes = nodes, n = 3, r = 2, w = 2, timeout = 150, sync_writes = P.sync,
  tombstone_grace = P.grace, fd_interval = fd_interval, fd_timeout = 100,
  latency = { dist = "mixture", components = {
    { weight = 0.95, dist = "lognormal", median = 0.4, sigma = 0.5 },
    { weight = 0.05, dist = "pareto", scale = 2, alpha = 1.5, max = 200 } } },
  disk = { flush_interval = 200, fsync = { dist = "lognormal", median = 1, sigma = 0.5 } },
}

local down, paused, wiped = {}, {}, false
local function pick() return random(1, nodes) end

local faults = {
  function() -- a random split into two groups
    local a, b = {}, {}
    for id = 1, nodes do if random() < 0.5 then a[#a + 1] = id else b[#b + 1] = id end end
    if #a > 0 and #b > 0 then net.partition(a, b) end
  end,
  function() net.isolate(pick()) end,
  function() local x, y = pick(), pick(); if x ~= y then net.block(x, y) end end,
  function() net.heal() end,
  function() net.loss(random() * 0.2) end,
  function() net.duplicate(random() * 0.1) end,
  function() net.clog(pick(), 0, random(10, 300)) end,
  function() -- crash, and come back later (a paused node can crash too; it is no longer paused)
    local id = pick()
    if not down[id] then c:crash(id); down[id] = true; paused[id] = nil end
  end,
  function()
    for id = 1, nodes do if down[id] then c:restart(id); down[id] = nil; break end end
  end,
  function()
    local id = pick()
    if not down[id] and not paused[id] then c:pause(id); paused[id] = true end
  end,
  function()
    for id = 1, nodes do if paused[id] then c:resume(id); paused[id] = nil; break end end
  end,
  function() c:clock(pick(), { skew = (random() - 0.5) * 7200000, drift = random(-200, 200) }) end,
  function() -- the one permanent disk loss of the run
    if wiped then return end
    local id = pick()
    if paused[id] then c:resume(id); paused[id] = nil end
    if not down[id] then c:crash(id) end
    c:wipe(id); c:restart(id); down[id] = nil; wiped = true
  end,
}

local function recover_all()
  net.heal(); net.loss(0); net.duplicate(0)
  for id = 1, nodes do
    if paused[id] then c:resume(id); paused[id] = nil end
    if down[id] then c:restart(id); down[id] = nil end
  end
end

local load = c:workload { ops = P.ops, rate = P.ops * 1000 / P.fault_ms, clients = 8,
                          keys = P.keys, key_dist = "zipf", zipf_s = 0.8, timeout = 400,
                          retries = 2, delete_fraction = P.deletes }
spawn(function()
  local t0 = now()
  while now() - t0 < P.fault_ms do
    sleep(random(20, 250))
    faults[random(1, #faults)]()
  end
  if profile == "liveness" then recover_all() end
end)
load:wait()
sleep(P.fault_ms) -- past the fault phase whatever the load did

if profile == "liveness" then
  -- Quiesce: end every fault, then read each divergent key from all its replicas (read repair
  -- sends each the merged set) until none diverges.
  local q = c:quiesce { max_ms = 30000 }
  check(q.converged, q.divergent .. " keys still divergent after quiesce")
  report("quiesce_rounds", q.rounds)
  report("quiesce_reads", q.reads)
  report("quiesce_ms", q.ms)
end
local p = load:progress()
check(p.completed + p.rejected == p.issued, "every request ended")
local lw = lost_writes()
check(lw.lost == 0, lw.lost .. " acknowledged writes lost")
check(lw.resurrected == 0, lw.resurrected .. " deleted values back after their tombstones went")
local ho = honest_outcomes()
check(ho.dishonest == 0, ho.dishonest .. " puts reported failed took effect")
report("timed_out_puts", ho.indeterminate)
report("timed_out_puts_applied", ho.indeterminate_applied)
report("nodes", nodes)
report("fd_interval_ms", fd_interval)
report("acknowledged_writes", lw.checked)
report("writes_covered_by_collected_tombstones", lw.reaped)
