-- The scenario VM is a sandbox whose only randomness is the run's seed.
for _, name in ipairs { "os", "io", "require", "load", "dofile", "loadfile", "collectgarbage" } do
  check(_G[name] == nil, name .. " is reachable from a scenario")
end
check(not pcall(math.randomseed, 1), "math.randomseed must be refused")
check(math.type(math.random(0)) == "integer", "math.random(0) is an integer")
local x = math.random(1, 1000000)
check(x >= 1 and x <= 1000000, "math.random(m, n) stays in [m, n]")
local u = math.random()
check(u >= 0 and u < 1, "math.random() is in [0, 1)")
check(not pcall(math.random, 5, 1), "an empty interval is an error")
report("draw", x)
report("draw2", random(1, 1000000))
