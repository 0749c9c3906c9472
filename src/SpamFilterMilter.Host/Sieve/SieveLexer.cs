using System.Globalization;
using System.Text;

namespace SpamFilterMilter.Host.Sieve;

/// <summary>What a token of a Sieve script is.</summary>
internal enum TokenKind
{
    Identifier,
    Tag,
    Number,
    String,
    OpenBracket,
    CloseBracket,
    OpenParen,
    CloseParen,
    OpenBrace,
    CloseBrace,
    Comma,
    Semicolon,
    End,
}

/// <summary>One token: its kind, its text (a string's value, a tag's name without the colon), a number's value, and where it starts.</summary>
internal sealed record Token(TokenKind Kind, string Text, long Number, int Line, int Column)
{
    public string Describe() => Kind switch
    {
        TokenKind.End => "the end of the script",
        TokenKind.String => "a string",
        TokenKind.Number => $"the number {Text}",
        TokenKind.Tag => $"the tag :{Text}",
        TokenKind.Identifier => $"\"{Text}\"",
        _ => $"\"{Text}\"",
    };
}

/// <summary>RFC 5228 §2 and §8.1 lexical rules: comments, quoted and multi-line strings, numbers with K/M/G.</summary>
internal sealed class SieveLexer(string text)
{
    private int _position;
    private int _line = 1;
    private int _lineStart;
    private Token? _peeked;

    public Token Peek() => _peeked ??= Read();

    public Token Next()
    {
        var token = Peek();
        _peeked = null;
        return token;
    }

    private int Column => _position - _lineStart + 1;

    private Token Read()
    {
        SkipBlanksAndComments();
        var (line, column) = (_line, Column);
        if (_position >= text.Length)
        {
            return new Token(TokenKind.End, string.Empty, 0, line, column);
        }

        var c = text[_position];
        switch (c)
        {
            case '[': _position++; return new Token(TokenKind.OpenBracket, "[", 0, line, column);
            case ']': _position++; return new Token(TokenKind.CloseBracket, "]", 0, line, column);
            case '(': _position++; return new Token(TokenKind.OpenParen, "(", 0, line, column);
            case ')': _position++; return new Token(TokenKind.CloseParen, ")", 0, line, column);
            case '{': _position++; return new Token(TokenKind.OpenBrace, "{", 0, line, column);
            case '}': _position++; return new Token(TokenKind.CloseBrace, "}", 0, line, column);
            case ',': _position++; return new Token(TokenKind.Comma, ",", 0, line, column);
            case ';': _position++; return new Token(TokenKind.Semicolon, ";", 0, line, column);
            case '"': return QuotedString(line, column);
            case ':':
                _position++;
                var tag = Word();
                return tag.Length > 0
                    ? new Token(TokenKind.Tag, tag, 0, line, column)
                    : throw new SieveException(line, column, "a tag needs a name after the colon");
        }

        if (char.IsAsciiDigit(c))
        {
            return NumberToken(line, column);
        }

        if (char.IsAsciiLetter(c) || c == '_')
        {
            var word = Word();
            if (word.Equals("text", StringComparison.OrdinalIgnoreCase) && _position < text.Length && text[_position] == ':')
            {
                _position++;
                return MultiLineString(line, column);
            }

            return new Token(TokenKind.Identifier, word, 0, line, column);
        }

        throw new SieveException(line, column, $"unexpected character '{c}'");
    }

    private string Word()
    {
        var start = _position;
        while (_position < text.Length && (char.IsAsciiLetterOrDigit(text[_position]) || text[_position] == '_'))
        {
            _position++;
        }

        return text[start.._position];
    }

    private Token NumberToken(int line, int column)
    {
        var start = _position;
        while (_position < text.Length && char.IsAsciiDigit(text[_position]))
        {
            _position++;
        }

        var digits = text[start.._position];
        long multiplier = 1;
        if (_position < text.Length && char.ToUpperInvariant(text[_position]) is 'K' or 'M' or 'G')
        {
            multiplier = char.ToUpperInvariant(text[_position++]) switch { 'K' => 1L << 10, 'M' => 1L << 20, _ => 1L << 30 };
        }

        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > long.MaxValue / multiplier)
        {
            throw new SieveException(line, column, $"the number {digits} is too large");
        }

        return new Token(TokenKind.Number, text[start.._position], value * multiplier, line, column);
    }

    private Token QuotedString(int line, int column)
    {
        _position++; // the opening quote
        var value = new StringBuilder();
        while (true)
        {
            if (_position >= text.Length)
            {
                throw new SieveException(line, column, "the string is not closed (a \" is missing)");
            }

            var c = text[_position++];
            if (c == '"')
            {
                return new Token(TokenKind.String, value.ToString(), 0, line, column);
            }

            if (c == '\\' && _position < text.Length)
            {
                c = text[_position++]; // RFC 5228 §2.4.2: \" and \\ escape; any other backslash is dropped
            }

            if (c == '\n')
            {
                NewLine();
            }

            value.Append(c);
        }
    }

    /// <summary>RFC 5228 §2.4.2 multi-line string: lines up to a lone "."; a leading ".." is unstuffed; lines end in CRLF.</summary>
    private Token MultiLineString(int line, int column)
    {
        while (_position < text.Length && text[_position] is ' ' or '\t')
        {
            _position++;
        }

        if (_position < text.Length && text[_position] == '#')
        {
            while (_position < text.Length && text[_position] != '\n')
            {
                _position++;
            }
        }

        if (_position < text.Length && text[_position] == '\r')
        {
            _position++;
        }

        if (_position >= text.Length || text[_position] != '\n')
        {
            throw new SieveException(line, column, "text: must be followed by the end of the line");
        }

        _position++;
        NewLine();
        var value = new StringBuilder();
        while (_position < text.Length)
        {
            var end = text.IndexOf('\n', _position);
            var raw = end < 0 ? text[_position..] : text[_position..end];
            _position = end < 0 ? text.Length : end + 1;
            NewLine();
            var content = raw.TrimEnd('\r');
            if (content == ".")
            {
                return new Token(TokenKind.String, value.ToString(), 0, line, column);
            }

            value.Append(content.StartsWith("..", StringComparison.Ordinal) ? content[1..] : content).Append("\r\n");
        }

        throw new SieveException(line, column, "the multi-line string has no closing \".\" line");
    }

    private void SkipBlanksAndComments()
    {
        while (_position < text.Length)
        {
            var c = text[_position];
            if (c == '\n')
            {
                _position++;
                NewLine();
            }
            else if (c is ' ' or '\t' or '\r')
            {
                _position++;
            }
            else if (c == '#')
            {
                while (_position < text.Length && text[_position] != '\n')
                {
                    _position++;
                }
            }
            else if (c == '/' && _position + 1 < text.Length && text[_position + 1] == '*')
            {
                var (line, column) = (_line, Column);
                _position += 2;
                while (_position < text.Length && !(text[_position] == '*' && _position + 1 < text.Length && text[_position + 1] == '/'))
                {
                    if (text[_position++] == '\n')
                    {
                        NewLine();
                    }
                }

                if (_position >= text.Length)
                {
                    throw new SieveException(line, column, "the comment is not closed (*/ is missing)");
                }

                _position += 2;
            }
            else
            {
                return;
            }
        }
    }

    private void NewLine()
    {
        _line++;
        _lineStart = _position;
    }
}
