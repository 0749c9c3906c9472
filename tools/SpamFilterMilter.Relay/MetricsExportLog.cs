using System.Diagnostics.Tracing;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace SpamFilterMilter.Relay;

/// <summary>
/// Puts the OpenTelemetry OTLP exporter's own complaints (a receiver that refuses, answers 404 or is not there: it tells
/// only its EventSource) into the relay's log, as 7013 Warnings: the first at once, then at most one every
/// <see cref="Quiet"/>, with how many were not logged in between, so a receiver that is down is known without a line a
/// minute.
/// </summary>
/// <remarks>
/// The fields are set by initialisers, which run before <see cref="EventListener"/>'s constructor: it reports the sources
/// that exist already, and an event may come, before a constructor body of this class would have run.
/// </remarks>
internal sealed class MetricsExportLog(ILogger logger, Uri url) : EventListener
{
    /// <summary>How long after a logged failure the next ones are only counted.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromMinutes(10);

    private const string ExporterSource = "OpenTelemetry-Exporter-OpenTelemetryProtocol";

    private readonly Lock _lock = new();
    private readonly ILogger _logger = logger;
    private readonly string _url = url.ToString();
    private DateTime _lastLogged = DateTime.MinValue;
    private int _notLogged;

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == ExporterSource)
        {
            EnableEvents(eventSource, EventLevel.Warning);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (eventData.Level > EventLevel.Warning)
        {
            return;
        }

        int skipped;
        lock (_lock)
        {
            var now = DateTime.UtcNow;
            if (now - _lastLogged < Quiet)
            {
                _notLogged++;
                return;
            }

            _lastLogged = now;
            skipped = _notLogged;
            _notLogged = 0;
        }

        var what = eventData.Message is { } format && eventData.Payload is { } payload
            ? string.Format(CultureInfo.InvariantCulture, format, [.. payload])
            : eventData.EventName ?? "failed";
        RelayLog.MetricsNotSent(_logger, _url, Contract.LogText.Quote(what), skipped, Quiet.TotalMinutes);
    }
}
