import CoreMetrics
import Foundation
import Logging
import Prometheus

/// The process's metrics, exported in Prometheus' text format by `GET /metrics` (the server) and
/// the scheduler's health port. One registry per process; `swift-metrics` is bootstrapped onto it
/// too, so libraries that report through `swift-metrics` land in the same export.
///
/// Label values are bounded sets (operation ids, provider types, outcomes, job names): never a
/// tenant, user or conversation id, so the number of series does not grow with the data.
public enum Telemetry {
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    /// Touches the registry so the bootstrap happens before the first metric is emitted.
    public static func bootstrap() { _ = registry }

    /// The export, in Prometheus' text exposition format (version 0.0.4).
    public static func render() -> [UInt8] {
        bootstrap()
        return registry.emitToBuffer()
    }

    static func descriptor(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "pytake", metricName: name, unitName: unit, helpText: help)
    }

    /// Request latencies: 1 ms to 10 s.
    static let latencyBuckets: [Duration] = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000].map { .microseconds(Int64($0 * 1000)) }
    /// Job durations: 10 ms to 10 min.
    static let jobBuckets: [Duration] = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600].map { .milliseconds(Int64($0 * 1000)) }

    // MARK: HTTP

    public static func request(operation: String, method: String, status: Int, duration: Duration) {
        registry.makeCounter(descriptor: descriptor("http_requests", "total", "HTTP requests answered, by operation (the spec's path template), method and status."),
                             labels: [("operation", operation), ("method", method), ("status", String(status))]).increment()
        registry.makeDurationHistogram(descriptor: descriptor("http_request_duration", "seconds", "Time to answer an HTTP request, by operation."),
                                       labels: [("operation", operation)], buckets: latencyBuckets).record(duration)
    }

    public static func rateLimited(scope: String) {
        registry.makeCounter(descriptor: descriptor("rate_limited_requests", "total", "Requests refused with 429 by the API rate limits, by bucket (user or ip)."),
                             labels: [("scope", scope)]).increment()
    }

    // MARK: Webhooks

    /// outcome: accepted (stored), duplicate (already stored), rejected (bad signature or payload).
    public static func webhookMessages(_ outcome: String, count: Int = 1) {
        guard count > 0 else { return }
        registry.makeCounter(descriptor: descriptor("webhook_messages", "total", "Customer messages in Meta webhooks: accepted (stored), duplicate (already stored), unroutable (no provider for the number)."),
                             labels: [("outcome", outcome)]).increment(by: Int64(count))
    }

    public static func webhookRejected(reason: String) {
        registry.makeCounter(descriptor: descriptor("webhook_rejected_deliveries", "total", "Meta webhook deliveries refused, by reason (signature_missing, signature_invalid, malformed, not_whatsapp)."),
                             labels: [("reason", reason)]).increment()
    }

    // MARK: Engine

    /// outcome: ok, failed (will be retried), gave_up (flow_failed after ENGINE_MAX_FAILURES).
    public static func engineTurn(_ outcome: String, duration: Duration? = nil) {
        registry.makeCounter(descriptor: descriptor("engine_turns", "total", "Flow engine turns, by outcome: ok, failed (retried with backoff), gave_up."),
                             labels: [("outcome", outcome)]).increment()
        if let duration {
            registry.makeDurationHistogram(descriptor: descriptor("engine_turn_duration", "seconds", "Time of a successful engine turn, from claim to commit."),
                                           labels: [], buckets: latencyBuckets).record(duration)
        }
    }

    // MARK: Outbound

    /// outcome: sent, or the SendError kind (circuit_open, rate_limited, unavailable, timeout, ...).
    public static func outboundSend(provider: String, operation: String, outcome: String) {
        registry.makeCounter(descriptor: descriptor("outbound_sends", "total", "Messages sent to WhatsApp providers, by provider type, operation and outcome (sent or the error kind)."),
                             labels: [("provider", provider), ("operation", operation), ("outcome", outcome)]).increment()
    }

    /// Called on every breaker transition; the gauge counts open (or half-open) breakers per type.
    public static func breakerOpened(provider: String) {
        breakerGauge(provider).increment()
        registry.makeCounter(descriptor: descriptor("provider_breaker_trips", "total", "Times a provider instance's circuit breaker opened."),
                             labels: [("provider", provider)]).increment()
    }

    public static func breakerClosed(provider: String) {
        breakerGauge(provider).decrement()
    }

    static func breakerGauge(_ provider: String) -> Prometheus.Gauge {
        registry.makeGauge(descriptor: descriptor("provider_breakers_open", "", "Provider instances whose circuit breaker is open or half-open in this process, by provider type."),
                           labels: [("provider", provider)])
    }

    // MARK: Database

    /// A transaction on the platform path of row-level security (every tenant's rows), by reason.
    static func platformTransaction(_ reason: String) {
        registry.makeCounter(descriptor: descriptor("db_platform_transactions", "total", "Transactions that saw every tenant's rows (row-level security's platform path), by reason."),
                             labels: [("reason", reason)]).increment()
    }

    // MARK: Jobs

    public static func jobRun(job: String, status: String, duration: Duration) {
        registry.makeCounter(descriptor: descriptor("job_runs", "total", "Scheduler job runs finished by this process, by job and status (succeeded, failed, abandoned)."),
                             labels: [("job", job), ("status", status)]).increment()
        registry.makeDurationHistogram(descriptor: descriptor("job_run_duration", "seconds", "Duration of scheduler job runs, by job."),
                                       labels: [("job", job)], buckets: jobBuckets).record(duration)
    }

    // MARK: Database pool

    public static func poolConfigured(size: Int) {
        registry.makeGauge(descriptor: descriptor("db_pool_max_connections", "", "Connections each database pool of this process may open (DATABASE_POOL_SIZE)."), labels: []).set(Double(size))
    }

    static let poolOpen = registry.makeGauge(
        descriptor: descriptor("db_pool_connections", "", "Database connections of this process's pools, open or opening."), labels: [])
    static let poolConnectFailures = registry.makeCounter(
        descriptor: descriptor("db_pool_connect_failures", "total", "Failed attempts to open a database connection."), labels: [])
}

/// postgres-nio's pool reports its events (connecting, failed to connect, closed) only as debug
/// and info lines on the client's background logger; this handler turns them into metrics and
/// passes on what the real logger's level admits. `ObservabilityTests` notices if a new
/// postgres-nio changes the wording.
struct PoolObservingLogHandler: LogHandler {
    let inner: Logger
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level {
        get { .debug }
        set {}
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        switch event.message.description {
        case "Creating new connection": Telemetry.poolOpen.increment()
        case "Connection closed": Telemetry.poolOpen.decrement()
        case "Connection creation failed":
            Telemetry.poolOpen.decrement()
            Telemetry.poolConnectFailures.increment()
        default: break
        }
        guard event.level >= inner.logLevel else { return }
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        inner.log(level: event.level, event.message, metadata: merged, source: event.source,
                  file: event.file, function: event.function, line: event.line)
    }
}
