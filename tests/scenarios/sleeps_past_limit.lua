-- An actor that sleeps past the run's simulated time limit: dynsim must stop and exit 2.
cluster.new { nodes = 3 }
spawn(function() sleep(1e9) end)
