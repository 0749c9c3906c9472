using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Testing;

/// <summary>
/// Plays a <see cref="MessageSubmission"/> through <see cref="ISpamFilterPlugin.OpenSession"/> as an SMTP server would:
/// one call per stage, the header fields read by the Contract's <see cref="MessageHeaderReader"/> and passed as bytes, the
/// host's hidden trace header (<see cref="MessageSubmission.HiddenTraceHeader"/>) not passed at all. The counterpart of
/// <see cref="ISpamFilterPlugin.FilterMessageAsync"/>, so a test can prove both paths send the same.
/// </summary>
public static class StageByStage
{
    public static async Task<FilterVerdict> FilterAsync(ISpamFilterPlugin plugin, MessageSubmission submission)
    {
        ArgumentNullException.ThrowIfNull(plugin);
        ArgumentNullException.ThrowIfNull(submission);
        await using var session = plugin.OpenSession();
        foreach (var (name, value) in submission.Macros ?? new Dictionary<string, string>())
        {
            session.SetMacro(name, value);
        }

        await session.ConnectAsync(submission.Client ?? new ClientInfo());
        if (submission.HeloName is { } helo)
        {
            await session.HeloAsync(helo);
        }

        await session.MailAsync(submission.MailFrom, submission.MailParameters);
        foreach (var recipient in submission.Recipients)
        {
            await session.RcptAsync(recipient.Address, recipient.Parameters);
        }

        await session.DataAsync();
        using var reader = new MessageHeaderReader(submission.Message);
        var hidden = submission.HiddenTraceHeader;
        while (await reader.ReadFieldAsync() is { } field)
        {
            if (field == hidden)
            {
                hidden = null;
                continue;
            }

            await session.HeaderAsync(field.Name, field.Value);
        }

        await session.EndOfHeadersAsync();
        while (await reader.ReadBodyAsync() is { IsEmpty: false } chunk)
        {
            await session.BodyAsync(chunk);
        }

        var verdict = await session.EndOfMessageAsync();
        await session.CloseAsync();
        return verdict;
    }
}
