namespace SpamFilterMilter.Host.Editing;

/// <summary>A message after a verdict's edits: the bytes and the envelope.</summary>
public sealed record EditedMessage(byte[] Message, Envelope Envelope);
