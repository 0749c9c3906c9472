-- opendkim-sign.lua: run opendkim as a signing milter (opendkim/ in the
-- parent directory), have it sign a message from a non-loopback client, then
-- rebuild the signed message and verify it with verify_dkim.py.
dofile(HERE .. "/lib.lua")

H.run(function()
	local keydir = WORK .. "/dkim"
	-- start-opendkim.sh execs opendkim, so miltertest's SIGTERM at the end
	-- reaches opendkim itself.
	mt.startfilter(DKIMDIR .. "/start-opendkim.sh", keydir, PORT)

	local headers = {
		{ "From", "Alice <alice@example.com>" },
		{ "To", "bob@example.net" },
		{ "Subject", "DKIM signing test" },
		{ "Date", "Tue, 22 Dec 2009 13:04:12 -0800" },
		{ "Message-ID", "<sfm-dkim-1@example.com>" },
	}
	local body = "Hello,\r\n\r\nthis message is signed by opendkim.\r\n"

	-- Send one message; returns the connection and whether eom was sent.
	local function send(from_header)
		-- Key generation happens first: allow up to 10 s.
		local conn = mt.connect("inet:" .. PORT .. "@127.0.0.1", 200, 0.05)
		if conn == nil then
			H.fail("cannot connect to opendkim")
		end
		H.ok(mt.conninfo(conn, "client.example", "192.0.2.9"), "conninfo")
		-- opendkim has no HELO callback and negotiates NOHELO; miltertest
		-- raises an error if we send a step the milter opted out of.
		if not mt.test_option(conn, SMFIP_NOHELO) then
			H.ok(mt.helo(conn, "client.example"), "helo")
		end
		H.ok(mt.macro(conn, SMFIC_MAIL, "i", "SFMQID1"), "macro M")
		H.ok(mt.mailfrom(conn, "<alice@example.com>"), "mail")
		H.ok(mt.rcptto(conn, "<bob@example.net>"), "rcpt")
		for _, h in ipairs(headers) do
			local v = h[2]
			if h[1] == "From" and from_header ~= nil then
				v = from_header
			end
			H.ok(mt.header(conn, h[1], v), "header " .. h[1])
		end
		H.ok(mt.eoh(conn), "eoh")
		-- opendkim answers ACCEPT at EOH when it has nothing to do (From
		-- not in a signing domain); libmilter then ignores further
		-- body/eom commands for this message, so stop here.
		if mt.getreply(conn) == SMFIR_ACCEPT then
			return conn, false
		end
		H.ok(mt.bodystring(conn, body), "body")
		H.ok(mt.eom(conn), "eom")
		return conn, true
	end

	-- Run verify_dkim.py on a message; returns exit status and its output.
	local function verify(msgfile)
		local out = msgfile .. ".out"
		local cmd = string.format("/usr/bin/python3 '%s/verify_dkim.py' '%s' " ..
			"'%s/sfm.txt' > '%s' 2>&1", DKIMDIR, msgfile, keydir, out)
		local _, _, code = os.execute(cmd)
		local f = io.open(out)
		local text = f and f:read("*a") or ""
		if f then f:close() end
		return code, text
	end

	local function write_message(path, sigvalue, mangle)
		local f = assert(io.open(path, "wb"))
		-- The value comes back as " v=1; a=...;\n\tt=...": prepend the name
		-- and turn the milter's bare-LF folding into CRLF.
		f:write("DKIM-Signature:" .. sigvalue:gsub("\r?\n", "\r\n") .. "\r\n")
		for _, h in ipairs(headers) do
			f:write(h[1] .. ": " .. h[2] .. "\r\n")
		end
		f:write("\r\n")
		f:write(mangle and mangle(body) or body)
		f:close()
	end

	-- 1. A message From example.com gets signed.
	local conn, reached_eom = send(nil)
	H.check(reached_eom, "message from example.com reached eom")
	H.reply(conn, SMFIR_ACCEPT, "eom")
	H.check(mt.eom_check(conn, MT_HDRINSERT, "DKIM-Signature"),
		"DKIM-Signature inserted")
	local sig = mt.getheader(conn, "DKIM-Signature", 0)
	H.check(sig ~= nil, "DKIM-Signature value")
	H.check(sig:find("d=example.com;", 1, true) and sig:find("s=sfm;", 1, true)
		and sig:find("c=relaxed/simple;", 1, true)
		and sig:find("a=rsa-sha256;", 1, true), "signature tags: " .. sig)
	H.ok(mt.disconnect(conn), "disconnect")

	local msg = WORK .. "/signed.eml"
	write_message(msg, sig)
	local code, out = verify(msg)
	H.check(code == 0 and out == "pass\n", "verify signed message: " .. out)

	-- 2. Changing the body must break the signature.
	local bad = WORK .. "/tampered.eml"
	write_message(bad, sig, function(b) return b:gsub("signed", "forged") end)
	code, out = verify(bad)
	H.check(code == 1 and out:sub(1, 5) == "fail:", "tampered message: " .. out)

	-- 3. Mail from another domain is not signed (Mode s: nothing to do).
	conn, reached_eom = send("Mallory <m@other.example>")
	H.check(not reached_eom, "opendkim accepts other.example at EOH")
	H.ok(mt.disconnect(conn), "disconnect 2")

	mt.echo("opendkim-sign.lua: OK (" .. msg .. ")")
end)
