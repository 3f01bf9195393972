extension ShopConfiguration {
    /// Whether `host` (an `HTTP_HOST` value) binds to loopback only: `localhost`, `127.0.0.0/8` or `::1`.
    /// Wildcards (`0.0.0.0`, `::`), other addresses and other names are reachable from elsewhere.
    public static func isLoopback(_ host: String) -> Bool {
        let lowered = host.lowercased()
        if lowered == "localhost" || lowered == "::1" || lowered == "0:0:0:0:0:0:0:1" { return true }
        let octets = lowered.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets[0] == "127" else { return false }
        return octets.allSatisfy { octet in
            (1...3).contains(octet.utf8.count) && octet.utf8.allSatisfy { (48...57).contains($0) }
                && Int(octet).map { $0 <= 255 } == true
        }
    }

    /// Refuses the local-only defaults when the service is reachable from other machines.
    ///
    /// Bound to a non-loopback address (`HTTP_HOST`), the service must not use the public default
    /// `PAYMENT_WEBHOOK_SECRET` (anyone could sign webhooks with it) nor send its session cookie without `Secure`
    /// (`SESSION_COOKIE_SECURE`; the cookie would travel over plain HTTP), nor leave `PAYMENTS_CALLBACK_URL` unset
    /// (the default callback is chosen by whether the request's `Host` names loopback, which a remote caller sets
    /// as it likes on a wildcard bind). Loopback binds keep the defaults, so
    /// `make run` and the tests work as they are. ``init(reader:)`` calls it after reading every key.
    /// - Throws: ``ConfigurationError`` naming the key to set.
    public func checkExposure() throws(ConfigurationError) {
        guard !Self.isLoopback(self.httpHost) else { return }
        let bind = "HTTP_HOST (\(Self.quoted(self.httpHost))) is not a loopback address"
        if self.payments.webhookSecret == PaymentsConfiguration.defaultWebhookSecret {
            throw ConfigurationError(
                variable: Key.paymentWebhookSecret.variable,
                problem: "the public local-only default must not be used when \(bind); set a secret of your own"
            )
        }
        if !self.accounts.sessionCookieSecure {
            throw ConfigurationError(
                variable: Key.sessionCookieSecure.variable,
                problem: "must be true when \(bind) (serve HTTPS in front of the service)"
            )
        }
        if self.payments.callbackURL == nil {
            throw ConfigurationError(
                variable: Key.paymentsCallbackURL.variable,
                problem:
                    "must be set when \(bind) (the default callback is this instance on loopback, chosen by a Host header a remote caller sets)"
            )
        }
    }
}
