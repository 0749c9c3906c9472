using System.Text;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Editing;

/// <summary>How the host reads a header field's raw value (RFC 5322): unfolded, or as the addresses of an address list.</summary>
internal static class HeaderValue
{
    /// <summary>RFC 5322 unfolding: a CRLF (or LF) followed by a blank is removed; the blank stays.</summary>
    public static string Unfold(string raw) => raw.Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", string.Empty, StringComparison.Ordinal).Replace("\r", string.Empty, StringComparison.Ordinal);

    /// <summary>
    /// The addr-specs of an address-list field (RFC 5322 §3.4): display names, comments and group names
    /// dropped; route prefixes (<c>@a,@b:</c>) removed; empty addresses skipped. The value is read as UTF-8
    /// (<see cref="RawText.ToString"/>): addresses are matched, not written.
    /// </summary>
    public static IReadOnlyList<string> Addresses(RawText raw)
    {
        var value = Unfold(raw.ToString());
        var addresses = new List<string>();
        var buffer = new StringBuilder();
        string? angle = null;
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            switch (c)
            {
                case '"':
                    var end = i + 1;
                    while (end < value.Length && value[end] != '"')
                    {
                        end += value[end] == '\\' ? 2 : 1;
                    }

                    buffer.Append(value, i, Math.Min(end + 1, value.Length) - i);
                    i = end;
                    break;
                case '(':
                    var depth = 1;
                    while (++i < value.Length && depth > 0)
                    {
                        depth += value[i] switch { '(' => 1, ')' => -1, _ => 0 };
                        i += value[i] == '\\' ? 1 : 0;
                    }

                    i--;
                    break;
                case '<':
                    var close = value.IndexOf('>', i + 1);
                    angle = close < 0 ? value[(i + 1)..] : value[(i + 1)..close];
                    var route = angle.LastIndexOf(':');
                    angle = (route >= 0 && angle.StartsWith('@') ? angle[(route + 1)..] : angle).Trim();
                    i = close < 0 ? value.Length : close;
                    break;
                case ':':
                    buffer.Clear(); // a group's display name
                    break;
                case ',':
                case ';':
                    Finish();
                    break;
                default:
                    buffer.Append(c);
                    break;
            }
        }

        Finish();
        return addresses;

        void Finish()
        {
            var address = angle ?? buffer.ToString().Trim();
            if (address.Length > 0)
            {
                addresses.Add(address);
            }

            angle = null;
            buffer.Clear();
        }
    }
}
