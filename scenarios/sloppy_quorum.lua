-- sloppy_quorum.lua: write availability through a partition, with and without hinted handoff.
--
--   dynsim run scenarios/sloppy_quorum.lua --seed 1
--
-- Two nodes are cut off from the rest, and clients that can reach only those two keep writing
-- at N=3 W=2. Without hinted handoff (a strict quorum) a write succeeds only for the keys both
-- cut-off nodes replicate. With it, a coordinator that suspects its unreachable replicas writes
-- to the next reachable nodes of the key's walk instead, which keep hints for them (paper 4.6):
-- every key with one replica on the small side stays writable. The same partition runs twice,
-- with handoff on and then off; both availability figures are reported, and the first must be
-- the higher. After each phase the partition heals and every hint is handed off.

scenario { name = "sloppy_quorum", description = "write availability in a partition, handoff on vs off" }

local P = params {
  writes = { 800, "writes per phase" },
  keys   = { 400, "distinct keys" },
}

local c = cluster.new { nodes = 6, n = 3, r = 2, w = 2, timeout = 100, sync_writes = "all",
                        latency = { dist = "exponential", mean = 1, offset = 0.2 } }
local small, large = { 1, 2 }, { 3, 4, 5, 6 }

-- Write P.writes random keys through the small side; return the fraction acknowledged.
local function phase(label)
  net.partition(small, large)
  local ok, total, done, writers = 0, 0, 0, 4
  for w = 1, writers do
    spawn(function()
      local cl = c:client { via = small[(w % 2) + 1], timeout = 300, retries = 0 }
      for i = 1, P.writes // writers do
        local good = cl:put("k" .. random(1, P.keys), label .. "-" .. w .. "-" .. i)
        total = total + 1
        if good then ok = ok + 1 end
      end
      done = done + 1
    end)
  end
  while done < writers do sleep(50) end
  local q = c:quiesce { max_ms = 30000 }
  check(q.converged, label .. ": " .. q.divergent .. " keys divergent and " .. q.hints ..
        " hints left after the partition healed")
  return ok / total
end

local with = phase("handoff")
c:configure { hinted_handoff = false }
local without = phase("strict")
print(string.format("write availability through the partition: %.1f%% with hinted handoff, "
                    .. "%.1f%% without", with * 100, without * 100))
report("write_availability_handoff", with)
report("write_availability_strict", without)
check(with > without + 0.1, "hinted handoff keeps more writes available (" .. with .. " vs "
      .. without .. ")")
local lw = lost_writes()
check(lw.lost == 0, lw.lost .. " acknowledged writes lost")
