import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// A periodic job. `run` does one run's work and returns what it counted (kept in `job_runs`).
public protocol ScheduledJob: Sendable {
    var name: String { get }
    func run(_ run: JobRun) async throws -> [String: Int]
}

/// Options an operator gives a manual run (`pytake-scheduler --once metrics --rebuild --tenant ID`).
public struct JobOptions: Sendable, Equatable, Codable {
    public var rebuild: Bool
    public var tenantId: UUID?
    /// Follow-ups: find and count the candidates, send nothing.
    public var dryRun: Bool
    public init(rebuild: Bool = false, tenantId: UUID? = nil, dryRun: Bool = false) {
        self.rebuild = rebuild
        self.tenantId = tenantId
        self.dryRun = dryRun
    }
    enum CodingKeys: String, CodingKey { case rebuild, tenantId = "tenant_id", dryRun = "dry_run" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rebuild = try c.decodeIfPresent(Bool.self, forKey: .rebuild) ?? false
        tenantId = try c.decodeIfPresent(UUID.self, forKey: .tenantId)
        dryRun = try c.decodeIfPresent(Bool.self, forKey: .dryRun) ?? false
    }
}

/// One claimed run, as the job sees it.
public struct JobRun: Sendable {
    public let id: Int64
    public let job: String
    public let options: JobOptions
    public let logger: Logger
    let stopFlag: StopFlag

    /// Set when the process is shutting down: a job stops between units of work and reports what it did.
    public var shouldStop: Bool { stopFlag.isSet }
}

final class StopFlag: Sendable {
    private let value = Atomic(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}

/// The run ended early because the process is stopping; what was done so far is kept.
struct JobInterrupted: Error {
    var counts: [String: Int]
}

/// Claims, runs and records job runs. Every decision about time uses the database's clock, so
/// replicas with skewed clocks still agree on who runs what.
public struct JobRunner: Sendable {
    public struct Settings: Sendable {
        public var leaseSeconds: Int
        public var pollSeconds: Int
        public var intervals: [String: Int]
        public init(leaseSeconds: Int, pollSeconds: Int, intervals: [String: Int]) {
            self.leaseSeconds = leaseSeconds
            self.pollSeconds = pollSeconds
            self.intervals = intervals
        }
    }

    public let db: DB
    public let logger: Logger
    public let settings: Settings
    /// This replica, as `job_runs.owner` shows it.
    public let owner: String

    public init(db: DB, logger: Logger, settings: Settings) {
        self.db = db
        self.logger = logger
        self.settings = settings
        let host = ProcessInfo.processInfo.hostName.prefix(64)
        owner = "\(host):\(ProcessInfo.processInfo.processIdentifier):\(UUID().uuidString.prefix(8).lowercased())"
    }

    struct Claim: Sendable {
        var runId: Int64
        var options: JobOptions
        var takeoverOf: Int64?
    }

    /// Makes sure the schedule has a row for `job` (first due now).
    func register(_ job: String) async throws {
        try await db.unscoped.query("""
            INSERT INTO job_schedule (job, next_run_at) VALUES (\(job), now()) ON CONFLICT (job) DO NOTHING
            """, logger: logger)
    }

