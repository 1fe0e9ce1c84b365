-- Shared by the wrk scripts of bench/http_bench.py: done() prints wrk's own totals as one
-- line "BH_WRK {json}" (exact counts, not the rounded human summary) for the harness to read.
local report = {}

function report.done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BH_WRK {"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, ' ..
      '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, ' ..
      '"lat_p50_us": %d, "lat_p99_us": %d, "lat_p999_us": %d, "lat_max_us": %d}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
      e.status, e.timeout, latency:percentile(50), latency:percentile(99),
      latency:percentile(99.9), latency.max))
end

return report
