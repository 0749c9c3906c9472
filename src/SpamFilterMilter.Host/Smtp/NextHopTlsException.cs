namespace SpamFilterMilter.Host.Smtp;

/// <summary>
/// The hop could not be secured as <see cref="NextHopTls"/> asked: the message was not handed over, and not sent in plain
/// text either. Unlike a <see cref="NextHopException"/> there is no reply of the next hop's to pass on: what failed is
/// the hop, so the delivery may succeed later (a next hop whose TLS is mended) or once the configuration changes
/// (Postfix defers such mail: <c>4.7.4 TLS is required, but was not offered by host</c>, <c>4.7.5 Cannot start TLS:
/// handshake failure</c>).
/// </summary>
public sealed class NextHopTlsException : Exception
{
    /// <summary>Creates an exception at <see cref="NextHopTlsFailure.Handshake"/> with no message.</summary>
    public NextHopTlsException()
    {
    }

    /// <summary>Creates an exception at <see cref="NextHopTlsFailure.Handshake"/>.</summary>
    public NextHopTlsException(string message) : base(message)
    {
    }

    /// <summary>Creates an exception at <see cref="NextHopTlsFailure.Handshake"/> with its cause.</summary>
    public NextHopTlsException(string message, Exception innerException) : base(message, innerException)
    {
    }

    /// <param name="failure">Where TLS failed.</param>
    /// <param name="message">What failed, for the log (no secret: names, codes, certificate subjects).</param>
    /// <param name="innerException">The handshake's own exception, or null.</param>
    public NextHopTlsException(NextHopTlsFailure failure, string message, Exception? innerException = null) : base(message, innerException)
    {
        Failure = failure;
    }

    /// <summary>Where TLS failed.</summary>
    public NextHopTlsFailure Failure { get; } = NextHopTlsFailure.Handshake;
}

/// <summary>Where securing the hop failed: what the administrator looks at next.</summary>
public enum NextHopTlsFailure
{
    /// <summary>TLS was required and the next hop's EHLO reply offered no STARTTLS (its configuration, or someone in between removing it).</summary>
    NotOffered = 0,

    /// <summary>TLS was required and the next hop refused STARTTLS (the reply is in the message).</summary>
    Refused = 1,

    /// <summary>The next hop accepted STARTTLS, then the handshake failed: no common protocol or cipher, or the connection broke.</summary>
    Handshake = 2,

    /// <summary>At <see cref="NextHopTlsLevel.Verify"/>: the certificate does not chain to a trusted authority or does not bear the expected name.</summary>
    Certificate = 3,
}