    /// Takes the job's lease when a run is due, or when a run's replica died (its lease expired:
    /// that run is marked abandoned and a new run takes over its slot). A manual claim starts a run
    /// now whenever no other run holds the lease. Nil: nothing to do (or another replica is on it).
    func claim(_ job: String, manual: JobOptions? = nil) async throws -> Claim? {
        let lease = settings.leaseSeconds
        let interval = settings.intervals[job] ?? 300
        return try await db.unscoped.transaction(logger: logger) { tx -> Claim? in
            let rows = try await tx.query("""
                SELECT next_run_at <= now(), run_id, lease_until IS NULL OR lease_until < now(), lease_owner
                FROM job_schedule WHERE job = \(job) FOR UPDATE SKIP LOCKED
                """, logger: logger)
            guard let (due, runId, free, previousOwner) = try await rows.decode((Bool, Int64?, Bool, String?).self).first(where: { _ in true }),
                  free else { return nil }
            var claim: Claim
            if let abandoned = runId {
                let old = try await tx.query("""
                    UPDATE job_runs SET status = 'abandoned', finished_at = now(),
                        error = 'lease expired: replica ' || owner || ' stopped mid-run; taken over by ' || \(owner)
                    WHERE id = \(abandoned) AND status = 'running'
                    RETURNING scheduled_for, trigger, options::text
                    """, logger: logger)
                if let (slot, trigger, options) = try await old.decode((Date, String, String).self).first(where: { _ in true }) {
                    let new = try await tx.query("""
                        INSERT INTO job_runs (job, scheduled_for, trigger, status, owner, takeover_of, options)
                        VALUES (\(job), \(slot), \(trigger), 'running', \(owner), \(abandoned), \(options)::jsonb) RETURNING id
                        """, logger: logger)
                    claim = Claim(runId: try await new.decode(Int64.self).first { _ in true }!,
                                  options: (try? JSONColumn.decode(JobOptions.self, from: options)) ?? JobOptions(), takeoverOf: abandoned)
                    logger.warning("taking over an abandoned job run", metadata: [
                        "job": "\(job)", "abandoned_run": "\(abandoned)", "previous_owner": "\(previousOwner ?? "?")", "run": "\(claim.runId)"])
                } else {
                    // The run row was finished but the schedule not released (cannot happen through
                    // this code; repaired rather than trusted).
                    try await tx.query("UPDATE job_schedule SET run_id = NULL WHERE job = \(job)", logger: logger)
                    return nil
                }
            } else if let manual {
                let new = try await tx.query("""
                    INSERT INTO job_runs (job, scheduled_for, trigger, status, owner, options)
                    VALUES (\(job), clock_timestamp(), 'manual', 'running', \(owner), \(try JSONColumn.encode(manual))::jsonb) RETURNING id
                    """, logger: logger)
                claim = Claim(runId: try await new.decode(Int64.self).first { _ in true }!, options: manual)
            } else if due {
                let new = try await tx.query("""
                    INSERT INTO job_runs (job, scheduled_for, trigger, status, owner)
                    SELECT job, next_run_at, 'schedule', 'running', \(owner) FROM job_schedule WHERE job = \(job) RETURNING id
                    """, logger: logger)
                claim = Claim(runId: try await new.decode(Int64.self).first { _ in true }!, options: JobOptions())
                // The next slot; a replica that was down for several intervals runs once, not once per missed slot.
                try await tx.query("""
                    UPDATE job_schedule SET next_run_at = CASE WHEN next_run_at + make_interval(secs => \(interval)) > now()
                        THEN next_run_at + make_interval(secs => \(interval)) ELSE now() + make_interval(secs => \(interval)) END
                    WHERE job = \(job)
                    """, logger: logger)
            } else {
                return nil
            }
            try await tx.query("""
                UPDATE job_schedule SET run_id = \(claim.runId), lease_owner = \(owner), lease_until = now() + make_interval(secs => \(lease))
                WHERE job = \(job)
                """, logger: logger)
            return claim
        }
    }

    /// Extends the lease; false when this run no longer holds it (taken over).
    func renew(_ job: String, runId: Int64) async throws -> Bool {
        let rows = try await db.unscoped.query("""
            UPDATE job_schedule SET lease_until = clock_timestamp() + make_interval(secs => \(settings.leaseSeconds))
            WHERE job = \(job) AND run_id = \(runId) RETURNING 1
            """, logger: logger)
        return try await rows.decode(Int.self).first { _ in true } != nil
    }

    /// Records the outcome and releases the lease, only if this run still holds it.
    func finish(_ job: String, runId: Int64, status: String, counts: [String: Int], error: String?, runAgainNow: Bool) async throws {
        try await db.unscoped.transaction(logger: logger) { tx in
            let released = try await tx.query("""
                UPDATE job_schedule SET run_id = NULL, lease_owner = NULL, lease_until = NULL,
                    next_run_at = CASE WHEN \(runAgainNow) THEN least(next_run_at, now()) ELSE next_run_at END
                WHERE job = \(job) AND run_id = \(runId) RETURNING 1
                """, logger: logger)
            guard try await released.decode(Int.self).first(where: { _ in true }) != nil else {
                logger.warning("job run finished after another replica took it over; its outcome is not recorded",
                               metadata: ["job": "\(job)", "run": "\(runId)", "status": "\(status)"])
                return
            }
            try await tx.query("""
                UPDATE job_runs SET status = \(status), finished_at = clock_timestamp(), counts = \(try JSONColumn.encode(counts))::jsonb,
                    error = \(error.map { String($0.prefix(2000)) })
                WHERE id = \(runId) AND status = 'running'
                """, logger: logger)
        }
    }

