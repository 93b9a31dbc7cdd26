import Foundation
import NIOPosix
import PyTakeCore
import PyTakeTestSupport
import Testing

/// The web admin in real headless Chromium (Selenium): `Tests/browser/run.py` starts the
/// `pytake-server` binary on a fresh migrated database with a loopback fake of Meta's Graph API and
/// JavaScript SDK, and drives every screen (see `Tests/browser/test_*.py`).
/// Needs python3 with selenium, chromium, chromium-driver and psql (the CI script installs them);
/// set PYTAKE_SKIP_BROWSER_TESTS=1 on a machine without a browser. Screenshots of the main screens
/// and of failures go to `.build/browser-screenshots/`.
@Suite struct BrowserTests {
    static let enabled = ProcessInfo.processInfo.environment["PYTAKE_SKIP_BROWSER_TESTS"] != "1"

    /// The directory holding the binaries built with this test bundle.
    static let binDirectory: String = {
        let sibling = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return FileManager.default.isExecutableFile(atPath: sibling.appendingPathComponent("pytake-server").path)
            ? sibling.path : TestPostgres.packageRoot + "/.build/debug"
    }()

    @Test(.enabled(if: enabled, "PYTAKE_SKIP_BROWSER_TESTS=1"), .timeLimit(.minutes(15)))
    func webAdminInChromium() async throws {
        // The figures (BENCH lines) and the test list are worth seeing in the log either way.
        let (status, output) = try await HeavyTests.runScript("browser/run.py", databaseVariable: "PYTAKE_BROWSER_DATABASE_URL") {
            $0.hasPrefix("BENCH") || $0.contains(" ... ")
        }
        #expect(status == 0, "browser tests failed:\n\(output)")
    }
}

extension HeavyTests {
    /// Runs `Tests/<script>` with python3 against the binaries built with this bundle, one heavy
    /// suite at a time; with `databaseVariable`, on a fresh migrated database whose URL it passes in
    /// that variable (dropped afterwards). Prints the output lines `keep` selects.
    /// Past `timeLimit` the script is stopped (SIGTERM: it prints every thread's stack and cleans
    /// up; then SIGKILL to what it started) and the run fails, instead of holding the suite.
    static func runScript(_ script: String, databaseVariable: String? = nil, timeLimit: Duration = .seconds(600),
                          keep: @escaping @Sendable (Substring) -> Bool) async throws -> (status: Int32, output: String) {
        try await oneAtATime {
            var environment = ["PYTAKE_BIN_DIR": BrowserTests.binDirectory]
            let database = databaseVariable == nil ? nil : try await TestPostgres.shared.makeDatabase()
            if let databaseVariable, let database { environment[databaseVariable] = database.string }
            let path = TestPostgres.packageRoot + "/Tests/" + script
            let result = try await NIOThreadPool.singleton.runIfActive { [environment] in
                try Subprocess.run(["python3", path], environment: environment, timeout: timeLimit)
            }
            if let database { try await TestPostgres.shared.dropDatabase(database) }
            print(result.output.split(separator: "\n").filter(keep).joined(separator: "\n"))
            fflush(nil)  // the lines now, not whenever the buffer fills (CI logs show where a run is)
            return result
        }
    }
}
