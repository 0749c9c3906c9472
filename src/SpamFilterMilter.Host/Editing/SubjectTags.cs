using System.Text;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Editing;

/// <summary>
/// Messaging Server's addtag: the tags, in order and separated by spaces, go in front of the Subject (a
/// Subject is added when there is none). The Subject's own bytes are kept as they are; tags with non-ASCII
/// characters are written as RFC 2047 encoded words (UTF-8, B), so the header stays 7-bit. Tags never hold
/// a line break, NUL or '|' (the Sieve parser refuses them).
/// </summary>
internal static class SubjectTags
{
    /// <summary>At most this many UTF-8 bytes per encoded word: 4 groups of 3 per 4 base64 characters, 72 characters in all.</summary>
    private const int BytesPerWord = 45;

    public static byte[] Apply(byte[] message, IReadOnlyList<string> tags)
    {
        if (tags.Count == 0)
        {
            return message;
        }

        var draft = MessageDraft.Parse(message, new Envelope(string.Empty, null, []));
        var index = -1;
        for (var i = 0; i < draft.Fields.Count; i++)
        {
            if (draft.Fields[i].Name.Equals("Subject", StringComparison.OrdinalIgnoreCase))
            {
                index = i;
                break;
            }
        }

        var prefix = string.Join(' ', tags);
        if (index < 0)
        {
            draft.Apply(new AddHeader("Subject", " " + Encode(prefix, draft.LineEnd)));
            return draft.ToBytes();
        }

        // "Subject:" and the blanks (and folds) after it, the tags, one space, then the old text byte for byte.
        var raw = draft.RawField(index).Span;
        var start = raw.IndexOf((byte)':') + 1;
        while (start < raw.Length && raw[start] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            start++;
        }

        var rest = raw[start..];
        var hasText = rest.TrimEnd("\r\n"u8).Length > 0;
        string head;
        if (!hasText)
        {
            head = Encode(prefix, draft.LineEnd) + draft.LineEnd;
        }
        else if (Ascii.IsValid(prefix))
        {
            head = prefix + " ";
        }
        else if (rest.StartsWith("=?"u8))
        {
            // Blanks between two encoded words are dropped when decoding: the separating space goes inside.
            head = Encode(prefix + " ", draft.LineEnd) + " ";
        }
        else
        {
            head = Encode(prefix, draft.LineEnd) + " ";
        }

        var name = draft.Fields[index].Name;
        byte[] tagged = [.. Encoding.ASCII.GetBytes(name + ": " + head), .. hasText ? rest : []];
        draft.ReplaceField(index, name, tagged);
        return draft.ToBytes();
    }

    /// <summary>
    /// <paramref name="text"/> itself when it is ASCII; else RFC 2047 encoded words, folded between words with
    /// <paramref name="lineEnd"/> and a space. The text's own spaces are inside the words, so they survive
    /// decoding even next to another encoded word.
    /// </summary>
    private static string Encode(string text, string lineEnd)
    {
        if (Ascii.IsValid(text))
        {
            return text;
        }

        var words = new List<string>();
        var bytes = Encoding.UTF8.GetBytes(text);
        var start = 0;
        while (start < bytes.Length)
        {
            var length = Math.Min(BytesPerWord, bytes.Length - start);
            while (start + length < bytes.Length && (bytes[start + length] & 0xC0) == 0x80)
            {
                length--; // never cut a character in two
            }

            words.Add($"=?UTF-8?B?{Convert.ToBase64String(bytes, start, length)}?=");
            start += length;
        }

        return string.Join(lineEnd + " ", words);
    }
}
