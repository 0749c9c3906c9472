using System.Buffers;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Protocol.Codec;

/// <summary>What one packet from the milter is, once decoded.</summary>
internal enum ReplyKind
{
    /// <summary>A decision that answers the event (<see cref="DecodedReply.Response"/>).</summary>
    Decision,

    /// <summary>SMFIR_PROGRESS: still working, keep waiting.</summary>
    Progress,

    /// <summary>SMFIR_QUARANTINE (<see cref="DecodedReply.Text"/> is the reason); Postfix accepts it at any stage.</summary>
    Quarantine,

    /// <summary>A modification other than the body (<see cref="DecodedReply.Edit"/>), at the end of the message only.</summary>
    Modification,

    /// <summary>A piece of the replacement body (<see cref="DecodedReply.Body"/>, valid until the next read).</summary>
    BodyChunk,
}

/// <summary>One decoded packet from the milter.</summary>
internal readonly record struct DecodedReply(ReplyKind Kind, MilterResponse Response = default, string? Text = null,
    MessageEdit? Edit = null, ReadOnlyMemory<byte> Body = default, string? Quirk = null);

/// <summary>
/// Decodes one packet the milter sent in answer to a command, checking its code against the command and its
/// payload against its layout, with Postfix's rules (milter8.c): a reply that carries no data must carry none,
/// strings end with NUL inside the packet, nothing is left over, a modification is allowed only in answer to
/// SMFIC_BODYEOB and only when negotiated, an SMTP reply text must be valid. Nothing from the milter is used as
/// text until it passed these checks. Pure: it reads a frame and returns what it is; it does no I/O.
/// </summary>
internal static class ReplyDecoder
{
    /// <summary>The reply for SMFIR_SHUTDOWN, which Postfix turns into 421 and a closed session.</summary>
    private static readonly SmtpReply ShutdownReply = new(421, "4.7.0", "Service unavailable - closing connection");

    /// <summary>Decodes <paramref name="frame"/>, which answers <paramref name="command"/>.</summary>
    /// <param name="frame">The packet.</param>
    /// <param name="command">The command it answers.</param>
    /// <param name="options">What was negotiated.</param>
    /// <param name="maxReplyText">The longest SMTP reply text accepted.</param>
    public static DecodedReply Decode(Frame frame, MilterCommand command, NegotiatedOptions options, int maxReplyText)
    {
        var stage = MilterNames.StageOf(command);
        var step = MilterNames.ReplyStage(command);
        var name = MilterNames.Name(frame.Code);
        switch (frame.Code)
        {
            case MilterReply.Progress:
                ExpectEmpty(frame, stage, step);
                return new DecodedReply(ReplyKind.Progress);

            case MilterReply.Continue:
                ExpectEmpty(frame, stage, step);
                return Decision(command == MilterCommand.EndOfBody ? MilterResponse.Accept : MilterResponse.Continue);

            case MilterReply.Accept:
                ExpectEmpty(frame, stage, step);
                return Decision(MilterResponse.Accept);

            case MilterReply.Reject:
                ExpectEmpty(frame, stage, step);
                return Decision(new MilterResponse(FilterAction.Reject, SmtpReply.DefaultReject));

            case MilterReply.TempFail:
                ExpectEmpty(frame, stage, step);
                return Decision(new MilterResponse(FilterAction.TempFail, SmtpReply.DefaultTempFail));

            case MilterReply.Discard:
                ExpectEmpty(frame, stage, step);
                return Decision(new MilterResponse(FilterAction.Discard));

            case MilterReply.Shutdown:
                ExpectEmpty(frame, stage, step);
                return Decision(new MilterResponse(FilterAction.TempFail, ShutdownReply),
                    "the milter sent SMFIR_SHUTDOWN; answering 421 and closing the SMTP session, as Postfix does");

            case MilterReply.Skip:
                ExpectEmpty(frame, stage, step);
                return Skip(command, options);

            case MilterReply.ReplyCode:
                return Decision(ReadReplyCode(frame, stage, step, name, maxReplyText));

            case MilterReply.Quarantine:
                RequireAction(options, ActionFlags.Quarantine, frame.Code, stage, step);
                var quarantine = new PayloadReader(frame.Payload.Span, stage, step, name);
                var reason = QuarantineReason(quarantine.ReadCString("reason"), maxReplyText);
                quarantine.ExpectEnd();
                return new DecodedReply(ReplyKind.Quarantine, Text: reason);
        }

        if (!IsModification(frame.Code))
        {
            throw new MilterProtocolException(MilterFailureKind.Unexpected, stage, step, $"unexpected filter response {name}");
        }

        if (command != MilterCommand.EndOfBody)
        {
            throw new MilterProtocolException(MilterFailureKind.Unexpected, stage, step, $"{name} is only allowed in reply to SMFIC_BODYEOB");
        }

        if (frame.Code == MilterReply.ReplaceBody)
        {
            RequireAction(options, ActionFlags.ChangeBody, frame.Code, stage, step);
            return new DecodedReply(ReplyKind.BodyChunk, Body: frame.Payload);
        }

        return new DecodedReply(ReplyKind.Modification, Edit: ReadModification(frame, options, stage, step));
    }

