-- wrk script for tests/bench/webhook.sh: POST the sample ticketing order (flows/data/samples/order.json, or the
-- file named by ORDER_FILE) with a new order id on every request (`ORD-BENCH-<run>-<thread>-<n>`), so every
-- webhook claims a fresh idempotency key and is queued. RUN_ID (the script sets it per load) keeps the ids of
-- successive loads against the same state apart.
local path = os.getenv("ORDER_FILE") or "flows/data/samples/order.json"
local file = assert(io.open(path, "rb"), "cannot open " .. path)
local template = file:read("*a")
file:close()
local run = os.getenv("RUN_ID") or tostring(os.time())
local order_id = '"order_id": "ORD%-2024%-000123"'
assert(template:find(order_id), "the order in " .. path .. " has no order_id ORD-2024-000123")

local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("id", threads)
end

local n = 0
function init()
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
end

function request()
    n = n + 1
    local body = template:gsub(order_id, '"order_id": "ORD-BENCH-' .. run .. "-" .. id .. "-" .. n .. '"', 1)
    return wrk.format(nil, nil, nil, body)
end
