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

    [TestCase("Bcc", true)]
    [TestCase("X-Spam_Score!", true)]
    [TestCase("", false)]
    [TestCase("Bcc ", false)]
    [TestCase("Bcc:", false)]
    [TestCase("X Bcc", false)]
    [TestCase("X-Caf\u00e9", false)]
    [TestCase("Sub\u007Fject", false)]
    public void A_bare_field_name_as_a_configuration_gives_one_is_printable_ASCII_but_the_colon_without_any_blank(string name, bool valid)
    {
        Assert.That(HeaderSyntax.IsBareFieldName(name), Is.EqualTo(valid));
    }

    [TestCase("plain", -1)]
    [TestCase(" a\r\n\tb", -1)]
    [TestCase(" a\n b", -1)]
    [TestCase(" a\nb", -1)]               // a line break that does not fold: the writer makes it fold
    [TestCase(" a\r\nb\n", -1)]
    [TestCase(" a\n\n b", -1)]
    [TestCase("\nX-Injected: 1", -1)]
    [TestCase(" a\rBcc: evil@example.net", 2)] // a CR outside a CRLF: a line break to some readers
    [TestCase(" a\r", 2)]
    [TestCase(" a\r\r\n b", 2)]
    [TestCase(" a\r\n\tb\rc", 6)]         // the first bad one, after a good fold
    [TestCase(" a\0b", 2)]                    // a NUL ends the value for C code
    [TestCase(" caf\u00E9", -1)]              // 8-bit bytes are no concern of this rule
    public void Only_a_bare_CR_or_a_NUL_is_unsafe_in_a_header_value(string value, int firstUnsafe)
    {
        Assert.That(HeaderSyntax.FindUnsafeByte(Encoding.Latin1.GetBytes(value)), Is.EqualTo(firstUnsafe));
    }

    [TestCase(" v", "\r\n", "X: v\r\n")]
    [TestCase("v", "\r\n", "X:v\r\n")]                                  // the value's own spacing: nothing added here
    [TestCase("", "\r\n", "X:\r\n")]
    [TestCase(" a\n\tb", "\r\n", "X: a\r\n\tb\r\n")]                  // a milter folds with a bare LF
    [TestCase(" a\r\n b", "\n", "X: a\n b\n")]                        // CRLF or LF, the message's own line end
    [TestCase(" a\nb", "\r\n", "X: a\r\n\tb\r\n")]                    // cleanup_out_header: a TAB before a line that does not fold
    [TestCase(" a\r\nBcc: evil@example.net", "\r\n", "X: a\r\n\tBcc: evil@example.net\r\n")]
    [TestCase(" a\n\nb", "\r\n", "X: a\r\n\t\r\n\tb\r\n")]           // an empty line cannot end the header section
    [TestCase(" a\n", "\r\n", "X: a\r\n\t\r\n")]                       // a line break at the end: a line of only a TAB, as Postfix writes it
    [TestCase("\n a", "\r\n", "X:\r\n a\r\n")]
    [TestCase(" caf\u00E9 \u00FF", "\r\n", "X: caf\u00E9 \u00FF\r\n")]       // 8-bit bytes as they are
    public void A_field_is_written_as_Postfix_writes_a_milters_header(string value, string lineEnd, string written)
    {
        var field = HeaderSyntax.WriteField("X", Encoding.Latin1.GetBytes(value), Encoding.ASCII.GetBytes(lineEnd));

        Assert.That(Encoding.Latin1.GetString(field), Is.EqualTo(written));
    }

    // What Postfix 3.7 kept of such fields, in the message it delivered and in what its milter received (the Postfix
    // differential's "delivered:" cases).
    private static IEnumerable<TestCaseData> CutFields()
    {
        var f70 = new string('f', 70);
        yield return new TestCaseData("X-Nul", " a\0b", " a").SetName("{m}(a NUL ends its line)");
        yield return new TestCaseData("X-Nul", " a\0b\r\n\tfolded after", " a\r\n\tfolded after").SetName("{m}(the lines after it stay, their line ends too)");
        yield return new TestCaseData("X-Nul", " a\0\n\tb\0c", " a\n\tb").SetName("{m}(each line is cut at its own)");
        yield return new TestCaseData("X-Nul-Long", " a\0" + new string('b', 3000), " a" + new string('b', 966))
            .SetName("{m}(a 2,048-byte piece of a line, counted from the name, ends at its NUL; the next piece goes on)");
        yield return new TestCaseData("X-" + new string('n', 3000), " a\0b", " a").SetName("{m}(a name longer than a piece: the value's piece counted from there)");
        yield return new TestCaseData("X-" + new string('n', 2044), "\0" + new string('b', 2050), new string('b', 2050)).SetName("{m}(a NUL as the last byte of a piece: the next piece is whole)");
        yield return new TestCaseData("X-" + new string('n', 2045), "\0" + new string('b', 2050), "bbb").SetName("{m}(a NUL as the first byte of a piece: the piece goes)");
        yield return new TestCaseData("X-Huge", " " + new string('h', 70_000), " " + new string('h', 59_992)).SetName("{m}(cut at 60,000 bytes, name and colon counted)");
        yield return new TestCaseData("X-Folded", " " + string.Join("\r\n\t", Enumerable.Repeat(f70, 1600)), " " + string.Join("\r\n\t", Enumerable.Repeat(f70, 833)))
            .SetName("{m}(folded: whole lines kept up to the one that would end past the limit, counting each fold as one LF)");
        yield return new TestCaseData("X-Fold", " " + new string('a', 50_000) + "\n\t" + new string('b', 20_000), " " + new string('a', 50_000) + "\n\t" + new string('b', 59_992 - 50_002))
            .SetName("{m}(folded, the long line starting before 90% of the limit: cut at the limit)");
        yield return new TestCaseData("X-Edge", " " + new string('e', 60_000 - 8), " " + new string('e', 60_000 - 8)).SetName("{m}(exactly 60,000 bytes: kept)");
        yield return new TestCaseData("X-Nul", " " + new string('n', 59_000) + "\0" + new string('m', 5_000), " " + new string('n', 59_000) + new string('m', 993))
            .SetName("{m}(the NUL cut first, its piece's 384 bytes after it with it; the limit counted on what is left)");
    }

    [TestCaseSource(nameof(CutFields))]
    public void A_client_field_is_kept_as_Postfix_keeps_it_cut_at_its_NULs_and_at_60000_bytes(string name, string value, string kept)
    {
        var cut = HeaderSyntax.CutLikePostfix(name, new RawText(Encoding.Latin1.GetBytes(value)));

        Assert.That(Encoding.Latin1.GetString(cut.Span), Is.EqualTo(kept), $"{cut.Length} bytes");
        Assert.That(HeaderSyntax.CutLikePostfix(name, cut), Is.EqualTo(cut), "what Postfix keeps, it keeps again: the host's cut field reaches the milter as it is");
    }

    // What Postfix 3.7 kept of such fields (the Postfix differential's "delivered: blanks before the colon counted" case):
    // smtpd cuts the line as it came into 2,048-byte pieces, blanks and all, while cleanup takes the blanks out before it
    // counts the field's length (mime_state.c, "Normalize obsolete 'name space colon' syntax to 'name colon'").
    private static IEnumerable<TestCaseData> CutFieldsWithBlanks()
    {
        yield return new TestCaseData("X-Nul", 2, " a\0" + new string('b', 3000), " a" + new string('b', 963))
            .SetName("{m}(a line's pieces counted from its name with the blanks after it: 2,040 bytes of the value in the first)");
        yield return new TestCaseData("X-" + new string('n', 2042), 2, "\0" + new string('b', 2050), new string('b', 2050))
            .SetName("{m}(a NUL as the last byte of a piece, counting the blanks: the next piece is whole)");
        yield return new TestCaseData("X-" + new string('n', 2043), 2, "\0" + new string('b', 2050), "bbb")
            .SetName("{m}(a NUL as the first byte of a piece, counting the blanks: the piece goes)");
        yield return new TestCaseData("X-Spaced", 3, " " + new string('s', 70_000), " " + new string('s', 59_990))
            .SetName("{m}(cut at 60,000 bytes counted without the blanks)");
        yield return new TestCaseData("X-Edge", 5, " " + new string('e', 60_000 - 8), " " + new string('e', 60_000 - 8))
            .SetName("{m}(60,000 bytes without the blanks, more with them: kept)");
    }

    [TestCaseSource(nameof(CutFieldsWithBlanks))]
    public void A_client_field_with_blanks_before_its_colon_is_kept_as_Postfix_keeps_it(string name, int blanks, string value, string kept)
    {
        var cut = HeaderSyntax.CutLikePostfix(name, new RawText(Encoding.Latin1.GetBytes(value)), blanks);

        Assert.That(Encoding.Latin1.GetString(cut.Span), Is.EqualTo(kept), $"{cut.Length} bytes");
        Assert.That(HeaderSyntax.CutLikePostfix(name, cut), Is.EqualTo(cut), "what Postfix keeps, it keeps again, the blanks unknown (the plug-in's cut)");
    }

    [Test]
    public void A_field_without_a_NUL_and_within_the_limit_is_the_same_value()
    {
        var value = new RawText(" plain\r\n\tfolded"u8);

        Assert.That(HeaderSyntax.CutLikePostfix("Subject", value), Is.EqualTo(value));
    }
}
