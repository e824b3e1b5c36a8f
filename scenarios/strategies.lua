-- strategies.lua: the paper's comparison of partitioning strategies (section 6.2, figure 8).
--
--   dynsim run scenarios/strategies.lua --seed 1
--
-- For a 30-node cluster at N=3, each strategy is measured over a range of sizes of membership
-- information: S1 and S2 with T = 1..256 random tokens per node (S2 over Q equal partitions), S3
-- with Q = 30..7680 equal partitions. Load-balancing efficiency is the mean node load over the
-- most loaded node's, each key's load falling on its N replicas; every point averages several
-- rings drawn from the run's seed. The membership information a node keeps is the token table
-- (12 bytes a token: position and owner) for S1 and S2, and the partition table (4 bytes a
-- partition: its owner) for S3. Writes strategies.dat and plots it (plots/strategies.gp).

scenario { name = "strategies", description = "S1/S2/S3: load balance against membership size" }

local P = params {
  nodes  = { 30, "cluster size" },
  n      = { 3, "replicas per key" },
  keys   = { 100000, "keys placed" },
  zipf_s = { 0, "key popularity exponent (0: every key alike)" },
  rings  = { 8, "rings drawn per point" },
  q_s2   = { 1024, "partitions of strategy S2" },
}

local function mean_efficiency(cfg)
  local sum, entries, bytes = 0, 0, 0
  for _ = 1, P.rings do
    local r = ring_study(cfg)
    sum = sum + r.efficiency
    entries, bytes = r.metadata_entries, r.metadata_bytes
  end
  return sum / P.rings, entries, bytes
end

local lines = { "# entries s1_eff s1_bytes s2_eff s2_bytes s3_eff s3_bytes" }
local s3_best, s1_worst, sizes = 0, 0, 0
for _, t in ipairs({ 1, 2, 4, 8, 16, 32, 64, 128, 256 }) do
  local base = { nodes = P.nodes, n = P.n, keys = P.keys, zipf_s = P.zipf_s }
  local function with(extra)
    local cfg = {}
    for k, v in pairs(base) do cfg[k] = v end
    for k, v in pairs(extra) do cfg[k] = v end
    return cfg
  end
  local e1, n1, b1 = mean_efficiency(with { strategy = "S1", tokens = t })
  local e2, _, b2 = mean_efficiency(with { strategy = "S2", tokens = t, partitions = P.q_s2 })
  local e3, n3, b3 = mean_efficiency(with { strategy = "S3", partitions = P.nodes * t })
  check(n1 == n3, "equal membership entries for S1 and S3 at T=" .. t)
  check(b3 < b1 and b3 < b2, "S3 keeps the least membership information at T=" .. t)
  sizes = sizes + 1
  if e3 >= e1 and e3 >= e2 then s3_best = s3_best + 1 end
  if e1 <= e2 then s1_worst = s1_worst + 1 end
  lines[#lines + 1] = string.format("%d %.4f %d %.4f %d %.4f %d", n1, e1, b1, e2, b2, e3, b3)
  log(string.format("entries %5d  S1 %.3f  S2 %.3f  S3 %.3f", n1, e1, e2, e3))
end
check(s3_best == sizes, "S3 is the best balanced at " .. s3_best .. " of " .. sizes .. " sizes")
report("sizes", sizes)
report("s3_best_at", s3_best)
report("s1_worst_at", s1_worst)
data_file("strategies", table.concat(lines, "\n") .. "\n")
plot("strategies")
