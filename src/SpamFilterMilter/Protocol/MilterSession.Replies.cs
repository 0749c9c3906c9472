using System.Buffers;
using System.Runtime.CompilerServices;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Diagnostics;
using SpamFilterMilter.Policy;

namespace SpamFilterMilter.Protocol;

/// <summary>Reading and validating replies: every code is checked against the stage and its payload against its layout.</summary>
internal sealed partial class MilterSession
{
    /// <summary>The reply for SMFIR_SHUTDOWN, which Postfix turns into 421 and a closed session.</summary>
    private static readonly SmtpReply ShutdownReply = new(421, "4.7.0", "Service unavailable - closing connection");

    /// <summary>
    /// Reads the answer to one event before the end of the message: any number of SMFIR_PROGRESS and
    /// SMFIR_QUARANTINE (Postfix accepts quarantine at any stage), then one decision.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    private async ValueTask<MilterResponse> ReadResponseAsync(MilterCommand command, CancellationToken cancellationToken)
    {
        var stage = MilterConstants.ReplyStage(command);
        RefuseStrayBytes(stage);
        for (var count = 1; ; count++)
        {
            CheckReplyCount(count, stage);
            var frame = await ReadFrameAsync(stage, cancellationToken).ConfigureAwait(false);
            if (frame.Code == MilterReply.Quarantine)
            {
                ReadQuarantine(frame, stage);
                MoreToCome();
                continue;
            }

            if (TryReadDecision(frame, stage, command, out var response))
            {
                if (response is { } decided)
                {
                    RefuseMoreAfterAnswer(stage);
                    return decided;
                }

                MoreToCome(); // PROGRESS
                continue;
            }

            throw new MilterProtocolException(MilterFailureKind.Unexpected, stage,
                IsModification(frame.Code)
                    ? $"{MilterConstants.Name(frame.Code)} is only allowed in reply to SMFIC_BODYEOB"
                    : $"unexpected filter response {MilterConstants.Name(frame.Code)}");
        }
    }

    /// <summary>Reads the modifications and the final answer to SMFIC_BODYEOB.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    private async ValueTask<EndOfMessageResult> ReadEndOfMessageAsync(CancellationToken cancellationToken)
    {
        const string stage = "SMFIC_BODYEOB reply";
        RefuseStrayBytes(stage);
        List<MessageEdit>? edits = null;
        ArrayBufferWriter<byte>? body = null;
        var bodyIndex = -1;
        for (var count = 1; ; count++)
        {
            CheckReplyCount(count, stage);
            var frame = await ReadFrameAsync(stage, cancellationToken).ConfigureAwait(false);
            if (frame.Code == MilterReply.Quarantine)
            {
                ReadQuarantine(frame, stage);
                MoreToCome();
                continue;
            }

            if (TryReadDecision(frame, stage, MilterCommand.EndOfBody, out var response))
            {
                if (response is not { } decided)
                {
                    MoreToCome(); // PROGRESS
                    continue;
                }

                RefuseMoreAfterAnswer(stage);
                if (body is not null)
                {
                    edits![bodyIndex] = new ReplaceBody(body.WrittenMemory.ToArray());
                }

                return new EndOfMessageResult(decided, (IReadOnlyList<MessageEdit>?)edits ?? [], _quarantineReason);
            }

            if (!IsModification(frame.Code))
            {
                throw new MilterProtocolException(MilterFailureKind.Unexpected, stage,
                    $"unexpected filter response {MilterConstants.Name(frame.Code)}");
            }

            edits ??= [];
            if (edits.Count >= _settings.MaxEditsPerMessage && (frame.Code != MilterReply.ReplaceBody || body is null))
            {
                throw new MilterProtocolException(MilterFailureKind.LimitExceeded, stage,
                    $"more than {_settings.MaxEditsPerMessage} modifications to one message");
            }

            if (frame.Code == MilterReply.ReplaceBody)
            {
                // The body may come in many packets; they are one edit, at the place of the first.
                RequireAction(ActionFlags.ChangeBody, frame.Code, stage);
                if (body is null)
                {
                    body = new ArrayBufferWriter<byte>();
                    bodyIndex = edits.Count;
                    edits.Add(null!);
                }

                if (body.WrittenCount + frame.Payload.Length > _settings.MaxReplacementBodyBytes)
                {
                    throw new MilterProtocolException(MilterFailureKind.LimitExceeded, stage,
                        $"the replacement body is larger than the {_settings.MaxReplacementBodyBytes} bytes allowed");
                }

                body.Write(frame.Payload.Span);
                MoreToCome();
                continue;
            }

            edits.Add(ReadModification(frame, stage));
            MoreToCome();
        }
    }

