import Foundation
import Logging
import PyTakeCore
import PyTakeServer

/// `pytake-server`: the HTTP API and the web admin. Configuration comes from the environment.
@main
enum PyTakeServerMain {
    static func main() async {
        let settings: Settings
        do {
            settings = try Settings.fromEnvironment()
        } catch {
            FileHandle.standardError.write(Data("pytake-server: configuration error: \(error)\n".utf8))
            exit(2)
        }
        JSONLogHandler.bootstrap(level: settings.logLevel)
        let logger = Logger(label: "pytake-server")
        do {
            let app = try await buildApplication(settings: settings, logger: logger)
            try await app.runService()
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("pytake-server: \(error)\n".utf8))
            exit(2)
        } catch {
            FileHandle.standardError.write(Data("pytake-server: \(String(describing: error).prefix(500))\n".utf8))
            exit(1)
        }
    }
}
