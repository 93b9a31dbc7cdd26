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
        try await HeavyTests.oneAtATime {
            let database = try await TestPostgres.shared.makeDatabase()
            let script = TestPostgres.packageRoot + "/Tests/browser/run.py"
            let environment = ["PYTAKE_BROWSER_DATABASE_URL": database.string, "PYTAKE_BIN_DIR": Self.binDirectory]
            let (status, output) = try await NIOThreadPool.singleton.runIfActive {
                try Subprocess.run(["python3", script], environment: environment)
            }
            try await TestPostgres.shared.dropDatabase(database)
            // The figures (BENCH lines) and the test list are worth seeing in the log either way.
            print(output.split(separator: "\n").filter { $0.hasPrefix("BENCH") || $0.contains(" ... ") }.joined(separator: "\n"))
            #expect(status == 0, "browser tests failed:\n\(output)")
        }
    }
}
