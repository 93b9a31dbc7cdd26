import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PyTakeCore

/// `GET` and `POST /meta/webhook` and `GET /meta/oauth/callback`, declared in openapi.yaml (tags
/// `webhooks`, `oauth`) but written by hand: the webhook signature is an HMAC of the exact bytes
/// received, which generated handlers never see, and the callback answers a plain redirect.
enum MetaRoutes {
    static let path = "/meta/webhook"
    static let callbackPath = "/meta/oauth/callback"
    static let signupCookie = "pytake_signup"
    static let signatureHeader = HTTPField.Name("X-Hub-Signature-256")!
    static let operations: [(path: String, method: HTTPRequest.Method)] = [(path, .get), (path, .post), (callbackPath, .get)]

    static func register(on router: Router<AppRequestContext>, services: AppServices) {
        router.get(RouterPath(stringLiteral: callbackPath)) { request, _ -> Response in
            let nonce = cookie(signupCookie, in: request.headers[values: .cookie])
            let location = await oauthCallback(request.uri.queryParameters, browserNonce: nonce, services: services)
            // The nonce is single-use with its state: forget it either way.
            var headers: HTTPFields = [.location: location]
            headers[.setCookie] = "\(signupCookie)=; Path=\(callbackPath); Max-Age=0; HttpOnly; SameSite=Lax"
            return Response(status: .found, headers: headers)
        }
        let verifyToken = services.settings.meta.verifyToken
        router.get(RouterPath(stringLiteral: path)) { request, _ -> Response in
            let query = request.uri.queryParameters
            guard query["hub.mode"] == "subscribe", let expected = verifyToken, let given = query["hub.verify_token"],
                  constantTimeEqual(String(given), expected), let challenge = query["hub.challenge"], challenge.unicodeScalars.count <= 512
            else {
                throw AppError(.forbidden, code: "webhook_verification_failed", "The verify token does not match.")
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: String(challenge))))
        }
        router.post(RouterPath(stringLiteral: path)) { request, _ -> Response in
            let body = try await request.body.collect(upTo: services.settings.meta.webhookMaxBodyBytes)
            let batch: WebhookBatch
            do {
                batch = try await services.metaWebhook.process(body: Array(buffer: body), signature: request.headers[signatureHeader])
            } catch let error as MetaWebhookError {
                Telemetry.webhookRejected(reason: error.metricLabel)
                switch error {
                case .missingSignature:
                    throw AppError(.unauthorized, code: "signature_missing", "X-Hub-Signature-256 is required.")
                case .badSignature:
                    throw AppError(.unauthorized, code: "signature_invalid", "X-Hub-Signature-256 does not match the body.")
                case .malformed(let why):
                    throw AppError(.badRequest, code: "invalid_request", "The webhook payload is malformed: \(why).")
                case .notWhatsApp:
                    throw AppError(.badRequest, code: "not_whatsapp", "The payload is not a whatsapp_business_account webhook.")
                }
            }
            let outcome = try await services.ingestor.submit(batch)
            Telemetry.webhookMessages("accepted", count: outcome.storedMessages)
            Telemetry.webhookMessages("duplicate", count: outcome.duplicateMessages)
            Telemetry.webhookMessages("unroutable", count: batch.unroutable.count)
            let receipt = "{\"duplicates\":\(outcome.duplicateMessages),\"statuses\":\(outcome.statuses),\"stored\":\(outcome.storedMessages),\"unroutable\":\(batch.unroutable.count)}"
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: receipt)))
        }
    }

    /// Always ends in a redirect to the admin page, which shows the outcome (a browser is waiting).
    static func cookie(_ name: String, in headers: [String]) -> String? {
        for header in headers {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name {
                    return String(parts[1]).trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }

    static func oauthCallback(_ query: Hummingbird.Parameters, browserNonce: String?, services: AppServices) async -> String {
        let admin = services.settings.meta.adminURL
        let state = query["state"].map(String.init) ?? ""
        let page = services.signup.tenant(ofState: state).map { "#/tenants/\($0.uuidString.lowercased())/providers" } ?? "#/"
        func failed(_ step: String, _ code: String) -> String { "\(admin)\(page)?signup=failed&step=\(step)&code=\(code)" }
        if query["error"] != nil { return failed("authorize", "access_denied") }
        guard let code = query["code"].map(String.init), !code.isEmpty, code.count <= 2048, !state.isEmpty, state.count <= 512 else {
            return failed("authorize", "missing_code")
        }
        do {
            let created = try await services.signup.completeRedirect(code: code, state: state, browserNonce: browserNonce)
            return "\(admin)\(page)?signup=ok&provider=\(created.id.uuidString.lowercased())"
        } catch let error as AppError {
            return failed(error.providerError?.step ?? "state", error.code)
        } catch {
            services.logger.error("embedded signup callback failed", metadata: ["error": "\(Database.describe(error))"])
            return failed("server", AppError.from(error).code)
        }
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        // Compare fixed-size digests so neither content nor length leaks through timing.
        let key = SymmetricKey(size: .bits256)
        return HMAC<SHA256>.authenticationCode(for: Data(a.utf8), using: key) == HMAC<SHA256>.authenticationCode(for: Data(b.utf8), using: key)
    }
}

extension MetaWebhookError {
    var metricLabel: String {
        switch self {
        case .missingSignature: "signature_missing"
        case .badSignature: "signature_invalid"
        case .malformed: "malformed"
        case .notWhatsApp: "not_whatsapp"
        }
    }
}
