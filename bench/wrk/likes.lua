-- Likes for wrk, the independent load generator: each request is a like or an
-- unlike that appends one event, as in qicoo-bench's likes scenario.
--
--   wrk -t2 -c8 -d12s -s bench/wrk/likes.lua http://127.0.0.1:8080 -- plan.tsv 2
--
-- plan.tsv (written by `qicoo-bench wrk-plan`) holds one "path<TAB>token" line
-- per (question, participant) pair, none of them liked yet. The second
-- argument is wrk's thread count: thread i takes every line whose number is i
-- modulo that count, so no two threads touch one vote. Each thread walks its
-- lines with PUT (like), then again with DELETE (unlike), and so on.

local next_id = 0

function setup(thread)
    thread:set("id", next_id)
    next_id = next_id + 1
end

function init(args)
    local file, threads = args[1], tonumber(args[2])
    votes = {}
    local n = 0
    for line in io.lines(file) do
        if n % threads == id then
            local path, token = line:match("^(%S+)\t(%S+)$")
            votes[#votes + 1] = { path = path, auth = "Bearer " .. token }
        end
        n = n + 1
    end
    at = 0
    method = "PUT"
    refused = 0
end

function request()
    at = at + 1
    if at > #votes then
        at = 1
        method = (method == "PUT") and "DELETE" or "PUT"
    end
    local vote = votes[at]
    return wrk.format(method, vote.path, { ["Authorization"] = vote.auth })
end

function done(summary, latency, requests)
    io.write(string.format(
        '{"requests": %d, "seconds": %.3f, "non_2xx": %d, "socket_errors": %d, ' ..
        '"p50_ms": %.3f, "p99_ms": %.3f, "mean_ms": %.3f}\n',
        summary.requests, summary.duration / 1e6, summary.errors.status,
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.mean / 1000))
end
