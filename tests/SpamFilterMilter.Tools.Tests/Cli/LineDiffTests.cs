using System.Text;
using SpamFilterMilter.Cli;

namespace SpamFilterMilter.Tools.Tests.Cli;

public class LineDiffTests
{
    [Test]
    public void A_diff_shows_changed_lines_with_two_lines_of_context_and_separates_distant_hunks()
    {
        var before = string.Join("\r\n", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j");
        var after = string.Join("\r\n", "a", "B", "c", "d", "e", "f", "g", "h", "i", "j", "k");

        var diff = LineDiff.Unified(before, after);

        Assert.That(diff.Replace("\r\n", "\n", StringComparison.Ordinal), Is.EqualTo(" a\n-b\n+B\n c\n d\n@@\n i\n j\n+k\n"));
    }

    [Test]
    public void Identical_texts_have_an_empty_diff()
    {
        Assert.That(LineDiff.Unified("same\r\ntext\r\n", "same\r\ntext\r\n"), Is.Empty);
    }

    [Test]
    public void A_header_change_in_a_very_large_message_shows_only_the_change()
    {
        // Quadratic matching over 200,000 lines would need 160 GB: the common suffix must be set aside first.
        var body = new StringBuilder();
        for (var i = 0; i < 200_000; i++)
        {
            body.Append("body line ").Append(i).Append("\r\n");
        }

        var diff = LineDiff.Unified("Subject: hi\r\n\r\n" + body, "X-Spam: yes\r\nSubject: hi\r\n\r\n" + body);

        Assert.That(diff.Replace("\r\n", "\n", StringComparison.Ordinal), Is.EqualTo("+X-Spam: yes\n Subject: hi\n \n"));
    }

    [Test]
    public void A_wholly_replaced_large_body_is_shown_removed_then_added()
    {
        var before = string.Join("\n", Enumerable.Range(0, 5_000).Select(i => $"old {i}"));
        var after = string.Join("\n", Enumerable.Range(0, 5_000).Select(i => $"new {i}"));

        var lines = LineDiff.Unified(before, after).Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);

        Assert.That(lines, Has.Length.EqualTo(10_000));
        Assert.That(lines[0], Is.EqualTo("-old 0"));
        Assert.That(lines[5_000], Is.EqualTo("+new 0"));
    }
}
