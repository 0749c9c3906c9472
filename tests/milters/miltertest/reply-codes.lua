-- reply-codes.lua: smfi_setreply / smfi_setmlreply through reply: and
-- mlreply:, including the cases libmilter refuses.
--
-- When smfi_setreply fails (rc -1 in the transcript) libmilter has no
-- reply text and sends a plain 'r' (reject) / 't' (tempfail) instead of
-- 'y' (SMFIR_REPLYCODE).  libmilter also sends the text only when its class
-- matches the verdict (4xx with TEMPFAIL, 5xx with REJECT).
dofile(HERE .. "/lib.lua")

H.run(function()
	mt.startfilter(MILTER, "-p", "inet:" .. PORT .. "@127.0.0.1", "-l", LOG,
		"-a", "rcpt/r550@=reply:550:5.1.1:No such user: here",
		"-a", "rcpt/r451@=reply:451:4.7.1:Try again later",
		"-a", "rcpt/noxcode@=reply:550::No enhanced code",
		"-a", "rcpt/badcode@=reply:650:5.1.1:Not a 4xx/5xx code",
		"-a", "rcpt/crlf@=reply:550:5.1.1:two\\r\\nlines",
		"-a", "rcpt/mismatch@=reply:451:4.7.1:Temporary",
		"-a", "rcpt/mismatch@=reject",
		"-a", "mail/ml@=mlreply:550:5.7.0:first line|second line|third line",
		"-a", "eom=mlreply:554:5.7.1:Rejected at eom|see https://example.com/why")

	local conn = H.connect()
	H.ok(mt.conninfo(conn, "client.example", "192.0.2.7"), "conninfo")
	H.ok(mt.mailfrom(conn, "<ml@example.com>"), "mail ml")
	H.reply(conn, SMFIR_REPLYCODE, "mail ml")

	H.ok(mt.mailfrom(conn, "<a@example.com>"), "mail a")
	H.reply(conn, SMFIR_CONTINUE, "mail a")
	local cases = {
		{ "<r550@example.net>", SMFIR_REPLYCODE },
		{ "<r451@example.net>", SMFIR_REPLYCODE },
		{ "<noxcode@example.net>", SMFIR_REPLYCODE },
		{ "<badcode@example.net>", SMFIR_REJECT },
		{ "<crlf@example.net>", SMFIR_REJECT },
		-- 4xx text but a later reject verdict: class mismatch -> plain 'r'.
		{ "<mismatch@example.net>", SMFIR_REJECT },
		{ "<ok@example.net>", SMFIR_CONTINUE },
	}
	for _, c in ipairs(cases) do
		H.ok(mt.rcptto(conn, c[1]), "rcpt " .. c[1])
		H.reply(conn, c[2], "rcpt " .. c[1])
	end
	H.ok(mt.header(conn, "Subject", "x"), "header")
	H.ok(mt.eoh(conn), "eoh")
	H.ok(mt.bodystring(conn, "x\r\n"), "body")
	H.ok(mt.eom(conn), "eom")
	H.reply(conn, SMFIR_REPLYCODE, "eom")
	H.check(H.eom_reply(conn, "554-5.7.1 Rejected at eom\r\n" ..
		"554 5.7.1 see https://example.com/why"), "eom multi-line reply")
	H.ok(mt.disconnect(conn), "disconnect")

	local lines = H.transcript_when_closed(1)
	local L = H.L
	H.expect_in_order(lines, {
		L("1", "action", "mail",
		  "mlreply:550:5.7.0:first line|second line|third line", "0"),
		L("1", "action", "rcpt", "reply:550:5.1.1:No such user: here", "0"),
		L("1", "action", "rcpt", "reply:451:4.7.1:Try again later", "0"),
		L("1", "action", "rcpt", "reply:550::No enhanced code", "0"),
		L("1", "action", "rcpt", "reply:650:5.1.1:Not a 4xx/5xx code", "-1"),
		L("1", "action", "rcpt", "reply:550:5.1.1:two\\\\r\\\\nlines", "-1"),
		L("1", "action", "rcpt", "reply:451:4.7.1:Temporary", "0"),
		L("1", "action", "rcpt", "reject", "1"),
		L("1", "rcpt", "<ok@example.net>"),
		L("1", "action", "eom",
		  "mlreply:554:5.7.1:Rejected at eom|see https://example.com/why", "0"),
	})
	mt.echo("reply-codes.lua: OK")
end)
