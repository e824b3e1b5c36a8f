-- read_repair.lua: a replica that missed writes is brought up to date by reads.
--
--   dynsim run scenarios/read_repair.lua --seed 1
--
-- One replica of each key is cut off while the keys are written (W=2 succeeds without it). After
-- healing, the replicas disagree; one read of each key (it asks all three replicas) pushes the
-- reconciled versions to the stale one, and the replicas converge without any write.

scenario { name = "read_repair", description = "stale replicas repaired by reads" }

local P = params { keys = { 40, "keys written while one of their replicas is cut off" } }

local c = cluster.new { nodes = 5, n = 3, r = 2, w = 2, timeout = 100,
                        latency = { dist = "exponential", mean = 0.5, offset = 0.1 } }
local victim = c:preference_list("anchor")[3]
local writer = c:client { timeout = 1000, retries = 2 }
net.isolate(victim)
local written = {}
for i = 1, P.keys * 4 do
  local key = "key" .. i
  local owners = c:preference_list(key)
  local mine = false
  for _, id in ipairs(owners) do mine = mine or id == victim end
  -- Keys the victim replicates, written through a coordinator that is not the victim.
  if mine and owners[1] ~= victim and #written < P.keys then
    if c:client { via = owners[1] }:put(key, "value " .. i) then written[#written + 1] = key end
  end
end
check(#written == P.keys, "every write was acknowledged with a replica cut off")
sleep(200) -- past the coordinators' deadlines for the unreachable replica
net.heal()

local before = convergence()
check(before.divergent >= #written, "the cut-off replica missed every write")

local reader = c:client { timeout = 1000 }
for _, key in ipairs(written) do
  local values = reader:get(key)
  check(values and #values == 1, "read " .. key)
end
sleep(100) -- the slowest replica's answer, then the repair itself
local repairs = 0
for id = 1, c:nodes() do repairs = repairs + (c:node_stats(id).read_repairs or 0) end
report("read_repairs", repairs)
local after = convergence()
check(after.divergent == 0, after.divergent .. " keys still divergent after reading them all")
check(lost_writes().lost == 0, "nothing acknowledged was lost")
