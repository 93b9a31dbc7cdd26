import Foundation
import Logging

/// A PostgreSQL cluster kept in a local directory, started (or reused) on demand, so PyTake runs
/// with no prior set-up. PostgreSQL refuses to run as root; as root, the cluster directory is given
/// to the `postgres` system user and the server tools run as that user.
public struct EmbeddedPostgres: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let clusterDirectory: String
    public let port: Int
    public let database: String
    let binDirectory: String
    let runAsPostgres: Bool

    /// Connections the cluster accepts (each server process holds a pool, the listener and writers).
    public var maxConnections = 200

    public init(clusterDirectory: String, port: Int, database: String = "pytake") throws {
        self.clusterDirectory = URL(fileURLWithPath: clusterDirectory).standardizedFileURL.path
        self.port = port
        self.database = database
        self.binDirectory = try Self.findBinDirectory()
        self.runAsPostgres = geteuid() == 0
    }

    /// The superuser password, generated when the cluster is created and kept beside it (mode 0600),
    /// so other local users cannot connect to the cluster.
    public var passwordFile: String { clusterDirectory + ".password" }

    func url(port: Int) -> DatabaseURL {
        let password = (try? String(contentsOfFile: passwordFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        return DatabaseURL(host: "127.0.0.1", port: port, username: "postgres", password: password, database: database)
    }

    /// Creates the cluster on first use, starts it unless it already runs, and returns its URL
    /// (the port of a running cluster wins over `port`).
    public func start(logger: Logger) throws -> DatabaseURL {
        let fm = FileManager.default
        if !fm.fileExists(atPath: clusterDirectory + "/PG_VERSION") {
            try fm.createDirectory(atPath: clusterDirectory, withIntermediateDirectories: true)
            if runAsPostgres {
                try run("/bin/chown", ["postgres:postgres", clusterDirectory], asPostgres: false)
                let reachable = try? run("/bin/test", ["-w", clusterDirectory], asPostgres: true)
                guard reachable != nil else {
                    throw Failure(description: "the postgres system user cannot reach \(clusterDirectory) (a parent directory is private); set PYTAKE_DATA_DIR to a directory it can reach, such as /var/lib/pytake")
                }
            }
            logger.info("creating embedded PostgreSQL cluster", metadata: ["dir": "\(clusterDirectory)"])
            let password = randomToken(bytes: 24)
            guard fm.createFile(atPath: passwordFile, contents: Data(password.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw Failure(description: "cannot write \(passwordFile)")
            }
            // initdb reads the password from a file; as root it runs as postgres, which gets a private copy.
            var initdbPasswordFile = passwordFile
            if runAsPostgres {
                initdbPasswordFile = NSTemporaryDirectory() + "pytake-initdb-\(UUID().uuidString)"
                guard fm.createFile(atPath: initdbPasswordFile, contents: Data(password.utf8), attributes: [.posixPermissions: 0o600]) else {
                    throw Failure(description: "cannot write \(initdbPasswordFile)")
                }
                try run("/bin/chown", ["postgres:postgres", initdbPasswordFile], asPostgres: false)
            }
            defer { if initdbPasswordFile != passwordFile { try? fm.removeItem(atPath: initdbPasswordFile) } }
            try run(binDirectory + "/initdb", [
                "-D", clusterDirectory, "-U", "postgres", "-A", "scram-sha-256", "--pwfile=\(initdbPasswordFile)",
                "-E", "UTF8", "--locale=C.UTF-8",
            ], asPostgres: runAsPostgres)
        }
        if let running = runningPort() {
            logger.info("reusing running embedded PostgreSQL", metadata: ["port": "\(running)"])
            return url(port: running)
        }
        logger.info("starting embedded PostgreSQL", metadata: ["dir": "\(clusterDirectory)", "port": "\(port)"])
        do {
            try run(binDirectory + "/pg_ctl", [
                "-D", clusterDirectory, "-l", clusterDirectory + "/server.log", "-w", "-t", "60",
                "-o", "-p \(port) -k \(clusterDirectory) -c listen_addresses=127.0.0.1 -c max_connections=\(maxConnections)",
                "start",
            ], asPostgres: runAsPostgres)
        } catch {
            throw Failure(description: "embedded PostgreSQL did not start on port \(port) (see \(clusterDirectory)/server.log): \(error)")
        }
        return url(port: port)
    }

    public func stop() throws {
        try run(binDirectory + "/pg_ctl", ["-D", clusterDirectory, "-m", "fast", "-w", "stop"], asPostgres: runAsPostgres)
    }

    /// The port of the server running on this cluster, read from `postmaster.pid`, if it is alive.
    func runningPort() -> Int? {
        guard (try? run(binDirectory + "/pg_ctl", ["-D", clusterDirectory, "status"], asPostgres: runAsPostgres)) != nil,
              let pidFile = try? String(contentsOfFile: clusterDirectory + "/postmaster.pid", encoding: .utf8)
        else { return nil }
        let lines = pidFile.split(separator: "\n", omittingEmptySubsequences: false)
        return lines.count > 3 ? Int(lines[3]) : nil
    }

    @discardableResult
    func run(_ executable: String, _ arguments: [String], asPostgres: Bool) throws -> String {
        // `env -C /`: run from a directory every user can enter, whatever the caller's working directory
        // is (pg_ctl fails when it cannot read its current directory).
        let command = ["/usr/bin/env", "-C", "/", executable] + arguments
        let argv = asPostgres ? ["/sbin/runuser", "-u", "postgres", "--"] + command : command
        let (status, output) = try Subprocess.run(argv)
        guard status == 0 else {
            throw Failure(description: "\((executable as NSString).lastPathComponent) exited with \(status): \(output.trimmingCharacters(in: .whitespacesAndNewlines).suffix(400))")
        }
        return output
    }

    /// `PG_BIN_DIR`, else the newest `/usr/lib/postgresql/N/bin` (Debian), else `pg_config --bindir`.
    static func findBinDirectory() throws -> String {
        let fm = FileManager.default
        if let dir = ProcessInfo.processInfo.environment["PG_BIN_DIR"], fm.fileExists(atPath: dir + "/pg_ctl") {
            return dir
        }
        let versions = (try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        for version in versions.compactMap(Int.init).sorted(by: >) {
            let dir = "/usr/lib/postgresql/\(version)/bin"
            if fm.fileExists(atPath: dir + "/pg_ctl") { return dir }
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") where fm.fileExists(atPath: "\(dir)/pg_ctl") {
            return String(dir)
        }
        throw Failure(description: "PostgreSQL server binaries (initdb, pg_ctl) not found: install PostgreSQL 15+ (apt-get install postgresql) or set PG_BIN_DIR, or set DATABASE_URL to use an external server")
    }
}
