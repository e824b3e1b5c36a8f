-- anti_entropy.lua: Merkle-tree anti-entropy finds and repairs divergence nobody reads.
--
--   dynsim run scenarios/anti_entropy.lua --seed 1
--
-- Every node keeps a hash tree per key range it replicates and, once per ae_interval, compares
-- one range with another replica of it, top down (paper 4.7). No client reads here, so read
-- repair never runs: whatever converges, anti-entropy repaired. Four phases, each measured in
-- exchanges started, anti-entropy datagrams and bytes, keys pushed and simulated time:
--   1. replicas in sync: exchanges end at the root, and nothing is pushed;
--   2. divergence injected into 1% of the keys (a new version written to one replica only);
--   3. the same with 10% of the keys;
--   4. one replica's disk wiped: it is rebuilt from its peers.
-- Each of 2-4 must end with every key's replicas identical.

scenario { name = "anti_entropy", description = "Merkle anti-entropy repairs 1%, 10% and a wipe" }

local P = params {
  keys     = { 4000, "keys written before the phases" },
  interval = { 500, "anti-entropy interval per node (ms)" },
  depth    = { 8, "Merkle tree depth (leaves = 2^depth)" },
  bound_s  = { 300, "how long a phase may take to converge (simulated s)" },
}

local c = cluster.new { nodes = 8, n = 3, r = 2, w = 2, timeout = 200, sync_writes = "all",
                        ae_interval = P.interval, merkle_depth = P.depth,
                        latency = { dist = "lognormal", median = 0.5, sigma = 0.5 } }

-- Write every key once, on all three replicas.
local writers, done = 8, 0
for w = 1, writers do
  spawn(function()
    local cl = c:client { timeout = 500, retries = 3 }
    for i = w, P.keys, writers do
      check(cl:put("key" .. i, "v" .. i, nil, { w = 3 }), "initial write of key" .. i)
    end
    done = done + 1
  end)
end
while done < writers do sleep(10) end

local function totals()
  local t = { exchanges = 0, in_sync = 0, messages = 0, bytes = 0, pushed = 0, repaired = 0 }
  for id = 1, c:nodes() do
    local s = c:node_stats(id)
    if s.ae_exchanges then
      t.exchanges = t.exchanges + s.ae_exchanges
      t.in_sync = t.in_sync + s.ae_in_sync
      t.messages = t.messages + s.ae_messages
      t.bytes = t.bytes + s.ae_bytes
      t.pushed = t.pushed + s.ae_keys_pushed
      t.repaired = t.repaired + s.ae_keys_repaired
    end
  end
  return t
end

-- Wait until no key diverges (or the bound), and report what anti-entropy spent on it.
local function converge(name, diverged)
  local t0, before = now(), totals()
  local left = #c:divergent_keys()
  while left > 0 and now() - t0 < P.bound_s * 1000 do
    sleep(P.interval)
    left = #c:divergent_keys()
  end
  local after = totals()
  local spent = {}
  for k, v in pairs(after) do spent[k] = v - before[k] end
  check(left == 0, string.format("%s: %d keys still divergent after %d s", name, left, P.bound_s))
  print(string.format("%s: %d keys diverged; converged in %.1f s: %d exchanges (%d in sync), "
                      .. "%d datagrams, %d bytes, %d sets pushed, %d keys repaired",
                      name, diverged, (now() - t0) / 1000, spent.exchanges, spent.in_sync,
                      spent.messages, spent.bytes, spent.pushed, spent.repaired))
  report(name .. "_seconds", (now() - t0) / 1000)
  report(name .. "_exchanges", spent.exchanges)
  report(name .. "_bytes", spent.bytes)
  report(name .. "_keys_repaired", spent.repaired)
  return spent
end

-- 1. In sync: a window of exchanges pushes nothing.
check(#c:divergent_keys() == 0, "the initial writes reached every replica")
local before = totals()
sleep(20 * P.interval)
local after = totals()
check(after.exchanges > before.exchanges, "exchanges ran")
check(after.in_sync - before.in_sync == after.exchanges - before.exchanges,
      "every exchange of replicas in sync ended at the root")
check(after.pushed == before.pushed and after.repaired == before.repaired,
      (after.pushed - before.pushed) .. " sets pushed between replicas in sync")
print(string.format("in sync: %d exchanges, %d datagrams, %d bytes, 0 pushed",
                    after.exchanges - before.exchanges, after.messages - before.messages,
                    after.bytes - before.bytes))
report("in_sync_exchanges", after.exchanges - before.exchanges)
report("in_sync_bytes", after.bytes - before.bytes)

-- 2 and 3. A version written to the first replica only (N=1), on 1% and then 10% of the keys.
local function inject(fraction, tag)
  local cl = c:client { timeout = 500, retries = 3 }
  local n = 0
  for i = 1, P.keys do
    if random() < fraction then
      check(cl:put("key" .. i, tag .. i, nil, { n = 1, w = 1 }), "injected write")
      n = n + 1
    end
  end
  return n
end
local n1 = inject(0.01, "one-percent-")
local s1 = converge("divergent_1pct", n1)
check(s1.repaired >= n1, s1.repaired .. " keys repaired for " .. n1 .. " diverged")
local n10 = inject(0.10, "ten-percent-")
local s10 = converge("divergent_10pct", n10)
check(s10.repaired >= n10, s10.repaired .. " keys repaired for " .. n10 .. " diverged")

-- 4. A wiped replica comes back empty and is refilled by its peers.
local victim = 3
local held = c:node_stats(victim).keys
c:crash(victim); c:wipe(victim); c:restart(victim)
check(c:node_stats(victim).keys == 0, "the wiped node starts empty")
converge("wiped_replica", held)
check(c:node_stats(victim).keys == held, "the wiped node holds its " .. held .. " keys again")

local lw = lost_writes()
check(lw.lost == 0, lw.lost .. " acknowledged writes lost")