    /// <summary>
    /// A packet was read that more will follow: acknowledge it now unless the rest is already here,
    /// so that the milter's Nagle does not hold its next packet for our delayed ACK.
    /// </summary>
    private void MoreToCome()
    {
        if (_reader.BufferedCount == 0)
        {
            _control?.AcknowledgeNow();
        }
    }

    /// <summary>
    /// Decodes the replies that decide (or, for PROGRESS, postpone) an event. Returns false for codes
    /// that are not decisions; <paramref name="response"/> is null for PROGRESS.
    /// </summary>
    private bool TryReadDecision(Frame frame, string stage, MilterCommand command, out MilterResponse? response)
    {
        var name = MilterConstants.Name(frame.Code);
        switch (frame.Code)
        {
            case MilterReply.Progress:
                ExpectEmpty(frame, stage);
                response = null;
                return true;

            case MilterReply.Continue:
                ExpectEmpty(frame, stage);
                response = command == MilterCommand.EndOfBody ? MilterResponse.Accept : MilterResponse.Continue;
                return true;

            case MilterReply.Accept:
                ExpectEmpty(frame, stage);
                response = MilterResponse.Accept;
                return true;

            case MilterReply.Reject:
                ExpectEmpty(frame, stage);
                response = new MilterResponse(FilterAction.Reject, SmtpReplyText.DefaultReject);
                return true;

            case MilterReply.TempFail:
                ExpectEmpty(frame, stage);
                response = new MilterResponse(FilterAction.TempFail, SmtpReplyText.DefaultTempFail);
                return true;

            case MilterReply.Discard:
                ExpectEmpty(frame, stage);
                response = new MilterResponse(FilterAction.Discard);
                return true;

            case MilterReply.Shutdown:
                ExpectEmpty(frame, stage);
                Log.MilterQuirk(_logger, Endpoint, stage, "the milter sent SMFIR_SHUTDOWN; answering 421 and closing the SMTP session, as Postfix does");
                response = new MilterResponse(FilterAction.TempFail, ShutdownReply);
                return true;

            case MilterReply.Skip:
                ExpectEmpty(frame, stage);
                response = ReadSkip(command, stage);
                return true;

            case MilterReply.ReplyCode:
                var reader = new PayloadReader(frame.Payload.Span, stage, name);
                var text = reader.ReadCString("reply text");
                reader.ExpectEnd();
                if (text.Length > _settings.MaxReplyText)
                {
                    throw new MilterProtocolException(MilterFailureKind.LimitExceeded, stage,
                        $"{name}: a reply text of {text.Length} characters is longer than the {_settings.MaxReplyText} allowed");
                }

                var reply = SmtpReplyText.TryParse(text, out var problem)
                    ?? throw new MilterProtocolException(MilterFailureKind.Unexpected, stage, $"{name}: malformed SMTP reply: {problem}");
                response = new MilterResponse(reply.IsTransient ? FilterAction.TempFail : FilterAction.Reject, reply);
                return true;

            default:
                response = null;
                return false;
        }
    }

