import AsyncHTTPClient
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// What `pytake-scheduler` runs: the job runner and its jobs, with their own outbound stack.
public struct SchedulerServices: Sendable {
    public let runner: JobRunner
    public let jobs: [any ScheduledJob]
    public let scheduler: JobScheduler
    let httpClient: HTTPClient
    let credentialCache: CredentialCache
    let db: DB
    let logger: Logger

    public init(settings: Settings, db: DB, secrets: SecretBox, logger: Logger) {
        self.db = db
        self.logger = logger
        let s = settings.scheduler
        runner = JobRunner(db: db, logger: logger, settings: .init(
            leaseSeconds: s.leaseSeconds, pollSeconds: s.pollSeconds,
            intervals: ["metrics": s.metricsIntervalSeconds, "followup": s.followUpIntervalSeconds]))
        credentialCache = CredentialCache(ttl: .seconds(settings.outbound.credentialCacheSeconds))
        httpClient = SenderFactory.makeHTTPClient(settings: settings.outbound)
        let providers = ProviderService(db: db, logger: logger, secrets: secrets, cache: credentialCache)
        let outbound = Outbound(
            resolver: CredentialResolver(db: db, logger: logger, secrets: secrets, outbound: settings.outbound, cache: credentialCache),
            senders: SenderFactory(client: httpClient, settings: settings.outbound, logger: logger),
            providers: providers, db: db, logger: logger)
        jobs = [
            MetricsJob(db: db),
            FollowUpJob(db: db, outbound: outbound, settings: .init(
                batchSize: s.followUpBatchSize, concurrency: s.followUpConcurrency, maxTries: s.followUpMaxTries)),
        ]
        scheduler = JobScheduler(runner: runner, jobs: jobs)
    }

    /// The scheduler with what it needs beside it (after the database pool, which comes first).
    public var services: [any Service] {
        [HTTPClientService(client: httpClient), CredentialInvalidationListener(db: db, cache: credentialCache, logger: logger), scheduler]
    }

    public func job(named name: String) -> (any ScheduledJob)? {
        jobs.first { $0.name == name }
    }

    /// Shuts the HTTP client down when the services were never run (one-shot runs).
    public func shutdown() async {
        try? await httpClient.shutdown()
    }
}