    private static DecodedReply Decision(MilterResponse response, string? quirk = null) =>
        new(ReplyKind.Decision, response, Quirk: quirk);

    /// <summary>SMFIR_REPLYCODE: <c>text\0</c>, a complete SMTP reply, judged by Postfix's rules.</summary>
    private static MilterResponse ReadReplyCode(Frame frame, FilterStage stage, string step, string name, int maxReplyText)
    {
        var reader = new PayloadReader(frame.Payload.Span, stage, step, name);
        var text = reader.ReadCString("reply text");
        reader.ExpectEnd();
        if (text.Length > maxReplyText)
        {
            throw new MilterProtocolException(MilterFailureKind.LimitExceeded, stage, step,
                $"{name}: a reply text of {text.Length} characters is longer than the {maxReplyText} allowed");
        }

        if (!SmtpReply.TryParse(text, SmtpReplySyntax.Milter, out var reply, out var problem))
        {
            throw new MilterProtocolException(MilterFailureKind.Unexpected, stage, step, $"{name}: malformed SMTP reply: {problem}");
        }

        return new MilterResponse(reply.IsTransient ? FilterAction.TempFail : FilterAction.Reject, reply);
    }

    /// <summary>
    /// SMFIR_SKIP: skip further events of this kind (Postfix semantics). Meaningful after RCPT, HEADER and BODY;
    /// elsewhere it is the same as CONTINUE. Logged when the milter did not negotiate SKIP.
    /// </summary>
    private static DecodedReply Skip(MilterCommand command, NegotiatedOptions options)
    {
        var quirk = options.Has(ProtocolFlags.Skip) ? null : "SMFIR_SKIP without SMFIP_SKIP negotiated; honoured";
        if (command is MilterCommand.Rcpt or MilterCommand.Header or MilterCommand.Body)
        {
            return Decision(new MilterResponse(FilterAction.Continue, Skip: true), quirk);
        }

        const string nothing = "SMFIR_SKIP has nothing to skip at this stage; treated as SMFIR_CONTINUE";
        return Decision(command == MilterCommand.EndOfBody ? MilterResponse.Accept : MilterResponse.Continue,
            quirk is null ? nothing : quirk + "; " + nothing);
    }

