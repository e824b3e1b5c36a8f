-- churn.lua: joins, leaves and replacements under load, among partitions and crashes.
--
--   dynsim fuzz scenarios/churn.lua --seeds 1..1000
--   dynsim fuzz scenarios/churn.lua --seeds 1..1000 --profile liveness
--
-- Every seed draws a 16..24-node cluster (N=3 R=2 W=2, 128 partitions) with 6 spare nodes, and a
-- schedule that interleaves membership changes with faults while clients read, write and delete:
--   - a spare joins; a member leaves (it hands its data on, then marks itself removed);
--   - a member is replaced by a spare, the old one handing its data to the new;
--   - once per run, a member loses its disk and is replaced by force (removed at once: its data
--     comes back from the other replicas by anti-entropy);
--   - partitions, isolations, one-way blocks, loss, duplication, clogs, crashes and restarts,
--     pauses.
-- Each change is staged and committed at a random up node, so gossip carries it from wherever
-- that node is, partitions included. Safety (the default): faults run to the end, then no
-- acknowledged write may be missing from every node, and every request must have ended.
-- Liveness: faults stop, everything heals and restarts, and then every node must follow the last
-- ring, no key may sit outside its N owners, and every key's owners must agree.
--
-- Tombstones are kept by default; -D grace=600 collects them (see the README on what still fails).

scenario { name = "churn", description = "membership changes under load, partitions and crashes" }

local P = params {
  nodes    = { 0, "initial members; 0 draws 16..24 from the seed" },
  spares   = { 6, "nodes outside the ring at the start, to join" },
  ops      = { 4000, "client operations" },
  keys     = { 300, "distinct keys" },
  fault_ms = { 6000, "length of the fault phase (simulated ms)" },
  changes  = { 4, "membership changes committed during the fault phase" },
  deletes  = { 0.1, "fraction of writes that are deletes" },
  grace    = { 0, "tombstone grace (ms); 0 keeps tombstones (no collection)" },
}

local profile = FUZZ and FUZZ.profile or "safety"
local nodes = P.nodes > 0 and P.nodes or random(16, 24)
local total = nodes + P.spares
local c = cluster.new {
  nodes = nodes, spares = P.spares, n = 3, r = 2, w = 2, partitions = 128, timeout = 150,
  sync_writes = "all", tombstone_grace = P.grace > 0 and P.grace or false,
  gossip_interval = 300, transfer_batch = 32,
  latency = { dist = "mixture", components = {
    { weight = 0.95, dist = "lognormal", median = 0.4, sigma = 0.5 },
    { weight = 0.05, dist = "pareto", scale = 2, alpha = 1.5, max = 200 } } },
  disk = { flush_interval = 200, fsync = { dist = "lognormal", median = 1, sigma = 0.5 } },
}

-- Who is what, as the scenario committed it.
local member, spare = {}, {}
for id = 1, nodes do member[id] = true end
for id = nodes + 1, total do spare[id] = true end
local down, paused, wiped = {}, {}, false

