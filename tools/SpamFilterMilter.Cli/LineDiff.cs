using System.Text;

namespace SpamFilterMilter.Cli;

/// <summary>A line diff of two texts (longest common subsequence), written as unified-diff hunks without line numbers.</summary>
internal static class LineDiff
{
    public static string Unified(string before, string after, int context = 2)
    {
        var a = before.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var b = after.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var lcs = new int[a.Length + 1, b.Length + 1];
        for (var i = a.Length - 1; i >= 0; i--)
        {
            for (var j = b.Length - 1; j >= 0; j--)
            {
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
            }
        }

        var lines = new List<(char Mark, string Text)>();
        int x = 0, y = 0;
        while (x < a.Length || y < b.Length)
        {
            if (x < a.Length && y < b.Length && a[x] == b[y])
            {
                lines.Add((' ', a[x++]));
                y++;
            }
            else if (y < b.Length && (x == a.Length || lcs[x, y + 1] >= lcs[x + 1, y]))
            {
                lines.Add(('+', b[y++]));
            }
            else
            {
                lines.Add(('-', a[x++]));
            }
        }

        // Keep changed lines and their context; separate distant hunks.
        var keep = new bool[lines.Count];
        for (var i = 0; i < lines.Count; i++)
        {
            if (lines[i].Mark != ' ')
            {
                for (var k = Math.Max(0, i - context); k <= Math.Min(lines.Count - 1, i + context); k++)
                {
                    keep[k] = true;
                }
            }
        }

        var text = new StringBuilder();
        var gap = false;
        for (var i = 0; i < lines.Count; i++)
        {
            if (!keep[i])
            {
                gap = true;
                continue;
            }

            if (gap && text.Length > 0)
            {
                text.AppendLine("@@");
            }

            gap = false;
            text.Append(lines[i].Mark).AppendLine(lines[i].Text);
        }

        return text.ToString();
    }
}
