-- quickstart.lua: an 8-node Dynamo cluster (N=3 R=2 W=2) serving a Zipf workload.
--
-- Run it:      dynsim run scenarios/quickstart.lua --seed 7
-- Change it:   dynsim run scenarios/quickstart.lua --seed 7 -D r=1 -D w=1
-- Parameters:  dynsim describe scenarios/quickstart.lua
--
-- Times are milliseconds of simulated time.

scenario { name = "quickstart",
           description = "8 nodes, N=3 R=2 W=2, Zipf keys, 100,000 operations" }

local P = params {
  nodes    = { 8, "cluster size" },
  n        = { 3, "replicas per key (N)" },
  r        = { 2, "read quorum (R)" },
  w        = { 2, "write quorum (W)" },
  ops      = { 100000, "client operations" },
  keys     = { 10000, "distinct keys" },
  rate     = { 5000, "arrival rate, operations per simulated second (Poisson)" },
  reads    = { 0.5, "fraction of operations that are reads" },
  zipf     = { 0.99, "Zipf exponent of key popularity" },
}

local c = cluster.new {
  nodes = P.nodes, n = P.n, r = P.r, w = P.w, strategy = "S3",
  -- One-way network delay: lognormal around 0.5 ms with a long tail.
  latency = { dist = "lognormal", median = 0.5, sigma = 0.6 },
}

-- How evenly the ring spreads replicas: the most loaded node's share over the mean share.
local share, most, total = c:ownership(), 0, 0
for id = 1, c:nodes() do
  most = math.max(most, share[id]); total = total + share[id]
end
report("ring_max_over_mean_share", most / (total / c:nodes()))

-- A read-your-write probe through the client API before the load starts.
local client = c:client { timeout = 2000 }
local ok, err = client:put("hello", "world")
check(ok, "first put failed: " .. tostring(err))
local values, ctx = client:get("hello")
check(values and values[1] == "world", "read after write did not return the value")

-- A put with the context supersedes what was read: one sibling, the new value.
client:put("hello", "again", ctx)
values = client:get("hello")
check(values and #values == 1 and values[1] == "again", "put with context left siblings")

local load = c:workload {
  ops = P.ops, rate = P.rate, clients = 32, keys = P.keys,
  key_dist = "zipf", zipf_s = P.zipf, read_fraction = P.reads, value_size = 100,
}
load:wait()

-- Let the last replica writes land, then check every acknowledged write and every replica.
sleep(100)
check(lost_writes().lost == 0, "acknowledged writes were lost with no faults injected")
check(convergence().divergent == 0, "replicas diverged with no faults injected")

local s = stats()
check(s.get.failed == 0, s.get.failed .. " reads failed with no faults injected")
check(s.put.failed == 0, s.put.failed .. " writes failed with no faults injected")
check(s.get.count + s.put.count >= P.ops, "not every operation completed")
log(string.format("get p99 %.3f ms, put p99 %.3f ms", s.get.p99, s.put.p99))

-- With R + W > N and no faults, every read quorum meets every write quorum: nothing stale.
local stale = stale_reads()
report("stale_read_fraction", stale.fraction)
if P.r + P.w > P.n then
  check(stale.stale == 0, stale.stale .. " reads missed a write acknowledged before they began")
end

plot("latency_percentiles")
