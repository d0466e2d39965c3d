-- wrk script: POSTs ticketing orders with unique ids (per thread and request) to relais' webhook.
-- The template is the first generated order (flows/data/samples/orders.jsonl), read once per thread.
local template
local counter = 0
local prefix = "LOAD"

function setup(thread)
   thread:set("prefix", "LOAD" .. math.random(100000, 999999))
end

function init(args)
   local file = assert(io.open(os.getenv("ORDER_TEMPLATE"), "r"))
   template = file:read("*l")
   file:close()
   prefix = prefix or "LOAD"
end

request = function()
   counter = counter + 1
   local body = string.gsub(template, "\"order_id\": \"[^\"]*\"", "\"order_id\": \"" .. prefix .. "-" .. counter .. "\"")
   return wrk.format("POST", "/ticketing/orders", { ["Content-Type"] = "application/json" }, body)
end
