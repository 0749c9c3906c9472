-- reject-rcpt.lua: plain verdicts, selected by /SUBSTRING.
--
-- RCPT containing "bad@" is rejected, the others continue; MAIL from
-- "busy@" gets tempfail; a header "X-Spam: yes" gets discard; "vip@" is
-- accepted at RCPT; body chunks get SKIP; a client named blocked.example is
-- rejected at connect.
dofile(HERE .. "/lib.lua")

H.run(function()
	mt.startfilter(MILTER, "-p", "inet:" .. PORT .. "@127.0.0.1", "-l", LOG,
		"-a", "connect/blocked.example=reject",
		"-a", "mail/busy@=tempfail",
		"-a", "rcpt/bad@=reject",
		"-a", "rcpt/vip@=accept",
		"-a", "header/X-Spam: yes=discard",
		"-a", "body=skip")

	local conn = H.connect()
	H.ok(mt.conninfo(conn, "client.example", "192.0.2.7"), "conninfo")
	H.reply(conn, SMFIR_CONTINUE, "connect")
	H.ok(mt.helo(conn, "client.example"), "helo")

	-- MAIL tempfail, then a good MAIL.
	H.ok(mt.mailfrom(conn, "<busy@example.com>"), "mail busy")
	H.reply(conn, SMFIR_TEMPFAIL, "mail busy")
	H.ok(mt.mailfrom(conn, "<a@example.com>"), "mail a")
	H.reply(conn, SMFIR_CONTINUE, "mail a")

	-- RCPT: good, bad (rejected), good again.
	H.ok(mt.rcptto(conn, "<good@example.net>"), "rcpt good")
	H.reply(conn, SMFIR_CONTINUE, "rcpt good")
	H.ok(mt.rcptto(conn, "<bad@example.net>"), "rcpt bad")
	H.reply(conn, SMFIR_REJECT, "rcpt bad")
	H.ok(mt.rcptto(conn, "<good2@example.net>"), "rcpt good2")
	H.reply(conn, SMFIR_CONTINUE, "rcpt good2")

	H.ok(mt.header(conn, "Subject", "ok"), "header Subject")
	H.reply(conn, SMFIR_CONTINUE, "header Subject")
	H.ok(mt.eoh(conn), "eoh")
	H.ok(mt.bodystring(conn, "chunk 1\r\n"), "body")
	H.reply(conn, SMFIR_SKIP, "body")
	H.ok(mt.eom(conn), "eom")
	H.reply(conn, SMFIR_CONTINUE, "eom")

	-- Next message: discarded at a header.
	H.ok(mt.mailfrom(conn, "<a@example.com>"), "mail 2")
	H.ok(mt.rcptto(conn, "<good@example.net>"), "rcpt 2")
	H.ok(mt.header(conn, "X-Spam", "yes"), "header X-Spam")
	H.reply(conn, SMFIR_DISCARD, "header X-Spam")

	-- Next message: accepted at RCPT (the milter wants nothing more of it).
	H.ok(mt.mailfrom(conn, "<a@example.com>"), "mail 3")
	H.ok(mt.rcptto(conn, "<vip@example.net>"), "rcpt vip")
	H.reply(conn, SMFIR_ACCEPT, "rcpt vip")
	H.ok(mt.disconnect(conn), "disconnect")

	-- A second connection rejected at connect.
	H.short_connection(2, "blocked.example", "198.51.100.1", SMFIR_REJECT, "blocked")

	local lines = H.transcript_when_closed(2)
	local L = H.L
	H.expect_in_order(lines, {
		L("1", "mail", "<busy@example.com>"),
		L("1", "action", "mail", "tempfail", "4"),
		L("1", "mail", "<a@example.com>"),
		L("1", "rcpt", "<good@example.net>"),
		L("1", "rcpt", "<bad@example.net>"),
		L("1", "action", "rcpt", "reject", "1"),
		L("1", "rcpt", "<good2@example.net>"),
		L("1", "body", "9", "chunk 1\\r\\n"),
		L("1", "action", "body", "skip", "8"),
		L("1", "eom"),
		L("1", "header", "X-Spam", "yes"),
		L("1", "action", "header", "discard", "2"),
		L("1", "rcpt", "<vip@example.net>"),
		L("1", "action", "rcpt", "accept", "3"),
		L("1", "close"),
	})
	-- The second connection's own lines, in their order: the milter may log the first one's close after them (its
	-- worker gets to the first connection's end when it will; seen under load).
	H.expect_in_order(lines, {
		L("2", "connect", "blocked.example", "4", "12345", "198.51.100.1"),
		L("2", "action", "connect", "reject", "1"),
		L("2", "close"),
	})
	-- Only the two matching RCPTs (of five) produced action lines.
	local n = 0
	for _, l in ipairs(H.events(lines, "1", "action")) do
		if l:find("^1\taction\trcpt\t") then
			n = n + 1
		end
	end
	H.check(n == 2, "two rcpt actions, got " .. n)
	mt.echo("reject-rcpt.lua: OK")
end)