    /// Runs a claimed run with a lease heartbeat beside it, and records how it ended.
    func execute(_ job: any ScheduledJob, _ claim: Claim, stop: StopFlag) async -> (status: String, counts: [String: Int], error: String?) {
        var tagged = logger
        tagged[metadataKey: "job"] = "\(job.name)"
        tagged[metadataKey: "run"] = "\(claim.runId)"
        let runLogger = tagged
        let run = JobRun(id: claim.runId, job: job.name, options: claim.options, logger: runLogger, stopFlag: stop)
        let started = ContinuousClock.now
        runLogger.info("job run started", metadata: ["takeover_of": "\(claim.takeoverOf.map(String.init) ?? "-")",
                                                     "rebuild": "\(claim.options.rebuild)"])
        let outcome: (String, [String: Int], String?)
        let renewEvery = Duration.milliseconds(max(200, settings.leaseSeconds * 1000 / 3))
        outcome = await withTaskGroup(of: Optional<(String, [String: Int], String?)>.self) { group in
            group.addTask {
                // The lease heartbeat: a run that lost its lease stops (another replica owns the slot).
                while !Task.isCancelled {
                    try? await Task.sleep(for: renewEvery)
                    if Task.isCancelled { break }
                    do {
                        if try await !renew(job.name, runId: claim.runId) {
                            runLogger.error("job run lost its lease; stopping")
                            stop.set()
                            return nil
                        }
                    } catch {
                        runLogger.warning("could not renew the job lease", metadata: ["error": "\(Database.describe(error))"])
                    }
                }
                return nil
            }
            group.addTask {
                do {
                    return ("succeeded", try await job.run(run), nil)
                } catch let interrupted as JobInterrupted {
                    return ("abandoned", interrupted.counts, "stopped before finishing (shutdown or lost lease); the next run carries on")
                } catch {
                    return ("failed", [:], Database.describe(error))
                }
            }
            var result: (String, [String: Int], String?) = ("failed", [:], "no outcome")
            for await value in group {
                if let value {
                    result = value
                    group.cancelAll()
                }
            }
            return result
        }
        let (status, counts, error) = outcome
        let elapsed = ContinuousClock.now - started
        var withTime = counts
        withTime["duration_ms"] = Int(elapsed.milliseconds)
        do {
            try await finish(job.name, runId: claim.runId, status: status, counts: withTime, error: error, runAgainNow: status == "abandoned")
        } catch {
            runLogger.error("could not record the job run's outcome; its lease will expire and the slot is run again",
                            metadata: ["error": "\(Database.describe(error))"])
        }
        Telemetry.jobRun(job: job.name, status: status, duration: elapsed)
        let level: Logger.Level = status == "succeeded" ? .info : status == "abandoned" ? .warning : .error
        runLogger.log(level: level, "job run \(status)", metadata: [
            "counts": "\(withTime.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))",
            "error": "\(error ?? "-")"])
        return (status, withTime, error)
    }

    /// Seconds until `job` may have work (its next slot or an expiring lease), by the database's clock.
    func secondsUntilDue(_ job: String) async throws -> Double {
        let rows = try await db.unscoped.query("""
            SELECT extract(epoch FROM least(next_run_at, coalesce(lease_until, next_run_at)) - now())::float8
            FROM job_schedule WHERE job = \(job)
            """, logger: logger)
        return try await rows.decode(Double.self).first { _ in true } ?? 0
    }

    /// `--once`: one manual run of `job` now, waiting (up to `wait`) for a run in progress
    /// elsewhere to finish first.
    public func runOnce(_ job: any ScheduledJob, options: JobOptions, wait: Duration) async throws -> (runId: Int64, status: String, counts: [String: Int], error: String?) {
        try await register(job.name)
        let deadline = ContinuousClock.now + wait
        var told = false
        while true {
            if let claim = try await claim(job.name, manual: options) {
                let result = await execute(job, claim, stop: StopFlag())
                // A dead replica's run came first (its slot is finished now); then the one asked for.
                if claim.takeoverOf != nil { continue }
                return (claim.runId, result.status, result.counts, result.error)
            }
            guard ContinuousClock.now < deadline else {
                throw ConfigurationError("another replica is running '\(job.name)' (or its lease has not expired yet); try again later")
            }
            if !told {
                logger.notice("waiting for the run of this job in progress elsewhere", metadata: ["job": "\(job.name)"])
                told = true
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}

/// The scheduler service: one loop per job, each claiming its due runs. On graceful shutdown a
/// running job is asked to stop between units of work (what it did is kept and its slot is run
/// again at once by whichever replica looks next).
public struct JobScheduler: Service {
    public let runner: JobRunner
    public let jobs: [any ScheduledJob]

    public init(runner: JobRunner, jobs: [any ScheduledJob]) {
        self.runner = runner
        self.jobs = jobs
    }

    public func run() async throws {
        let logger = runner.logger
        for job in jobs {
            while true {
                do {
                    try await runner.register(job.name)
                    break
                } catch {
                    logger.warning("cannot register job; retrying", metadata: ["job": "\(job.name)", "error": "\(Database.describe(error))"])
                    try await Task.sleep(for: .seconds(2))
                }
            }
        }
        logger.info("scheduler running", metadata: ["owner": "\(runner.owner)", "jobs": "\(jobs.map(\.name).joined(separator: ","))"])
        await withDiscardingTaskGroup { group in
            for job in jobs {
                group.addTask { await loop(job) }
            }
        }
        logger.info("scheduler stopped", metadata: ["owner": "\(runner.owner)"])
    }

    private func loop(_ job: any ScheduledJob) async {
        let stop = StopFlag()
        await withGracefulShutdownHandler {
            while !stop.isSet && !Task.isCancelled {
                do {
                    if let claim = try await runner.claim(job.name) {
                        _ = await runner.execute(job, claim, stop: stop)
                        continue
                    }
                    let wait = try await runner.secondsUntilDue(job.name)
                    let capped = min(max(wait, 0.05), Double(runner.settings.pollSeconds))
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int(capped * 1000) + 10)) }
                } catch {
                    runner.logger.warning("job scheduling failed; retrying", metadata: ["job": "\(job.name)", "error": "\(Database.describe(error))"])
                    try? await Task.sleep(for: .seconds(min(5, runner.settings.pollSeconds)))
                }
            }
        } onGracefulShutdown: {
            stop.set()
        }
    }
}
