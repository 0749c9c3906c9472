-- protocol-flags.lua: -P / -A / -S / -m.
--
-- The milter asks for NR_CONN, NR_HDR and NR_RCPT (no replies), NOBODY (no
-- body chunks), a restricted action set and two macro lists.  Verdicts
-- configured for no-reply stages are replaced by SMFIS_NOREPLY, which the
-- transcript shows as "noreply(forced)".
dofile(HERE .. "/lib.lua")

H.run(function()
	mt.startfilter(MILTER, "-p", "inet:" .. PORT .. "@127.0.0.1", "-l", LOG,
		"-P", "NR_CONN,NR_HDR,NR_RCPT,NOBODY",
		"-A", "ADDHDRS,QUARANTINE,SETSYMLIST",
		"-S", "connect:j {daemon_name}",
		"-S", "mail:{mail_addr} i",
		"-m", "j i {mail_addr}",
		"-a", "header/X-Spam=reject",
		"-a", "rcpt/bad@=reject",
		"-a", "eom=addheader:X-Seen:1",
		"-a", "eom=chgheader:1:Subject:not allowed",
		"-a", "eom=reply:554:5.7.1:Go away")

	local conn = H.connect()
	for _, o in ipairs({ SMFIP_NR_CONN, SMFIP_NR_HDR, SMFIP_NR_RCPT,
	                     SMFIP_NOBODY, SMFIP_SKIP }) do
		H.check(mt.test_option(conn, o), string.format("option 0x%x", o))
	end
	H.check(not mt.test_option(conn, SMFIP_NR_MAIL), "NR_MAIL not requested")
	H.check(mt.test_action(conn, SMFIF_ADDHDRS), "ADDHDRS")
	H.check(mt.test_action(conn, SMFIF_SETSYMLIST), "SETSYMLIST")
	H.check(not mt.test_action(conn, SMFIF_CHGHDRS), "no CHGHDRS")
	H.check(not mt.test_action(conn, SMFIF_CHGBODY), "no CHGBODY")

	H.ok(mt.macro(conn, SMFIC_CONNECT, "j", "mta.example"), "macro C")
	H.ok(mt.conninfo(conn, "client.example", "192.0.2.7"), "conninfo")
	-- Send HELO explicitly: miltertest writes mt.macro() packets at once, and
	-- libmilter clears MAIL-stage macros when the (implicit) HELO arrives.
	H.ok(mt.helo(conn, "client.example"), "helo")
	H.ok(mt.macro(conn, SMFIC_MAIL, "i", "QID9", "{mail_addr}", "a@example.com"), "macro M")
	H.ok(mt.mailfrom(conn, "<a@example.com>"), "mail")
	H.reply(conn, SMFIR_CONTINUE, "mail")
	-- No reply is read for NR_RCPT, even for the "rejected" one.
	H.ok(mt.rcptto(conn, "<bad@example.net>"), "rcpt bad")
	H.ok(mt.rcptto(conn, "<good@example.net>"), "rcpt good")
	H.ok(mt.header(conn, "X-Spam", "yes"), "header X-Spam")
	H.ok(mt.header(conn, "Subject", "hello"), "header Subject")
	H.ok(mt.eoh(conn), "eoh")
	H.reply(conn, SMFIR_CONTINUE, "eoh")
	-- NOBODY negotiated: miltertest refuses to send body chunks (it raises an
	-- error rather than returning one, despite what its man page says).
	local sent, err = pcall(mt.bodystring, conn, "x\r\n")
	H.check(not sent or err ~= nil, "body refused under NOBODY")
	H.ok(mt.eom(conn), "eom")
	H.reply(conn, SMFIR_REPLYCODE, "eom")
	H.check(mt.eom_check(conn, MT_HDRADD, "X-Seen", "1"), "X-Seen added")
	H.check(not mt.eom_check(conn, MT_HDRCHANGE), "chgheader refused")
	H.check(H.eom_reply(conn, "554 5.7.1 Go away"), "eom reply")
	H.ok(mt.disconnect(conn), "disconnect")

	local lines = H.transcript_when_closed(1)
	local L = H.L
	H.expect_in_order(lines, {
		-- requested actions 0x121 = ADDHDRS|QUARANTINE|SETSYMLIST;
		-- protocol 0x9490 = NR_RCPT|NR_CONN|SKIP|NR_HDR|NOBODY.
		L("1", "negotiate", "0x1ff", "0x1fffff", "0x121", "0x9490"),
		L("1", "action", "negotiate", "setsymlist:0:j {daemon_name}", "0"),
		L("1", "action", "negotiate", "setsymlist:2:{mail_addr} i", "0"),
		L("1", "connect", "client.example", "4", "12345", "192.0.2.7"),
		L("1", "macro", "connect", "j", "mta.example"),
		L("1", "mail", "<a@example.com>"),
		L("1", "macro", "mail", "j", "mta.example"),
		L("1", "macro", "mail", "i", "QID9"),
		L("1", "macro", "mail", "{mail_addr}", "a@example.com"),
		L("1", "rcpt", "<bad@example.net>"),
		L("1", "action", "rcpt", "reject", "1"),
		L("1", "action", "rcpt", "noreply(forced)", "7"),
		L("1", "rcpt", "<good@example.net>"),
		L("1", "header", "X-Spam", "yes"),
		L("1", "action", "header", "reject", "1"),
		L("1", "action", "header", "noreply(forced)", "7"),
		L("1", "header", "Subject", "hello"),
		L("1", "eoh"),
		L("1", "eom"),
		L("1", "action", "eom", "addheader:X-Seen:1", "0"),
		-- CHGHDRS was not requested, so libmilter refuses locally.
		L("1", "action", "eom", "chgheader:1:Subject:not allowed", "-1"),
		L("1", "action", "eom", "reply:554:5.7.1:Go away", "0"),
		L("1", "close"),
	})
	H.expect_absent(lines, "1\tbody")
	mt.echo("protocol-flags.lua: OK")
end)
