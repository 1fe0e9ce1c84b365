-- POST echo of a BH_POST_BYTES (default 1 MiB) body on keep-alive connections.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(dir .. "report.lua").done
wrk.method = "POST"
wrk.path = "/post"
wrk.body = string.rep("x", tonumber(os.getenv("BH_POST_BYTES") or "1048576"))
wrk.headers["Content-Type"] = "application/octet-stream"
