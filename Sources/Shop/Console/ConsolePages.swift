/// The console's HTML documents. Each is a shell: the page's content is drawn by `/admin/assets/console.js` from the
/// JSON admin API (no inline script or style, so the Content-Security-Policy can forbid them).
enum ConsolePages {
    /// Text for HTML element content and attribute values.
    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }

    static func document(title: String, page: String, body: String) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title)) · shop console</title>
        <link rel="icon" href="data:,">
        <link rel="stylesheet" href="/admin/assets/console.css">
        <script src="/admin/assets/console.js" defer></script>
        </head>
        <body data-page="\(escape(page))">
        \(body)
        </body>
        </html>

        """
    }

    /// The sign-in form (anonymous callers); the script posts it to `POST /api/v1/auth/login`.
    static func signIn() -> String {
        Self.document(
            title: "Sign in",
            page: "sign-in",
            body: """
                <main class="narrow">
                <h1>Shop console</h1>
                <p>Sign in with an account that has the <code>admin</code> role.</p>
                <form id="sign-in" class="stack">
                <label for="email">E-mail</label>
                <input id="email" name="email" type="email" autocomplete="username" required autofocus>
                <label for="password">Password</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required>
                <button type="submit">Sign in</button>
                <p id="sign-in-error" class="error" role="alert" hidden></p>
                </form>
                </main>
                """
        )
    }

    /// A short page with a heading and paragraphs (already HTML) in the narrow column.
    static func notice(title: String, page: String, heading: String, paragraphs: [String]) -> String {
        Self.document(
            title: title,
            page: page,
            body: """
                <main class="narrow">
                <h1>\(escape(heading))</h1>
                \(paragraphs.map { "<p>\($0)</p>" }.joined(separator: "\n"))
                </main>
                """
        )
    }

    /// Signed in without the admin role.
    static func forbidden(email: String) -> String {
        Self.notice(
            title: "Not allowed",
            page: "forbidden",
            heading: "403: the console needs the admin role",
            paragraphs: [
                "You are signed in as <strong>\(escape(email))</strong>, which does not have it.",
                #"<button type="button" id="sign-out">Sign out</button> and sign in with an admin account."#,
            ]
        )
    }

    /// The session store does not answer.
    static func unavailable() -> String {
        Self.notice(
            title: "Unavailable",
            page: "unavailable",
            heading: "503: Redis does not answer",
            paragraphs: [
                "The console cannot check your session while Redis is down. This page tries again every few seconds."
            ]
        )
    }

    static func notFound() -> String {
        Self.notice(
            title: "Not found",
            page: "not-found",
            heading: "404: no such page",
            paragraphs: [#"<a href="/admin">Back to the console</a>"#]
        )
    }

    /// The console around one page.
    static func console(page: String, email: String, pages: [(path: String, title: String)]) -> String {
        let title = pages.first { $0.path == page }?.title ?? page
        let navigation = pages.map { item in
            let current = item.path == page ? #" aria-current="page""# : ""
            return #"<li><a href="/admin/\#(item.path)"\#(current)>\#(escape(item.title))</a></li>"#
        }.joined(separator: "\n")
        return Self.document(
            title: title,
            page: page,
            body: """
                <header class="bar">
                <a class="brand" href="/admin">shop console</a>
                <nav aria-label="Console pages"><ul>
                \(navigation)
                </ul></nav>
                <span class="who">\(escape(email)) <button type="button" id="sign-out">Sign out</button></span>
                </header>
                <main>
                <h1>\(escape(title))</h1>
                <p class="status" id="status" role="status" aria-live="polite"></p>
                <div id="content"><p class="empty">Loading…</p></div>
                </main>
                """
        )
    }
}