local function pick_from(set)
  local ids = {}
  for id = 1, total do if set[id] then ids[#ids + 1] = id end end
  return #ids > 0 and ids[random(1, #ids)] or nil
end
local function up(id) return not down[id] and not paused[id] end
local function pick_any() return random(1, total) end
local function count(set) local k = 0; for _ in pairs(set) do k = k + 1 end; return k end

-- A node to commit at: any up node that has the last committed ring (a spare knows the ring
-- too; it gossips with the members). One change at a time, as Riak's claimant: committing at a
-- node that has not caught up would make a rival table, and the commit refuses that.
local ring_version, last_via = 0, nil
local function committer()
  local ids = {}
  for id = 1, total do
    if up(id) and c:ring_version(id) == ring_version then ids[#ids + 1] = id end
  end
  return ids[random(1, math.max(#ids, 1))]
end
local function commit(change)
  local via = committer()
  if not via then return false end
  ring_version = c:commit(change, via).version
  last_via = via
  return true
end

local changes = {
  function() -- a spare joins
    local id = pick_from(spare)
    if not id then return end
    if commit { join = { id } } then spare[id], member[id] = nil, true end
  end,
  function() -- a member leaves, keeping at least 12
    if count(member) <= 12 then return end
    local id = pick_from(member)
    if commit { leave = { id } } then member[id] = nil end
  end,
  function() -- a member is replaced by a spare; the old one hands its data on
    local old, new = pick_from(member), pick_from(spare)
    if not old or not new then return end
    if commit { replace = { [old] = new } } then
      member[old], spare[new], member[new] = nil, nil, true
    end
  end,
  function() -- once: a member loses its disk and is replaced by force
    local new = pick_from(spare)
    if wiped or not new then return end
    local old = pick_from(member)
    -- Not the node that committed last: its disk may be the only place that change is yet.
    if old == last_via then return end
    if paused[old] then c:resume(old); paused[old] = nil end
    if not down[old] then c:crash(old) end
    c:wipe(old); down[old] = true; wiped = true
    if commit { replace = { [old] = new }, remove = { old } } then
      member[old], spare[new], member[new] = nil, nil, true
    end
  end,
}

local faults = {
  function() -- a random split into two groups
    local a, b = {}, {}
    for id = 1, total do if random() < 0.5 then a[#a + 1] = id else b[#b + 1] = id end end
    if #a > 0 and #b > 0 then net.partition(a, b) end
  end,
  function() net.isolate(pick_any()) end,
  function() local x, y = pick_any(), pick_any(); if x ~= y then net.block(x, y) end end,
  function() net.heal() end,
  function() net.heal() end,
  function() net.loss(random() * 0.1) end,
  function() net.duplicate(random() * 0.1) end,
  function() net.clog(pick_any(), 0, random(10, 300)) end,
  function()
    local id = pick_any()
    if not down[id] then c:crash(id); down[id] = true; paused[id] = nil end
  end,
  function()
    for id = 1, total do if down[id] then c:restart(id); down[id] = nil; break end end
  end,
  function()
    for id = 1, total do if down[id] then c:restart(id); down[id] = nil; break end end
  end,
  function()
    local id = pick_any()
    if not down[id] and not paused[id] then c:pause(id); paused[id] = true end
  end,
  function()
    for id = 1, total do if paused[id] then c:resume(id); paused[id] = nil; break end end
  end,
}

local function recover_all()
  net.heal(); net.loss(0); net.duplicate(0)
  for id = 1, total do
    if paused[id] then c:resume(id); paused[id] = nil end
    if down[id] then c:restart(id); down[id] = nil end
  end
end

local load = c:workload { ops = P.ops, rate = P.ops * 1000 / P.fault_ms, clients = 8,
                          keys = P.keys, key_dist = "zipf", zipf_s = 0.8, timeout = 400,
                          retries = 2, delete_fraction = P.deletes }
local committed = 0
spawn(function()
  local t0 = now()
  local change_every = P.fault_ms / (P.changes + 1)
  local next_change = t0 + change_every
  while now() - t0 < P.fault_ms do
    sleep(random(20, 250))
    if now() >= next_change and committed < P.changes then
      changes[random(1, #changes)]()
      committed = committed + 1
      next_change = next_change + change_every
    else
      faults[random(1, #faults)]()
    end
  end
  if profile == "liveness" then recover_all() end
end)
load:wait()
sleep(P.fault_ms) -- past the fault phase whatever the load did

if profile == "liveness" then
  local q = c:quiesce { max_ms = 60000 }
  check(q.converged, q.divergent .. " keys divergent, " .. q.moving
        .. " nodes or keys still moving after quiesce")
  report("quiesce_ms", q.ms)
end
local p = load:progress()
check(p.completed + p.rejected == p.issued, "every request ended")
local lw = lost_writes()
check(lw.lost == 0, lw.lost .. " acknowledged writes lost")
check(lw.resurrected == 0, lw.resurrected .. " deleted values back after their tombstones went")
local ho = honest_outcomes()
check(ho.dishonest == 0, ho.dishonest .. " puts reported failed took effect")
local t = c:transfers()
report("nodes", nodes)
report("members_at_end", count(member))
report("changes", committed)
report("acknowledged_writes", lw.checked)
report("keys_misplaced_at_end", t.keys_misplaced)
