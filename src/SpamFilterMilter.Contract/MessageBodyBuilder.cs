namespace SpamFilterMilter.Contract;

/// <summary>
/// Collects a <see cref="MessageBody"/> written in pieces: in memory up to <see cref="MemoryLimit"/> bytes, then in a
/// temporary file of its own (created readable by this user only, in <see cref="SpillDirectory"/>), so that a large body
/// is never held, nor copied, in memory. Not thread-safe. <see cref="Build"/> hands the body over; <see cref="Dispose"/>
/// discards a body that was never built (its file included).
/// </summary>
public sealed class MessageBodyBuilder : IDisposable
{
    /// <summary>The default <see cref="MemoryLimit"/>: 1 MiB, past which a body goes to a file.</summary>
    public const int DefaultMemoryLimit = 1024 * 1024;

    /// <summary>The smallest buffer the in-memory part starts with.</summary>
    private const int FirstBufferBytes = 4096;

    private byte[] _memory = [];
    private FileStream? _file;
    private bool _built;

    /// <param name="memoryLimit">The most bytes held in memory; a longer body goes to a file. At least 0, at most <see cref="Array.MaxLength"/>.</param>
    /// <param name="spillDirectory">Where a body's file goes; null for the system's temporary folder (<see cref="Path.GetTempPath"/>).</param>
    public MessageBodyBuilder(int memoryLimit = DefaultMemoryLimit, string? spillDirectory = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(memoryLimit);
        MemoryLimit = memoryLimit;
        SpillDirectory = spillDirectory ?? Path.GetTempPath();
    }

    /// <summary>The most bytes held in memory.</summary>
    public int MemoryLimit { get; }

    /// <summary>Where a body longer than <see cref="MemoryLimit"/> is written.</summary>
    public string SpillDirectory { get; }

    /// <summary>The bytes written so far.</summary>
    public long Length { get; private set; }

    /// <summary>True once the body has gone to a file.</summary>
    public bool IsSpilled => _file is not null;

    /// <summary>
    /// Appends <paramref name="bytes"/>. Throws <see cref="IOException"/> or <see cref="UnauthorizedAccessException"/>
    /// when the file cannot be created or written (the folder is missing, the disk is full).
    /// </summary>
    public void Write(ReadOnlySpan<byte> bytes)
    {
        ObjectDisposedException.ThrowIf(_built, this);
        if (_file is null && Length + bytes.Length > MemoryLimit)
        {
            Spill();
        }

        if (_file is not null)
        {
            RandomAccess.Write(_file.SafeFileHandle, bytes, Length);
        }
        else
        {
            Reserve(bytes.Length);
            bytes.CopyTo(_memory.AsSpan((int)Length));
        }

        Length += bytes.Length;
    }

    /// <summary>The body written, handed over to the caller (who disposes it); the builder is then done.</summary>
    public MessageBody Build()
    {
        ObjectDisposedException.ThrowIf(_built, this);
        _built = true;
        var body = _file is not null ? new MessageBody(_file, Length) : MessageBody.FromBytes(_memory.AsMemory(0, (int)Length));
        (_file, _memory) = (null, []);
        return body;
    }

    /// <summary>Discards a body that was not built: its file is deleted.</summary>
    public void Dispose()
    {
        _built = true;
        _file?.Dispose();
        (_file, _memory) = (null, []);
    }

    /// <summary>Grows the memory buffer by doubling, never past <see cref="MemoryLimit"/>: small bodies stay cheap.</summary>
    private void Reserve(int more)
    {
        var needed = (int)Length + more;
        if (needed <= _memory.Length)
        {
            return;
        }

        // needed <= MemoryLimit here: a piece that would pass the limit spills instead.
        Array.Resize(ref _memory, (int)Math.Min(Math.Max(Math.Max(needed, _memory.Length * 2L), FirstBufferBytes), MemoryLimit));
    }

    /// <summary>Moves what is in memory to a new file; from here on every piece goes straight to it.</summary>
    private void Spill()
    {
        var path = Path.Combine(SpillDirectory, $"spamfiltermilter-body-{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.ReadWrite,
            Share = FileShare.None,
            BufferSize = 0, // written and read at offsets through its handle: no stream buffer
            Options = FileOptions.DeleteOnClose, // the net: whenever the handle closes, even finalised, the file goes
        };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // mail is private from the first byte
        }

        var file = new FileStream(path, options);
        if (!OperatingSystem.IsWindows())
        {
            // The open handle keeps the file; without a name it is gone even if the process dies before closing it.
            try
            {
                File.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // DeleteOnClose still removes it.
            }
        }

        try
        {
            RandomAccess.Write(file.SafeFileHandle, _memory.AsSpan(0, (int)Length), 0);
        }
        catch
        {
            file.Dispose();
            throw;
        }

        _file = file;
        _memory = [];
    }
}
