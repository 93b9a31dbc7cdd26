import Foundation
import OpenAPIRuntime
import PyTakeAPI
import PyTakeCore

/// Daily metrics and scheduler job runs.
extension APIHandler {
    func getDailyMetrics(_ input: Operations.GetDailyMetrics.Input) async throws -> Operations.GetDailyMetrics.Output {
        let identity = try scope.identity()
        let report = try await services.metrics.daily(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), from: input.query.from, to: input.query.to, identity: identity)
        return .ok(.init(body: .json(Self.report(report))))
    }

    func getMetricsOverview(_ input: Operations.GetMetricsOverview.Input) async throws -> Operations.GetMetricsOverview.Output {
        let identity = try scope.identity()
        let report = try await services.metrics.overview(from: input.query.from, to: input.query.to, identity: identity)
        return .ok(.init(body: .json(Self.report(report))))
    }

    func listJobRuns(_ input: Operations.ListJobRuns.Input) async throws -> Operations.ListJobRuns.Output {
        let identity = try scope.identity()
        let page = try await services.metrics.jobRuns(
            job: input.query.job, status: input.query.status?.rawValue,
            page: try PageRequest(limit: input.query.limit, cursor: input.query.cursor), identity: identity)
        let items = try page.items.map(Self.jobRun)
        return .ok(.init(body: .json(.init(items: items, nextCursor: page.nextCursor))))
    }

    static func jobRun(_ run: JobRunRecord) throws -> Components.Schemas.JobRun {
        let trigger = Components.Schemas.JobRun.TriggerPayload(rawValue: run.trigger) ?? .schedule
        let status = Components.Schemas.JobRunStatus(rawValue: run.status) ?? .failed
        let options = Components.Schemas.JobRun.OptionsPayload(additionalProperties: try Self.container(run.options))
        let counts = Components.Schemas.JobRun.CountsPayload(additionalProperties: run.counts.mapValues { Int64($0) })
        return Components.Schemas.JobRun(
            id: run.id, job: run.job, trigger: trigger, status: status, owner: run.owner, scheduledFor: run.scheduledFor,
            startedAt: run.startedAt, finishedAt: run.finishedAt, takeoverOf: run.takeoverOf, options: options, counts: counts,
            error: run.error)
    }

    static func report(_ report: MetricsReport) -> Components.Schemas.MetricsReport {
        .init(from: report.from, to: report.to, timezone: report.timezone, days: report.days.map(Self.day), totals: Self.day(report.totals),
              tenants: report.tenants.map(Int64.init), computedThrough: report.computedThrough)
    }

    static func day(_ d: DailyMetrics) -> Components.Schemas.DailyMetrics {
        .init(day: d.day, messagesIn: Int64(d.messagesIn), messagesOut: Int64(d.messagesOut),
              conversationsStarted: Int64(d.conversationsStarted), conversationsClosed: Int64(d.conversationsClosed),
              handoffs: Int64(d.handoffs), followupsSent: Int64(d.followupsSent), flowsCompleted: Int64(d.flowsCompleted),
              respondedConversations: Int64(d.respondedConversations), firstResponseMedianSeconds: d.firstResponseMedianSeconds,
              firstResponseAvgSeconds: d.firstResponseAvgSeconds)
    }
}
