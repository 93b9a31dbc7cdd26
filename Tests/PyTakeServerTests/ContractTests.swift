import Foundation
import NIOPosix
import PyTakeAPI
@testable import PyTakeCore
import PyTakeTestSupport
import Testing

/// The server against its contract: `Tests/contract/run.py` starts the `pytake-server` binary on a
/// fresh migrated database, fuzzes it with schemathesis from openapi.yaml (`--checks all`, fixed
/// seed, bounded examples; see `Tests/contract/schemathesis.toml`), then generates a Python client
/// with openapi-python-client and drives a scenario through it.
/// Needs python3 with schemathesis and openapi-python-client (the CI script installs them); set
/// PYTAKE_SKIP_CONTRACT_TESTS=1 on a machine without them.
@Suite struct ContractTests {
    static let enabled = ProcessInfo.processInfo.environment["PYTAKE_SKIP_CONTRACT_TESTS"] != "1"

    @Test(.enabled(if: enabled, "PYTAKE_SKIP_CONTRACT_TESTS=1"), .timeLimit(.minutes(15)))
    func liveServerMatchesOpenAPIAndAGeneratedClientWorks() async throws {
        // The run's progress and schemathesis' summaries are worth seeing in the log either way.
        let (status, output) = try await HeavyTests.runScript("contract/run.py", databaseVariable: "PYTAKE_CONTRACT_DATABASE_URL") {
            $0.hasPrefix("[contract]") || $0.contains(" generated, ")
        }
        #expect(status == 0, "contract tests failed:\n\(output)")
    }

    /// openapi.yaml's `TimeZoneName` lists exactly the zones the server accepts.
    @Test func timeZoneNamesAreTheServersOwn() {
        let contract = Set(Components.Schemas.TimeZoneName.allCases.map(\.rawValue))
        #expect(contract == TenantRules.timezones,
                "in the contract only: \(contract.subtracting(TenantRules.timezones).sorted()); in the server only: \(TenantRules.timezones.subtracting(contract).sorted())")
    }

    /// Every 32-character base64url string is a cursor (the contract's `Cursor` pattern), and a
    /// cursor the server issues reads back as the position it was made from.
    @Test func cursorsRoundTripAndAnyWellFormedOneIsAPosition() throws {
        let id = UUID()
        let issued = Cursor.encode(["1763800000123456", id.uuidString])
        #expect(issued.count == 32 && issued.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        let position = try #require(try Cursor.decodeTimeAndID(issued))
        #expect(position.id == id && position.time == "2025-11-22 08:26:40.123456+00")
        #expect(try Cursor.decodeID(Cursor.encode(["812"])) == 812)
        for forged in [String(repeating: "A", count: 32), String(repeating: "_", count: 32), String(repeating: "-", count: 32)] {
            #expect(try Cursor.decodeTimeAndID(forged) != nil, "\(forged)")
        }
        #expect(Cursor.timestampLiteral(micros: .min) == "0001-01-01 00:00:00.000000+00")
        #expect(Cursor.timestampLiteral(micros: .max) == "9999-12-31 23:59:59.999999+00")
        #expect(Cursor.timestampLiteral(micros: -1) == "1969-12-31 23:59:59.999999+00")
        #expect(Cursor.timestampLiteral(micros: 951_782_400_000_000) == "2000-02-29 00:00:00.000000+00")
        for refused in ["", "short", String(repeating: "A", count: 31) + "=", String(repeating: "A", count: 33), String(repeating: "é", count: 32)] {
            #expect(throws: AppError.self, "\(refused)") { try Cursor.decode(refused) }
        }
    }
}
