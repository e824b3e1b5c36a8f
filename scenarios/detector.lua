-- detector.lua: the SWIM-style failure detector's detection time and false positives.
--
--   dynsim run scenarios/detector.lua --seed 1 -D loss=0.01
--
-- A 16-node cluster with no client traffic, so only the detector's probes can notice anything
-- (the paper's timeouts need requests). Detection: a random node crashes; every other node's time
-- until it suspects the node is one sample; the node restarts and the next trial starts. False
-- positives: with message loss and no crash, every suspicion the detector raises is false; the
-- rate is per probe. Both phases run under the same loss.

scenario { name = "detector", description = "SWIM-style detector: detection time, false positives" }

local P = params {
  nodes      = { 16, "cluster size" },
  loss       = { 0, "fraction of datagrams lost, in both phases" },
  interval   = { 1000, "probe period (ms)" },
  timeout    = { 200, "direct probe timeout before indirect probes (ms)" },
  indirect   = { 3, "members asked to probe indirectly" },
  trials     = { 20, "crashes measured" },
  fp_seconds = { 600, "simulated seconds of the false-positive phase" },
}

local c = cluster.new { nodes = P.nodes, n = 3, r = 2, w = 2, anti_entropy = false,
                        fd_interval = P.interval, fd_timeout = P.timeout,
                        fd_indirect = P.indirect }
net.loss(P.loss)

local function total(field)
  local sum = 0
  for id = 1, P.nodes do sum = sum + c:node_stats(id)[field] end
  return sum
end

-- Phase 1: detection time.
sleep(3 * P.interval)
local samples = {}
for _ = 1, P.trials do
  local victim = random(1, P.nodes)
  c:crash(victim)
  local t0, pending = now(), {}
  for id = 1, P.nodes do if id ~= victim then pending[id] = true end end
  local left = P.nodes - 1
  while left > 0 and now() - t0 < 4 * P.nodes * P.interval do
    sleep(50)
    for id in pairs(pending) do
      for _, s in ipairs(c:suspects(id)) do
        if s == victim then
          samples[#samples + 1] = now() - t0
          pending[id] = nil
          left = left - 1
          break
        end
      end
    end
  end
  check(left == 0, left .. " nodes never suspected the crashed node " .. victim)
  c:restart(victim)
  sleep(2 * P.interval + random(0, P.interval))
end
table.sort(samples)
local function pct(p) return samples[math.max(1, math.ceil(p * #samples))] end
report("detection_samples", #samples)
report("detection_p50_ms", pct(0.50))
report("detection_p99_ms", pct(0.99))
report("detection_max_ms", samples[#samples])
report("detection_p50_periods", pct(0.50) / P.interval)

-- Phase 2: false positives. Nobody crashes; every suspicion from here on is false.
sleep(3 * P.interval)
local probes0, false0 = total("fd_probes"), total("fd_suspicions")
sleep(P.fp_seconds * 1000)
local probes, falses = total("fd_probes") - probes0, total("fd_suspicions") - false0
report("fp_probes", probes)
report("fp_suspicions", falses)
report("fp_rate_per_probe", falses / probes)
report("fp_per_node_hour", falses / P.nodes / (P.fp_seconds / 3600))
report("indirect_probes", total("fd_indirect"))
if P.loss == 0 then check(falses == 0, falses .. " false suspicions without any loss") end
