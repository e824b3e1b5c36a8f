-- durability.lua: what a crash of every node loses, by how replicas make writes durable.
--
--   dynsim run scenarios/durability.lua --seed 1 -D sync=all    (every replica syncs: nothing lost)
--   dynsim run scenarios/durability.lua --seed 1 -D sync=one    (the paper: one durable replica)
--   dynsim run scenarios/durability.lua --seed 1 -D sync=none   (buffered: losses, counted)
--
-- Writes are acknowledged at W=2, then every node crashes before its disk's next background
-- flush: whatever was not synced is gone. Each key is then read from all three replicas.

scenario { name = "durability", description = "crash-all after acknowledged writes, by sync mode" }

local P = params {
  sync   = { "all", "none, one or all: which replicas sync before acknowledging" },
  writes = { 50, "acknowledged writes before the crash" },
  w      = { 2, "write quorum" },
}

local c = cluster.new { nodes = 5, n = 3, r = 2, w = P.w, sync_writes = P.sync,
                        latency = { dist = "exponential", mean = 0.5, offset = 0.1 },
                        disk = { flush_interval = 5000, flush_bytes = 1 << 30,
                                 fsync = { dist = "lognormal", median = 2, sigma = 0.5 } } }
local writer = c:client { timeout = 2000 }
local acknowledged = {}
for i = 1, P.writes do
  local key = "k" .. i
  if writer:put(key, "v" .. i) then acknowledged[#acknowledged + 1] = key end
end
check(#acknowledged == P.writes, "every write was acknowledged before the crash")

-- Power loss everywhere, then everyone comes back.
for id = 1, c:nodes() do c:crash(id) end
local unsynced = 0
for id = 1, c:nodes() do unsynced = unsynced + c:node_stats(id).disk_lost_writes end
for id = 1, c:nodes() do c:restart(id) end

local reader = c:client { timeout = 2000 }
local lost = 0
for _, key in ipairs(acknowledged) do
  local values = reader:get(key, { r = 3 })
  if not values or #values == 0 then lost = lost + 1 end
end
report("acknowledged_writes", #acknowledged)
report("lost_acknowledged_writes", lost)
report("unsynced_disk_writes_lost", unsynced)
-- The checker reads the replicas' stores directly and must agree with what reads saw.
local checked = lost_writes()
report("checker_lost", checked.lost)
check(checked.lost == lost, "the checker found " .. checked.lost .. " lost, reads found " .. lost)
if P.sync == "none" then
  -- The negative control: buffered writes and a crash must show losses.
  check(lost > 0, "buffered writes survived a crash of every node: the check has no teeth")
else
  check(lost == 0, lost .. " acknowledged writes lost with sync_writes=" .. P.sync)
end
