import Foundation
import PyTakeCore
import Testing

@Suite struct SubprocessTests {
    @Test func statusAndOutputOfAProgramThatEnds() throws {
        let (status, output) = try Subprocess.run(["sh", "-c", "echo out; echo err >&2; exit 7"], timeout: .seconds(30))
        #expect(status == 7)
        #expect(output.contains("out") && output.contains("err"))
    }

    /// A program past its limit gets SIGTERM (its chance to say where it is and clean up), and
    /// what it started in its group goes with it.
    @Test func aProgramPastItsLimitIsStoppedWithWhatItStarted() throws {
        let pidFile = NSTemporaryDirectory() + "pytake-subprocess-child-\(UUID().uuidString)"
        defer { unlink(pidFile) }
        let started = ContinuousClock.now
        let (status, output) = try Subprocess.run(["sh", "-c", """
            sleep 300 & echo $! > \(pidFile)
            trap 'echo "stopped from outside"; exit 3' TERM
            while true; do sleep 0.1; done
            """], timeout: .seconds(1))
        #expect(status == Subprocess.timedOutStatus)
        #expect(output.contains("stopped from outside"), "the program saw SIGTERM: \(output)")
        #expect(output.contains("time limit"), "the output says why it ended: \(output)")
        #expect(ContinuousClock.now - started < .seconds(20))
        let child = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // The background sleep was in the program's group: it is gone (or a zombie being reaped).
        var gone = false
        for _ in 0..<50 where !gone {
            let state = (try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8)) ?? ""
            gone = state.isEmpty || state.split(separator: " ").dropFirst(2).first == "Z"
            if !gone { usleep(100_000) }
        }
        #expect(gone, "the program's child \(child) was stopped too")
    }
}
