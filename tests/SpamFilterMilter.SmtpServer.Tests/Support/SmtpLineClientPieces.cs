namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>What the tests of pipelined and piecewise command lines do with an <see cref="SmtpLineClient"/>.</summary>
public static class SmtpLineClientPieces
{
    /// <summary>
    /// Sends <paramref name="bytes"/> one byte per write, a few milliseconds apart: the server reads most bytes alone, so
    /// that each line is looked at before it is whole.
    /// </summary>
    public static async Task SendOneByteAtATimeAsync(this SmtpLineClient client, string bytes)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(bytes);
        foreach (var b in bytes)
        {
            await client.SendWithoutReadingAsync(b.ToString());
            await Task.Delay(3);
        }
    }

    /// <summary>Sends <paramref name="bytes"/> as they are (8-bit ones too), one byte per write, a few milliseconds apart.</summary>
    public static async Task SendOneByteAtATimeAsync(this SmtpLineClient client, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(bytes);
        foreach (var b in bytes)
        {
            await client.SendWithoutReadingAsync([b]);
            await Task.Delay(3);
        }
    }

    /// <summary>
    /// Reads <paramref name="count"/> replies, those of commands sent without reading (null where the server closed), until
    /// <paramref name="cancellationToken"/> gives up (a test that bounds its wait: a reply that never comes).
    /// </summary>
    public static async Task<ClientReply?[]> ReadRepliesAsync(this SmtpLineClient client, int count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        var replies = new ClientReply?[count];
        for (var i = 0; i < count; i++)
        {
            replies[i] = await client.ReadReplyAsync(cancellationToken);
        }

        return replies;
    }
}
