/// The rules for e-mail addresses and passwords at registration.
enum Credentials {
    /// The fewest characters a password may have.
    static let minimumPasswordLength = 10
    /// The most UTF-8 bytes a password may have: bcrypt ignores everything after byte 72, so a longer
    /// password would be silently shortened.
    static let maximumPasswordBytes = 72

    /// The field errors of a registration, empty when it is acceptable.
    static func problems(email: String, password: String) -> [FieldError] {
        var errors: [FieldError] = []
        if let message = Self.emailProblem(email) {
            errors.append(FieldError(field: "email", code: .invalidFormat, message: message))
        }
        if password.count < Self.minimumPasswordLength {
            errors.append(
                FieldError(
                    field: "password",
                    code: .tooShort,
                    message: "must have at least \(Self.minimumPasswordLength) characters"
                )
            )
        } else if password.utf8.count > Self.maximumPasswordBytes {
            errors.append(
                FieldError(
                    field: "password",
                    code: .tooLong,
                    message: "must have at most \(Self.maximumPasswordBytes) bytes in UTF-8"
                )
            )
        } else if password.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            errors.append(
                FieldError(field: "password", code: .invalidFormat, message: "must not contain control characters")
            )
        } else if password.lowercased() == email.lowercased() {
            errors.append(
                FieldError(field: "password", code: .invalidFormat, message: "must not be the e-mail address")
            )
        }
        return errors
    }

    /// Whether `password` could have been registered (sign-in refuses anything else without telling why).
    static func isPlausiblePassword(_ password: String) -> Bool {
        !password.isEmpty && password.utf8.count <= Self.maximumPasswordBytes && !password.utf8.contains(0)
    }

    /// Why `email` is not an acceptable address, or nil.
    ///
    /// Deliberately simple and ASCII-only: `local@domain` with a local part of 1–64 characters without
    /// spaces, quotes, brackets or consecutive/leading/trailing dots, and a domain of two or more labels
    /// (letters, digits, hyphens; no hyphen at either end); 254 characters in all.
    static func emailProblem(_ email: String) -> String? {
        let message = "must be an e-mail address like name@example.com"
        guard (3...254).contains(email.utf8.count) else { return "must have 3 to 254 characters" }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return message }
        let local = parts[0]
        let domain = parts[1]
        guard (1...64).contains(local.utf8.count), !local.hasPrefix("."), !local.hasSuffix("."),
            !local.contains("..")
        else { return message }
        let localAllowed = local.utf8.allSatisfy { byte in
            (0x21...0x7E).contains(byte) && !Array("\"(),:;<>@[\\]".utf8).contains(byte)
        }
        guard localAllowed else { return message }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return message }
        for label in labels {
            guard (1...63).contains(label.utf8.count), !label.hasPrefix("-"), !label.hasSuffix("-"),
                label.utf8.allSatisfy({ byte in
                    (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                        || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                        || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
                })
            else { return message }
        }
        return nil
    }
}
