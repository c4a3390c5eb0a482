-- wrk script for bench/run.py: POST the body in BENCH_BODY with the headers in BENCH_HEADERS
-- (one "Name: value" per line). Environment variables keep this file free of per-run values.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or "{}"
wrk.headers["Content-Type"] = "application/json"
local extra = os.getenv("BENCH_HEADERS") or ""
for line in extra:gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then
    wrk.headers[name] = value
  end
end
