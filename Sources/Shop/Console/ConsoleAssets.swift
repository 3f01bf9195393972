/// The console's script and style sheet, served from `/admin/assets/` (written by hand; no build step).
enum ConsoleAssets {
    /// Draws the page named by `<body data-page>` from the JSON admin API, refreshes it every 5 s, and sends the
    /// actions. Builds every element with `createElement`/`textContent`: nothing the API returns is parsed as HTML.
    static let script = #"""
        "use strict";
        (function () {
          const page = document.body.dataset.page;
          const content = () => document.getElementById("content");
          const statusLine = () => document.getElementById("status");

          function el(tag, attributes, ...children) {
            const node = document.createElement(tag);
            for (const [name, value] of Object.entries(attributes || {})) {
              if (value === null || value === undefined || value === false) continue;
              if (name === "onclick") node.addEventListener("click", value);
              else node.setAttribute(name, value === true ? "" : String(value));
            }
            for (const child of children.flat()) {
              if (child === null || child === undefined) continue;
              node.append(child instanceof Node ? child : document.createTextNode(String(child)));
            }
            return node;
          }

          // Times in the browser's zone, UTC on hover.
          function time(iso) {
            if (!iso) return el("span", { class: "muted" }, "—");
            const date = new Date(iso);
            return el("time", { datetime: iso, title: date.toISOString().replace(".000Z", "Z") + " (UTC)" },
              date.toLocaleString());
          }
          function ago(iso) {
            const seconds = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
            const text = seconds < 120 ? seconds + " s ago" : seconds < 7200 ? Math.round(seconds / 60) + " min ago"
              : Math.round(seconds / 3600) + " h ago";
            return el("time", { datetime: iso, title: new Date(iso).toISOString().replace(".000Z", "Z") + " (UTC)" }, text);
          }
          // A number with its unit, singular for one ("1 entry", "2 entries").
          function count(value, unit, plural) {
            if (value === null || value === undefined) return el("span", { class: "muted" }, "unknown");
            const number = Number(value);
            const word = !unit ? "" : " " + (number === 1 ? unit : (plural || unit + "s"));
            return number.toLocaleString() + word;
          }
          const roleNames = { scheduler: "scheduler", queueConsumers: "queue consumers", outboxRelay: "outbox relay" };
          function badge(text, kind) { return el("span", { class: "badge " + kind }, text); }
          function table(headers, rows, empty) {
            if (rows.length === 0) return el("p", { class: "empty" }, empty);
            return el("div", { class: "scroll" }, el("table", {},
              el("thead", {}, el("tr", {}, headers.map((header) => el("th", { scope: "col" }, header)))),
              el("tbody", {}, rows)));
          }

          async function api(method, path) {
            const response = await fetch(path, {
              method, credentials: "same-origin", headers: { "Accept": "application/json" },
            });
            if (response.status === 401 || response.status === 403) { location.reload(); throw new Error("signed out"); }
            const body = await response.json().catch(() => ({}));
            if (!response.ok) throw new Error(body.detail || body.title || ("HTTP " + response.status));
            return body;
          }

          function say(text, kind) {
            const line = statusLine();
            if (!line) return;
            line.textContent = text;
            line.className = "status " + (kind || "");
          }

          const renderers = {
            async instances() {
              const body = await api("GET", "/api/v1/admin/instances");
              const roles = (instance) => Object.entries(instance.roles).filter(([, on]) => on).map(([name]) => roleNames[name] || name)
                .join(", ") || "HTTP only";
              return table(
                ["Instance", "Status", "Runs", "Redis", "Version", "Host", "Started", "Last heartbeat"],
                body.data.map((instance) => el("tr", {},
                  el("th", { scope: "row" }, instance.id, instance.id === body.meta.instance ? " (this one)" : ""),
                  el("td", {}, badge(instance.status, instance.status === "live" ? "ok" : "bad")),
                  el("td", {}, roles(instance)),
                  el("td", {}, instance.redisMode),
                  el("td", {}, instance.version),
                  el("td", {}, instance.host + " pid " + instance.pid + (instance.httpPort ? " :" + instance.httpPort : "")),
                  el("td", {}, time(instance.startedAt)),
                  el("td", {}, ago(instance.lastHeartbeatAt)))),
                "No instance has written a heartbeat yet. Start one with make run.");
            },

            async jobs() {
              const body = await api("GET", "/api/v1/admin/jobs");
              const runs = (job) => job.lastRuns.length === 0 ? el("span", { class: "muted" }, "no runs yet")
                : el("ul", { class: "runs" }, job.lastRuns.slice(0, 5).map((run) => el("li", {},
                  badge(run.outcome || "running", run.outcome === "succeeded" ? "ok" : run.outcome ? "bad" : "info"),
                  " ", time(run.startedAt), " on ", run.instance, run.manual ? " (manual)" : "",
                  run.error ? el("span", { class: "error" }, " — " + run.error) : null)));
              const header = body.meta.schedulerRunning ? null
                : el("p", { class: "note" }, "This instance does not run the scheduler (JOBS_ENABLED=false): Run now answers 503 here.");
              return el("div", {}, header, table(
                ["Job", "Schedule", "Next run", "Running now", "Last runs", ""],
                body.data.map((job) => el("tr", {},
                  el("th", { scope: "row" }, job.name),
                  el("td", {}, job.schedule),
                  el("td", {}, time(job.nextRunAt)),
                  el("td", {}, job.running ? ["on " + job.running.instance + " since ", time(job.running.startedAt)]
                    : el("span", { class: "muted" }, "no")),
                  el("td", {}, runs(job)),
                  el("td", {}, el("button", {
                    type: "button", class: "run", "data-job": job.name,
                    onclick: () => act("POST", "/api/v1/admin/jobs/" + encodeURIComponent(job.name) + "/run",
                      "Started " + job.name + "."),
                  }, "Run now")))),
                "No jobs are registered."));
            },

            async queues() {
              const body = await api("GET", "/api/v1/admin/queues");
              const sections = [];
              for (const topic of body.data) {
                const letters = await api("GET", "/api/v1/admin/queues/" + encodeURIComponent(topic.topic)
                  + "/dead-letters?limit=50");
                sections.push(el("section", { "aria-labelledby": "topic-" + topic.topic },
                  el("h2", { id: "topic-" + topic.topic }, "Topic ", el("code", {}, topic.topic)),
                  el("p", {}, count(topic.length, "entry", "entries"), " · ", count(topic.delayed, "delayed", "delayed"), " · ",
                    count(topic.deadLetters, "dead letter")),
                  table(["Group", "Consumers", "Pending", "Lag", "Delayed", "Redeliveries"],
                    topic.groups.map((group) => el("tr", {},
                      el("th", { scope: "row" }, group.name),
                      el("td", {}, count(group.consumers)),
                      el("td", {}, count(group.pending, "message")),
                      el("td", {}, count(group.lag, "message")),
                      el("td", {}, count(group.delayed, "message")),
                      el("td", {}, count(group.redeliveries)))),
                    "No consumer group reads this topic yet."),
                  el("h3", {}, "Dead letters"),
                  table(["Id", "Group", "Reason", "Error", "Attempts", "Failed", "Message", ""],
                    letters.data.map((letter) => el("tr", { "data-dead-letter": letter.id },
                      el("th", { scope: "row" }, el("code", {}, letter.id)),
                      el("td", {}, letter.group),
                      el("td", {}, letter.reason),
                      el("td", { class: "error" }, letter.error || ""),
                      el("td", {}, count(letter.attempts)),
                      el("td", {}, time(letter.failedAt)),
                      el("td", {}, letter.payload === null ? el("span", { class: "muted" }, "unreadable")
                        : el("details", {}, el("summary", {}, letter.type || "payload"), el("pre", {}, letter.payload))),
                      el("td", {}, el("button", {
                        type: "button", class: "replay",
                        onclick: () => {
                          if (!confirm("Replay dead letter " + letter.id + "? It goes back to its group's queue.")) return;
                          act("POST", "/api/v1/admin/queues/" + encodeURIComponent(topic.topic) + "/dead-letters/"
                            + encodeURIComponent(letter.id) + "/replay", "Replayed " + letter.id + ".");
                        },
                      }, "Replay")))),
                    "No dead letters: every message was handled or is still being retried.")));
              }
              return sections.length ? el("div", {}, sections) : el("p", { class: "empty" }, "No topics.");
            },

            async caches() {
              const body = await api("GET", "/api/v1/admin/cache/stats");
              const stats = body.data;
              if (!stats.enabled) {
                return el("p", { class: "empty" }, "The catalog cache is off on this instance (CACHE_ENABLED=false): every read goes to PostgreSQL.");
              }
              const circuit = { closed: ["closed: Redis in use", "ok"], open: ["open: Redis bypassed", "bad"],
                halfOpen: ["half open: one read is probing Redis", "info"] }[stats.circuit] || [stats.circuit, "info"];
              const ratio = (value) => value === null ? el("span", { class: "muted" }, "no reads yet")
                : (value * 100).toFixed(1) + " %";
              const row = (counts, name) => el("tr", { "data-namespace": counts.namespace },
                el("th", { scope: "row" }, name || counts.namespace),
                el("td", {}, ratio(counts.hitRatio)),
                el("td", {}, count(counts.hits, "hit")),
                el("td", {}, count(counts.misses, "miss", "misses")),
                el("td", {}, count(counts.loads, "load")),
                el("td", {}, count(counts.coalesced)),
                el("td", {}, count(counts.waits, "wait")),
                el("td", {}, count(counts.staleServes)),
                el("td", {}, count(counts.errors, "error")));
              return el("div", {},
                el("p", {}, "Counted by ", el("strong", {}, stats.instance),
                  " since it started (each instance counts its own reads). Circuit breaker: ",
                  badge(circuit[0], circuit[1]), " · opened ", count(stats.circuitOpenings, "time"),
                  " · ", count(stats.deferredEvictions, "eviction", "evictions"), " waiting for Redis"),
                table(["Namespace", "Hit ratio", "Hits", "Misses", "Loads", "Coalesced", "Waits", "Stale serves", "Errors"],
                  [...stats.namespaces.map((counts) => row(counts)), row(stats.totals, "all namespaces")],
                  "No cache namespaces."));
            },
          };

          let refreshing = false;
          async function refresh() {
            const render = renderers[page];
            if (!render || refreshing) return;
            refreshing = true;
            try {
              const node = await render();
              // Keep open <details> open across refreshes.
              const open = new Set([...content().querySelectorAll("details[open]")].map((d) => d.closest("tr")?.dataset.deadLetter));
              content().replaceChildren(node);
              for (const row of content().querySelectorAll("tr[data-dead-letter]")) {
                if (open.has(row.dataset.deadLetter)) row.querySelector("details")?.setAttribute("open", "");
              }
              document.body.dataset.loaded = "true";
            } catch (error) {
              if (error.message !== "signed out") say("Could not load: " + error.message, "bad");
            } finally {
              refreshing = false;
            }
          }

          async function act(method, path, done) {
            try {
              await api(method, path);
              say(done, "ok");
            } catch (error) {
              say(error.message, "bad");
            }
            await refresh();
          }

          async function signIn(event) {
            event.preventDefault();
            const form = event.target;
            const error = document.getElementById("sign-in-error");
            const response = await fetch("/api/v1/auth/login", {
              method: "POST", credentials: "same-origin",
              headers: { "Content-Type": "application/json", "Accept": "application/json" },
              body: JSON.stringify({ email: form.email.value, password: form.password.value }),
            });
            if (response.ok) { location.reload(); return; }
            const body = await response.json().catch(() => ({}));
            error.textContent = body.detail || "Sign-in failed (HTTP " + response.status + ").";
            error.hidden = false;
          }

          async function signOut() {
            await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin" });
            location.assign("/admin");
          }

          document.addEventListener("DOMContentLoaded", () => {
            document.getElementById("sign-in")?.addEventListener("submit", signIn);
            document.getElementById("sign-out")?.addEventListener("click", signOut);
            if (page === "unavailable") { setTimeout(() => location.reload(), 5000); return; }
            if (renderers[page]) {
              refresh();
              setInterval(refresh, 5000);
            }
          });
        })();
        """#

    static let style = #"""
        :root { color-scheme: light dark; --fg: #1d232a; --bg: #fbfbfc; --muted: #5d6875; --line: #d5dae0;
          --accent: #2357c6; --ok: #1d7a3a; --bad: #b3261e; --info: #6b4fbb; }
        @media (prefers-color-scheme: dark) {
          :root { --fg: #e6e9ed; --bg: #15181c; --muted: #9aa5b1; --line: #353b43; --accent: #8fb0ff;
            --ok: #6fcf8d; --bad: #ff8a80; --info: #c3b0ff; }
        }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
        a { color: var(--accent); }
        :focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
        .bar { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; padding: .6rem 1rem;
          border-bottom: 1px solid var(--line); }
        .brand { font-weight: 700; text-decoration: none; color: var(--fg); }
        nav ul { display: flex; flex-wrap: wrap; gap: .25rem 1rem; list-style: none; margin: 0; padding: 0; }
        nav a[aria-current="page"] { font-weight: 700; text-decoration: none; color: var(--fg); }
        .who { margin-left: auto; color: var(--muted); }
        main { padding: 1rem; max-width: 1400px; }
        main.narrow { max-width: 28rem; margin: 3rem auto; }
        h1 { font-size: 1.4rem; margin: .2rem 0 .8rem; }
        h2 { font-size: 1.15rem; margin: 1.5rem 0 .3rem; }
        h3 { font-size: 1rem; margin: 1rem 0 .3rem; }
        .stack { display: grid; gap: .4rem; }
        input { font: inherit; padding: .45rem .5rem; border: 1px solid var(--line); border-radius: 4px;
          background: transparent; color: inherit; }
        button { font: inherit; padding: .35rem .8rem; border: 1px solid var(--accent); border-radius: 4px;
          background: var(--accent); color: var(--bg); cursor: pointer; }
        .who button { background: transparent; color: var(--accent); }
        .scroll { overflow-x: auto; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; vertical-align: top; padding: .4rem .6rem; border-bottom: 1px solid var(--line); }
        thead th { font-size: .85rem; color: var(--muted); font-weight: 600; white-space: nowrap; }
        .badge { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: .8rem; font-weight: 600;
          border: 1px solid currentColor; }
        .ok { color: var(--ok); } .bad { color: var(--bad); } .info { color: var(--info); }
        .muted, .empty { color: var(--muted); }
        .error { color: var(--bad); }
        .note { padding: .5rem .7rem; border-left: 3px solid var(--info); }
        .status:empty { display: none; }
        .runs { margin: 0; padding-left: 1rem; }
        pre { white-space: pre-wrap; word-break: break-all; max-width: 40rem; margin: .3rem 0; }
        @media (max-width: 640px) {
          .who { margin-left: 0; width: 100%; }
          th, td { padding: .35rem .4rem; }
        }
        """#
}