    /// <summary>
    /// One modification other than REPLBODY. Layouts:
    /// <code>
    /// SMFIR_ADDHEADER   name\0 value\0
    /// SMFIR_INSHEADER   uint32 index, name\0 value\0
    /// SMFIR_CHGHEADER   uint32 index, name\0 value\0     (empty value: delete)
    /// SMFIR_ADDRCPT     rcpt\0
    /// SMFIR_ADDRCPT_PAR rcpt\0 [args\0]
    /// SMFIR_DELRCPT     rcpt\0
    /// SMFIR_CHGFROM     sender\0 [args\0]
    /// </code>
    /// </summary>
    private static MessageEdit ReadModification(Frame frame, NegotiatedOptions options, FilterStage stage, string step)
    {
        var name = MilterNames.Name(frame.Code);
        var reader = new PayloadReader(frame.Payload.Span, stage, step, name);
        var leadingSpaceKept = options.Has(ProtocolFlags.HeaderLeadingSpace);
        MessageEdit edit;
        switch (frame.Code)
        {
            case MilterReply.AddHeader:
                RequireAction(options, ActionFlags.AddHeaders, frame.Code, stage, step);
                edit = new AddHeader(ReadFieldName(ref reader, stage, step, name), HeaderValue(reader.ReadCStringBytes("value"), leadingSpaceKept, stage, step, name));
                break;

            case MilterReply.InsertHeader:
                RequireAction(options, ActionFlags.AddHeaders, frame.Code, stage, step);
                var insertAt = ClampIndex(reader.ReadUInt32("index"));
                edit = new InsertHeader(insertAt, ReadFieldName(ref reader, stage, step, name), HeaderValue(reader.ReadCStringBytes("value"), leadingSpaceKept, stage, step, name));
                break;

            case MilterReply.ChangeHeader:
                RequireAction(options, ActionFlags.ChangeHeaders, frame.Code, stage, step);
                var index = Math.Max(1, ClampIndex(reader.ReadUInt32("index"))); // index 0 means 1, as in libmilter and Postfix
                var field = ReadFieldName(ref reader, stage, step, name);
                var value = reader.ReadCStringBytes("value");
                edit = new ChangeHeader(index, field, value.IsEmpty ? (RawText?)null : HeaderValue(value, leadingSpaceKept, stage, step, name)); // empty: delete
                break;

            case MilterReply.AddRecipient:
                RequireAction(options, ActionFlags.AddRecipients, frame.Code, stage, step);
                edit = new AddRecipient(ReadAddress(ref reader, "recipient", stage, step, name));
                break;

            case MilterReply.AddRecipientWithArgs:
                RequireAction(options, ActionFlags.AddRecipientsWithArgs, frame.Code, stage, step);
                var recipient = ReadAddress(ref reader, "recipient", stage, step, name);
                edit = new AddRecipient(recipient, ReadArguments(ref reader, stage, step, name));
                break;

            case MilterReply.DeleteRecipient:
                RequireAction(options, ActionFlags.DeleteRecipients, frame.Code, stage, step);
                edit = new DeleteRecipient(ReadAddress(ref reader, "recipient", stage, step, name));
                break;

            default: // MilterReply.ChangeSender: IsModification let nothing else through
                RequireAction(options, ActionFlags.ChangeSender, frame.Code, stage, step);
                var sender = ReadAddress(ref reader, "sender", stage, step, name);
                edit = new ChangeSender(sender, ReadArguments(ref reader, stage, step, name));
                break;
        }

        reader.ExpectEnd();
        return edit;
    }

