import Foundation

/// Runs a program to completion and returns its exit status and combined output.
///
/// posix_spawn + waitpid rather than Foundation's Process, whose exit monitoring can stall in some
/// hosts (test runners). Output goes to a file, not a pipe: a daemon the program leaves running
/// (`pg_ctl start`) inherits the descriptor, and a pipe would then never reach end-of-file.
/// This blocks the calling thread; call it off the cooperative pool when others need to run.
public enum Subprocess {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The status `run` returns for a program stopped at its time limit (as timeout(1) does).
    public static let timedOutStatus: Int32 = 124

    /// `input` becomes the program's standard input (empty when nil). With `timeout`, the program
    /// runs in a process group of its own; past the limit it gets SIGTERM (time to show where it
    /// is and clean up), 30 s later its whole group gets SIGKILL, the status is `timedOutStatus`
    /// and the output ends with a line saying so.
    public static func run(_ argv: [String], environment: [String: String] = [:], input: String? = nil,
                           timeout: Duration? = nil) throws -> (status: Int32, output: String) {
        let outputPath = NSTemporaryDirectory() + "pytake-subprocess-\(UUID().uuidString).log"
        defer { unlink(outputPath) }
        var inputPath = "/dev/null"
        if let input {
            inputPath = NSTemporaryDirectory() + "pytake-subprocess-\(UUID().uuidString).in"
            guard FileManager.default.createFile(atPath: inputPath, contents: Data(input.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw Failure(description: "cannot write \(inputPath)")
            }
        }
        defer { if input != nil { unlink(inputPath) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inputPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var variables = ProcessInfo.processInfo.environment
        variables.merge(environment) { _, new in new }
        let cEnvironment = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        let cArguments = argv.map { strdup($0) } + [nil]
        defer {
            cArguments.forEach { free($0) }
            cEnvironment.forEach { free($0) }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        if timeout != nil {
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, argv[0], &actions, &attributes, cArguments, cEnvironment)
        guard spawned == 0 else {
            throw Failure(description: "cannot run \(argv[0]): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        var timedOut = false
        if let timeout {
            let started = ContinuousClock.now
            var killAt: ContinuousClock.Instant?
            while true {
                let waited = waitpid(pid, &status, WNOHANG)
                if waited == pid || (waited == -1 && errno != EINTR) { break }
                let now = ContinuousClock.now
                if !timedOut && now - started >= timeout {
                    timedOut = true
                    kill(pid, SIGTERM)
                    killAt = now + .seconds(30)
                } else if let deadline = killAt, now >= deadline {
                    kill(-pid, SIGKILL)
                    killAt = nil
                }
                usleep(100_000)
            }
            // Whatever it left running in its group (servers, browsers) goes with it.
            if timedOut { kill(-pid, SIGKILL) }
        } else {
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        }
        var output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        if let timeout, timedOut {
            output += "\n\(argv.joined(separator: " ")): stopped after running past its time limit of \(timeout)\n"
            return (timedOutStatus, output)
        }
        let exited = status & 0x7f == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), output)
    }
}