    /// <summary>
    /// SMFIR_SKIP: skip further events of this kind (Postfix semantics). Meaningful after RCPT, HEADER
    /// and BODY; elsewhere it is the same as CONTINUE. Logged when the milter did not negotiate SKIP.
    /// </summary>
    private MilterResponse ReadSkip(MilterCommand command, string stage)
    {
        if (!_options!.Has(ProtocolFlags.Skip))
        {
            Log.MilterQuirk(_logger, Endpoint, stage, "SMFIR_SKIP without SMFIP_SKIP negotiated; honoured");
        }

        if (command is MilterCommand.Rcpt or MilterCommand.Header or MilterCommand.Body)
        {
            return new MilterResponse(FilterAction.Continue, Skip: true);
        }

        Log.MilterQuirk(_logger, Endpoint, stage, "SMFIR_SKIP has nothing to skip at this stage; treated as SMFIR_CONTINUE");
        return command == MilterCommand.EndOfBody ? MilterResponse.Accept : MilterResponse.Continue;
    }

    private void ReadQuarantine(Frame frame, string stage)
    {
        RequireAction(ActionFlags.Quarantine, frame.Code, stage);
        var reader = new PayloadReader(frame.Payload.Span, stage, "SMFIR_QUARANTINE");
        _quarantineReason = reader.ReadCString("reason");
        reader.ExpectEnd();
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
    private MessageEdit ReadModification(Frame frame, string stage)
    {
        var name = MilterConstants.Name(frame.Code);
        var reader = new PayloadReader(frame.Payload.Span, stage, name);
        MessageEdit edit;
        switch (frame.Code)
        {
            case MilterReply.AddHeader:
                RequireAction(ActionFlags.AddHeaders, frame.Code, stage);
                edit = new AddHeader(ReadFieldName(ref reader, stage, name), HeaderValue(reader.ReadCString("value"), stage, name));
                break;

            case MilterReply.InsertHeader:
                RequireAction(ActionFlags.AddHeaders, frame.Code, stage);
                var insertAt = ClampIndex(reader.ReadUInt32("index"));
                edit = new InsertHeader(insertAt, ReadFieldName(ref reader, stage, name), HeaderValue(reader.ReadCString("value"), stage, name));
                break;

            case MilterReply.ChangeHeader:
                RequireAction(ActionFlags.ChangeHeaders, frame.Code, stage);
                var index = Math.Max(1, ClampIndex(reader.ReadUInt32("index"))); // index 0 means 1, as in libmilter and Postfix
                var field = ReadFieldName(ref reader, stage, name);
                var value = reader.ReadCString("value");
                edit = new ChangeHeader(index, field, value.Length == 0 ? null : HeaderValue(value, stage, name));
                break;

            case MilterReply.AddRecipient:
                RequireAction(ActionFlags.AddRecipients, frame.Code, stage);
                edit = new AddRecipient(reader.ReadCString("recipient"), null);
                break;

            case MilterReply.AddRecipientWithArgs:
                RequireAction(ActionFlags.AddRecipientsWithArgs, frame.Code, stage);
                var recipient = reader.ReadCString("recipient");
                edit = new AddRecipient(recipient, reader.Remaining > 0 ? reader.ReadCString("arguments") : null);
                break;

            case MilterReply.DeleteRecipient:
                RequireAction(ActionFlags.DeleteRecipients, frame.Code, stage);
                edit = new DeleteRecipient(reader.ReadCString("recipient"));
                break;

            case MilterReply.ChangeSender:
                RequireAction(ActionFlags.ChangeSender, frame.Code, stage);
                var sender = reader.ReadCString("sender");
                edit = new ChangeSender(sender, reader.Remaining > 0 ? reader.ReadCString("arguments") : null);
                break;

            default:
                throw new MilterProtocolException(MilterFailureKind.Unexpected, stage, $"unexpected filter response {name}");
        }

        reader.ExpectEnd();
        return edit;
    }

    /// <summary>
    /// A header value as it goes into the message: the MTA puts a space after the colon unless the
    /// milter negotiated HDR_LEADSPC, and folded lines get CRLF line breaks.
    /// </summary>
    private string HeaderValue(string wireValue, string stage, string packet)
    {
        var value = _options!.Has(ProtocolFlags.HeaderLeadingSpace) ? wireValue : " " + wireValue;
        if (!value.Contains('\n', StringComparison.Ordinal))
        {
            return value;
        }

        // A line break is a fold only when a blank follows; any other would start a header line of the
        // milter's own making in the message (or end the header section).
        var normalized = NormalizeLineBreaks(value);
        for (var i = normalized.IndexOf('\n', StringComparison.Ordinal); i >= 0; i = normalized.IndexOf('\n', i + 1))
        {
            if (i + 1 >= normalized.Length || normalized[i + 1] is not (' ' or '\t'))
            {
                throw new MilterProtocolException(MilterFailureKind.Unexpected, stage,
                    $"{packet}: a line break in the header value is not followed by a blank, so it would not fold but start a new line");
            }
        }

        return normalized;
    }

    private static string NormalizeLineBreaks(string value) =>
        value.Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal);