    /// <summary>
    /// A header value as it goes into the message, the exact bytes after the colon: the MTA puts a space after the
    /// colon unless the milter negotiated HDR_LEADSPC (Postfix's MILTER8_HDR_SPACE), and the milter's bytes follow as
    /// they came, 8-bit and line breaks included (the MTA makes each line after the first fold when it writes the field,
    /// <see cref="HeaderSyntax.WriteField"/>). A CR that is not part of a CRLF is refused: some readers take it for a
    /// line break, which would start a header line of the milter's own making (<see cref="HeaderSyntax.FindUnsafeByte"/>).
    /// </summary>
    private static RawText HeaderValue(ReadOnlySpan<byte> wireValue, bool leadingSpaceKept, FilterStage stage, string step, string packet)
    {
        if (HeaderSyntax.FindUnsafeByte(wireValue) >= 0)
        {
            throw new MilterProtocolException(MilterFailureKind.Unexpected, stage, step,
                $"{packet}: the header value holds a CR that is not part of a line break, which some readers take for one: {LogText.Quote(new RawText(wireValue))}");
        }

        if (leadingSpaceKept)
        {
            return new RawText(wireValue);
        }

        // The space and the bytes are put together on the stack or in a pooled buffer: the RawText's own copy is the
        // one array a header value costs.
        var length = wireValue.Length + 1;
        var rented = length <= 256 ? null : ArrayPool<byte>.Shared.Rent(length);
        try
        {
            Span<byte> value = rented is null ? stackalloc byte[length] : rented.AsSpan(0, length);
            value[0] = (byte)' ';
            wireValue.CopyTo(value[1..]);
            return new RawText(value);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// An envelope address from the milter: UTF-8 text (the bytes it sent are the address, so none is read as Latin-1 and
    /// written back as other bytes), and one path (<see cref="MailPath.PathProblem"/>): a blank or an angle bracket
    /// would carry what follows it into MAIL or RCPT as parameters of its own. Postfix keeps the first address of such
    /// text and warns; the plug-in fails the message, as for any reply it cannot take as sent.
    /// </summary>
    private static string ReadAddress(ref PayloadReader reader, string field, FilterStage stage, string step, string packet)
    {
        var address = EnvelopeText(ReadUtf8(ref reader, field, "the " + field, stage, step, packet), "the " + field, stage, step, packet);
        return MailPath.PathProblem(address) is { } problem
            ? throw new MilterProtocolException(MilterFailureKind.Unexpected, stage, step,
                $"{packet}: the {field} {LogText.Quote(address)} is not one address ({problem}), which could carry parameters into an SMTP command")
            : address;
    }

    /// <summary>ESMTP arguments from the milter: no control character, or it could become an SMTP command of its own.</summary>
    private static string EnvelopeText(string text, string what, FilterStage stage, string step, string packet) =>
        MailPath.FindBadCharacter(text) < 0 ? text
            : throw new MilterProtocolException(MilterFailureKind.Unexpected, stage, step,
                $"{packet}: a control character in {what}, which could make an SMTP command of its own: {LogText.Quote(text)}");

    /// <summary>
    /// The optional ESMTP argument string of SMFIR_CHGFROM and SMFIR_ADDRCPT_PAR (libmilter's <c>args</c>, space
    /// separated), split into one parameter per entry as Postfix splits it; absent or empty gives none.
    /// </summary>
    private static IReadOnlyList<string> ReadArguments(ref PayloadReader reader, FilterStage stage, string step, string packet) =>
        reader.Remaining > 0 ? EsmtpParameters.Split(EnvelopeText(ReadUtf8(ref reader, "arguments", "the ESMTP arguments", stage, step, packet), "the ESMTP arguments", stage, step, packet)) : [];

    /// <summary>A string of the envelope, which must be UTF-8: read as Latin-1, its bytes would go on as other bytes.</summary>
    private static string ReadUtf8(ref PayloadReader reader, string field, string what, FilterStage stage, string step, string packet)
    {
        var bytes = reader.ReadCStringBytes(field);
        return PayloadReader.DecodeUtf8(bytes)
            ?? throw new MilterProtocolException(MilterFailureKind.Unexpected, stage, step,
                $"{packet}: text that is not UTF-8 in {what}: {LogText.Quote(new RawText(bytes))}");
    }

    /// <summary>
    /// A quarantine reason as the host may write it into a log or a header: each control character (a TAB, a line
    /// break) a space, and no longer than a reply text may be. Postfix never fails a message over its reason's text;
    /// neither does the plug-in: a reason is for the administrator to read, so it is made safe rather than refused.
    /// </summary>
    private static string QuarantineReason(string text, int maxLength)
    {
        var cut = text.Length <= maxLength ? text.Length : char.IsHighSurrogate(text[maxLength - 1]) ? maxLength - 1 : maxLength;
        return string.Create(cut, text, static (reason, text) =>
        {
            for (var i = 0; i < reason.Length; i++)
            {
                reason[i] = char.IsControl(text[i]) ? ' ' : text[i];
            }
        });
    }

    /// <summary>A header field name from the milter: printable US-ASCII but the colon, or it is not one (Postfix does not check; we do).</summary>
    private static string ReadFieldName(ref PayloadReader reader, FilterStage stage, string step, string packet)
    {
        var name = reader.ReadCStringBytes("name");
        if (name.IsEmpty || name.IndexOfAnyExceptInRange((byte)33, (byte)126) >= 0 || name.Contains((byte)':'))
        {
            throw new MilterProtocolException(MilterFailureKind.Unexpected, stage, step, $"{packet}: {LogText.Quote(new RawText(name))} is not a header field name");
        }

        return System.Text.Encoding.ASCII.GetString(name);
    }

    private static int ClampIndex(uint index) => index > int.MaxValue ? int.MaxValue : (int)index;

    private static bool IsModification(MilterReply code) => code is MilterReply.AddHeader or MilterReply.InsertHeader
        or MilterReply.ChangeHeader or MilterReply.AddRecipient or MilterReply.AddRecipientWithArgs
        or MilterReply.DeleteRecipient or MilterReply.ChangeSender or MilterReply.ReplaceBody;

    /// <summary>
    /// A modification the milter did not negotiate is refused. libmilter never sends one (smfi_* calls fail
    /// locally), so it only comes from a broken milter.
    /// </summary>
    private static void RequireAction(NegotiatedOptions options, ActionFlags needed, MilterReply code, FilterStage stage, string step)
    {
        if ((options.Actions & needed) == 0)
        {
            throw new MilterProtocolException(MilterFailureKind.Unexpected, stage, step,
                $"{MilterNames.Name(code)} without SMFIF_{MilterNames.Describe(needed)} negotiated");
        }
    }

    private static void ExpectEmpty(Frame frame, FilterStage stage, string step)
    {
        if (!frame.Payload.IsEmpty)
        {
            throw new MilterProtocolException(MilterFailureKind.Malformed, stage, step,
                $"reply {MilterNames.Name(frame.Code)} was followed by {frame.Payload.Length} data bytes");
        }
    }
}
