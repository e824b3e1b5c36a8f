-- A scenario with a runtime error inside a spawned actor: exit 2, file:line and a traceback.
local c = cluster.new { nodes = 3 }
local function broken() local t = nil; return t.field end
spawn(function() sleep(5); broken() end)
sleep(10)
