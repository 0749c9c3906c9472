-- basic.lua: every stage once, macros, eom modifications, transcript checks.
--
-- Connection 1 (IPv4): unknown command, a full message whose eom runs every
-- modification action, then an aborted second message.
-- Connection 2 (IPv6) and 3 (unknown family): connect lines only.
dofile(HERE .. "/lib.lua")

H.run(function()
	mt.startfilter(MILTER, "-p", "inet:" .. PORT .. "@127.0.0.1", "-l", LOG,
		"-a", "helo=sleep:50",
		"-a", "eom=addheader:X-Test:hello\\tworld: with colon",
		"-a", "eom=insheader:0:X-First:top",
		"-a", "eom=chgheader:1:Subject:changed subject",
		"-a", "eom=chgheader:1:X-Remove-Me:",
		"-a", "eom=quarantine:held for review",
		"-a", "eom=addrcpt:<added@example.org>",
		"-a", "eom=addrcpt_par:<added2@example.org>:NOTIFY=NEVER",
		"-a", "eom=delrcpt:<b@example.net>",
		"-a", "eom=chgfrom:<new@example.com>:SIZE=99",
		"-a", "eom=replbody:new body\\r\\n",
		"-a", "eom=progress",
		"-a", "eom=accept")

	-- ---- connection 1 ------------------------------------------------------
	local conn = H.connect()
	H.check(mt.test_action(conn, SMFIF_ADDHDRS), "ADDHDRS negotiated")
	H.check(mt.test_action(conn, SMFIF_CHGFROM), "CHGFROM negotiated")
	H.check(mt.test_option(conn, SMFIP_SKIP), "SKIP negotiated")
	H.check(not mt.test_option(conn, SMFIP_NR_HDR), "NR_HDR not negotiated")

	H.ok(mt.macro(conn, SMFIC_CONNECT, "j", "mta.example", "{daemon_name}",
		"sfm-mta", "{client_addr}", "192.0.2.7"), "macro C")
	H.ok(mt.conninfo(conn, "client.example", "192.0.2.7"), "conninfo")
	H.reply(conn, SMFIR_CONTINUE, "connect")

	H.ok(mt.macro(conn, SMFIC_HELO, "{tls_version}", "TLSv1.3"), "macro H")
	H.ok(mt.helo(conn, "helo.example"), "helo")
	H.reply(conn, SMFIR_CONTINUE, "helo")

	H.ok(mt.unknown(conn, "XFOO bar"), "unknown")
	H.reply(conn, SMFIR_CONTINUE, "unknown")

	H.ok(mt.macro(conn, SMFIC_MAIL, "i", "QID1", "{mail_addr}", "a@example.com",
		"{spamfilter_optin}", "yes"), "macro M")
	H.ok(mt.mailfrom(conn, "<a@example.com>", "SIZE=100", "BODY=8BITMIME"),
		"mailfrom")
	H.reply(conn, SMFIR_CONTINUE, "mail")

	H.ok(mt.macro(conn, SMFIC_RCPT, "{rcpt_addr}", "b@example.net"), "macro R")
	H.ok(mt.rcptto(conn, "<b@example.net>", "NOTIFY=SUCCESS,FAILURE"), "rcpt")
	H.reply(conn, SMFIR_CONTINUE, "rcpt")

	H.ok(mt.data(conn), "data")
	H.reply(conn, SMFIR_CONTINUE, "data")

	H.ok(mt.header(conn, "From", "Alice <a@example.com>"), "header From")
	H.reply(conn, SMFIR_CONTINUE, "header From")
	-- A folded header with a leading space, as an MTA might pass it.
	H.ok(mt.header(conn, "Subject", " hello\r\n\tthere"), "header Subject")
	H.reply(conn, SMFIR_CONTINUE, "header Subject")
	H.ok(mt.header(conn, "X-Remove-Me", "x"), "header X-Remove-Me")
	H.ok(mt.eoh(conn), "eoh")
	H.reply(conn, SMFIR_CONTINUE, "eoh")

	H.ok(mt.bodystring(conn, "line1\r\nline2\t\xff\r\n"), "body")
	H.reply(conn, SMFIR_CONTINUE, "body")

	H.ok(mt.eom(conn), "eom")
	H.reply(conn, SMFIR_ACCEPT, "eom")
	H.check(mt.eom_check(conn, MT_HDRADD, "X-Test", "hello\tworld: with colon"),
		"X-Test added")
	H.check(mt.eom_check(conn, MT_HDRINSERT, "X-First", "top", 0),
		"X-First inserted at 0")
	H.check(mt.eom_check(conn, MT_HDRCHANGE, "Subject", "changed subject"),
		"Subject changed")
	H.check(mt.eom_check(conn, MT_HDRDELETE, "X-Remove-Me"), "X-Remove-Me deleted")
	H.check(mt.eom_check(conn, MT_QUARANTINE, "held for review"), "quarantine")
	H.check(mt.eom_check(conn, MT_RCPTADD, "<added@example.org>"), "addrcpt")
	H.check(mt.eom_check(conn, MT_RCPTDELETE, "<b@example.net>"), "delrcpt")
	H.check(mt.eom_check(conn, MT_BODYCHANGE, "new body\r\n"), "replbody")

	-- Second message on the same connection, aborted after RCPT.
	H.ok(mt.mailfrom(conn, "<c@example.com>"), "mailfrom 2")
	H.ok(mt.rcptto(conn, "<d@example.net>"), "rcpt 2")
	H.ok(mt.abort(conn), "abort")
	H.ok(mt.disconnect(conn), "disconnect")

	-- ---- connection 2: IPv6; connection 3: unknown address family ----------
	H.short_connection(2, "v6.example", "2001:db8::25", SMFIR_CONTINUE, "v6")
	H.short_connection(3, "nowhere", "unspec", SMFIR_CONTINUE, "unspec")

	-- ---- transcript -------------------------------------------------------
	local lines = H.transcript_when_closed(3)
	local L = H.L
	H.expect_in_order(lines, {
		L("1", "negotiate", "0x1ff", "0x1fffff", "0x1ff", "0x400"),
		-- miltertest always sends port 12345.
		L("1", "connect", "client.example", "4", "12345", "192.0.2.7"),
		L("1", "macro", "connect", "j", "mta.example"),
		L("1", "macro", "connect", "{daemon_name}", "sfm-mta"),
		L("1", "macro", "connect", "{client_addr}", "192.0.2.7"),
		L("1", "helo", "helo.example"),
		L("1", "macro", "helo", "{tls_version}", "TLSv1.3"),
		L("1", "action", "helo", "sleep:50", "0"),
		L("1", "unknown", "XFOO bar"),
		L("1", "mail", "<a@example.com>", "SIZE=100", "BODY=8BITMIME"),
		L("1", "macro", "mail", "i", "QID1"),
		L("1", "macro", "mail", "{mail_addr}", "a@example.com"),
		L("1", "macro", "mail", "{spamfilter_optin}", "yes"),
		L("1", "rcpt", "<b@example.net>", "NOTIFY=SUCCESS,FAILURE"),
		L("1", "macro", "rcpt", "{rcpt_addr}", "b@example.net"),
		L("1", "data"),
		L("1", "header", "From", "Alice <a@example.com>"),
		L("1", "header", "Subject", " hello\\r\\n\\tthere"),
		L("1", "header", "X-Remove-Me", "x"),
		L("1", "eoh"),
		L("1", "body", "16", "line1\\r\\nline2\\t\\xff\\r\\n"),
		L("1", "eom"),
		L("1", "action", "eom", "addheader:X-Test:hello\\\\tworld: with colon", "0"),
		L("1", "action", "eom", "insheader:0:X-First:top", "0"),
		L("1", "action", "eom", "chgheader:1:Subject:changed subject", "0"),
		L("1", "action", "eom", "chgheader:1:X-Remove-Me:", "0"),
		L("1", "action", "eom", "quarantine:held for review", "0"),
		L("1", "action", "eom", "addrcpt:<added@example.org>", "0"),
		L("1", "action", "eom", "addrcpt_par:<added2@example.org>:NOTIFY=NEVER", "0"),
		L("1", "action", "eom", "delrcpt:<b@example.net>", "0"),
		L("1", "action", "eom", "chgfrom:<new@example.com>:SIZE=99", "0"),
		L("1", "action", "eom", "replbody:new body\\\\r\\\\n", "0"),
		L("1", "action", "eom", "progress", "0"),
		L("1", "action", "eom", "accept", "3"),
		L("1", "mail", "<c@example.com>"),
		L("1", "rcpt", "<d@example.net>"),
		L("1", "abort"),
		L("1", "close"),
	})
	H.expect_in_order(lines, {
		L("2", "negotiate", "0x1ff", "0x1fffff", "0x1ff", "0x400"),
		L("2", "connect", "v6.example", "6", "12345", "2001:db8::25"),
		L("2", "close"),
		L("3", "connect", "nowhere", "U", "", ""),
		L("3", "close"),
	})
	-- libmilter quirk: a stage's macros stay until the MTA sends a new macro
	-- packet for that stage.  miltertest sent no 'M' macros for the second
	-- MAIL, so the first message's queue id is still visible at its abort.
	-- (An MTA should send a fresh, possibly empty, macro packet per message.)
	H.expect_in_order(lines, {
		L("1", "mail", "<c@example.com>"),
		L("1", "macro", "mail", "i", "QID1"),
		L("1", "abort"),
		L("1", "macro", "abort", "i", "QID1"),
	})
	-- Connection 3 got no macros at all.
	H.expect_absent(lines, "3\tmacro\t")
	mt.echo("basic.lua: OK")
end)
