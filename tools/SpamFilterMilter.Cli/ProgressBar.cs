using System.Diagnostics;
using System.Globalization;

namespace SpamFilterMilter.Cli;

/// <summary>
/// A live progress line on standard error while bench runs: a bar, the count and the rate. On a
/// terminal it redraws in place four times a second; when standard error is a file or a pipe it
/// writes a plain line every few seconds instead.
/// </summary>
internal sealed class ProgressBar : IDisposable
{
    private const int Width = 30;
    private readonly TextWriter _writer;
    private readonly int _total;
    private readonly Func<int> _done;
    private readonly bool _inPlace;
    private readonly long _started = Stopwatch.GetTimestamp();
    private readonly Timer _timer;

    public ProgressBar(TextWriter writer, bool inPlace, int total, Func<int> done)
    {
        _writer = writer;
        _inPlace = inPlace;
        _total = total;
        _done = done;
        var period = _inPlace ? TimeSpan.FromMilliseconds(250) : TimeSpan.FromSeconds(5);
        _timer = new Timer(_ => Draw(final: false), null, period, period);
    }

    public void Dispose()
    {
        _timer.Dispose();
        Draw(final: true);
    }

    private void Draw(bool final)
    {
        var done = Math.Min(_done(), _total);
        var seconds = Stopwatch.GetElapsedTime(_started).TotalSeconds;
        var filled = _total == 0 ? Width : done * Width / _total;
        var line = string.Create(CultureInfo.InvariantCulture,
            $"[{new string('#', filled)}{new string('.', Width - filled)}] {done}/{_total} {(seconds > 0 ? done / seconds : 0),8:0} tx/s");
        lock (_writer)
        {
            if (_inPlace)
            {
                _writer.Write('\r' + line + (final ? Environment.NewLine : string.Empty));
            }
            else if (final || done < _total)
            {
                _writer.WriteLine(line);
            }

            _writer.Flush();
        }
    }
}
