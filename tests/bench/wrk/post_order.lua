-- wrk script for scenario (b): POST the sample ticketing order (flows/data/samples/order.json, or the file
-- named by ORDER_FILE) as JSON on every request.
local path = os.getenv("ORDER_FILE") or "flows/data/samples/order.json"
local file = assert(io.open(path, "rb"), "cannot open " .. path)
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
