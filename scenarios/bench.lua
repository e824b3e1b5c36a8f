-- bench.lua: simulator speed benchmark. 64 nodes, N=3 R=2 W=2, 1,000,000 client operations
-- (half reads, Zipf keys, 100-byte values), every message encoded and decoded.
--
--   dynsim run scenarios/bench.lua --seed 1
--
-- Prints its figures as "name: value" lines (wall_s, events_per_wall_s, sim_ops_per_wall_s,
-- peak_rss_bytes, bytes_per_key, kernel_ratio, ...). It never fails on speed: the figures are
-- for reading, and kernel_ratio (our events/s over a bare binary heap's, measured in the same
-- run) is the one that survives a noisy machine.

scenario { name = "bench", benchmark = true,
           description = "64 nodes, 1,000,000 operations: simulator speed and memory" }

local P = params {
  nodes = { 64, "cluster size" },
  ops   = { 1000000, "client operations" },
  keys  = { 100000, "distinct keys" },
  rate  = { 20000, "arrival rate, operations per simulated second" },
  coordinator = { "owner", "\"owner\": clients send to a key's replica (paper 6.4); \"any\": a random node forwards" },
}

track_writes(false) -- a benchmark measures the simulator, not the checker's log

local c = cluster.new {
  nodes = P.nodes, n = 3, r = 2, w = 2, strategy = "S3",
  latency = { dist = "lognormal", median = 0.5, sigma = 0.6 },
}

local load = c:workload {
  ops = P.ops, rate = P.rate, clients = 64, keys = P.keys,
  key_dist = "zipf", zipf_s = 0.99, read_fraction = 0.5, value_size = 100,
  coordinator = P.coordinator,
}
load:wait()

local s = stats()
check(s.get.count + s.put.count == P.ops, "not every operation completed")
check(s.get.failed + s.put.failed == 0, "operations failed with no faults injected")
