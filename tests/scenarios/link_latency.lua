-- Per-link latency overrides the default on exactly the links it names, one way or both, and
-- lifts cleanly. Two nodes, N=W=2, constant 1 ms default: a put from a client at node 1 costs
-- client->1 + 1->2 + 2->1 + 1->client.
local c = cluster.new { nodes = 3, n = 2, r = 1, w = 2, latency = 1, anti_entropy = false,
                        gossip_interval = 0 }
local cl = c:client { via = 1, timeout = 5000 }

-- A key whose two replicas are nodes 1 and 2, so the put's path is known.
local key
for i = 1, 1000 do
  local pl = c:preference_list("k" .. i)
  if (pl[1] == 1 and pl[2] == 2) or (pl[1] == 2 and pl[2] == 1) then key = "k" .. i; break end
end
check(key ~= nil, "found a key owned by nodes 1 and 2")

local function put_ms()
  local t0 = now()
  local ok, err = cl:put(key, "v")
  check(ok, "put failed: " .. tostring(err))
  return now() - t0
end

check(put_ms() == 4, "default: 4 hops of 1 ms")
net.latency { from = 1, to = 2, dist = 40 }                        -- both ways by default
check(put_ms() == 82, "40 ms each way between 1 and 2")
net.latency { from = 2, to = 1, dist = 10, both_ways = false }     -- one way only
check(put_ms() == 52, "40 ms 1->2, 10 ms 2->1")
net.latency { from = {3}, to = {1, 2}, dist = 500 }                -- links not on the path
check(put_ms() == 52, "rules on other links change nothing here")
net.latency { from = 1, to = 2, dist = false }                     -- lift both directions
check(put_ms() == 4, "lifted: back to the default")
