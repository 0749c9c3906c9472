using System.Text;

namespace SpamFilterMilter.Cli;

/// <summary>A line diff of two texts (longest common subsequence), written as unified-diff hunks without line numbers.</summary>
internal static class LineDiff
{
    /// <summary>Above this many line pairs the changed middle is shown as removed-then-added rather than matched.</summary>
    private const long MaxMatchedCells = 4_000_000;

    public static string Unified(string before, string after, int context = 2)
    {
        var a = before.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var b = after.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');

        // Milters edit headers and sometimes the body: the common prefix and suffix are most of a big
        // message, and the quadratic matching runs only on what lies between them.
        var prefix = 0;
        while (prefix < a.Length && prefix < b.Length && a[prefix] == b[prefix])
        {
            prefix++;
        }

        var suffix = 0;
        while (suffix < a.Length - prefix && suffix < b.Length - prefix && a[a.Length - 1 - suffix] == b[b.Length - 1 - suffix])
        {
            suffix++;
        }

        var lines = new List<(char Mark, string Text)>(Math.Max(a.Length, b.Length));
        lines.AddRange(a.Take(prefix).Select(line => (' ', line)));
        Middle(a[prefix..(a.Length - suffix)], b[prefix..(b.Length - suffix)], lines);
        lines.AddRange(a.Skip(a.Length - suffix).Select(line => (' ', line)));
        return Hunks(lines, context);
    }

    private static void Middle(string[] a, string[] b, List<(char Mark, string Text)> lines)
    {
        if ((long)a.Length * b.Length > MaxMatchedCells)
        {
            lines.AddRange(a.Select(line => ('-', line)));
            lines.AddRange(b.Select(line => ('+', line)));
            return;
        }

        var lcs = new int[a.Length + 1, b.Length + 1];
        for (var i = a.Length - 1; i >= 0; i--)
        {
            for (var j = b.Length - 1; j >= 0; j--)
            {
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
            }
        }

        int x = 0, y = 0;
        while (x < a.Length || y < b.Length)
        {
            if (x < a.Length && y < b.Length && a[x] == b[y])
            {
                lines.Add((' ', a[x++]));
                y++;
            }
            else if (x < a.Length && (y == b.Length || lcs[x + 1, y] >= lcs[x, y + 1]))
            {
                lines.Add(('-', a[x++])); // removed lines first, as diff -u shows them
            }
            else
            {
                lines.Add(('+', b[y++]));
            }
        }
    }

    /// <summary>The changed lines with their context; distant hunks separated by <c>@@</c>.</summary>
    private static string Hunks(List<(char Mark, string Text)> lines, int context)
    {
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
