namespace SpamFilterMilter.Protocol.Wire;

/// <summary>What the protocol layer may ask of the connection under it.</summary>
internal interface IConnectionControl
{
    /// <summary>
    /// Sends the pending ACK now (TCP_QUICKACK). Called when a packet was read that more packets will follow (an
    /// edit, PROGRESS): the milter's Nagle holds its next small packet until that ACK, which Linux would otherwise
    /// delay by up to 40 ms.
    /// </summary>
    void AcknowledgeNow();

    /// <summary>Bounds the next blocking reads and writes (SO_RCVTIMEO, SO_SNDTIMEO).</summary>
    void SetBlockingTimeout(TimeSpan timeout);

    /// <summary>Bytes received and not yet read (FIONREAD): before we ask anything, a well-behaved milter has sent none.</summary>
    int AvailableBytes => 0;
}
