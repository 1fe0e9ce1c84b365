-- The small GET pipelined: each write carries BH_PIPELINE (default 16) requests; wrk counts
-- every response.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(dir .. "report.lua").done
local depth = tonumber(os.getenv("BH_PIPELINE") or "16")
local batch

init = function(args)
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format("GET", "/")
   end
   batch = table.concat(r)
end

request = function()
   return batch
end
