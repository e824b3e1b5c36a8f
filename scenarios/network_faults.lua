-- network_faults.lua: what the network fault model does to a strict quorum (no sloppy quorum
-- or hinted handoff yet: those come with issue 3, and will change what this scenario sees).
--
--   dynsim run scenarios/network_faults.lua --seed 1
--
-- One replica of a key cut off: R=2/W=2 still succeed through the other two. Two cut off: a strict
-- quorum cannot be met and requests fail in bounded time, never hang. Loss and duplication: every
-- request still ends ok or failed, duplicates change nothing, and after healing everything works.

scenario { name = "network_faults", description = "partitions, loss, duplication and clogging" }

local P = params {
  loss = { 0.1, "fraction of datagrams lost in the lossy phase" },
}

local c = cluster.new { nodes = 5, n = 3, r = 2, w = 2, timeout = 200,
                        latency = { dist = "exponential", mean = 1, offset = 0.2 } }
local key = "cart"
local owners = c:preference_list(key)
local coordinator = c:client { via = owners[1], timeout = 500 }

-- One replica isolated: the other two still make R=2 and W=2.
net.isolate(owners[3])
check(coordinator:put(key, "milk"), "write with one replica cut off")
local values = coordinator:get(key)
check(values and values[1] == "milk", "read with one replica cut off")

-- Two replicas unreachable from the coordinator: no strict quorum, a clear failure in time.
net.block(owners[1], owners[2])
local t0 = now()
local ok, err = coordinator:put(key, "eggs")
check(not ok, "a write without a reachable quorum must fail")
check(err == "request timed out", "failure reason: " .. tostring(err))
check(now() - t0 < 1000, "the failure came within the deadlines")
net.heal()
check(coordinator:put(key, "bread"), "healed: writes succeed again")

-- A one-way partition: the coordinator hears replica 2 but cannot reach it.
net.block(owners[1], owners[2])
check(net.stats().dropped_partition > 0, "partitioned datagrams were dropped and counted")
check(coordinator:put(key, "tea", nil, { w = 2 }), "W=2 through the coordinator and replica 3")
net.heal()

-- Loss and duplication under load: every operation ends, ok or failed; duplicates are harmless.
net.loss(P.loss)
net.duplicate(0.05)
local load = c:workload { ops = 4000, rate = 2000, clients = 8, keys = 200, timeout = 300,
                          retries = 2 }
load:wait()
local progress = load:progress()
check(progress.completed + progress.rejected == progress.issued, "every request ended")
local s = net.stats()
check(s.dropped_loss > 0 and s.duplicated > 0, "loss and duplication happened")
log(string.format("lossy phase: %d dropped, %d duplicated of %d datagrams",
                  s.dropped_loss, s.duplicated, s.routed))
net.loss(0)
net.duplicate(0)

-- Availability per 200 ms bin: the lossy phase shows in its worst bin; once the faults stop, every
-- full bin of a clean load is back to 100 %.
local lossy = availability(0.2)
report("lossy_availability", lossy.fraction)
report("lossy_worst_bin", lossy.worst)
check(lossy.worst < 1, "the lossy phase failed some operations")
local t_clean = now()
c:workload { ops = 2000, rate = 2000, clients = 8, keys = 200, timeout = 300 }:wait()
local t_end = now()
local av = availability(0.2)
local full = 0
for bin = math.floor(t_clean / 200) + 2, math.floor(t_end / 200) do
  check(av.bins[bin] == 1, string.format("bin %d after the faults stopped: %.3f", bin, av.bins[bin]))
  full = full + 1
end
check(full >= 3, "the clean load spanned full bins: " .. full)

-- A clogged link delays, it does not lose: a write through it completes once the clog ends,
-- if that is within the coordinator's 200 ms deadline; a longer clog makes it time out instead.
net.clog(owners[1], 0, 100)
t0 = now()
local writer = c:client { via = owners[1], timeout = 2000 }
check(writer:put("clogged", "late"), "a write through a briefly clogged link completes")
check(now() - t0 >= 100, "and not before the clog ends")
local after = c:client {}:get("clogged", { r = 3 })
check(after and after[1] == "late", "the held datagrams were delivered")
net.clog(owners[1], 0, 400)
ok, err = writer:put("clogged", "too late")
check(not ok and err == "request timed out", "a clog longer than the deadline times out")
