using System.Text;

namespace SpamFilterMilter.Contract.Tests;

/// <summary>The header-line and fold rules the plug-in and the host share (<see cref="HeaderSyntax"/>).</summary>
public class HeaderSyntaxTests
{
    [TestCase("Subject: hello", HeaderLineKind.Field, 7)]
    [TestCase("Subject:", HeaderLineKind.Field, 7)]
    [TestCase("Subject \t: obsolete blanks before the colon", HeaderLineKind.Field, 9)]
    [TestCase("X-Weird!#$%&'*+-.^_`|~: v", HeaderLineKind.Field, 22)]
    [TestCase(" folded", HeaderLineKind.Continuation, -1)]
    [TestCase("\tfolded: with a colon", HeaderLineKind.Continuation, -1)]
    [TestCase("", HeaderLineKind.End, -1)]
    [TestCase(": no name", HeaderLineKind.NotAField, 0)]
    [TestCase("no colon at all", HeaderLineKind.NotAField, -1)]
    [TestCase("Two words: v", HeaderLineKind.NotAField, 9)]
    [TestCase("From alice Tue Nov 17 10:00:00 2026", HeaderLineKind.NotAField, 24)] // an mbox From line
    [TestCase("Caf\u00e9: v", HeaderLineKind.NotAField, 5)]                          // not printable ASCII (UTF-8 bytes)
    public void Each_line_is_a_field_a_fold_the_end_or_not_a_header(string line, HeaderLineKind kind, int colon)
    {
        var kindSeen = HeaderSyntax.Classify(Encoding.UTF8.GetBytes(line), out var colonSeen);

        Assert.That((kindSeen, colonSeen), Is.EqualTo((kind, colon)));
    }

    [TestCase("Subject", true)]
    [TestCase("Subject \t", true)]
    [TestCase("", false)]
    [TestCase(" ", false)]
    [TestCase("Sub ject", false)]
    [TestCase("Sub\u007Fject", false)]
    public void A_field_name_is_printable_ASCII_without_blanks_but_trailing_ones(string name, bool valid)
    {
        Assert.That(HeaderSyntax.IsFieldName(Encoding.UTF8.GetBytes(name)), Is.EqualTo(valid));
    }

    [TestCase("plain", -1)]
    [TestCase(" a\r\n\tb", -1)]
    [TestCase(" a\n b", -1)]
    [TestCase(" a\r\n b\r\n\tc", -1)]
    [TestCase(" a\nb", 2)]
    [TestCase(" a\r\nb", 2)]          // the index of the CR of a CRLF
    [TestCase(" a\n", 2)]             // a break at the end folds nothing
    [TestCase(" a\r\n", 2)]
    [TestCase(" a\n\n b", 2)]         // an empty line would end the header section
    [TestCase(" a\r\n\tb\nc", 6)]     // the first bad one, after a good fold
    [TestCase("\nX-Injected: 1", 0)]
    [TestCase(" a\rBcc: evil@example.net", 2)] // a CR outside a CRLF: a line break to some readers
    [TestCase(" a\r", 2)]
    [TestCase(" a\r\r\n b", 2)]
    [TestCase(" a\0b", 2)]                    // a NUL ends the value for C code
    public void A_line_break_folds_only_when_a_blank_follows_it_and_no_bare_CR_or_NUL_is_allowed(string value, int firstBad)
    {
        Assert.That(HeaderSyntax.FindBadLineBreak(value), Is.EqualTo(firstBad));
    }
}
