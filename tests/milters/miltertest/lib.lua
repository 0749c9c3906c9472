-- Shared helpers for the miltertest smoke tests in this directory.
-- Loaded by each test with dofile(HERE .. "/lib.lua").  run-all.sh passes
-- these globals with miltertest -D:
--   HERE     this directory
--   MILTER   path of the built sfm-testmilter binary
--   PYMILTER path of sfm_testmilter.py
--   PORT     a free TCP port for this test
--   LOG      transcript file for this test (fresh)
--   WORK     scratch directory for this test

H = {}

-- Fail the test.  miltertest exits non-zero on error() but does not print
-- the message, so print it (with the failing line) first.
function H.fail(msg, level)
	local info = debug.getinfo((level or 1) + 2, "Sl")
	local where = info and (info.short_src .. ":" .. info.currentline) or "?"
	io.stderr:write("FAILED at " .. where .. ": " .. msg .. "\n")
	H.printed = true
	error(msg, 0)
end

function H.check(cond, msg)
	if not cond then
		H.fail("check failed: " .. msg, 1)
	end
end

-- Run the test body.  miltertest swallows Lua error messages (it just exits
-- with status 1), so print any error -- including ones raised by mt.*
-- functions, e.g. mt.helo() after the milter negotiated NOHELO -- with a
-- traceback before re-raising it.
function H.run(body)
	local ok, err = xpcall(body, function(e)
		if not H.printed then
			io.stderr:write("ERROR: " .. debug.traceback(e, 2) .. "\n")
		end
		return e
	end)
	if not ok then
		error(err, 0)
	end
end

-- mt.* functions return nil on success or an error string.
function H.ok(r, what)
	if r ~= nil then
		H.fail(what .. " failed: " .. tostring(r), 1)
	end
end

-- mt.getreply returns the reply command byte as a number.
function H.reply(conn, want, what)
	local got = mt.getreply(conn)
	if got ~= want then
		H.fail(string.format("%s: reply '%s', expected '%s'", what,
		       string.char(got), string.char(want)), 1)
	end
end

-- Check the SMTP reply (SMFIR_REPLYCODE) requested at eom against the full
-- reply text, e.g. "554 5.7.1 Go away" or, multi-line,
-- "554-5.7.1 one\r\n554 5.7.1 two".  miltertest 2.11's MT_SMTPREPLY needs
-- exactly code, enhanced code and text (fewer arguments raise an error or
-- compare against "(null)") and just compares "code xcode text" with the
-- reply buffer, so split the expected text at its first two spaces.
function H.eom_reply(conn, full)
	local a, b, c = full:match("^(%S+) (%S+) (.*)$")
	if a == nil then
		H.fail("H.eom_reply: need 'code xcode text', got " .. full, 1)
	end
	return mt.eom_check(conn, MT_SMTPREPLY, a, b, c)
end

-- Connect, retrying while the milter starts (up to ~5 s).
function H.connect(spec)
	spec = spec or ("inet:" .. PORT .. "@127.0.0.1")
	local conn = mt.connect(spec, 100, 0.05)
	if conn == nil then
		H.fail("cannot connect to " .. spec, 1)
	end
	return conn
end

-- One more, short connection (the milter's connection `number`): CONNECT
-- from `name` at `address`, the milter's reply to it checked against `want`,
-- then closed, and waited for until the milter logged the close, so that
-- the transcript has its lines before those of any later connection.
function H.short_connection(number, name, address, want, what)
	local conn = H.connect()
	H.ok(mt.conninfo(conn, name, address), "conninfo " .. what)
	H.reply(conn, want, "connect " .. what)
	H.ok(mt.disconnect(conn), "disconnect " .. what)
	H.wait_for(number .. "\tclose")
end

-- The transcript once connections `count` down to 1 are closed (the milter
-- writes a close line after miltertest has moved on).
function H.transcript_when_closed(count)
	local lines
	for n = count, 1, -1 do
		lines = H.wait_for(n .. "\tclose")
	end
	return lines
end

-- Read the transcript into a list of lines (raw, still escaped).
function H.transcript()
	local lines = {}
	local f = io.open(LOG, "r")
	if f == nil then
		return lines
	end
	for l in f:lines() do
		table.insert(lines, l)
	end
	f:close()
	return lines
end

-- Join fields with TAB, the transcript's separator.
function H.L(...)
	return table.concat({...}, "\t")
end

-- Wait until a line equal to `line` shows up (the close line is written
-- after miltertest already moved on), then return all lines.
function H.wait_for(line, seconds)
	local tries = math.floor((seconds or 5) / 0.05)
	for i = 1, tries do
		local lines = H.transcript()
		for _, l in ipairs(lines) do
			if l == line then
				return lines
			end
		end
		mt.sleep(0.05)
	end
	H.fail("transcript never got line: " .. line, 1)
end

-- Check that every expected line appears, in this order (other lines may
-- be interleaved, e.g. macro lines).
function H.expect_in_order(lines, expected)
	local pos = 1
	for _, want in ipairs(expected) do
		local found = false
		while pos <= #lines do
			if lines[pos] == want then
				found = true
				pos = pos + 1
				break
			end
			pos = pos + 1
		end
		if not found then
			io.stderr:write("---- transcript ----\n" ..
			                table.concat(lines, "\n") .. "\n")
			H.fail("missing (or out of order) transcript line: " ..
			       want, 1)
		end
	end
end

-- Check that no line starts with `prefix`.
function H.expect_absent(lines, prefix)
	for _, l in ipairs(lines) do
		if l:sub(1, #prefix) == prefix then
			H.fail("unexpected transcript line: " .. l, 1)
		end
	end
end

-- Lines whose first two fields are conn and event.
function H.events(lines, conn, event)
	local out = {}
	local prefix = conn .. "\t" .. event .. "\t"
	for _, l in ipairs(lines) do
		if l == conn .. "\t" .. event or l:sub(1, #prefix) == prefix then
			table.insert(out, l)
		end
	end
	return out
end

return H