    private static string ReadFieldName(ref PayloadReader reader, string stage, string packet)
    {
        var name = reader.ReadCString("name");
        if (name.Length == 0 || name.Any(c => c is <= ' ' or ':' or >= (char)0x7F))
        {
            throw new MilterProtocolException(MilterFailureKind.Unexpected, stage, $"{packet}: \"{name}\" is not a header field name");
        }

        return name;
    }

    private static int ClampIndex(uint index) => index > int.MaxValue ? int.MaxValue : (int)index;

    private static bool IsModification(MilterReply code) => code is MilterReply.AddHeader or MilterReply.InsertHeader
        or MilterReply.ChangeHeader or MilterReply.AddRecipient or MilterReply.AddRecipientWithArgs
        or MilterReply.DeleteRecipient or MilterReply.ChangeSender or MilterReply.ReplaceBody;

    /// <summary>
    /// A modification the milter did not negotiate is refused. libmilter never sends one (smfi_* calls
    /// fail locally), so it only comes from a broken milter.
    /// </summary>
    private void RequireAction(ActionFlags needed, MilterReply code, string stage)
    {
        if ((_options!.Actions & needed) == 0)
        {
            throw new MilterProtocolException(MilterFailureKind.Unexpected, stage,
                $"{MilterConstants.Name(code)} without SMFIF_{MilterConstants.Describe(needed)} negotiated");
        }
    }

    private static void ExpectEmpty(Frame frame, string stage)
    {
        if (!frame.Payload.IsEmpty)
        {
            throw new MilterProtocolException(MilterFailureKind.Malformed, stage,
                $"reply {MilterConstants.Name(frame.Code)} was followed by {frame.Payload.Length} data bytes");
        }
    }

    private void CheckReplyCount(int count, string stage)
    {
        if (count > _settings.MaxRepliesPerEvent)
        {
            throw new MilterProtocolException(MilterFailureKind.LimitExceeded, stage,
                $"more than {_settings.MaxRepliesPerEvent} packets in answer to one event");
        }
    }

    /// <summary>
    /// A milter gives one final answer per event; bytes already here behind it are a second answer (to a
    /// no-reply command, say) or garbage, and reading on would pair every later reply with the wrong command.
    /// </summary>
    private void RefuseMoreAfterAnswer(string stage)
    {
        if (_reader.BufferedCount > 0)
        {
            throw new MilterProtocolException(MilterFailureKind.Unexpected, stage,
                $"the milter sent {_reader.BufferedCount} more bytes after its answer (a second answer, or garbage)");
        }
    }

    /// <summary>
    /// Bytes that arrived before we asked anything are a reply to a command that takes none (a milter
    /// that ignores NR_* steps): reading on would pair every later reply with the wrong command.
    /// </summary>
    private void RefuseStrayBytes(string stage)
    {
        if (_reader.BufferedCount > 0)
        {
            throw new MilterProtocolException(MilterFailureKind.Unexpected, stage,
                $"the milter sent {_reader.BufferedCount} bytes nobody asked for (a reply to a command that takes none?)");
        }
    }
}
