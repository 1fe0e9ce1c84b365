-- Small keep-alive GET (also the Connection: close scenario, with wrk -H "Connection: close").
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(dir .. "report.lua").done
wrk.path = "/"
