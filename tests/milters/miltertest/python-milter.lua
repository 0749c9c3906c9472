-- python-milter.lua: the pymilter implementation (sfm_testmilter.py) under
-- miltertest: verdicts, reply codes, eom modifications and its transcript.
dofile(HERE .. "/lib.lua")

H.run(function()
	mt.startfilter("/usr/bin/python3", PYMILTER,
		"-p", "inet:" .. PORT .. "@127.0.0.1", "-l", LOG,
		"-a", "rcpt/bad@=reject",
		"-a", "rcpt/r550@=reply:550:5.1.1:No such user: here",
		"-a", "mail/busy@=tempfail",
		"-a", "header/X-Spam: yes=discard",
		"-a", "eom=addheader:X-Py:yes\\tok",
		"-a", "eom=insheader:0:X-First:top",
		"-a", "eom=chgheader:1:Subject:changed",
		"-a", "eom=chgheader:1:X-Remove-Me:",
		"-a", "eom=quarantine:held",
		"-a", "eom=addrcpt:<added@example.org>",
		"-a", "eom=delrcpt:<good@example.net>",
		"-a", "eom=chgfrom:<new@example.com>:SIZE=5",
		"-a", "eom=replbody:new\\r\\nbody\\r\\n",
		"-a", "eom=accept")

	local conn = H.connect()
	H.check(mt.test_action(conn, SMFIF_CHGFROM), "CHGFROM requested")
	H.check(not mt.test_action(conn, SMFIF_SETSYMLIST), "no SETSYMLIST")
	H.ok(mt.macro(conn, SMFIC_CONNECT, "j", "mta.example"), "macro C")
	H.ok(mt.conninfo(conn, "client.example", "192.0.2.7"), "conninfo")
	H.reply(conn, SMFIR_CONTINUE, "connect")
	H.ok(mt.helo(conn, "helo.example"), "helo")
	H.ok(mt.mailfrom(conn, "<busy@example.com>"), "mail busy")
	H.reply(conn, SMFIR_TEMPFAIL, "mail busy")
	H.ok(mt.macro(conn, SMFIC_MAIL, "i", "PYQ1"), "macro M")
	H.ok(mt.mailfrom(conn, "<a@example.com>", "SIZE=100"), "mail")
	H.reply(conn, SMFIR_CONTINUE, "mail")
	H.ok(mt.rcptto(conn, "<bad@example.net>"), "rcpt bad")
	H.reply(conn, SMFIR_REJECT, "rcpt bad")
	H.ok(mt.rcptto(conn, "<r550@example.net>"), "rcpt r550")
	H.reply(conn, SMFIR_REPLYCODE, "rcpt r550")
	H.ok(mt.rcptto(conn, "<good@example.net>"), "rcpt good")
	H.reply(conn, SMFIR_CONTINUE, "rcpt good")
	H.ok(mt.header(conn, "Subject", " hi\r\n\tthere"), "header Subject")
	H.ok(mt.header(conn, "X-Remove-Me", "x"), "header X-Remove-Me")
	H.ok(mt.eoh(conn), "eoh")
	H.ok(mt.bodystring(conn, "x\r\n\xfe"), "body")
	H.ok(mt.eom(conn), "eom")
	H.reply(conn, SMFIR_ACCEPT, "eom")
	local checks = {
		{ MT_HDRADD, "X-Py", "yes\tok" },
		{ MT_HDRINSERT, "X-First", "top", 0 },
		{ MT_HDRCHANGE, "Subject", "changed" },
		{ MT_HDRDELETE, "X-Remove-Me" },
		{ MT_QUARANTINE, "held" },
		{ MT_RCPTADD, "<added@example.org>" },
		{ MT_RCPTDELETE, "<good@example.net>" },
		{ MT_BODYCHANGE, "new\r\nbody\r\n" },
	}
	for i, c in ipairs(checks) do
		H.check(mt.eom_check(conn, table.unpack(c)), "eom check " .. i)
	end
	-- Second message, discarded at a header, then aborted by the MTA.
	H.ok(mt.mailfrom(conn, "<a@example.com>"), "mail 2")
	H.ok(mt.rcptto(conn, "<good@example.net>"), "rcpt 2")
	H.ok(mt.header(conn, "X-Spam", "yes"), "header X-Spam")
	H.reply(conn, SMFIR_DISCARD, "header X-Spam")
	H.ok(mt.disconnect(conn), "disconnect")

	H.short_connection(2, "v6.example", "2001:db8::25", SMFIR_CONTINUE, "v6")

	local lines = H.transcript_when_closed(2)
	local L = H.L
	H.expect_in_order(lines, {
		-- pymilter requests only the actions it uses (0x7f) and SKIP.
		L("1", "negotiate", "0x1ff", "0x1fffff", "0x7f", "0x400"),
		L("1", "connect", "client.example", "4", "12345", "192.0.2.7"),
		L("1", "macro", "connect", "j", "mta.example"),
		L("1", "helo", "helo.example"),
		L("1", "mail", "<busy@example.com>"),
		L("1", "action", "mail", "tempfail", "4"),
		L("1", "mail", "<a@example.com>", "SIZE=100"),
		L("1", "macro", "mail", "i", "PYQ1"),
		L("1", "rcpt", "<bad@example.net>"),
		L("1", "action", "rcpt", "reject", "1"),
		L("1", "rcpt", "<r550@example.net>"),
		L("1", "action", "rcpt", "reply:550:5.1.1:No such user: here", "0"),
		L("1", "rcpt", "<good@example.net>"),
		L("1", "data"),
		L("1", "header", "Subject", " hi\\r\\n\\tthere"),
		L("1", "header", "X-Remove-Me", "x"),
		L("1", "eoh"),
		L("1", "body", "4", "x\\r\\n\\xfe"),
		L("1", "eom"),
		L("1", "action", "eom", "addheader:X-Py:yes\\\\tok", "0"),
		L("1", "action", "eom", "insheader:0:X-First:top", "0"),
		L("1", "action", "eom", "chgheader:1:Subject:changed", "0"),
		L("1", "action", "eom", "chgheader:1:X-Remove-Me:", "0"),
		L("1", "action", "eom", "quarantine:held", "0"),
		L("1", "action", "eom", "addrcpt:<added@example.org>", "0"),
		L("1", "action", "eom", "delrcpt:<good@example.net>", "0"),
		L("1", "action", "eom", "chgfrom:<new@example.com>:SIZE=5", "0"),
		L("1", "action", "eom", "replbody:new\\\\r\\\\nbody\\\\r\\\\n", "0"),
		L("1", "action", "eom", "accept", "3"),
		L("1", "header", "X-Spam", "yes"),
		L("1", "action", "header", "discard", "2"),
		L("1", "close"),
		L("2", "connect", "v6.example", "6", "12345", "2001:db8::25"),
		L("2", "close"),
	})
	mt.echo("python-milter.lua: OK")
end)
