using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;

namespace SpamFilterMilter.Relay;

/// <summary>
/// <c>--metrics-otlp</c>: the plug-in's meter (docs/operations.md, Metrics) sent by OTLP over HTTP (protobuf) every
/// interval, through the OpenTelemetry SDK's exporter, its failures in the relay's log (<see cref="MetricsExportLog"/>).
/// The meter is named here rather than taken from the plug-in's <c>MilterMetrics.MeterName</c>: the plug-in is loaded by
/// path, never referenced. Disposing sends what was measured since the last sending, waiting at most 5 s.
/// </summary>
internal sealed class RelayMetrics : IDisposable
{
    private readonly MeterProvider _provider;
    private readonly MetricsExportLog _failures;

    private RelayMetrics(MeterProvider provider, MetricsExportLog failures)
    {
        _provider = provider;
        _failures = failures;
    }

    public static RelayMetrics Start(Uri url, TimeSpan interval, ILogger logger)
    {
        var failures = new MetricsExportLog(logger, url);
        var provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter("SpamFilterMilter")
            .AddOtlpExporter((exporter, reader) =>
            {
                exporter.Endpoint = url; // the whole URL: set here, the SDK adds no /v1/metrics of its own
                exporter.Protocol = OtlpExportProtocol.HttpProtobuf;
                exporter.TimeoutMilliseconds = 5000; // also the last sending's, at a stop: a receiver that is down holds it no longer
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)interval.TotalMilliseconds;
            })
            .Build();
        RelayLog.SendingMetrics(logger, url.ToString(), interval.TotalSeconds);
        return new RelayMetrics(provider, failures);
    }

    public void Dispose()
    {
        _provider.Dispose();
        _failures.Dispose();
    }
}
