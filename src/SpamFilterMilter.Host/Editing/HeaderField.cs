namespace SpamFilterMilter.Host.Editing;

/// <summary>One header field as the editor sees it.</summary>
/// <param name="Name">The field name as written (without blanks before the colon).</param>
/// <param name="Value">The raw text after the colon: leading blanks and the line breaks of folded lines included, the final line end not.</param>
public sealed record HeaderField(string Name, string Value);
