namespace SpamFilterMilter.Contract;

/// <summary>One header field of a message, as <see cref="MessageHeaderReader"/> reads it and a milter sees it.</summary>
/// <param name="Name">The field name as written (printable US-ASCII but the colon), without the blanks some put before the colon.</param>
/// <param name="Value">
/// The exact bytes after the colon: the leading white space and the line breaks of folded lines as in the message
/// (CRLF, or LF in a message written with LF), the final line end not.
/// </param>
public readonly record struct HeaderField(string Name, RawText Value);
