using System.Text;

namespace SpamFilterMilter.Contract.Tests;

/// <summary>Header text as bytes (<see cref="RawText"/>): what it holds is what it was given, and only display reads it as text.</summary>
public class RawTextTests
{
    [Test]
    public void A_string_becomes_its_UTF8_bytes()
    {
        RawText text = " café";

        Assert.That(text.Span.ToArray(), Is.EqualTo(new byte[] { 0x20, 0x63, 0x61, 0x66, 0xC3, 0xA9 }));
        Assert.That((text.Length, text.IsEmpty, text.IsUtf8), Is.EqualTo((6, false, true)));
        Assert.That(text.ToString(), Is.EqualTo(" café"));
    }

    [Test]
    public void Bytes_that_are_not_UTF8_are_kept_and_only_shown_as_replacement_characters()
    {
        var latin1 = new RawText([0x63, 0x61, 0x66, 0xE9]);

        Assert.That(latin1.Span.ToArray(), Is.EqualTo(new byte[] { 0x63, 0x61, 0x66, 0xE9 }));
        Assert.That(latin1.IsUtf8, Is.False);
        Assert.That(latin1.ToString(), Is.EqualTo("caf\uFFFD"));
        Assert.That(latin1, Is.Not.EqualTo((RawText)"caf\uFFFD"), "the display form is not the bytes");
    }

    [Test]
    public void The_bytes_are_copied_in_so_changing_the_source_changes_nothing()
    {
        var source = Encoding.ASCII.GetBytes("abc");
        var text = new RawText(source);

        source[0] = (byte)'x';

        Assert.That(text.ToString(), Is.EqualTo("abc"));
    }

    [Test]
    public void Equal_bytes_are_equal_and_hash_alike_whatever_made_them()
    {
        RawText fromString = "v\r\n\tw";
        var fromBytes = new RawText("v\r\n\tw"u8);

        Assert.That(fromString == fromBytes, Is.True);
        Assert.That(fromString.Equals((object)fromBytes), Is.True);
        Assert.That(fromString.GetHashCode(), Is.EqualTo(fromBytes.GetHashCode()));
        Assert.That(fromString != (RawText)"v\n\tw", Is.True);
    }

    [Test]
    public void The_default_an_empty_string_and_null_are_the_same_empty_text()
    {
        Assert.That(default(RawText) == (RawText)string.Empty && default(RawText) == (RawText)(string?)null && RawText.Empty == new RawText([]), Is.True);
        Assert.That((default(RawText).IsEmpty, default(RawText).Length, default(RawText).IsUtf8, default(RawText).ToString()), Is.EqualTo((true, 0, true, string.Empty)));
    }

    [Test]
    public void A_null_string_is_the_empty_value_which_a_ChangeHeader_takes_for_a_deletion()
    {
        string? noValue = null;

        Assert.That(new ChangeHeader(1, "X-Old", noValue).Value, Is.EqualTo(RawText.Empty));
    }
}
